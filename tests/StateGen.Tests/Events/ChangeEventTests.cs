using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Storage;
using StateGen.Tests.Hooks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Events;

/// <summary>One event per committed change, with everything a subscriber needs; nothing for changes that did not happen.</summary>
public sealed class ChangeEventTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(Backends.Memory, false)]
    [InlineData(Backends.Memory, true)]
    [InlineData(Backends.LiteDb, false)]
    [InlineData(Backends.LiteDb, true)]
    public async Task Each_committed_change_publishes_one_event_with_its_fields(string backend, bool withHooks)
    {
        // With hooks the manager reads the old value itself; without, the store returns it: both paths must agree.
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        if (withHooks)
        {
            manager.Hooks.Register(StateHookPoint.BeforeChange, "noop-change", _ => StateHookResult.Continue);
            manager.Hooks.Register(StateHookPoint.BeforeDelete, "noop-delete", _ => StateHookResult.Continue);
        }

        using StateEventSubscription subscription = manager.Events.Subscribe();
        StateScope scope = StateScope.Agent("ev");
        var agent = new HookAgent { Id = "e1", Name = "first", Step = 1, Log = new() { "a" } };
        var payloads = new List<byte[]>();

        using (StateCorrelation.Begin("corr-events"))
        {
            await agent.SaveStateAsync(manager, scope);
            payloads.Add(Stored(await manager.Store.GetAsync("agent/ev", AgentKey("e1"))));
            agent.Name = "second";
            await agent.SaveStateAsync(manager, scope);
            payloads.Add(Stored(await manager.Store.GetAsync("agent/ev", AgentKey("e1"))));
            await manager.SetJsonAsync(scope, "raw", Backends.Json("""{"x":1}"""));
            payloads.Add(Stored(await manager.Store.GetAsync("agent/ev", "raw")));
            await agent.DeleteStateAsync(manager, scope);
            Assert.False(await manager.DeleteAsync(scope, "never-stored"));
        }

        List<StateChangeEvent> events = subscription.Drain();
        Assert.Equal(4, events.Count);
        Assert.All(events, e => Assert.Equal(("agent/ev", "corr-events"), (e.Scope, e.CorrelationId)));

        StateChangeEvent first = events[0];
        Assert.Equal((StateChangeKind.Write, AgentKey("e1"), "hook-agent", 1, 1L, 0L, "save"), (first.Kind, first.Key, first.TypeName, first.SchemaVersion, first.Version, first.PreviousVersion, first.Origin));
        Assert.Equal(payloads[0], first.NewDocument.ToArray());
        Assert.Empty(first.OldDocument.ToArray());
        Assert.Null(first.OldValue);
        Assert.Equal("first", first.NewValue!.Value.GetProperty("Name").GetString());
        Assert.Equal(new[] { "Id", "Log", "Name", "Step" }, first.ChangedMembers);

        StateChangeEvent second = events[1];
        Assert.Equal((StateChangeKind.Write, 2L, 1L, "save"), (second.Kind, second.Version, second.PreviousVersion, second.Origin));
        Assert.Equal(payloads[1], second.NewDocument.ToArray());
        Assert.Equal(payloads[0], second.OldDocument.ToArray());
        Assert.True(second.HasOldDocument);
        Assert.Equal("first", second.OldValue!.Value.GetProperty("Name").GetString());
        Assert.Equal(new[] { "Name" }, second.ChangedMembers);

        StateChangeEvent raw = events[2];
        Assert.Equal((StateChangeKind.Write, "raw", StateManager.JsonTypeName, 1L, 0L, "set"), (raw.Kind, raw.Key, raw.TypeName, raw.Version, raw.PreviousVersion, raw.Origin));
        Assert.Equal(payloads[2], raw.NewDocument.ToArray());
        Assert.Equal(new[] { "x" }, raw.ChangedMembers);

        StateChangeEvent deleted = events[3];
        Assert.Equal((StateChangeKind.Delete, AgentKey("e1"), "hook-agent", 2L, 2L, "delete"), (deleted.Kind, deleted.Key, deleted.TypeName, deleted.Version, deleted.PreviousVersion, deleted.Origin));
        Assert.Empty(deleted.NewDocument.ToArray());
        Assert.Null(deleted.NewValue);
        Assert.Equal(payloads[1], deleted.OldDocument.ToArray());
        Assert.Equal(new[] { "Id", "Log", "Name", "Step" }, deleted.ChangedMembers);

        // Both stores keep a change log: sequences are assigned and increase in commit order.
        Assert.All(events, e => Assert.True(e.ChangeSequence > 0));
        Assert.Equal(events.Select(e => e.ChangeSequence).Order(), events.Select(e => e.ChangeSequence));
        Assert.Equal(events.Count, events.Select(e => e.ChangeSequence).Distinct().Count());
    }

    private static byte[] Stored(StoredEntry? entry) => entry!.Payload.ToArray();

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Canceled_failed_and_conflicting_writes_publish_nothing(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        using StateEventSubscription subscription = manager.Events.Subscribe();
        manager.Hooks.Register(StateHookPoint.BeforeChange, "gate", c => c.Key switch
        {
            "cancel" => StateHookResult.Cancel("no"),
            "fail" => throw new InvalidOperationException("boom"),
            _ => StateHookResult.Continue,
        });
        manager.Hooks.Register(StateHookPoint.BeforeDelete, "keep", _ => StateHookResult.Cancel("keep"));

        Assert.True((await manager.SetJsonAsync(StateScope.Global, "cancel", Backends.Json("1"))).IsCanceled);
        await Assert.ThrowsAsync<StateHookException>(() => manager.SetJsonAsync(StateScope.Global, "fail", Backends.Json("1")).AsTask());
        await Assert.ThrowsAsync<StateConcurrencyException>(() => manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("2"), new StateWriteOptions { ExpectedVersion = 7 }).AsTask());
        Assert.False(await manager.DeleteAsync(StateScope.Global, "k"));
        Assert.True((await manager.CreateBatch().SetJson(StateScope.Global, "ok", Backends.Json("1")).SetJson(StateScope.Global, "cancel", Backends.Json("1")).CommitAsync()).IsCanceled);
        await Assert.ThrowsAsync<StateConcurrencyException>(() => manager.CreateBatch().SetJson(StateScope.Global, "k", Backends.Json("3"), expectedVersion: 9).CommitAsync().AsTask());

        Assert.Empty(subscription.Drain());

        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("4"));
        StateChangeEvent only = Assert.Single(subscription.Drain());
        Assert.Equal(("k", 2L), (only.Key, only.Version));
    }

    [Fact]
    public async Task Filters_select_events_by_scope_pattern_key_pattern_and_correlation_id()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        using StateEventSubscription agents = manager.Events.Subscribe(new StateEventFilter { ScopePattern = "agent/*" });
        using StateEventSubscription notes = manager.Events.Subscribe(new StateEventFilter { KeyPattern = "notes-*" });
        using StateEventSubscription correlated = manager.Events.Subscribe(new StateEventFilter { CorrelationId = "wanted" });
        using StateEventSubscription combined = manager.Events.Subscribe(new StateEventFilter { ScopePattern = "agent/a?", KeyPattern = "notes-*", CorrelationId = "wanted" });
        using StateEventSubscription all = manager.Events.Subscribe();

        await manager.SetJsonAsync(StateScope.Agent("a1"), "notes-1", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Global, "notes-2", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Session("agent"), "other", Backends.Json("1"));
        using (StateCorrelation.Begin("wanted"))
        {
            await manager.SetJsonAsync(StateScope.Agent("a2"), "notes-3", Backends.Json("1"));
            await manager.SetJsonAsync(StateScope.Agent("abc"), "notes-4", Backends.Json("1"));
            await manager.SetJsonAsync(StateScope.Global, "plain", Backends.Json("1"));
        }

        using (StateCorrelation.Begin("unwanted"))
        {
            await manager.SetJsonAsync(StateScope.Agent("a3"), "notes-5", Backends.Json("1"));
        }

        Assert.Equal(new[] { "notes-1", "notes-3", "notes-4", "notes-5" }, agents.Drain().Select(e => e.Key));
        Assert.Equal(new[] { "notes-1", "notes-2", "notes-3", "notes-4", "notes-5" }, notes.Drain().Select(e => e.Key));
        Assert.Equal(new[] { "notes-3", "notes-4", "plain" }, correlated.Drain().Select(e => e.Key));
        Assert.Equal(new[] { "notes-3" }, combined.Drain().Select(e => e.Key));
        Assert.Equal(7, all.Drain().Count);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_batch_publishes_one_event_per_operation_with_one_correlation_id(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await manager.SetJsonAsync(StateScope.Global, "old", Backends.Json("""{"v":0}"""));
        using StateEventSubscription subscription = manager.Events.Subscribe();

        StateBatchResult result = await manager.CreateBatch()
            .Save(new HookAgent { Id = "b1", Name = "batched" }, StateScope.Agent("b"))
            .SetJson(StateScope.Global, "old", Backends.Json("""{"v":1}"""))
            .Set(StateScope.Global, "explicit", new HookAgent { Id = "x" })
            .Delete(StateScope.Global, "old-missing")
            .CommitAsync();

        List<StateChangeEvent> events = subscription.Drain();
        Assert.Equal(new[] { AgentKey("b1"), "old", "explicit" }, events.Select(e => e.Key));
        Assert.Equal(32, result.CorrelationId.Length);
        Assert.All(events, e => Assert.Equal((result.CorrelationId, "batch", StateChangeKind.Write), (e.CorrelationId, e.Origin, e.Kind)));
        Assert.Equal(new[] { 1L, 2L, 1L }, events.Select(e => e.Version));
        Assert.Equal(new[] { 0L, 1L, 0L }, events.Select(e => e.PreviousVersion));
        Assert.Equal(0, events[1].OldValue!.Value.GetProperty("v").GetInt32());
        Assert.Equal(new[] { "v" }, events[1].ChangedMembers);
        Assert.Equal(StateWriteStatus.NotFound, result.Results[3].Status);

        StateBatchResult deletes;
        using (StateCorrelation.Begin("batch-corr"))
        {
            deletes = await manager.CreateBatch().Delete(StateScope.Global, "old").Delete(StateScope.Global, "explicit").CommitAsync();
        }

        List<StateChangeEvent> deleted = subscription.Drain();
        Assert.Equal("batch-corr", deletes.CorrelationId);
        Assert.Equal(new[] { "old", "explicit" }, deleted.Select(e => e.Key));
        Assert.All(deleted, e => Assert.Equal((StateChangeKind.Delete, "batch-corr"), (e.Kind, e.CorrelationId)));
        Assert.Equal(1, deleted[0].OldValue!.Value.GetProperty("v").GetInt32());
    }
}
