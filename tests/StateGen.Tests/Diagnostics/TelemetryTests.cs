using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Diagnostics;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Diagnostics;

[PersistentState("telemetry-probe")]
public partial class TelemetryProbe
{
    public string Id { get; set; } = "";
    public string Note { get; set; } = "";
    [Sensitive] public string Secret { get; set; } = "";
}

/// <summary>Operations are counted, timed and traced through the standard abstractions, with no key, id or value in a tag.</summary>
public sealed class TelemetryTests
{
    private const string Type = "telemetry-probe";

    [Fact]
    public async Task Operations_are_counted_with_operation_type_scope_kind_and_outcome_tags_only()
    {
        var measurements = new ConcurrentBag<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StateGenTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        listener.Start();

        var store = new MemoryStateStore();
        await using (var manager = new StateManager(store))
        {
            var probe = new TelemetryProbe { Id = "user-4711", Note = "hello", Secret = "sk-live-TELEMETRY" };
            await probe.SaveStateAsync(manager, StateScope.Agent("agent-007"));
            Assert.True(await probe.LoadStateAsync(manager, StateScope.Agent("agent-007")));
            Assert.False(await new TelemetryProbe { Id = "nobody" }.LoadStateAsync(manager));
            await store.WriteAsync(new StateGen.Storage.StateWrite("global", "telemetry-probe/broken", Type, 1, Encoding.UTF8.GetBytes("{\"Note\":")));
            await Assert.ThrowsAsync<StateSerializationException>(() => new TelemetryProbe { Id = "broken" }.LoadStateAsync(manager).AsTask());
        }

        var ours = measurements.Where(m => Equals(m.Tags.GetValueOrDefault("stategen.type"), Type)).ToList();
        var counts = ours.Where(m => m.Instrument == "stategen.operations")
            .Select(m => $"{m.Tags["stategen.operation"]}/{m.Tags["stategen.scope_kind"]}/{m.Tags["stategen.outcome"]}")
            .OrderBy(x => x, StringComparer.Ordinal)
            .ToList();
        Assert.Equal(new[] { "load/agent/ok", "load/global/not_found", "load/global/unreadable", "write/agent/ok" }, counts);
        Assert.Equal(4, ours.Count(m => m.Instrument == "stategen.operation.duration"));
        Assert.Contains(ours, m => m.Instrument == "stategen.payload.size" && Equals(m.Tags["stategen.operation"], "write") && m.Value > 0);

        foreach (var m in ours)
        {
            foreach (object? value in m.Tags.Values)
            {
                string text = value?.ToString() ?? "";
                Assert.DoesNotContain("user-4711", text, StringComparison.Ordinal);
                Assert.DoesNotContain("agent-007", text, StringComparison.Ordinal);
                Assert.DoesNotContain("TELEMETRY", text, StringComparison.Ordinal);
            }
        }

        void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>();
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            measurements.Add((instrument.Name, value, copy));
        }
    }

    [Fact]
    public async Task Each_operation_is_an_activity_and_a_failure_sets_error_status_with_the_exception_type_only()
    {
        var activities = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == StateGenTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);

        var store = new MemoryStateStore();
        await using (var manager = new StateManager(store))
        {
            await new TelemetryProbe { Id = "trace-1", Secret = "sk-live-TRACE" }.SaveStateAsync(manager);
            await store.WriteAsync(new StateGen.Storage.StateWrite("global", "telemetry-probe/trace-2", Type, 9, Encoding.UTF8.GetBytes("{}")));
            await Assert.ThrowsAsync<StateSchemaVersionException>(() => new TelemetryProbe { Id = "trace-2" }.LoadStateAsync(manager).AsTask());
        }

        var ours = activities.Where(a => Equals(a.GetTagItem("stategen.type"), Type)).ToList();
        Activity write = Assert.Single(ours, a => a.OperationName == "stategen.write");
        Assert.Equal("ok", write.GetTagItem("stategen.outcome"));
        Activity failed = Assert.Single(ours, a => a.OperationName == "stategen.load" && Equals(a.GetTagItem("stategen.outcome"), "unreadable"));
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal(nameof(StateSchemaVersionException), failed.StatusDescription);
        Assert.All(ours, a => Assert.All(a.TagObjects, t => Assert.DoesNotContain("trace-", t.Value?.ToString() ?? "", StringComparison.Ordinal)));
    }
}
