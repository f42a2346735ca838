using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Hooks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>Which hooks run, in which order: priorities, filters, registration and removal at any time.</summary>
public sealed class HookRegistrationTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Higher_priority_runs_first_and_equal_priorities_run_in_registration_order()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        var ran = new List<string>();
        foreach ((string id, int priority) in new[] { ("p0-a", 0), ("p10-a", 10), ("p0-b", 0), ("minus5", -5), ("p10-b", 10), ("p0-c", 0) })
        {
            manager.Hooks.Register(StateHookPoint.BeforeChange, id, _ =>
            {
                ran.Add(id);
                return StateHookResult.Continue;
            }, new StateHookOptions { Priority = priority });
        }

        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));

        string[] expected = ["p10-a", "p10-b", "p0-a", "p0-b", "p0-c", "minus5"];
        Assert.Equal(expected, ran);
        Assert.Equal(expected, manager.Hooks.At(StateHookPoint.BeforeChange).Select(h => h.Id));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_later_hook_sees_an_earlier_hooks_modification_and_both_are_stored(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        byte[]? firstResult = null;
        byte[]? secondSaw = null;
        string? secondSawName = null;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "second", context =>
        {
            secondSaw = context.NewDocument.ToArray();
            secondSawName = context.NewValue!.Value.GetProperty("Name").GetString();
            return ModifyObject(context, o => o["Step"] = o["Step"]!.GetValue<int>() * 10);
        });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "first", context =>
        {
            StateHookResult result = ModifyObject(context, o => o["Name"] = "named-by-first");
            firstResult = result.Value.ToArray();
            return result;
        }, new StateHookOptions { Priority = 1 });
        byte[]? afterSaw = null;
        manager.Hooks.Register(StateHookPoint.AfterChange, "after", context =>
        {
            afterSaw = context.NewDocument.ToArray();
            return StateHookResult.Continue;
        });

        var agent = new HookAgent { Id = "a1", Name = "caller", Step = 4 };
        await agent.SaveStateAsync(manager);

        Assert.Equal("named-by-first", secondSawName);
        Assert.Equal(firstResult, secondSaw);
        var stored = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("a1")))!;
        Assert.Equal(("named-by-first", 40), (stored.Name, stored.Step));
        Assert.Equal(("named-by-first", 40), (agent.Name, agent.Step));
        Assert.Equal((await manager.Store.GetAsync("global", AgentKey("a1")))!.Payload.ToArray(), afterSaw);
    }

    [Fact]
    public async Task Scope_and_key_patterns_select_the_operations_a_hook_runs_for()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        var seen = new ConcurrentBag<string>();
        manager.Hooks.Register(StateHookPoint.BeforeChange, "agents", c => Record("agents", c), new StateHookOptions { ScopePattern = "agent/*" });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "notes", c => Record("notes", c), new StateHookOptions { KeyPattern = "notes-?" });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "both", c => Record("both", c), new StateHookOptions { ScopePattern = "agent/a*", KeyPattern = "hook-agent/*" });
        manager.Hooks.Register(StateHookPoint.BeforeDelete, "delete-agents", c => Record("delete-agents", c), new StateHookOptions { ScopePattern = "agent/*" });

        await manager.SetJsonAsync(StateScope.Agent("a1"), "notes-1", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Agent("b2"), "other", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Global, "notes-2", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Global, "notes-22", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Session("agent"), "other", Backends.Json("1"));
        await new HookAgent { Id = "x" }.SaveStateAsync(manager, StateScope.Agent("a1"));
        await new HookAgent { Id = "x" }.SaveStateAsync(manager, StateScope.Agent("b1"));
        await manager.DeleteAsync(StateScope.Agent("b2"), "other");
        await manager.DeleteAsync(StateScope.Global, "notes-2");

        string[] expected =
        [
            "agents agent/a1 notes-1", "notes agent/a1 notes-1",
            "agents agent/b2 other",
            "notes global notes-2",
            "agents agent/a1 hook-agent/x", "both agent/a1 hook-agent/x",
            "agents agent/b1 hook-agent/x",
            "delete-agents agent/b2 other",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));

        StateHookResult Record(string hook, StateHookContext context)
        {
            seen.Add($"{hook} {context.Scope} {context.Key}");
            return StateHookResult.Continue;
        }
    }

    [Fact]
    public async Task Disposing_or_removing_a_registration_stops_the_hook_and_frees_its_id()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        int disposedRuns = 0, removedRuns = 0;
        StateHookRegistration disposed = manager.Hooks.Register(StateHookPoint.BeforeChange, "disposed", _ =>
        {
            disposedRuns++;
            return StateHookResult.Continue;
        });
        manager.Hooks.Register(StateHookPoint.AfterChange, "removed", _ =>
        {
            removedRuns++;
            return StateHookResult.Continue;
        });

        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        disposed.Dispose();
        Assert.True(manager.Hooks.Remove("removed"));
        Assert.False(manager.Hooks.Remove("removed"));
        disposed.Dispose(); // twice is harmless
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("2"));

        Assert.Equal((1, 1), (disposedRuns, removedRuns));
        Assert.Empty(manager.Hooks.At(StateHookPoint.BeforeChange));
        Assert.Empty(manager.Hooks.At(StateHookPoint.AfterChange));
        using StateHookRegistration reused = manager.Hooks.Register(StateHookPoint.BeforeDelete, "disposed", _ => StateHookResult.Continue);
        Assert.Equal(StateHookPoint.BeforeDelete, reused.Point);
    }

    [Fact]
    public async Task A_hook_removed_while_it_runs_finishes_that_run_and_is_not_run_again()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        int runs = 0;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "once", context =>
        {
            runs++;
            manager.Hooks.Remove("once");
            return ModifyObject(context, o => o["by"] = "once");
        });

        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("""{"n":1}"""));
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("""{"n":2}"""));

        Assert.Equal(1, runs);
        Assert.Equal(2, (await manager.GetJsonAsync(StateScope.Global, "k"))!.Value.GetProperty("n").GetInt32());
        Assert.False((await manager.GetJsonAsync(StateScope.Global, "k"))!.Value.TryGetProperty("by", out _));
    }

    [Fact]
    public void Duplicate_and_invalid_ids_are_rejected()
    {
        using var dir = new TempDirectory();
        using StateManager manager = Backends.CreateManager(Backends.Memory, dir);
        manager.Hooks.Register(StateHookPoint.BeforeChange, "dup", _ => StateHookResult.Continue);

        Assert.Throws<ArgumentException>(() => manager.Hooks.Register(StateHookPoint.BeforeChange, "dup", _ => StateHookResult.Continue));
        Assert.Throws<ArgumentException>(() => manager.Hooks.Register(StateHookPoint.AfterDelete, "dup", _ => StateHookResult.Continue));
        Assert.Throws<ArgumentException>(() => manager.Hooks.Register(StateHookPoint.BeforeChange, "", _ => StateHookResult.Continue));
        Assert.Throws<ArgumentException>(() => manager.Hooks.Register(StateHookPoint.BeforeChange, new string('h', 129), _ => StateHookResult.Continue));
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.Hooks.Register(StateHookPoint.BeforeChange, "zero-timeout", _ => StateHookResult.Continue, new StateHookOptions { Timeout = TimeSpan.Zero }));
        Assert.Single(manager.Hooks.At(StateHookPoint.BeforeChange));
        Assert.Empty(manager.Hooks.At(StateHookPoint.AfterDelete));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Registering_and_removing_hooks_during_concurrent_writes_is_safe(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        const int Writers = 4, WritesPerWriter = 100, Churns = 200;
        int steady = 0;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "steady", _ =>
        {
            Interlocked.Increment(ref steady);
            return StateHookResult.Continue;
        });
        int churnRuns = 0;
        int writersDone = 0;

        Task churn = Task.Run(async () =>
        {
            for (int i = 0; i < Churns || Volatile.Read(ref writersDone) < Writers; i++)
            {
                StateHookPoint point = (StateHookPoint)(i % 4);
                using (manager.Hooks.Register(point, $"churn-{i}", _ =>
                {
                    Interlocked.Increment(ref churnRuns);
                    return StateHookResult.Continue;
                }, new StateHookOptions { Priority = i % 3 - 1 }))
                {
                    await Task.Yield();
                }
            }
        });
        Task[] writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (int i = 1; i <= WritesPerWriter; i++)
            {
                await manager.SetJsonAsync(StateScope.Agent($"w{w}"), "counter", Backends.Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            Interlocked.Increment(ref writersDone);
        })).ToArray();
        await Task.WhenAll(writers);
        await churn;

        Assert.Equal(Writers * WritesPerWriter, steady);
        for (int w = 0; w < Writers; w++)
        {
            Assert.Equal(WritesPerWriter, (await manager.Store.GetAsync($"agent/w{w}", "counter"))!.Version);
            Assert.Equal(WritesPerWriter, (await manager.GetJsonAsync(StateScope.Agent($"w{w}"), "counter"))!.Value.GetInt32());
        }

        Assert.Equal(new[] { "steady" }, manager.Hooks.At(StateHookPoint.BeforeChange).Select(h => h.Id));
        Assert.Empty(manager.Hooks.At(StateHookPoint.AfterChange));
        Assert.Empty(manager.Hooks.At(StateHookPoint.BeforeDelete));
        Assert.Empty(manager.Hooks.At(StateHookPoint.AfterDelete));
    }
}
