using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Diagnostics;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Internal;
using StateGen.Serialization;
using StateGen.Storage;

namespace StateGen;

/// <summary>The write and delete pipeline: key lock, before hooks, commit, version tracking, event, after hooks, hook history.</summary>
public sealed partial class StateManager
{
    private static readonly ReadOnlyMemory<byte> NoDocument = ReadOnlyMemory<byte>.Empty;

    private async ValueTask<StateWriteResult> WriteCoreAsync(StateWrite write, string origin, IValueValidator validator, object? instance, StateHookPoint beforePoint, CancellationToken cancellationToken)
    {
        using StateGenTelemetry.Operation operation = StateGenTelemetry.Start(origin == "upgrade" ? "upgrade" : "write", write.TypeName, write.Scope);
        ThrowIfDisposed();
        if (write.Payload.Length > _options.MaxValueBytes)
        {
            var tooLarge = new StateValueTooLargeException(write.Scope, write.Key, write.Payload.Length, _options.MaxValueBytes);
            operation.Fail(tooLarge);
            throw tooLarge;
        }

        string correlationId = StateCorrelation.CurrentOrNew();
        int stripe = KeyLocks.StripeOf(write.Scope, write.Key);
        bool entered = !_locks.IsHeld(stripe);
        if (entered)
        {
            await _locks.WaitAsync(stripe, cancellationToken).ConfigureAwait(false);
            _locks.MarkHeld(stripe);
        }

        List<HookExecutionRecord>? records = null;
        try
        {
            StateHookRegistration[] before = Hooks.For(beforePoint);
            StoredEntry? old = null;
            bool oldKnown = false;
            bool substituted = false;
            long? expected = write.ExpectedVersion;
            StateHookContext? context = null;
            if (before.Length > 0)
            {
                old = await Store.GetAsync(write.Scope, write.Key, cancellationToken).ConfigureAwait(false);
                oldKnown = true;
                long stored = old?.Version ?? 0;
                if (expected is long wanted && wanted != stored)
                {
                    throw Conflict(write.Scope, write.Key, wanted, old?.Version);
                }

                expected = stored; // what the hooks saw is exactly what gets replaced
                context = new StateHookContext(beforePoint, write.Scope, write.Key, write.TypeName, write.SchemaVersion, stored, old?.Payload ?? NoDocument, write.Payload, correlationId, origin, StateCorrelation.CurrentMetadata);
                HookRun run = await RunHooksAsync(before, context, validator, instance, cancellationToken).ConfigureAwait(false);
                records = run.Records;
                if (run.Failure is not null)
                {
                    throw run.Failure;
                }

                if (run.CanceledBy is not null)
                {
                    operation.Complete("canceled", 0);
                    return new StateWriteResult(StateWriteStatus.Canceled, 0, correlationId, run.CanceledBy, run.CancelReason);
                }

                if (!context.NewDocument.Equals(write.Payload))
                {
                    if (context.NewDocument.Length > _options.MaxValueBytes)
                    {
                        throw new StateValueTooLargeException(write.Scope, write.Key, context.NewDocument.Length, _options.MaxValueBytes);
                    }

                    write = write with { Payload = context.NewDocument };
                    substituted = true;
                }
            }

            bool wantEvent = Events.HasSubscribers;
            StateHookRegistration[] after = Hooks.For(beforePoint + 1);

            // After hooks see the replaced value too, so the store returns it whenever it was not read above.
            write = write with { ExpectedVersion = expected, CorrelationId = correlationId, Origin = origin, ReturnPrevious = (wantEvent || after.Length > 0) && !oldKnown };
            StateOperationResult result;
            try
            {
                result = (await Store.CommitAsync([write], cancellationToken).ConfigureAwait(false))[0];
            }
            catch (StateConcurrencyException ex)
            {
                throw Conflict(ex);
            }

            StoredEntry stored2 = result.Stored!;
            if (instance is not null)
            {
                if (substituted)
                {
                    validator.Apply(this, write, instance); // the caller's instance matches what was stored
                }

                Track(instance, write.Scope, write.Key, stored2.Version);
            }

            Log.Saved(_logger, write.Scope, write.Key, write.TypeName, write.SchemaVersion, stored2.Version, write.Payload.Length);
            if (wantEvent)
            {
                StoredEntry? previous = oldKnown ? old : result.Previous;
                Events.Publish(new StateChangeEvent(StateChangeKind.Write, write.Scope, write.Key, write.TypeName, write.SchemaVersion, stored2.Version, previous?.Version ?? 0, result.ChangeSequence, stored2.UpdatedAt, correlationId, origin, write.Payload, previous?.Payload ?? NoDocument));
            }

            if (after.Length > 0)
            {
                context ??= new StateHookContext(beforePoint + 1, write.Scope, write.Key, write.TypeName, write.SchemaVersion, 0, (oldKnown ? old : result.Previous)?.Payload ?? NoDocument, write.Payload, correlationId, origin, StateCorrelation.CurrentMetadata);
                context.Point = beforePoint + 1;
                context.CurrentVersion = stored2.Version;
                HookRun run = await RunHooksAsync(after, context, null, null, cancellationToken).ConfigureAwait(false);
                records = Merge(records, run.Records);
                if (run.Failure is not null)
                {
                    throw run.Failure;
                }
            }

            operation.Complete("ok", write.Payload.Length);
            WarnIfSlow(origin, write.Scope, write.Key, operation.Elapsed);
            return new StateWriteResult(StateWriteStatus.Written, stored2.Version, correlationId);
        }
        catch (Exception ex)
        {
            operation.Fail(ex);
            throw;
        }
        finally
        {
            if (records is { Count: > 0 })
            {
                await AppendHookHistoryAsync(records, write.Scope, write.Key).ConfigureAwait(false);
            }

            if (entered)
            {
                _locks.Release(stripe);
            }
        }
    }

