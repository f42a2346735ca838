using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Hooks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>Hook executions are persisted with what ran, where, how it ended and the values it saw.</summary>
public sealed class HookHistoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed class Docs
    {
        public byte[] First = [];
        public byte[] SecondProposed = [];
        public byte[] SecondModified = [];
    }

    /// <summary>Runs one save (v1) and one modified save (v2) under "corr-hist", a canceled save under "corr-cancel", a timed-out save under "corr-timeout".</summary>
    private static async Task<Docs> RunHookedOperationsAsync(StateManager manager)
    {
        var docs = new Docs();
        var never = new TaskCompletionSource<StateHookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "modify", c =>
        {
            if (c.CorrelationId == "corr-cancel")
            {
                return StateHookResult.Cancel("not now");
            }

            if (c.CurrentVersion != 1)
            {
                return StateHookResult.Continue;
            }

            docs.SecondProposed = c.NewDocument.ToArray();
            return ModifyObject(c, o => o["Name"] = "modified");
        }, new StateHookOptions { Priority = 10 });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "fails", _ => throw new InvalidOperationException("hook message"), new StateHookOptions { Priority = 5, FailurePolicy = HookFailurePolicy.LogAndContinue, ScopePattern = "global" });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "stuck", (c, _) => c.CorrelationId == "corr-timeout" ? new ValueTask<StateHookResult>(never.Task) : new ValueTask<StateHookResult>(StateHookResult.Continue), ShortTimeout(HookFailurePolicy.LogAndContinue));
        manager.Hooks.Register(StateHookPoint.AfterChange, "after", _ => StateHookResult.Continue);

        var agent = new HookAgent { Id = "h1", Name = "first", Step = 1 };
        using (StateCorrelation.Begin("corr-hist"))
        {
            await agent.SaveStateAsync(manager);
            docs.First = (await manager.Store.GetAsync("global", AgentKey("h1")))!.Payload.ToArray();
            agent.Name = "second";
            agent.Step = 2;
            await agent.SaveStateAsync(manager);
            docs.SecondModified = (await manager.Store.GetAsync("global", AgentKey("h1")))!.Payload.ToArray();
        }

        using (StateCorrelation.Begin("corr-cancel"))
        {
            Assert.True((await manager.SetJsonAsync(StateScope.Global, "c", Backends.Json("1"))).IsCanceled);
        }

        using (StateCorrelation.Begin("corr-timeout"))
        {
            Assert.Equal(StateWriteStatus.Written, (await manager.SetJsonAsync(StateScope.Agent("t"), "t", Backends.Json("1"))).Status);
        }

        return docs;
    }

    private static void AssertHistory(IReadOnlyList<HookExecutionRecord> records, Docs docs)
    {
        Assert.Equal(
            new[]
            {
                "modify BeforeChange Continued", "fails BeforeChange Failed", "stuck BeforeChange Continued", "after AfterChange Continued",
                "modify BeforeChange Modified", "fails BeforeChange Failed", "stuck BeforeChange Continued", "after AfterChange Continued",
            },
            records.Select(r => $"{r.HookId} {r.Point} {r.Outcome}"));
        Assert.All(records, r => Assert.Equal(("corr-hist", "global", AgentKey("h1"), "hook-agent"), (r.CorrelationId, r.Scope, r.Key, r.TypeName)));
        Assert.Equal(new[] { null, nameof(InvalidOperationException), null, null, null, nameof(InvalidOperationException), null, null }, records.Select(r => r.Error));
        Assert.True(records.Zip(records.Skip(1)).All(p => p.First.Id < p.Second.Id));

        // First save: nothing stored before; every hook saw the caller's document; nothing substituted.
        Assert.All(records.Take(4), r => Assert.Empty(r.OldValue.ToArray()));
        Assert.All(records.Take(4), r => Assert.Equal(docs.First, r.NewValue.ToArray()));
        Assert.All(records.Take(4), r => Assert.Empty(r.ResultValue.ToArray()));

        // Second save: the modify hook saw the proposed document and substituted its own; later hooks saw that.
        Assert.All(records.Skip(4), r => Assert.Equal(docs.First, r.OldValue.ToArray()));
        Assert.Equal("second", Parse(docs.SecondProposed)["Name"]!.GetValue<string>());
        Assert.Equal(docs.SecondProposed, records[4].NewValue.ToArray());
        Assert.Equal(docs.SecondModified, records[4].ResultValue.ToArray());
        Assert.Equal("modified", Parse(records[4].ResultValue)["Name"]!.GetValue<string>());
        Assert.All(records.Skip(5), r => Assert.Equal(docs.SecondModified, r.NewValue.ToArray()));
        Assert.All(records.Skip(5), r => Assert.Empty(r.ResultValue.ToArray()));
    }

    [Fact]
    public async Task Hook_history_in_a_LiteDB_file_survives_dispose_and_reopen()
    {
        string path = _dir.File("hooks.db");
        Docs docs;
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            docs = await RunHookedOperationsAsync(manager);
        }

        await using StateManager reopened = new(new LiteDbStateStore(path));
        AssertHistory(await reopened.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-hist" }), docs);
        AssertCancelAndTimeout(await reopened.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-cancel" }), await reopened.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-timeout" }));
        Assert.Equal(2, (await reopened.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-hist", HookId = "modify" })).Count);
    }

    [Fact]
    public async Task Hook_history_in_memory_records_the_same()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        Docs docs = await RunHookedOperationsAsync(manager);

        AssertHistory(await manager.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-hist" }), docs);
        AssertCancelAndTimeout(await manager.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-cancel" }), await manager.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-timeout" }));
    }

    private static void AssertCancelAndTimeout(IReadOnlyList<HookExecutionRecord> canceled, IReadOnlyList<HookExecutionRecord> timedOut)
    {
        HookExecutionRecord cancel = Assert.Single(canceled);
        Assert.Equal(("modify", "BeforeChange", "Canceled", null, "global", "c", "json"), (cancel.HookId, cancel.Point, cancel.Outcome, cancel.Error, cancel.Scope, cancel.Key, cancel.TypeName));
        Assert.Equal("1", Text(cancel.NewValue));

        Assert.Equal(new[] { "modify Continued", "stuck TimedOut", "after Continued" }, timedOut.Select(r => $"{r.HookId} {r.Outcome}"));
        Assert.All(timedOut, r => Assert.Equal(("agent/t", "t"), (r.Scope, r.Key)));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task With_RecordHookHistory_off_nothing_is_recorded(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir, new StateManagerOptions { RecordHookHistory = false });
        await RunHookedOperationsAsync(manager);

        Assert.Empty(await manager.GetHookHistoryAsync(new HookExecutionQuery()));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Failures_and_timeouts_that_fail_the_operation_are_recorded_too(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var never = new TaskCompletionSource<StateHookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "bad-shape", c => c.Key == "bad" ? StateHookResult.Modify(System.Text.Encoding.UTF8.GetBytes("[]")) : StateHookResult.Continue, new StateHookOptions { Priority = 2, FailurePolicy = HookFailurePolicy.LogAndContinue });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "throws", c => c.Key == "throws" ? throw new ArgumentException("no") : StateHookResult.Continue, new StateHookOptions { Priority = 1 });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "stuck", (c, _) => c.Key == "stuck" ? new ValueTask<StateHookResult>(never.Task) : new ValueTask<StateHookResult>(StateHookResult.Continue), ShortTimeout(HookFailurePolicy.FailOperation));

        using (StateCorrelation.Begin("corr-fail"))
        {
            await Assert.ThrowsAsync<StateHookException>(() => manager.SetJsonAsync(StateScope.Global, "throws", Backends.Json("1")).AsTask());
            await Assert.ThrowsAsync<StateHookException>(() => manager.SetJsonAsync(StateScope.Global, "stuck", Backends.Json("1")).AsTask());
            await manager.SetAsync(StateScope.Global, "bad", new HookAgent { Id = "b" });
        }

        IReadOnlyList<HookExecutionRecord> records = await manager.GetHookHistoryAsync(new HookExecutionQuery { CorrelationId = "corr-fail" });
        Assert.Equal(
            new[]
            {
                "throws bad-shape Continued -", "throws throws Failed ArgumentException",
                "stuck bad-shape Continued -", "stuck throws Continued -", "stuck stuck TimedOut -",
                "bad bad-shape Failed StateSerializationException", "bad throws Continued -", "bad stuck Continued -",
            },
            records.Select(r => $"{r.Key} {r.HookId} {r.Outcome} {r.Error ?? "-"}"));
        Assert.All(records, r => Assert.Empty(r.ResultValue.ToArray()));
        Assert.Equal(new[] { "bad" }, await manager.ListKeysAsync(StateScope.Global));
    }
}
