using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Manager;

/// <summary>Many tasks writing through one manager lose nothing.</summary>
public sealed class ConcurrencyTests
{
    private const int Tasks = 8;
    private const int WritesPerKey = 20;
    private const int KeysPerTask = 4;

    [Theory]
    [InlineData(Backends.LiteDb)]
    [InlineData(Backends.Memory)]
    public async Task Concurrent_writes_from_8_tasks_on_different_keys_lose_nothing(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            for (int i = 1; i <= WritesPerKey; i++)
            {
                for (int k = 0; k < KeysPerTask; k++)
                {
                    await manager.SetJsonAsync(StateScope.Agent($"agent-{t}"), $"json-{k}", Backends.Json($"{{\"task\":{t},\"key\":{k},\"write\":{i}}}"));
                    await new Note { Id = $"t{t}-k{k}", Topic = $"task {t} key {k}", Runs = i }.SaveStateAsync(manager);
                }
            }
        })));

        for (int t = 0; t < Tasks; t++)
        {
            Assert.Equal(Enumerable.Range(0, KeysPerTask).Select(k => $"json-{k}"), await manager.ListKeysAsync(StateScope.Agent($"agent-{t}")));
            for (int k = 0; k < KeysPerTask; k++)
            {
                var json = (await manager.GetJsonAsync(StateScope.Agent($"agent-{t}"), $"json-{k}"))!.Value;
                Assert.Equal((t, k, WritesPerKey), (json.GetProperty("task").GetInt32(), json.GetProperty("key").GetInt32(), json.GetProperty("write").GetInt32()));
                Assert.Equal(WritesPerKey, (await manager.Store.GetAsync($"agent/agent-{t}", $"json-{k}"))!.Version);

                var note = new Note { Id = $"t{t}-k{k}" };
                Assert.True(await note.LoadStateAsync(manager));
                Assert.Equal(($"task {t} key {k}", WritesPerKey), (note.Topic, note.Runs));
                Assert.Equal(WritesPerKey, (await manager.Store.GetAsync("global", $"Note/t{t}-k{k}"))!.Version);
            }
        }

        Assert.Equal(Tasks * KeysPerTask, (await manager.ListKeysAsync(StateScope.Global)).Count);
    }

    [Theory]
    [InlineData(Backends.LiteDb)]
    [InlineData(Backends.Memory)]
    public async Task Concurrent_writes_from_8_tasks_on_one_key_count_every_write(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);
        const int WritesPerTask = 25;

        long[][] versions = await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            var mine = new List<long>();
            for (int i = 0; i < WritesPerTask; i++)
            {
                if (i % 2 == 0)
                {
                    mine.Add((await manager.SetJsonAsync(StateScope.Global, "Note/shared", Backends.Json($"{{\"Id\":\"shared\",\"Runs\":{i}}}"))).Version);
                }
                else
                {
                    await new Note { Id = "shared", Runs = i, Topic = $"task {t}" }.SaveStateAsync(manager);
                }
            }

            return mine.ToArray();
        })));

        Assert.Equal(Tasks * WritesPerTask, (await manager.Store.GetAsync("global", "Note/shared"))!.Version);
        long[] returned = versions.SelectMany(v => v).ToArray();
        Assert.Equal(returned.Length, returned.Distinct().Count());
        Assert.All(returned, v => Assert.InRange(v, 1, Tasks * WritesPerTask));
    }
}