    private async ValueTask<StateWriteResult> DeleteCoreAsync(string scope, string key, long? expectedVersion, string origin, CancellationToken cancellationToken)
    {
        using StateGenTelemetry.Operation operation = StateGenTelemetry.Start("delete", string.Empty, scope);
        ThrowIfDisposed();
        string correlationId = StateCorrelation.CurrentOrNew();
        int stripe = KeyLocks.StripeOf(scope, key);
        bool entered = !_locks.IsHeld(stripe);
        if (entered)
        {
            await _locks.WaitAsync(stripe, cancellationToken).ConfigureAwait(false);
            _locks.MarkHeld(stripe);
        }

        List<HookExecutionRecord>? records = null;
        try
        {
            StateHookRegistration[] before = Hooks.For(StateHookPoint.BeforeDelete);
            StateHookRegistration[] after = Hooks.For(StateHookPoint.AfterDelete);
            bool wantEvent = Events.HasSubscribers;
            StoredEntry? old = null;
            bool oldKnown = false;
            long? expected = expectedVersion;
            StateHookContext? context = null;
            if (before.Length > 0 || after.Length > 0)
            {
                old = await Store.GetAsync(scope, key, cancellationToken).ConfigureAwait(false);
                oldKnown = true;
                if (old is null)
                {
                    if (expected is long wanted0 && wanted0 != 0)
                    {
                        throw Conflict(scope, key, wanted0, null);
                    }

                    operation.Complete("not_found", 0);
                    return new StateWriteResult(StateWriteStatus.NotFound, 0, correlationId);
                }

                if (expected is long wanted && wanted != old.Version)
                {
                    throw Conflict(scope, key, wanted, old.Version);
                }

                expected = old.Version;
                context = new StateHookContext(StateHookPoint.BeforeDelete, scope, key, old.TypeName, old.SchemaVersion, old.Version, old.Payload, NoDocument, correlationId, origin, StateCorrelation.CurrentMetadata);
                if (before.Length > 0)
                {
                    HookRun run = await RunHooksAsync(before, context, null, null, cancellationToken).ConfigureAwait(false);
                    records = run.Records;
                    if (run.Failure is not null)
                    {
                        throw run.Failure;
                    }

                    if (run.CanceledBy is not null)
                    {
                        operation.Complete("canceled", 0);
                        return new StateWriteResult(StateWriteStatus.Canceled, 0, correlationId, run.CanceledBy, run.CancelReason);
                    }
                }
            }

            var delete = new StateDelete(scope, key, expected) { CorrelationId = correlationId, Origin = origin, ReturnPrevious = wantEvent && !oldKnown };
            StateOperationResult result;
            try
            {
                result = (await Store.CommitAsync([delete], cancellationToken).ConfigureAwait(false))[0];
            }
            catch (StateConcurrencyException ex)
            {
                throw Conflict(ex);
            }

            Log.Deleted(_logger, scope, key, result.Existed);
            if (!result.Existed)
            {
                operation.Complete("not_found", 0);
                return new StateWriteResult(StateWriteStatus.NotFound, 0, correlationId);
            }

            StoredEntry? previous = oldKnown ? old : result.Previous;
            if (wantEvent)
            {
                Events.Publish(new StateChangeEvent(StateChangeKind.Delete, scope, key, previous?.TypeName ?? string.Empty, previous?.SchemaVersion ?? 0, previous?.Version ?? 0, previous?.Version ?? 0, result.ChangeSequence, result.CommittedAt ?? DateTimeOffset.UtcNow, correlationId, origin, NoDocument, previous?.Payload ?? NoDocument));
            }

            if (after.Length > 0 && context is not null)
            {
                context.Point = StateHookPoint.AfterDelete;
                context.CurrentVersion = 0;
                HookRun run = await RunHooksAsync(after, context, null, null, cancellationToken).ConfigureAwait(false);
                records = Merge(records, run.Records);
                if (run.Failure is not null)
                {
                    throw run.Failure;
                }
            }

            operation.Complete("ok", 0);
            WarnIfSlow(origin, scope, key, operation.Elapsed);
            return new StateWriteResult(StateWriteStatus.Deleted, previous?.Version ?? 0, correlationId);
        }
        catch (Exception ex)
        {
            operation.Fail(ex);
            throw;
        }
        finally
        {
            if (records is { Count: > 0 })
            {
                await AppendHookHistoryAsync(records, scope, key).ConfigureAwait(false);
            }

            if (entered)
            {
                _locks.Release(stripe);
            }
        }
    }

