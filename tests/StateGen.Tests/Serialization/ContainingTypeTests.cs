using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

/// <summary>A containing generic type, as in the generator's NestedGeneric golden-file input.</summary>
public partial class WorkflowOuter<TContext>
{
    [PersistentState("workflow-step")]
    [SchemaVersion(3)]
    public partial record StepState
    {
        [StateId] public Guid RunId { get; set; }
        public int[] Numbers { get; set; } = Array.Empty<int>();
        public Dictionary<string, List<double?>> Series { get; set; } = new();
        public byte[]? Blob { get; set; }
        public IReadOnlyList<string> Tags { get; set; } = new List<string>();
        public TimeSpan Elapsed { get; set; }
        public decimal Cost { get; set; }
        public char Grade { get; set; }
    }
}

/// <summary>
/// State types nested in a generic containing type, and types in the global namespace, saved and loaded at run time
/// through a LiteDB file that is closed and reopened between the save and the load (the golden files check only the
/// generated text).
/// </summary>
public sealed class ContainingTypeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static WorkflowOuter<TContext>.StepState NewStep<TContext>(Guid runId) => new()
    {
        RunId = runId,
        Numbers = new[] { 3, -1, int.MaxValue },
        Series = new() { ["a"] = new() { 1.5, null, -0.25 }, ["empty"] = new() },
        Blob = new byte[] { 0, 1, 254, 255 },
        Tags = new List<string> { "x", "", "é" },
        Elapsed = TimeSpan.FromMilliseconds(123456.789),
        Cost = 12.3456789m,
        Grade = 'B',
    };

    internal static void AssertStepEqual<TSaved, TLoaded>(WorkflowOuter<TSaved>.StepState expected, WorkflowOuter<TLoaded>.StepState actual)
    {
        Assert.Equal(expected.RunId, actual.RunId);
        Assert.Equal(expected.Numbers, actual.Numbers);
        Assert.Equal(expected.Series.Keys, actual.Series.Keys);
        foreach (KeyValuePair<string, List<double?>> pair in expected.Series)
        {
            Assert.Equal(pair.Value, actual.Series[pair.Key]);
        }

        Assert.Equal(expected.Blob, actual.Blob);
        Assert.Equal(expected.Tags, actual.Tags);
        Assert.Equal(expected.Elapsed, actual.Elapsed);
        Assert.Equal(expected.Cost, actual.Cost);
        Assert.Equal(expected.Grade, actual.Grade);
    }

    [Fact]
    public async Task A_state_nested_in_a_generic_type_survives_dispose_and_reopen()
    {
        string path = _dir.File("nested.db");
        var runId = Guid.NewGuid();
        WorkflowOuter<int>.StepState saved = NewStep<int>(runId);

        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            StateWriteResult result = await saved.SaveStateAsync(manager);
            Assert.Equal(StateWriteStatus.Written, result.Status);
            Assert.Equal(new[] { "workflow-step/" + runId.ToString("D") }, await manager.ListKeysAsync(StateScope.Global));
        }

        await using (StateManager reopened = StateManager.OpenLiteDb(path))
        {
            var loaded = new WorkflowOuter<int>.StepState { RunId = runId };
            Assert.True(await reopened.LoadAsync(loaded, StateScope.Global));
            AssertStepEqual(saved, loaded);

            // Another closed type of the same containing type has the same stable name and reads the same document.
            var other = new WorkflowOuter<string>.StepState { RunId = runId };
            Assert.True(await other.LoadStateAsync(reopened));
            AssertStepEqual(saved, other);

            Assert.False(await new WorkflowOuter<int>.StepState { RunId = Guid.NewGuid() }.LoadStateAsync(reopened));
        }
    }

    [Fact]
    public async Task Global_namespace_states_survive_dispose_and_reopen()
    {
        string path = _dir.File("global.db");
        var saved = new GlobalEverything
        {
            Id = 42,
            Flag = true,
            B = 200,
            SB = -100,
            S = -30000,
            US = 65000,
            UI = uint.MaxValue,
            L = long.MinValue,
            UL = ulong.MaxValue,
            F = 1.25f,
            D = -2.5e-300,
            G = Guid.NewGuid(),
            When = new DateTime(2026, 11, 27, 18, 30, 0, 123, DateTimeKind.Utc),
            Where = new GlobalPoint { X = 1, Y = -2 },
            MaybeWhere = new GlobalPoint { X = 3, Y = 4 },
            Memory = new GlobalMemory { Number = 7, Summary = "seven" },
            Memories = { new GlobalMemory { Number = 8, Summary = null }, new GlobalMemory { Number = 9, Summary = "nine" } },
            @event = "started",
        };
        var memory = new GlobalMemory { Number = long.MaxValue, Summary = "top" };

        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            Assert.Equal(StateWriteStatus.Written, (await saved.SaveStateAsync(manager)).Status);
            Assert.Equal(StateWriteStatus.Written, (await memory.SaveStateAsync(manager)).Status);
        }

        await using (StateManager reopened = StateManager.OpenLiteDb(path))
        {
            Assert.Equal(
                new[] { "GlobalEverything/42", "GlobalMemory/" + long.MaxValue },
                await reopened.ListKeysAsync(StateScope.Global));

            var loaded = new GlobalEverything { Id = 42 };
            Assert.True(await loaded.LoadStateAsync(reopened));
            Assert.Equal(
                (saved.Flag, saved.B, saved.SB, saved.S, saved.US, saved.UI, saved.L, saved.UL, saved.F, saved.D, saved.G, saved.When),
                (loaded.Flag, loaded.B, loaded.SB, loaded.S, loaded.US, loaded.UI, loaded.L, loaded.UL, loaded.F, loaded.D, loaded.G, loaded.When));
            Assert.Equal(DateTimeKind.Utc, loaded.When.Kind);
            Assert.Equal(saved.Where, loaded.Where);
            Assert.Equal(saved.MaybeWhere, loaded.MaybeWhere);
            Assert.Equal((7L, "seven"), (loaded.Memory!.Number, loaded.Memory.Summary));
            Assert.Equal(new (long, string?)[] { (8, null), (9, "nine") }, loaded.Memories.ConvertAll(m => (m.Number, m.Summary)));
            Assert.Equal("started", loaded.@event);

            var loadedMemory = new GlobalMemory { Number = long.MaxValue };
            Assert.True(await loadedMemory.LoadStateAsync(reopened));
            Assert.Equal("top", loadedMemory.Summary);

            var absent = new GlobalEverything { Id = 43, Flag = true };
            Assert.False(await absent.LoadStateAsync(reopened));
            Assert.True(absent.Flag);
        }
    }
}
