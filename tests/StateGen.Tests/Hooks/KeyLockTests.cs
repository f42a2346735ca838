using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Hooks;
using StateGen.Internal;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>Hooks run under the key's lock: one save of an agent never overlaps another of the same agent, other agents run alongside.</summary>
public sealed class KeyLockTests : IDisposable
{
    private const int Tasks = 8;
    private const int SavesPerTask = 50;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Counts hooks in flight per key and overall, and the most ever seen.</summary>
    private sealed class InFlight
    {
        private readonly ConcurrentDictionary<string, int> _perKey = new();
        private readonly ConcurrentDictionary<string, int> _maxPerKey = new();
        private int _total;
        private int _maxTotal;

        public int MaxTotal => Volatile.Read(ref _maxTotal);

        public int MaxFor(string key) => _maxPerKey.GetValueOrDefault(key);

        public void Enter(string key)
        {
            int now = _perKey.AddOrUpdate(key, 1, (_, n) => n + 1);
            _maxPerKey.AddOrUpdate(key, now, (_, m) => Math.Max(m, now));
            int total = Interlocked.Increment(ref _total);
            int seen;
            while (total > (seen = Volatile.Read(ref _maxTotal)) && Interlocked.CompareExchange(ref _maxTotal, total, seen) != seen)
            {
            }
        }

        public void Exit(string key)
        {
            _perKey.AddOrUpdate(key, 0, (_, n) => n - 1);
            Interlocked.Decrement(ref _total);
        }
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Saves_of_one_agent_from_8_tasks_never_run_their_hooks_at_the_same_time(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var inFlight = new InFlight();
        int runs = 0;
        manager.Hooks.Register(StateHookPoint.BeforeChange, "in-flight", async (context, _) =>
        {
            inFlight.Enter(context.Key);
            Interlocked.Increment(ref runs);
            await Task.Yield();
            await Task.Delay(1);
            inFlight.Exit(context.Key);
            return StateHookResult.Continue;
        });

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            var agent = new HookAgent { Id = "shared", Name = $"task-{t}" };
            for (int i = 0; i < SavesPerTask; i++)
            {
                agent.Step = i;
                await manager.SaveAsync(agent, StateScope.Global, StateWriteOptions.LastWriterWins);
            }
        })));

        Assert.Equal(Tasks * SavesPerTask, runs);
        Assert.Equal(1, inFlight.MaxFor(AgentKey("shared")));
        Assert.Equal(Tasks * SavesPerTask, (await manager.Store.GetAsync("global", AgentKey("shared")))!.Version);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Saves_of_8_different_agents_run_their_hooks_at_the_same_time(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);

        // Keys hash onto lock stripes: pick 8 agents whose keys have stripes of their own, so only the key lock could
        // serialize them (two keys sharing a stripe would wait for each other, by design).
        var stripes = new HashSet<int>();
        List<string> ids = Enumerable.Range(0, 1000).Select(i => $"agent-{i}").Where(id => stripes.Add(KeyLocks.StripeOf("global", AgentKey(id)))).Take(Tasks).ToList();
        var inFlight = new InFlight();
        var allInside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new ConcurrentDictionary<string, bool>();

        // Each agent's first hook run waits until every agent's hook is inside at once: only possible when different
        // keys do not exclude each other. If they did, the hook would time out and fail the save (no hang, no clock).
        manager.Hooks.Register(StateHookPoint.BeforeChange, "barrier", async (context, cancellationToken) =>
        {
            inFlight.Enter(context.Key);
            if (arrived.TryAdd(context.Key, true) && arrived.Count == Tasks)
            {
                allInside.TrySetResult();
            }

            await allInside.Task.WaitAsync(cancellationToken);
            await Task.Yield();
            inFlight.Exit(context.Key);
            return StateHookResult.Continue;
        }, new StateHookOptions { Timeout = TimeSpan.FromSeconds(30) });

        await Task.WhenAll(ids.Select(id => Task.Run(async () =>
        {
            var agent = new HookAgent { Id = id };
            for (int i = 0; i < SavesPerTask; i++)
            {
                agent.Step = i;
                await agent.SaveStateAsync(manager);
            }
        })));

        Assert.Equal(Tasks, inFlight.MaxTotal);
        Assert.All(ids, id => Assert.Equal(1, inFlight.MaxFor(AgentKey(id))));
        foreach (string id in ids)
        {
            Assert.Equal(SavesPerTask, (await manager.Store.GetAsync("global", AgentKey(id)))!.Version);
        }
    }
}