    private sealed class HookRun
    {
        public List<HookExecutionRecord>? Records;
        public string? CanceledBy;
        public string? CancelReason;
        public StateHookException? Failure;
    }

    /// <summary>
    /// Runs hooks in priority order. A before point's hooks may modify (validated against the value's type) or cancel;
    /// an after point's hooks only continue. Failures and timeouts follow each registration's policy.
    /// </summary>
    private async ValueTask<HookRun> RunHooksAsync(StateHookRegistration[] hooks, StateHookContext context, IValueValidator? validator, object? instance, CancellationToken cancellationToken)
    {
        var run = new HookRun();
        bool record = _options.RecordHookHistory && _history is not null;
        bool mayChange = validator is not null || context.Point is StateHookPoint.BeforeDelete or StateHookPoint.BeforeMigration or StateHookPoint.BeforeBackup;
        string point = context.Point.ToString();
        CancellationTokenSource? hookToken = null;
        try
        {
            foreach (StateHookRegistration hook in hooks)
            {
                if (!hook.Matches(context.Scope, context.Key))
                {
                    continue;
                }

                long started = Stopwatch.GetTimestamp();
                StateHookResult result = default;
                Exception? error = null;
                bool timedOut = false;
                ReadOnlyMemory<byte> proposed = context.NewDocument;
                // The hooks' token: canceled when the operation is, and when a hook times out, so that it can stop (the
                // hooks after it get a fresh one).
                hookToken ??= cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : new CancellationTokenSource();
                try
                {
                    ValueTask<StateHookResult> pending = hook.Handler(context, hookToken.Token);
                    if (pending.IsCompletedSuccessfully)
                    {
                        result = pending.Result;
                    }
                    else
                    {
                        TimeSpan timeout = hook.Options.Timeout ?? _options.HookTimeout;
                        Task<StateHookResult> task = pending.AsTask();
                        try
                        {
                            result = timeout == Timeout.InfiniteTimeSpan
                                ? await task.ConfigureAwait(false)
                                : await task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                        }
                        catch (TimeoutException) when (!task.IsCompleted)
                        {
                            timedOut = true;
                            hookToken.Cancel(); // the late result is ignored either way; a hook that watches its token stops now
                            hookToken.Dispose();
                            hookToken = null;
                            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                        }
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception ex)
                {
                    error = ex;
                }

                string outcome;
                ReadOnlyMemory<byte> substituted = NoDocument;
                if (timedOut)
                {
                    outcome = "TimedOut";
                }
                else if (error is not null)
                {
                    outcome = "Failed";
                }
                else
                {
                    switch (result.Decision)
                    {
                        case StateHookDecision.Modify when validator is not null:
                            try
                            {
                                context.SetNewDocument(validator.Validate(this, context, result.Value));
                                substituted = context.NewDocument;
                                outcome = "Modified";
                            }
                            catch (Exception ex) when (ex is StateGenException or JsonException)
                            {
                                error = ex;
                                outcome = "Failed";
                            }

                            break;
                        case StateHookDecision.Cancel when mayChange:
                            outcome = "Canceled";
                            break;
                        case StateHookDecision.Continue:
                            outcome = "Continued";
                            break;
                        default:
                            Log.HookDecisionIgnored(_logger, hook.Id, point, result.Decision.ToString());
                            outcome = "Continued";
                            break;
                    }
                }

                TimeSpan duration = Stopwatch.GetElapsedTime(started);
                if (StateGenTelemetry.HookExecutions.Enabled)
                {
                    StateGenTelemetry.HookExecutions.Add(1, new KeyValuePair<string, object?>("stategen.hook_point", point), new KeyValuePair<string, object?>("stategen.outcome", outcome));
                }

                if (record)
                {
                    (run.Records ??= []).Add(new HookExecutionRecord(0, hook.Id, point, context.Scope, context.Key, context.TypeName, outcome, error?.GetType().Name, duration, DateTimeOffset.UtcNow, context.CorrelationId, context.OldDocument, proposed, substituted));
                }

                if (timedOut || error is not null)
                {
                    string errorName = timedOut ? "timeout" : error!.GetType().Name;
                    StateGenTelemetry.HookFailures.Add(1, new KeyValuePair<string, object?>("stategen.hook_point", point), new KeyValuePair<string, object?>("stategen.outcome", outcome));
                    if (hook.Options.FailurePolicy == HookFailurePolicy.LogAndContinue)
                    {
                        Log.HookFailedContinuing(_logger, hook.Id, point, outcome, context.Scope, context.Key, errorName);
                        continue;
                    }

                    Log.HookFailed(_logger, hook.Id, point, outcome, context.Scope, context.Key, errorName);
                    run.Failure = new StateHookException(hook.Id, context.Point, context.Scope, context.Key, timedOut, error);
                    return run;
                }

                if (outcome == "Canceled")
                {
                    Log.HookCanceled(_logger, hook.Id, point, context.Scope, context.Key);
                    run.CanceledBy = hook.Id;
                    run.CancelReason = result.Reason;
                    return run;
                }
            }
        }
        finally
        {
            hookToken?.Dispose();
        }

        return run;
    }

    private static List<HookExecutionRecord>? Merge(List<HookExecutionRecord>? first, List<HookExecutionRecord>? second)
    {
        if (first is null)
        {
            return second;
        }

        if (second is not null)
        {
            first.AddRange(second);
        }

        return first;
    }

    private async ValueTask AppendHookHistoryAsync(List<HookExecutionRecord> records, string scope, string key)
    {
        if (_history is null)
        {
            return;
        }

        try
        {
            await _history.AppendHookExecutionsAsync(records, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StateGenException or ObjectDisposedException)
        {
            // The operation's own outcome stands; a history that could not be written is reported, not thrown.
            Log.HookHistoryFailed(_logger, scope, key, ex.GetType().Name);
        }
    }

    private StateConcurrencyException Conflict(string scope, string key, long expected, long? stored)
        => Conflict(new StateConcurrencyException(scope, key, expected, stored));

    private StateConcurrencyException Conflict(StateConcurrencyException ex)
    {
        StateGenTelemetry.Conflicts.Add(1);
        Log.Conflict(_logger, ex.Scope ?? string.Empty, ex.Key ?? string.Empty, ex.ExpectedVersion ?? -1, ex.StoredVersion ?? 0);
        return ex;
    }

    private void WarnIfSlow(string operation, string scope, string key, TimeSpan elapsed)
    {
        if (_options.SlowOperationThreshold is TimeSpan threshold && elapsed > threshold)
        {
            Log.SlowOperation(_logger, operation, scope, key, (long)elapsed.TotalMilliseconds, (long)threshold.TotalMilliseconds);
        }
    }

    private void Track(object instance, string scope, string key, long version)
    {
        TrackedVersion tracked = _tracked.GetValue(instance, static _ => new TrackedVersion());
        lock (tracked)
        {
            tracked.Scope = scope;
            tracked.Key = key;
            tracked.Version = version;
        }
    }

    private long? TrackedVersionOf(object instance, string scope, string key)
    {
        if (!_tracked.TryGetValue(instance, out TrackedVersion? tracked))
        {
            return null;
        }

        lock (tracked)
        {
            return tracked.Scope == scope && tracked.Key == key ? tracked.Version : null;
        }
    }

    /// <summary>The version a manager last saw for an instance (one per instance, the latest scope and key).</summary>
    private sealed class TrackedVersion
    {
        public string? Scope;
        public string? Key;
        public long Version;
    }

    /// <summary>Checks a hook's substituted document against the value's type, and brings the caller's instance in line.</summary>
    internal interface IValueValidator
    {
        /// <summary>Checks the document; returns the document to store (a copy the hook cannot change).</summary>
        ReadOnlyMemory<byte> Validate(StateManager manager, StateHookContext context, ReadOnlyMemory<byte> document);

        void Apply(StateManager manager, StateWrite write, object instance);
    }

    private sealed class TypedValidator<T> : IValueValidator
        where T : IPersistentState<T>
    {
        public static readonly TypedValidator<T> Instance = new();

        public ReadOnlyMemory<byte> Validate(StateManager manager, StateHookContext context, ReadOnlyMemory<byte> document)
        {
            PersistentStateInfo info = T.StateInfo;
            var entry = new StoredEntry(context.Scope, context.Key, info.TypeName, info.SchemaVersion, context.CurrentVersion, DateTimeOffset.UtcNow, document);
            T value = T.CreateState();
            manager.ReadInto(value, entry, info);

            // Store the type's own form of what was read, as any save does: a [Sensitive] member the hook put in its
            // document (say, from a live instance) is never written.
            var buffer = new ArrayBufferWriter<byte>(document.Length + 64);
            using (var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptionsFor(manager._options.MaxDepth)))
            using (manager.BeginSensitive(context.Scope, context.Key))
            {
                value.WriteState(writer);
            }

            return buffer.WrittenMemory;
        }

        public void Apply(StateManager manager, StateWrite write, object instance)
        {
            PersistentStateInfo info = T.StateInfo;
            var entry = new StoredEntry(write.Scope, write.Key, info.TypeName, info.SchemaVersion, 0, DateTimeOffset.UtcNow, write.Payload);
            manager.ReadInto((T)instance, entry, info);
        }
    }

    private sealed class JsonValidator : IValueValidator
    {
        public static readonly JsonValidator Instance = new();

        public ReadOnlyMemory<byte> Validate(StateManager manager, StateHookContext context, ReadOnlyMemory<byte> document)
        {
            if (!System.Text.Unicode.Utf8.IsValid(document.Span))
            {
                throw new JsonException("The document is not valid UTF-8.");
            }

            using JsonDocument parsed = JsonDocument.Parse(document, new JsonDocumentOptions { MaxDepth = manager._options.MaxDepth });
            return document.ToArray();
        }

        public void Apply(StateManager manager, StateWrite write, object instance)
        {
        }
    }
}
