using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.History;
using StateGen.Tests.Hooks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Events;

/// <summary>The ambient correlation id: where it comes from, how it flows, and where it ends up.</summary>
public sealed class CorrelationTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_scope_flows_across_await_and_Task_Run_into_events_results_and_the_change_log(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        using StateEventSubscription subscription = manager.Events.Subscribe();
        var results = new List<StateWriteResult>();

        using (StateCorrelation.Begin("flow-1"))
        {
            await Task.Yield();
            results.Add(await manager.SetJsonAsync(StateScope.Global, "direct", Backends.Json("1")));
            results.Add(await Task.Run(async () => await manager.SetJsonAsync(StateScope.Agent("r"), "in-task-run", Backends.Json("2"))));
            await Task.WhenAll(Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
            {
                await Task.Delay(1);
                await new HookAgent { Id = $"p{i}" }.SaveStateAsync(manager);
            })));
            await manager.DeleteAsync(StateScope.Global, "direct");
        }

        await manager.SetJsonAsync(StateScope.Global, "outside", Backends.Json("3"));

        Assert.All(results, r => Assert.Equal("flow-1", r.CorrelationId));
        List<StateChangeEvent> events = subscription.Drain();
        Assert.Equal(7, events.Count);
        Assert.All(events.Take(6), e => Assert.Equal("flow-1", e.CorrelationId));
        Assert.NotEqual("flow-1", events[6].CorrelationId);

        IReadOnlyList<StateChangeEvent> timeline = await manager.GetTimelineAsync(new StateTimelineQuery { CorrelationId = "flow-1" });
        Assert.Equal(6, timeline.Count);
        // Events are ordered per key; across keys written concurrently they may arrive in any order.
        Assert.Equal(events.Take(6).Select(e => e.ChangeSequence).Order(), timeline.Select(e => e.ChangeSequence));
        Assert.All(timeline, e => Assert.Equal("flow-1", e.CorrelationId));
        Assert.Equal(
            new[] { "global direct Write", "agent/r in-task-run Write", "global direct Delete" },
            timeline.Where(e => !e.Key.StartsWith("hook-agent/", StringComparison.Ordinal)).Select(e => $"{e.Scope} {e.Key} {e.Kind}"));
        Assert.Equal(new[] { "hook-agent/p0", "hook-agent/p1", "hook-agent/p2" }, timeline.Where(e => e.Key.StartsWith("hook-agent/", StringComparison.Ordinal)).Select(e => e.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Nested_scopes_use_the_inner_id_and_restore_the_outer_one()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        using StateEventSubscription subscription = manager.Events.Subscribe();
        var metadata = new Dictionary<string, string> { ["who"] = "outer" };
        Assert.Null(StateCorrelation.CurrentId);

        using (StateCorrelation.Begin("outer", metadata))
        {
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
            using (StateCorrelation.Begin("inner"))
            {
                Assert.Equal("inner", StateCorrelation.CurrentId);
                Assert.Equal("outer", StateCorrelation.CurrentMetadata["who"]); // inherited when none is given
                await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("2"));
            }

            Assert.Equal("outer", StateCorrelation.CurrentId);
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("3"));
        }

        Assert.Null(StateCorrelation.CurrentId);
        Assert.Empty(StateCorrelation.CurrentMetadata);
        Assert.Equal(new[] { "outer", "inner", "outer" }, subscription.Drain().Select(e => e.CorrelationId));
        Assert.Equal(new[] { "outer", "inner", "outer" }, (await manager.GetTimelineAsync(new StateTimelineQuery { Scope = StateScope.Global, Key = "k" })).Select(e => e.CorrelationId));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Without_a_scope_the_current_activitys_trace_id_is_used(string backend)
    {
        using var source = new ActivitySource("StateGen.Tests.Correlation." + Guid.NewGuid().ToString("N"));
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        using StateEventSubscription subscription = manager.Events.Subscribe();

        string traceId, taggedScope;
        using (Activity activity = source.StartActivity("agent-step")!)
        {
            Assert.NotNull(activity);
            traceId = activity.TraceId.ToHexString();
            Assert.Equal(traceId, (await manager.SetJsonAsync(StateScope.Global, "a", Backends.Json("1"))).CorrelationId);
            await new HookAgent { Id = "t" }.SaveStateAsync(manager);
            using (StateCorrelation.Begin("explicit-wins"))
            {
                await manager.SetJsonAsync(StateScope.Global, "b", Backends.Json("1"));
            }

            taggedScope = (string)activity.GetTagItem(StateCorrelation.ActivityTagName)!;
        }

        Assert.Equal(new[] { traceId, traceId, "explicit-wins" }, subscription.Drain().Select(e => e.CorrelationId));
        Assert.Equal("explicit-wins", taggedScope);
        Assert.Equal(2, (await manager.GetTimelineAsync(new StateTimelineQuery { CorrelationId = traceId })).Count);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Without_a_scope_or_an_activity_every_write_gets_a_fresh_id(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        using StateEventSubscription subscription = manager.Events.Subscribe();
        Assert.Null(Activity.Current);
        Assert.Null(StateCorrelation.CurrentId);

        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add((await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"))).CorrelationId);
        }

        ids.Add((await manager.CreateBatch().SetJson(StateScope.Global, "k", Backends.Json("2")).CommitAsync()).CorrelationId);

        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        Assert.Equal(ids, subscription.Drain().Select(e => e.CorrelationId));
        IReadOnlyList<StateChangeEvent> one = await manager.GetTimelineAsync(new StateTimelineQuery { CorrelationId = ids[2] });
        Assert.Equal(3, Assert.Single(one).Version);
    }

    [Fact]
    public void Invalid_ids_are_rejected_and_valid_ones_accepted()
    {
        Assert.Throws<ArgumentException>(() => StateCorrelation.Begin(""));
        Assert.Throws<ArgumentException>(() => StateCorrelation.Begin(new string('c', 129)));
        Assert.Throws<ArgumentException>(() => StateCorrelation.Begin("line\nbreak"));
        Assert.Throws<ArgumentException>(() => StateCorrelation.Begin("nul\0"));
        Assert.Throws<ArgumentException>(() => StateCorrelation.Begin("\u0085"));
        Assert.Null(StateCorrelation.CurrentId); // a rejected id leaves no scope behind

        using (StateCorrelation.Begin(new string('c', 128)))
        {
            Assert.Equal(128, StateCorrelation.CurrentId!.Length);
        }

        using (StateCorrelation.Begin())
        {
            Assert.Matches("^[0-9a-f]{32}$", StateCorrelation.CurrentId!);
        }

        using (StateCorrelation.Begin("step 42 / ünïcode ✓"))
        {
            Assert.Equal("step 42 / ünïcode ✓", StateCorrelation.CurrentId);
        }

        Assert.Null(StateCorrelation.CurrentId);
    }

    [Fact]
    public async Task Replaying_a_correlation_id_is_rejected_for_an_invalid_id()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        await Assert.ThrowsAsync<ArgumentException>(() => manager.ReplayAsync("", manager, dryRun: true).AsTask());
    }
}
