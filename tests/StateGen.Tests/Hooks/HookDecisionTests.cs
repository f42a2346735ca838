using System;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using StateGen.Hooks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>Each hook decision changes what is stored exactly as specified: continue, modify, cancel.</summary>
public sealed class HookDecisionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Continue_stores_the_proposed_value(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        byte[]? proposed = null;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "continue", context =>
        {
            proposed = context.NewDocument.ToArray();
            return StateHookResult.Continue;
        });

        var agent = new HookAgent { Id = "a1", Name = "proposed", Step = 3 };
        StateWriteResult result = await agent.SaveStateAsync(manager);

        Assert.Equal(StateWriteStatus.Written, result.Status);
        Assert.Equal(1, result.Version);
        StoredEntry stored = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        Assert.NotNull(proposed);
        Assert.Equal(proposed, stored.Payload.ToArray());
        var loaded = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!;
        Assert.Equal(("proposed", 3), (loaded.Name, loaded.Step));
    }

    [Theory]
    [InlineData(Backends.Memory, false)]
    [InlineData(Backends.Memory, true)]
    [InlineData(Backends.LiteDb, false)]
    [InlineData(Backends.LiteDb, true)]
    public async Task Modify_on_a_save_stores_the_hooks_value_and_updates_the_callers_instance(string backend, bool generatedSave)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "rewrite", context => ModifyObject(context, o =>
        {
            o["Name"] = "from-hook";
            o["Step"] = o["Step"]!.GetValue<int>() + 100;
            o["Log"] = new System.Text.Json.Nodes.JsonArray("hooked");
        }));

        var agent = new HookAgent { Id = "a1", Name = "from-caller", Step = 1, Log = new() { "caller" }, Secret = "kept-in-memory" };
        StateWriteResult result = generatedSave ? await agent.SaveStateAsync(manager) : await manager.SaveAsync(agent, StateScope.Global);

        Assert.Equal((StateWriteStatus.Written, 1L), (result.Status, result.Version));
        var stored = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!;
        Assert.Equal(("from-hook", 101), (stored.Name, stored.Step));
        Assert.Equal(new[] { "hooked" }, stored.Log);

        // The caller's instance matches what was stored, and knows the version it was stored as.
        Assert.Equal(("from-hook", 101), (agent.Name, agent.Step));
        Assert.Equal(new[] { "hooked" }, agent.Log);
        Assert.Equal(1, manager.GetTrackedVersion(agent, StateScope.Global));
        Assert.Equal("kept-in-memory", agent.Secret); // a [Sensitive] member is not in any document, so it is left alone

        // The next save of the same instance expects that version and succeeds.
        agent.Step = 5;
        Assert.Equal(2, (await agent.SaveStateAsync(manager)).Version);
        Assert.Equal(105, agent.Step);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Modify_with_utf8_bytes_stores_that_value(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        byte[] typed = Encoding.UTF8.GetBytes("""{"Id":"a1","Name":"bytes","Step":9,"Log":null}""");
        byte[] raw = Encoding.UTF8.GetBytes("""{"replaced":[1,2,3]}""");
        manager.Hooks.Register(StateHookPoint.BeforeChange, "bytes", context => StateHookResult.Modify(context.TypeName == "json" ? raw : typed));

        var agent = new HookAgent { Id = "a1", Name = "caller" };
        await agent.SaveStateAsync(manager);
        await manager.SetJsonAsync(StateScope.Global, "raw", Backends.Json("""{"original":true}"""));

        Assert.Equal(typed, (await manager.Store.GetAsync("global", AgentKey("a1")))!.Payload.ToArray());
        Assert.Equal(raw, (await manager.Store.GetAsync("global", "raw"))!.Payload.ToArray());
        Assert.Equal(("bytes", 9), (agent.Name, agent.Step));
        Assert.Null(agent.Log);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Modify_with_a_partial_document_stores_the_types_form_and_the_caller_gets_what_a_load_gives(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "partial", _ => StateHookResult.Modify(Encoding.UTF8.GetBytes("""{"Name":"partial","Id":"a1","Unknown":{"x":1}}""")));

        var agent = new HookAgent { Id = "a1", Name = "caller", Step = 5, Log = new() { "c" } };
        await agent.SaveStateAsync(manager);

        // Stored as the type writes it: every member, in declared order; unknown members dropped.
        Assert.Equal("""{"Id":"a1","Name":"partial","Step":0,"Log":null}""", Text((await manager.Store.GetAsync("global", AgentKey("a1")))!.Payload));
        var loaded = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!;
        Assert.Equal(("a1", "partial", 0, (System.Collections.Generic.List<string>?)null), (loaded.Id, loaded.Name, loaded.Step, loaded.Log));
        Assert.Equal((loaded.Id, loaded.Name, loaded.Step, loaded.Log), (agent.Id, agent.Name, agent.Step, agent.Log));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Modify_with_a_JsonElement_replaces_a_raw_json_value(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "element", _ => StateHookResult.Modify(Backends.Json("""{"model":"from-hook","temperature":0.5}""")));

        StateWriteResult result = await manager.SetJsonAsync(StateScope.Agent("x"), "settings", Backends.Json("""{"model":"from-caller"}"""));

        Assert.Equal(StateWriteStatus.Written, result.Status);
        JsonElement stored = (await manager.GetJsonAsync(StateScope.Agent("x"), "settings"))!.Value;
        Assert.True(JsonElement.DeepEquals(Backends.Json("""{"model":"from-hook","temperature":0.5}"""), stored));
    }

    public static TheoryData<string, string> WrongShapes()
    {
        var data = new TheoryData<string, string>();
        foreach (string backend in new[] { Backends.Memory, Backends.LiteDb })
        {
            data.Add(backend, """[1,2,3]""");
            data.Add(backend, """{"Step":"not-a-number"}""");
            data.Add(backend, """{"Name":""");
            data.Add(backend, "not json");
            data.Add(backend, "");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WrongShapes))]
    public async Task Modify_with_a_document_not_of_the_types_shape_fails_the_save_under_FailOperation(string backend, string document)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new HookAgent { Id = "a1", Name = "first" };
        await agent.SaveStateAsync(manager);
        StoredEntry before = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "bad-shape", _ => StateHookResult.Modify(Encoding.UTF8.GetBytes(document)));

        agent.Name = "second";
        StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => agent.SaveStateAsync(manager).AsTask());

        Assert.Equal(("bad-shape", StateHookPoint.BeforeChange, false), (ex.HookId, ex.Point, ex.TimedOut));
        Assert.IsType<StateSerializationException>(ex.InnerException);
        StoredEntry after = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(before.Payload.ToArray(), after.Payload.ToArray());
        Assert.Equal("second", agent.Name); // the caller's instance is left as the caller set it
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Modify_with_a_document_not_of_the_types_shape_is_logged_and_skipped_under_LogAndContinue(string backend)
    {
        var logger = new CapturingLogger<StateManager>();
        await using var manager = new StateManager(Backends.CreateStore(backend, _dir), logger: logger);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "bad-shape", _ => StateHookResult.Modify(Encoding.UTF8.GetBytes("[1]")), new StateHookOptions { FailurePolicy = HookFailurePolicy.LogAndContinue });

        var agent = new HookAgent { Id = "a1", Name = "caller", Step = 4 };
        StateWriteResult result = await agent.SaveStateAsync(manager);

        Assert.Equal((StateWriteStatus.Written, 1L), (result.Status, result.Version));
        var stored = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!;
        Assert.Equal(("caller", 4), (stored.Name, stored.Step));
        Assert.Contains(logger.Entries, e => e.EventId.Name == "HookFailedContinuing" && e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("bad-shape", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Modify_of_a_raw_json_value_with_invalid_json_fails_under_FailOperation(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "not-json", _ => StateHookResult.Modify(Encoding.UTF8.GetBytes("{\"open\":")));

        StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1")).AsTask());

        Assert.Equal("not-json", ex.HookId);
        Assert.False(await manager.ExistsAsync(StateScope.Global, "k"));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Cancel_writes_nothing_and_reports_the_hook_and_reason(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new HookAgent { Id = "a1", Name = "v1" };
        await agent.SaveStateAsync(manager);
        StoredEntry before = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        using StateHookRegistration cancel = manager.Hooks.Register(StateHookPoint.BeforeChange, "quota", _ => StateHookResult.Cancel("over quota"));

        agent.Name = "v2";
        StateWriteResult result = await agent.SaveStateAsync(manager);
        StateWriteResult fresh = await manager.SetJsonAsync(StateScope.Global, "never", Backends.Json("1"));

        Assert.True(result.IsCanceled);
        Assert.Equal((StateWriteStatus.Canceled, 0L, "quota", "over quota"), (result.Status, result.Version, result.CanceledBy, result.CancelReason));
        Assert.True(fresh.IsCanceled);
        Assert.False(await manager.ExistsAsync(StateScope.Global, "never"));
        StoredEntry after = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(before.Payload.ToArray(), after.Payload.ToArray());
        Assert.Equal(1, manager.GetTrackedVersion(agent, StateScope.Global));

        // The instance still expects the version that is stored: once the hook is gone, its save goes through.
        cancel.Dispose();
        Assert.Equal(2, (await agent.SaveStateAsync(manager)).Version);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_canceled_delete_leaves_the_value(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new HookAgent { Id = "a1", Name = "keep me" };
        await agent.SaveStateAsync(manager);
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        manager.Hooks.Register(StateHookPoint.BeforeDelete, "no-deletes", _ => StateHookResult.Cancel("retained"));

        StateWriteResult result = await manager.DeleteAsync(StateScope.Global, "k", (StateWriteOptions?)null);
        bool deleted = await manager.DeleteAsync(StateScope.Global, "k");
        bool deletedAgent = await agent.DeleteStateAsync(manager);

        Assert.Equal((StateWriteStatus.Canceled, "no-deletes", "retained"), (result.Status, result.CanceledBy, result.CancelReason));
        Assert.False(deleted);
        Assert.False(deletedAgent);
        Assert.Equal(1, (await manager.Store.GetAsync("global", "k"))!.Version);
        var stored = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!;
        Assert.Equal("keep me", stored.Name);
    }

    [Theory]
    [InlineData(Backends.Memory, "cancel")]
    [InlineData(Backends.Memory, "fail")]
    [InlineData(Backends.LiteDb, "cancel")]
    [InlineData(Backends.LiteDb, "fail")]
    public async Task A_batch_that_a_later_hook_cancels_or_fails_writes_nothing_and_leaves_the_callers_instance(string backend, string outcome)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "gate", c => c.TypeName == "hook-agent"
            ? ModifyObject(c, o => o["Name"] = "from-hook")
            : outcome == "cancel" ? StateHookResult.Cancel("veto") : throw new InvalidOperationException("veto"));
        var agent = new HookAgent { Id = "a1", Name = "caller" };
        StateBatch batch = manager.CreateBatch().Save(agent, StateScope.Global).SetJson(StateScope.Global, "vetoed", Backends.Json("1"));

        if (outcome == "cancel")
        {
            StateBatchResult result = await batch.CommitAsync();
            Assert.True(result.IsCanceled);
            Assert.Equal(("gate", "veto"), (result.CanceledBy, result.CancelReason));
            Assert.Empty(result.Results);
        }
        else
        {
            await Assert.ThrowsAsync<StateHookException>(() => batch.CommitAsync().AsTask());
        }

        Assert.Empty(await manager.ListKeysAsync(StateScope.Global));
        Assert.Equal("caller", agent.Name);
        Assert.Null(manager.GetTrackedVersion(agent, StateScope.Global));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Modify_in_a_batch_save_stores_the_hooks_value_and_updates_the_callers_instance(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "rewrite", c => c.TypeName == "hook-agent" ? ModifyObject(c, o => o["Name"] = "from-hook") : StateHookResult.Continue);
        var agent = new HookAgent { Id = "a1", Name = "caller" };

        StateBatchResult result = await manager.CreateBatch().Save(agent, StateScope.Global).SetJson(StateScope.Global, "other", Backends.Json("1")).CommitAsync();

        Assert.Equal(new[] { 1L, 1L }, result.Results.Select(r => r.Version));
        Assert.Equal("from-hook", (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!.Name);
        Assert.Equal("from-hook", agent.Name);
        Assert.Equal(1, manager.GetTrackedVersion(agent, StateScope.Global));
    }
}
