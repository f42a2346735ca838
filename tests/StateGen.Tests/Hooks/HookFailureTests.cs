using System;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>Hooks that throw or time out, under each failure policy, before and after the change.</summary>
public sealed class HookFailureTests : IDisposable
{
    private const string HookMessage = "hook-private-message-7f3a";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private readonly CapturingLogger<StateManager> _logger = new();

    private StateManager Create(string backend, StateManagerOptions? options = null) => new(Backends.CreateStore(backend, _dir), options, _logger);

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_failing_before_hook_under_FailOperation_throws_and_writes_nothing(string backend)
    {
        await using StateManager manager = Create(backend);
        var agent = new HookAgent { Id = "a1", Name = "v1" };
        await agent.SaveStateAsync(manager);
        using StateEventSubscription events = manager.Events.Subscribe();
        var thrown = new InvalidOperationException(HookMessage);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "thrower", _ => throw thrown);

        agent.Name = "v2-value-text";
        StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => agent.SaveStateAsync(manager).AsTask());

        Assert.Equal(("thrower", StateHookPoint.BeforeChange, false), (ex.HookId, ex.Point, ex.TimedOut));
        Assert.Same(thrown, ex.InnerException);
        Assert.DoesNotContain(HookMessage, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("v2-value-text", ex.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(InvalidOperationException), ex.Message, StringComparison.Ordinal);
        StoredEntry stored = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        Assert.Equal(1, stored.Version);
        Assert.Equal("v1", Parse(stored.Payload)["Name"]!.GetValue<string>());
        Assert.Empty(events.Drain());
        Assert.Contains(_logger.Entries, e => e.EventId.Name == "HookFailed" && e.Level == LogLevel.Warning);
        Assert.DoesNotContain(HookMessage, _logger.AllText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_failing_before_hook_under_LogAndContinue_is_logged_and_the_value_is_written(string backend)
    {
        await using StateManager manager = Create(backend);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "flaky", (StateHookHandler)((_, _) => throw new InvalidOperationException(HookMessage)), new StateHookOptions { FailurePolicy = HookFailurePolicy.LogAndContinue });

        StateWriteResult result = await new HookAgent { Id = "a1", Name = "written" }.SaveStateAsync(manager);

        Assert.Equal((StateWriteStatus.Written, 1L), (result.Status, result.Version));
        Assert.Equal("written", (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!.Name);
        CapturedLog warning = Assert.Single(_logger.Entries, e => e.EventId.Name == "HookFailedContinuing");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("flaky", warning.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(InvalidOperationException), warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(HookMessage, _logger.AllText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_before_hook_that_never_finishes_times_out_and_fails_the_write_under_FailOperation(string backend)
    {
        await using StateManager manager = Create(backend);
        var never = new TaskCompletionSource<StateHookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "stuck", (_, _) => new ValueTask<StateHookResult>(never.Task), ShortTimeout(HookFailurePolicy.FailOperation));

        StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => new HookAgent { Id = "a1" }.SaveStateAsync(manager).AsTask());

        Assert.True(ex.TimedOut);
        Assert.Equal(("stuck", StateHookPoint.BeforeChange), (ex.HookId, ex.Point));
        Assert.Contains("timed out", ex.Message, StringComparison.Ordinal);
        Assert.False(await manager.ExistsAsync(StateScope.Global, AgentKey("a1")));
    }

    [Fact]
    public async Task A_hook_that_times_out_sees_its_token_canceled_and_the_next_hook_gets_a_live_one()
    {
        await using StateManager manager = Create(Backends.Memory);
        var stopped = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool nextSawCanceled = true;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "slow", async (_, token) =>
        {
            try
            {
                await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
            }
            catch (OperationCanceledException)
            {
                stopped.TrySetResult(true);
            }

            return StateHookResult.Continue;
        }, ShortTimeout(HookFailurePolicy.LogAndContinue) with { Priority = 2 });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "next", (_, token) =>
        {
            nextSawCanceled = token.IsCancellationRequested;
            return new ValueTask<StateHookResult>(StateHookResult.Continue);
        }, new StateHookOptions { Priority = 1 });

        StateWriteResult result = await new HookAgent { Id = "a1", Name = "written" }.SaveStateAsync(manager);

        Assert.Equal(StateWriteStatus.Written, result.Status);
        Assert.True(await stopped.Task.WaitAsync(TimeSpan.FromSeconds(30))); // without the cancel, the hook would wait forever
        Assert.False(nextSawCanceled);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_before_hook_that_never_finishes_is_skipped_after_its_timeout_under_LogAndContinue(string backend)
    {
        await using StateManager manager = Create(backend);
        var never = new TaskCompletionSource<StateHookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "stuck", (_, _) => new ValueTask<StateHookResult>(never.Task), ShortTimeout(HookFailurePolicy.LogAndContinue));

        StateWriteResult result = await new HookAgent { Id = "a1", Name = "written" }.SaveStateAsync(manager);

        Assert.Equal(StateWriteStatus.Written, result.Status);
        Assert.Equal("written", (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!.Name);
        CapturedLog warning = Assert.Single(_logger.Entries, e => e.EventId.Name == "HookFailedContinuing");
        Assert.Contains("TimedOut", warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HookFailurePolicy.FailOperation)]
    [InlineData(HookFailurePolicy.LogAndContinue)]
    public async Task A_hook_without_its_own_timeout_uses_the_managers_HookTimeout(HookFailurePolicy policy)
    {
        await using StateManager manager = Create(Backends.Memory, new StateManagerOptions { HookTimeout = TimeSpan.FromMilliseconds(50) });
        var never = new TaskCompletionSource<StateHookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Hooks.Register(StateHookPoint.BeforeDelete, "stuck", (_, _) => new ValueTask<StateHookResult>(never.Task), new StateHookOptions { FailurePolicy = policy });
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));

        if (policy == HookFailurePolicy.FailOperation)
        {
            StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => manager.DeleteAsync(StateScope.Global, "k").AsTask());
            Assert.True(ex.TimedOut);
            Assert.Equal(StateHookPoint.BeforeDelete, ex.Point);
            Assert.True(await manager.ExistsAsync(StateScope.Global, "k"));
        }
        else
        {
            Assert.True(await manager.DeleteAsync(StateScope.Global, "k"));
            Assert.False(await manager.ExistsAsync(StateScope.Global, "k"));
        }
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_failing_after_change_hook_under_FailOperation_throws_but_the_change_is_committed(string backend)
    {
        await using StateManager manager = Create(backend);
        using StateEventSubscription events = manager.Events.Subscribe();
        manager.Hooks.Register(StateHookPoint.AfterChange, "after", _ => throw new InvalidOperationException(HookMessage));
        var agent = new HookAgent { Id = "a1", Name = "committed" };

        StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => agent.SaveStateAsync(manager).AsTask());

        Assert.Equal(("after", StateHookPoint.AfterChange, false), (ex.HookId, ex.Point, ex.TimedOut));
        StoredEntry stored = (await manager.Store.GetAsync("global", AgentKey("a1")))!;
        Assert.Equal(1, stored.Version);
        Assert.Equal("committed", Parse(stored.Payload)["Name"]!.GetValue<string>());
        Assert.Equal(1, manager.GetTrackedVersion(agent, StateScope.Global)); // the instance knows what was committed
        Assert.Single(events.Drain());

        agent.Name = "again";
        await Assert.ThrowsAsync<StateHookException>(() => agent.SaveStateAsync(manager).AsTask());
        Assert.Equal(2, (await manager.Store.GetAsync("global", AgentKey("a1")))!.Version);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_failing_or_stuck_after_delete_hook_under_FailOperation_throws_but_the_value_is_deleted(string backend)
    {
        await using StateManager manager = Create(backend);
        await manager.SetJsonAsync(StateScope.Global, "thrown", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Global, "stuck", Backends.Json("1"));
        var never = new TaskCompletionSource<StateHookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        manager.Hooks.Register(StateHookPoint.AfterDelete, "after-delete", (context, _) => context.Key == "stuck" ? new ValueTask<StateHookResult>(never.Task) : throw new InvalidOperationException(HookMessage), ShortTimeout(HookFailurePolicy.FailOperation));

        StateHookException thrown = await Assert.ThrowsAsync<StateHookException>(() => manager.DeleteAsync(StateScope.Global, "thrown").AsTask());
        StateHookException stuck = await Assert.ThrowsAsync<StateHookException>(() => manager.DeleteAsync(StateScope.Global, "stuck").AsTask());

        Assert.Equal((StateHookPoint.AfterDelete, false), (thrown.Point, thrown.TimedOut));
        Assert.Equal((StateHookPoint.AfterDelete, true), (stuck.Point, stuck.TimedOut));
        Assert.Empty(await manager.ListKeysAsync(StateScope.Global));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_failing_before_delete_hook_under_FailOperation_leaves_the_value(string backend)
    {
        await using StateManager manager = Create(backend);
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        manager.Hooks.Register(StateHookPoint.BeforeDelete, "guard", _ => throw new InvalidOperationException(HookMessage));

        StateHookException ex = await Assert.ThrowsAsync<StateHookException>(() => manager.DeleteAsync(StateScope.Global, "k").AsTask());

        Assert.Equal(StateHookPoint.BeforeDelete, ex.Point);
        Assert.True(await manager.ExistsAsync(StateScope.Global, "k"));
    }

    [Fact]
    public async Task The_first_failing_hook_under_FailOperation_stops_the_later_hooks()
    {
        await using StateManager manager = Create(Backends.Memory);
        int laterRuns = 0;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "first", _ => throw new InvalidOperationException(HookMessage), new StateHookOptions { Priority = 1 });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "later", _ =>
        {
            laterRuns++;
            return StateHookResult.Continue;
        });

        await Assert.ThrowsAsync<StateHookException>(() => manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1")).AsTask());

        Assert.Equal(0, laterRuns);
    }
}
