using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage.Review;

public sealed class RestoredCorrelationHistoryTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 4, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _out;
    public RestoredCorrelationHistoryTests(ITestOutputHelper output) => _out = output;
    public void Dispose() => _dir.Dispose();

    private static StateWrite W(string key, string? corr, int n) => new("agent/a", key, "Note", 1, Encoding.UTF8.GetBytes(n.ToString(CultureInfo.InvariantCulture))) { CorrelationId = corr };

    private static LiteDbStateStore Open(string path, TimeProvider time)
        => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, TimeProvider = time });

    // A database backup of a collection-layout store, a point-in-time restore (replay), a prune, a commit: read by correlation id.
    [Fact]
    public async Task Pitr_then_prune_then_commit_correlation_read()
    {
        var time = new ManualTimeProvider(Start);
        var backups = new BackupManager(new BackupManagerOptions { Directory = _dir.File("backups"), TimeProvider = time });
        string path = _dir.File("s.db");
        await using (LiteDbStateStore store = Open(path, time))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await store.CommitAsync([W("k1", "X", 1)]);   // seq 1, X
            time.Advance(TimeSpan.FromSeconds(1));
            await store.CommitAsync([W("k1", null, 2)]);  // seq 2
            await backups.CreateAsync(store);
            time.Advance(TimeSpan.FromSeconds(1));
            await store.CommitAsync([W("k2", "X", 3)]);   // seq 3, X (pc 1)
        }

        time.Advance(TimeSpan.FromSeconds(10));
        BackupRestoreResult r = await backups.RestoreToPointInTimeAsync(path, time.GetUtcNow());
        _out.WriteLine($"replayed {r.ReplayedChanges}");
        await using (LiteDbStateStore store = Open(path, time))
        {
            var before = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" });
            _out.WriteLine("before prune: " + string.Join(",", before.Select(c => c.Sequence)));
            long pruned = await store.PruneChangesAsync(Start.AddSeconds(1.5), null); // removes seq 1
            _out.WriteLine($"pruned {pruned}");
            var mid = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" });
            _out.WriteLine("after prune: " + string.Join(",", mid.Select(c => c.Sequence)));
            time.Advance(TimeSpan.FromSeconds(1));
            await store.CommitAsync([W("k3", "X", 4)]);   // seq 4, X: links to 3, which the replay wrote without a link
            Assert.Equal(new long[] { 3, 4 }, (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" })).Select(c => c.Sequence));
        }

        await using (LiteDbStateStore store = Open(path, time))
        {
            Assert.Equal(new long[] { 3, 4 }, (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" })).Select(c => c.Sequence));
            await using var m = new StateManager(store, ownsStore: false);
            await m.ReplayAsync("X", m, dryRun: true); // before the fix: StateStoreCorruptedException
        }
    }

    // An entries backup (memory store) restored into a LiteDB file (collection layout), commits, a prune, a commit.
    [Fact]
    public async Task Entries_restore_then_prune_then_commit_correlation_read()
    {
        var time = new ManualTimeProvider(Start);
        var backups = new BackupManager(new BackupManagerOptions { Directory = _dir.File("backups2"), TimeProvider = time });
        var memory = new MemoryStateStore();
        await memory.CommitAsync([W("k1", "X", 1)]);
        BackupInfo b = await backups.CreateAsync(memory);
        string path = _dir.File("r.db");
        await backups.RestoreAsync(b.Id, path);
        await using LiteDbStateStore store = new(new LiteDbStateStoreOptions { Path = path, TimeProvider = time });
        _out.WriteLine("restored X: " + string.Join(",", (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" })).Select(c => c.Sequence)));
        await store.CommitAsync([W("k2", "X", 2)]);
        await store.CommitAsync([W("k2", null, 3)]);
        await store.PruneChangesAsync(null, 1);
        await store.CommitAsync([W("k3", "X", 4)]);
        IReadOnlyList<StateChangeRecord> read = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" });
        _out.WriteLine("X: " + string.Join(",", read.Select(c => c.Sequence)));
        Assert.Equal(new long[] { 1, 4 }, read.Select(c => c.Sequence)); // k2's first record (2) went to the prune
    }
}
