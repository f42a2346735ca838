using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Backups;

/// <summary>
/// Point-in-time recovery over a recorded history: the state after every change is recorded as it happens, and a
/// restore to any time T equals the recorded state at T. In both change-log layouts: the log in the database's own
/// collection, and in segment files beside it (physical backups then carry the segments).
/// </summary>
public sealed class PointInTimeRecoveryTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 4, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new(Start);

    public void Dispose() => _dir.Dispose();

    private BackupManager Manager() => new(new BackupManagerOptions { Directory = _dir.File("backups"), TimeProvider = _time });

    /// <summary>
    /// 240 changes one second apart (writes and deletes over 15 keys, some batched), backups after changes 40, 120 and
    /// 200; returns the recorded state after each change, by its time.
    /// </summary>
    private async Task<(string Path, List<(DateTimeOffset At, SortedDictionary<string, string> State)> Timeline, IReadOnlyList<BackupInfo> Backups)> RecordAsync(BackupManager backups, bool segmented)
    {
        string path = _dir.File("history.db");
        var timeline = new List<(DateTimeOffset, SortedDictionary<string, string>)>();
        var random = new Random(7);
        var state = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = path,
            TimeProvider = _time,
            Durability = StateDurability.Relaxed,
            SegmentChangeLog = segmented,
            SegmentLogOptions = new() { RollBytes = 8192 }, // segmented: several segments, the active one mid-way
        });
        for (int step = 1; step <= 240; step++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            var ops = new List<StateOperation>();
            int count = random.Next(4) == 0 ? 3 : 1;
            for (int i = 0; i < count; i++)
            {
                string key = "k" + random.Next(15);
                ops.Add(random.Next(6) == 0 && state.ContainsKey("agent/" + key[1..] + "|" + key) ? new StateDelete("agent/" + key[1..], key) : Write("agent/" + key[1..], key, step * 10 + i, random.Next(100)));
            }

            foreach (StateOperationResult result in await store.CommitAsync(ops))
            {
                _ = result;
            }

            // What a reader sees now is the recorded state at this time.
            state = await ReadAllAsync(store);
            timeline.Add((_time.GetUtcNow(), state));
            if (step is 40 or 120 or 200)
            {
                await backups.CreateAsync(store);
            }
        }

        return (path, timeline, await backups.ListAsync());
    }

    /// <summary>A copy of a closed database under another name, with its segment log folder if it has one.</summary>
    private static void CopyDatabase(string path, string copy)
    {
        File.Copy(path, copy);
        if (Directory.Exists(SegmentLog.FolderFor(path)))
        {
            Directory.CreateDirectory(SegmentLog.FolderFor(copy));
            foreach (string file in Directory.EnumerateFiles(SegmentLog.FolderFor(path)))
            {
                File.Copy(file, Path.Combine(SegmentLog.FolderFor(copy), Path.GetFileName(file)));
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Restore_to_10_random_times_equals_the_recorded_state_at_each(bool segmented)
    {
        BackupManager backups = Manager();
        var (path, timeline, list) = await RecordAsync(backups, segmented);
        Assert.All(list, b => Assert.Equal(segmented, File.Exists(Path.Combine(b.Path, "changes.sglog"))));
        Assert.Equal(3, list.Count);
        _time.Advance(TimeSpan.FromMinutes(5));
        var random = new Random(11);
        DateTimeOffset first = list[0].SnapshotAt;
        Assert.Equal(Start.AddSeconds(40), first);
        var times = Enumerable.Range(0, 10).Select(_ => first + TimeSpan.FromMilliseconds(random.Next(0, 200_500))).ToList();
        times[0] = first; // the backup's own moment
        times[1] = timeline[^1].At + TimeSpan.FromSeconds(30); // after the last change
        times[2] = list[1].SnapshotAt + TimeSpan.FromMilliseconds(500); // between a backup and the next change
        for (int i = 0; i < times.Count; i++)
        {
            DateTimeOffset t = times[i];
            string copy = _dir.File($"pitr-{i}.db");
            CopyDatabase(path, copy);
            BackupRestoreResult result = await backups.RestoreToPointInTimeAsync(copy, t);
            SortedDictionary<string, string> expected = timeline.Last(s => s.At <= t).State;
            BackupInfo used = list.Last(b => b.SnapshotAt <= t);
            Assert.Equal(used.Id, result.BackupId);
            await using var restored = new LiteDbStateStore(copy);
            Assert.True(expected.SequenceEqual(await ReadAllAsync(restored)), $"time {t:O} (restore {i} from {result.BackupId}, {result.ReplayedChanges} changes replayed) differs from the recorded state");
            Assert.Equal(result.ChangeLogPosition, restored.ChangeLogPosition);

            // The replay creates and deletes keys: each scope's stored count is its number of values at that time.
            var perScope = expected.Keys.GroupBy(id => id[..id.IndexOf('|', StringComparison.Ordinal)], StringComparer.Ordinal)
                .Select(g => KeyValuePair.Create(g.Key, (long)g.Count()));
            Assert.Equal(perScope.OrderBy(p => p.Key, StringComparer.Ordinal), restored.StoredCounts().OrderBy(p => p.Key, StringComparer.Ordinal));

            // The history came back too: the restored file's change log is the recorded one up to its position.
            Assert.Equal(
                (await ReadLogAsync(path)).Where(r => r.Sequence <= result.ChangeLogPosition).Select(DescribeRecord),
                (await restored.ReadChangesAsync(new StateChangeQuery())).Select(DescribeRecord));
        }
    }

    private static async Task<IReadOnlyList<StateChangeRecord>> ReadLogAsync(string path)
    {
        await using var store = new LiteDbStateStore(path);
        return await store.ReadChangesAsync(new StateChangeQuery());
    }

    private static string DescribeRecord(StateChangeRecord r)
        => $"{r.Sequence}|{r.PreviousSequence}|{r.Kind}|{r.CorrelationId}|{r.Origin}|" + Describe(new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Times_outside_the_window_or_behind_pruned_records_are_typed_errors_naming_the_window(bool segmented)
    {
        BackupManager backups = Manager();
        var (path, _, list) = await RecordAsync(backups, segmented);
        DateTimeOffset now = _time.GetUtcNow();
        var before = await Assert.ThrowsAsync<StatePointInTimeUnavailableException>(() => backups.RestoreToPointInTimeAsync(path, list[0].SnapshotAt - TimeSpan.FromSeconds(1)));
        Assert.Equal(list[0].SnapshotAt, before.WindowStart);
        Assert.Equal(now, before.WindowEnd);
        Assert.Contains(list[0].SnapshotAt.ToString("O"), before.Message, StringComparison.Ordinal);

        var future = await Assert.ThrowsAsync<StatePointInTimeUnavailableException>(() => backups.RestoreToPointInTimeAsync(path, now + TimeSpan.FromHours(1)));
        Assert.Equal(list[0].SnapshotAt, future.WindowStart);

        // Prune the log to current values: the changes after a backup are gone, so only the backups' own moments and the
        // present stay exact; a time in between is refused rather than restored wrong.
        await using (var store = new LiteDbStateStore(path))
        {
            Assert.True(await store.PruneChangesAsync(null, 1) > 0);
        }

        byte[] untouched = File.ReadAllBytes(path);
        var pruned = await Assert.ThrowsAsync<StatePointInTimeUnavailableException>(() => backups.RestoreToPointInTimeAsync(path, list[0].SnapshotAt + TimeSpan.FromSeconds(30)));
        Assert.Contains("pruned", pruned.Message, StringComparison.Ordinal);
        Assert.Equal(untouched, File.ReadAllBytes(path));

        var empty = new BackupManager(new BackupManagerOptions { Directory = _dir.File("no-backups"), TimeProvider = _time });
        var none = await Assert.ThrowsAsync<StatePointInTimeUnavailableException>(() => empty.RestoreToPointInTimeAsync(path, now));
        Assert.Null(none.WindowStart);
    }
}
