using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using StateGen.Hooks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>What a hook sees: the old and new values, versions, correlation id, origin and metadata.</summary>
public sealed class HookContextTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A copy of what a hook saw (the context is the operation's; copy while it runs).</summary>
    private sealed record Seen(StateHookPoint Point, string Scope, string Key, string? TypeName, int SchemaVersion, long CurrentVersion, byte[] Old, byte[] New, string? OldName, string? NewName, string CorrelationId, string Origin, Dictionary<string, string> Metadata);

    private static StateHookResult Capture(List<Seen> seen, StateHookContext c)
    {
        lock (seen)
        {
            seen.Add(new Seen(
                c.Point, c.Scope, c.Key, c.TypeName, c.SchemaVersion, c.CurrentVersion, c.OldDocument.ToArray(), c.NewDocument.ToArray(),
                NameOf(c.OldValue),
                NameOf(c.NewValue),
                c.CorrelationId, c.Origin, new Dictionary<string, string>(c.Metadata)));
        }

        return StateHookResult.Continue;
    }

    private static string? NameOf(JsonElement? value)
        => value is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty("Name", out JsonElement name) ? name.GetString() : null;

    private static void RegisterAll(StateManager manager, List<Seen> seen)
    {
        foreach (StateHookPoint point in new[] { StateHookPoint.BeforeChange, StateHookPoint.AfterChange, StateHookPoint.BeforeDelete, StateHookPoint.AfterDelete })
        {
            manager.Hooks.Register(point, "capture-" + point, c => Capture(seen, c));
        }
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Hooks_see_old_and_new_values_versions_correlation_origin_and_metadata(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var seen = new List<Seen>();
        RegisterAll(manager, seen);
        var metadata = new Dictionary<string, string> { ["step"] = "plan", ["user"] = "u-1" };
        var agent = new HookAgent { Id = "a1", Name = "first", Step = 1 };
        StateScope scope = StateScope.Agent("ctx");

        using (StateCorrelation.Begin("corr-ctx", metadata))
        {
            await agent.SaveStateAsync(manager, scope);
            agent.Name = "second";
            await agent.SaveStateAsync(manager, scope);
            await agent.DeleteStateAsync(manager, scope);
        }

        byte[] firstDoc = seen[0].New, secondDoc = seen[2].New;
        Assert.Equal(6, seen.Count);
        Assert.All(seen, s => Assert.Equal(("agent/ctx", AgentKey("a1"), "corr-ctx"), (s.Scope, s.Key, s.CorrelationId)));
        Assert.All(seen, s => Assert.Equal(metadata, s.Metadata));
        Assert.All(seen, s => Assert.Equal(("hook-agent", 1), (s.TypeName, s.SchemaVersion)));

        Assert.Equal((StateHookPoint.BeforeChange, 0L, "save", null, "first"), (seen[0].Point, seen[0].CurrentVersion, seen[0].Origin, seen[0].OldName, seen[0].NewName));
        Assert.Empty(seen[0].Old);
        Assert.Equal((StateHookPoint.AfterChange, 1L, "save", null, "first"), (seen[1].Point, seen[1].CurrentVersion, seen[1].Origin, seen[1].OldName, seen[1].NewName));
        Assert.Equal(firstDoc, seen[1].New);

        Assert.Equal((StateHookPoint.BeforeChange, 1L, "first", "second"), (seen[2].Point, seen[2].CurrentVersion, seen[2].OldName, seen[2].NewName));
        Assert.Equal(firstDoc, seen[2].Old);
        Assert.Equal((StateHookPoint.AfterChange, 2L, "first", "second"), (seen[3].Point, seen[3].CurrentVersion, seen[3].OldName, seen[3].NewName));
        Assert.Equal(firstDoc, seen[3].Old);
        Assert.Equal(secondDoc, seen[3].New);

        Assert.Equal((StateHookPoint.BeforeDelete, 2L, "delete", "second", null), (seen[4].Point, seen[4].CurrentVersion, seen[4].Origin, seen[4].OldName, seen[4].NewName));
        Assert.Equal(secondDoc, seen[4].Old);
        Assert.Empty(seen[4].New);
        Assert.Equal((StateHookPoint.AfterDelete, 0L, "delete", "second"), (seen[5].Point, seen[5].CurrentVersion, seen[5].Origin, seen[5].OldName));
        Assert.Equal(secondDoc, seen[5].Old);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Raw_json_writes_have_origin_set_and_the_json_type(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var seen = new List<Seen>();
        RegisterAll(manager, seen);

        StateWriteResult result = await manager.SetJsonAsync(StateScope.Global, "raw", Backends.Json("""{"Name":"raw"}"""));
        await manager.SetAsync(StateScope.Global, "explicit", new HookAgent { Id = "e", Name = "typed" });

        Assert.Equal(4, seen.Count);
        Assert.Equal(("set", StateManager.JsonTypeName, "raw", result.CorrelationId), (seen[0].Origin, seen[0].TypeName, seen[0].NewName, seen[0].CorrelationId));
        Assert.Equal(("set", "hook-agent", "typed", "explicit"), (seen[2].Origin, seen[2].TypeName, seen[2].NewName, seen[2].Key));
        Assert.Empty(seen[0].Metadata);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task An_after_change_hook_alone_sees_the_replaced_value(string backend)
    {
        // No before hook and no event subscriber: the manager must still fetch what the write replaced.
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var seen = new List<Seen>();
        manager.Hooks.Register(StateHookPoint.AfterChange, "after-only", c => Capture(seen, c));
        var agent = new HookAgent { Id = "a1", Name = "first" };

        await agent.SaveStateAsync(manager);
        byte[] firstDoc = (await manager.Store.GetAsync("global", AgentKey("a1")))!.Payload.ToArray();
        agent.Name = "second";
        await agent.SaveStateAsync(manager);

        Assert.Equal(2, seen.Count);
        Assert.Equal((1L, null, "first"), (seen[0].CurrentVersion, seen[0].OldName, seen[0].NewName));
        Assert.Empty(seen[0].Old);
        Assert.Equal((2L, "first", "second"), (seen[1].CurrentVersion, seen[1].OldName, seen[1].NewName));
        Assert.Equal(firstDoc, seen[1].Old);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Batch_operations_run_hooks_with_the_batchs_correlation_id_and_origin(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await manager.SetJsonAsync(StateScope.Global, "gone", Backends.Json("1"));
        var seen = new List<Seen>();
        RegisterAll(manager, seen);

        StateBatchResult result;
        using (StateCorrelation.Begin("batch-ctx", new Dictionary<string, string> { ["m"] = "1" }))
        {
            result = await manager.CreateBatch()
                .Save(new HookAgent { Id = "b", Name = "batched" }, StateScope.Global)
                .SetJson(StateScope.Global, "j", Backends.Json("2"))
                .Delete(StateScope.Global, "gone")
                .CommitAsync();
        }

        Assert.Equal("batch-ctx", result.CorrelationId);
        Assert.Equal(
            new[] { StateHookPoint.BeforeChange, StateHookPoint.BeforeChange, StateHookPoint.BeforeDelete, StateHookPoint.AfterChange, StateHookPoint.AfterChange, StateHookPoint.AfterDelete },
            seen.Select(s => s.Point));
        Assert.All(seen, s => Assert.Equal(("batch-ctx", "batch", "1"), (s.CorrelationId, s.Origin, s.Metadata["m"])));
        Assert.Equal(new[] { 1L, 1L, 0L }, seen.Skip(3).Select(s => s.CurrentVersion));
    }
}
