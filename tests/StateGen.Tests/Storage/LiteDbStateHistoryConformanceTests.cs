using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The LiteDB store, on a real file in a unique temporary folder, passes the shared change log and hook history
/// contract, also across closing and reopening the file.
/// </summary>
public sealed class LiteDbStateHistoryConformanceTests : StateHistoryConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock, bool recordChanges)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock, RecordChanges = recordChanges });

    protected override bool SupportsReopen => true;

    protected override IStateStore Reopen(IStateStore store, TimeProvider clock)
    {
        var liteDb = Assert.IsType<LiteDbStateStore>(store);
        return new LiteDbStateStore(new LiteDbStateStoreOptions { Path = liteDb.FilePath, TimeProvider = clock, RecordChanges = History(store).RecordsChanges });
    }

    protected override void Cleanup() => _dir.Dispose();

    [Fact]
    public async Task Change_log_and_hook_history_survive_reopening_the_file()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        await store.CommitAsync(new StateOperation[]
        {
            new StateWrite("agent/a", "Note/1", "Note", 2, Encoding.UTF8.GetBytes("{\"v\":1}")) { CorrelationId = "c1", Origin = "save" },
            Write("global", "k", "gk"),
        });
        clock.Advance(TimeSpan.FromSeconds(1) + TimeSpan.FromTicks(1));
        await store.CommitAsync(new StateOperation[] { new StateDelete("agent/a", "Note/1") { CorrelationId = "c2", Origin = "delete" } });
        await History(store).AppendHookExecutionsAsync(new[]
        {
            new HookExecutionRecord(0, "h", "BeforeChange", "global", "k", "json", "Modified", null, TimeSpan.FromTicks(5), Start, "c1", new byte[] { 1 }, new byte[] { 2, 3 }, new byte[] { 4 }),
        });
        IReadOnlyList<StateChangeRecord> before = await AllChangesAsync(store);
        IReadOnlyList<HookExecutionRecord> hooksBefore = await History(store).ReadHookExecutionsAsync(new HookExecutionQuery());

        store = await ReopenAsync(store, clock);

        IReadOnlyList<StateChangeRecord> after = await AllChangesAsync(store);
        Assert.Equal(3, after.Count);
        for (int i = 0; i < before.Count; i++)
        {
            AssertSameChange(before[i], after[i]);
        }

        Assert.Equal(new long[] { 1, 3 }, (await History(store).ReadChangesAsync(new StateChangeQuery { Scope = "agent/a", Key = "Note/1" })).Select(r => r.Sequence));
        Assert.Equal(new long[] { 3 }, (await History(store).ReadChangesAsync(new StateChangeQuery { CorrelationId = "c2" })).Select(r => r.Sequence));
        HookExecutionRecord hook = Assert.Single(await History(store).ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "c1" }));
        Assert.Equal(hooksBefore[0] with { OldValue = default, NewValue = default, ResultValue = default }, hook with { OldValue = default, NewValue = default, ResultValue = default });
        Assert.Equal(new byte[] { 2, 3 }, hook.NewValue.ToArray());

        // The log goes on where it left off, chained to the records written before the reopen.
        StateOperationResult next = (await store.CommitAsync(new StateOperation[] { Write("global", "k", "gk2", expectedVersion: 1) }))[0];
        Assert.Equal(4, next.ChangeSequence);
        Assert.Equal(2, (await History(store).ReadChangeAsync(4))!.PreviousSequence);
    }
}
