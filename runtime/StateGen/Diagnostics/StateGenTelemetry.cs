using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace StateGen.Diagnostics;

/// <summary>
/// StateGen's metrics and traces, through the standard .NET abstractions: a <see cref="System.Diagnostics.Metrics.Meter"/>
/// and an <see cref="System.Diagnostics.ActivitySource"/>, both named <see cref="Name"/>. Tags carry the operation, the
/// stable type name, the scope kind and the outcome, never a key, a scope id or a value. With no listener attached the
/// cost is a timestamp and a few predictable branches per operation.
/// </summary>
public static class StateGenTelemetry
{
    /// <summary>The name of the meter and of the activity source: <c>StateGen</c>.</summary>
    public const string Name = "StateGen";

    /// <summary>The meter (<c>stategen.operations</c>, <c>stategen.operation.duration</c>, <c>stategen.payload.size</c>).</summary>
    public static readonly Meter Meter = new(Name, typeof(StateGenTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>The activity source: one activity per operation (<c>stategen.save</c>, <c>stategen.load</c>, ...).</summary>
    public static readonly ActivitySource Source = new(Name, typeof(StateGenTelemetry).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> Operations = Meter.CreateCounter<long>("stategen.operations", "{operation}", "StateManager operations by operation, type and outcome.");

    internal static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("stategen.operation.duration", "ms", "Duration of StateManager operations.");

    internal static readonly Histogram<long> PayloadSize = Meter.CreateHistogram<long>("stategen.payload.size", "By", "Size of stored documents written and read.");

    internal static readonly Counter<long> Conflicts = Meter.CreateCounter<long>("stategen.conflicts", "{conflict}", "Writes rejected because the stored version was not the expected one.");

    internal static readonly Counter<long> HookFailures = Meter.CreateCounter<long>("stategen.hook.failures", "{failure}", "Hook executions that threw or timed out, by hook point and outcome.");

    internal static readonly Counter<long> HookExecutions = Meter.CreateCounter<long>("stategen.hook.executions", "{execution}", "Hook executions by hook point and outcome.");

    internal static Operation Start(string operation, string typeName, StateScope scope) => new(operation, typeName, KindOf(scope.Path));

    internal static Operation Start(string operation, string typeName, string scopePath) => new(operation, typeName, KindOf(scopePath));

    /// <summary>The scope kind of a scope path (<c>agent/x</c> → <c>agent</c>): the path itself is never a tag.</summary>
    private static string KindOf(string scopePath)
    {
        int slash = scopePath.IndexOf('/');
        return (slash < 0 ? scopePath : scopePath.AsSpan(0, slash)) switch
        {
            "global" => "global",
            "agent" => "agent",
            "workflow" => "workflow",
            "step" => "step",
            "session" => "session",
            _ => "custom",
        };
    }

    /// <summary>The outcome tag of a failed operation.</summary>
    internal static string OutcomeOf(Exception exception) => exception switch
    {
        StateConcurrencyException => "conflict",
        StateSerializationException or StateSchemaVersionException or StateMigrationException or StateTypeMismatchException => "unreadable",
        StateCycleException => "cycle",
        Hooks.StateHookException => "hook_failed",
        StateValueTooLargeException => "too_large",
        StateStoreCorruptedException => "corrupted",
        StateStoreException => "store_error",
        InvalidStateKeyException => "invalid_key",
        OperationCanceledException => "canceled",
        _ => "error",
    };

    /// <summary>One operation being measured: an activity (when anyone listens) and a start time.</summary>
    internal readonly struct Operation : IDisposable
    {
        private readonly string _operation;
        private readonly string _typeName;
        private readonly string _scopeKind;
        private readonly long _started;
        private readonly Activity? _activity;

        public Operation(string operation, string typeName, string scopeKind)
        {
            _operation = operation;
            _typeName = typeName;
            _scopeKind = scopeKind;
            _started = Stopwatch.GetTimestamp();
            _activity = Source.HasListeners() ? Source.StartActivity("stategen." + operation, ActivityKind.Internal) : null;
            if (_activity is not null)
            {
                _activity.SetTag("stategen.operation", operation);
                _activity.SetTag("stategen.type", typeName);
                _activity.SetTag("stategen.scope_kind", _scopeKind);
            }
        }

        public void Complete(string outcome, long payloadBytes)
        {
            Record(outcome);
            if (payloadBytes > 0 && PayloadSize.Enabled)
            {
                PayloadSize.Record(payloadBytes, new KeyValuePair<string, object?>("stategen.operation", _operation), new KeyValuePair<string, object?>("stategen.type", _typeName));
            }

            _activity?.SetTag("stategen.outcome", outcome);
        }

        public void Fail(Exception exception)
        {
            string outcome = OutcomeOf(exception);
            Record(outcome);
            if (_activity is not null)
            {
                _activity.SetTag("stategen.outcome", outcome);
                _activity.SetStatus(ActivityStatusCode.Error, exception.GetType().Name); // the type only: messages may name keys
            }
        }

        /// <summary>The time since the operation started.</summary>
        public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

        public void Dispose() => _activity?.Dispose();

        private void Record(string outcome)
        {
            if (!Operations.Enabled && !Duration.Enabled)
            {
                return; // nobody listens: no tags built
            }

            var tags = new TagList
            {
                { "stategen.operation", _operation },
                { "stategen.type", _typeName },
                { "stategen.scope_kind", _scopeKind },
                { "stategen.outcome", outcome },
            };
            if (Operations.Enabled)
            {
                Operations.Add(1, tags);
            }

            if (Duration.Enabled)
            {
                Duration.Record(Stopwatch.GetElapsedTime(_started).TotalMilliseconds, tags);
            }
        }
    }
}
