using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;

namespace StateGen.Generator.Tests;

/// <summary>The generated code is compiled by the real compiler, loaded and executed.</summary>
public sealed class ExecutionTests
{
    private const string Probe = """
        using System;
        using System.Collections.Generic;
        using System.Text;
        using System.Threading.Tasks;
        using StateGen;
        using StateGen.Storage.Memory;
        using Agents;

        public static class Probe
        {
            public static async Task<string> Run()
            {
                await using var manager = new StateManager(new MemoryStateStore());
                var saved = new ResearchAgent
                {
                    Id = "r1",
                    Topic = "caching",
                    ApiKey = "sk-probe-secret",
                    LastRunUtc = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc),
                };
                saved.History.Add(new Turn { Role = Role.Tool, Text = "hi \"there\"", At = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)) });
                saved.Notes["k"] = "v";
                await saved.SaveStateAsync(manager);

                var loaded = new ResearchAgent { Id = "r1", ApiKey = "in-memory" };
                bool found = await loaded.LoadStateAsync(manager);
                var json = await manager.GetJsonAsync(StateScope.Global, "ResearchAgent/r1");
                return string.Join("|", found, loaded.Topic, loaded.ApiKey, loaded.LastRunUtc?.Kind, loaded.LastRunUtc?.Ticks,
                    loaded.History.Count, loaded.History[0].Role, loaded.History[0].Text, loaded.History[0].At.Offset,
                    loaded.Notes["k"], json!.Value.GetRawText().Contains("sk-probe-secret"));
            }
        }
        """;

    [Fact]
    public async Task Generated_serializer_round_trips_an_instance_through_the_state_manager()
    {
        (Compilation output, _) = GeneratorHarness.Run(TestSources.Agent, Probe);
        byte[] image = GeneratorHarness.Emit(output);

        var context = new AssemblyLoadContext("generated-" + Guid.NewGuid(), isCollectible: true);
        try
        {
            Assembly assembly = context.LoadFromStream(new MemoryStream(image));
            MethodInfo run = assembly.GetType("Probe")!.GetMethod("Run")!;
            string result = await (Task<string>)run.Invoke(null, null)!;

            long ticks = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc).Ticks;
            Assert.Equal($"True|caching|in-memory|Utc|{ticks}|1|Tool|hi \"there\"|02:00:00|v|False", result);
        }
        finally
        {
            context.Unload();
        }
    }
}
