using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Storage.LiteDbDurabilityTests;
using static StateGen.Tests.Storage.LiteDbFaultTests;

namespace StateGen.Tests.Storage;

/// <summary>
/// The segmented layout with all three kinds of files (data file, LiteDB's log, change-log segments) on the simulated
/// disk: nothing reaches the real disk, a durable store loses no acknowledged commit at a power cut (with segments rolling
/// and LiteDB checkpointing), and the k-th write or flush of a batch save failing, for every k, is a typed error with the
/// batch all or nothing.
/// </summary>
public sealed class LiteDbSegmentedPowerLossTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDbStateStore Open(string path, SimulatedDisk disk, long rollBytes, int? checkpointPages = null, bool writeBehind = false)
        => new(new LiteDbStateStoreOptions
        {
            Path = path,
            OpenFile = disk.Open,
            SegmentChangeLog = true,
            SegmentLogOptions = new SegmentLogOptions { RollBytes = rollBytes },
            CheckpointPages = checkpointPages,
            WriteBehind = writeBehind,
        });

    private static string[] SegmentsOn(SimulatedDisk disk, string path)
        => disk.Contents().Keys.Where(p => p.StartsWith(SegmentLog.FolderFor(path) + Path.DirectorySeparatorChar, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Why the change log does not fit the values, or <see langword="null"/>: its sequences run 1, 2, ... with no hole
    /// (nothing is pruned here) but the gaps the store reports (<see cref="LiteDbStateStore.HistoryGaps"/>), and each
    /// key's newest record is its stored value's write, version and bytes, or a delete (or nothing) for an absent key,
    /// unless a reported gap after that record took the newer ones.
    /// </summary>
    private static async Task<string?> LogMatchesValuesAsync(LiteDbStateStore store, string scope, IEnumerable<string> keys)
    {
        IReadOnlyList<StateChangeRecord> all = await store.ReadChangesAsync(new StateChangeQuery());
        IReadOnlyList<StateHistoryGap> gaps = store.HistoryGaps;
        long expected = 1;
        foreach (StateChangeRecord record in all)
        {
            if (gaps.FirstOrDefault(g => g.FromSequence == expected) is { } gap)
            {
                expected = gap.ToSequence + 1;
            }

            if (record.Sequence != expected)
            {
                return $"the log holds sequence {record.Sequence} where {expected} should be";
            }

            expected++;
        }

        foreach (string key in keys)
        {
            StoredEntry? entry = await store.GetAsync(scope, key);
            IReadOnlyList<StateChangeRecord> history = await store.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key });
            StateChangeRecord? newest = history.Count > 0 ? history[^1] : null;
            if (gaps.Any(g => g.ToSequence > (newest?.Sequence ?? 0)))
            {
                continue; // its newer records, if any, were lost (and reported)
            }

            if (entry is null && newest is { Kind: StateChangeKind.Write })
            {
                return $"{scope}/{key} is absent, but its newest record {newest.Sequence} writes v{newest.Version}";
            }

            if (entry is not null && (newest is not { Kind: StateChangeKind.Write } || newest.Version != entry.Version || !newest.Payload.Span.SequenceEqual(entry.Payload.Span)))
            {
                return $"{scope}/{key} is v{entry.Version}, but its newest record is {(newest is null ? "none" : $"{newest.Sequence} ({newest.Kind} of v{newest.Version})")}";
            }
        }

        return null;
    }

    [Fact]
    public async Task A_segmented_store_on_the_simulated_disk_writes_no_file_to_the_real_disk()
    {
        string path = _dir.File("simulated.db");
        var disk = new SimulatedDisk();
        int rolled;
        using (LiteDbStateStore store = Open(path, disk, rollBytes: 4_000))
        {
            for (int i = 0; i < 12; i++)
            {
                await store.CommitAsync([Write("a", "a" + i), Write("b", "b" + i)]);
            }

            await store.DeleteAsync(Scope, "b");
            rolled = SegmentsOn(disk, path).Length;

            // Retention compacts segments (a .tmp copy renamed over each) and deletes the leading ones left with tombstones.
            Assert.True(await store.PruneChangesAsync(olderThan: null, keepPerKey: 1) > 0);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Path));
        Assert.False(Directory.Exists(SegmentLog.FolderFor(path)));
        Assert.True(rolled >= 10, $"{rolled} segment(s) on the simulated disk");
        Assert.InRange(SegmentsOn(disk, path).Length, 1, rolled - 1);
        Assert.DoesNotContain(disk.Contents().Keys, p => p.EndsWith(".tmp", StringComparison.Ordinal));

        // Reopened from the simulated disk alone: the values and the kept history are there.
        using (LiteDbStateStore reopened = Open(path, new SimulatedDisk(disk.Contents()), rollBytes: 4_000))
        {
            Assert.Equal("a11", await TextAsync(reopened, "a"));
            Assert.Null(await TextAsync(reopened, "b"));
            StateChangeRecord[] kept = (await reopened.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = "a" })).ToArray();
            Assert.Equal(12, kept.Single().Version);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Path));
    }

    /// <summary>
    /// Also writing behind: a commit is decided by its records in the log (LiteDB is brought up to date later and at the
    /// next open), so the log's flush alone makes it durable, and the open replays what LiteDB does not hold yet.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Durable_segmented_store_loses_no_acknowledged_commit_at_a_power_cut_over_200_seeds(bool writeBehind)
    {
        int replayed = 0;
        var failures = new List<string>();
        int torn = 0;
        int checkpointing = 0;
        int acknowledged = 0;
        int rolled = 0;
        int gapped = 0;
        for (int seed = 1; seed <= 200; seed++)
        {
            string path = _dir.File($"power-{seed}.db");
            long rollBytes = 0;
            PowerCut cut = await RunToPowerCutAsync(seed, (disk, checkpointPages, rng) =>
            {
                // Small segments: power cuts land in rolls (a sealed segment's flush, a new file and its folder's flush) too.
                rollBytes = rng.Next(2_000, 60_000);
                return Open(path, disk, rollBytes, checkpointPages, writeBehind);
            });
            torn += cut.Torn ? 1 : 0;
            checkpointing += cut.Checkpoints ? 1 : 0;
            acknowledged += cut.Writers.Sum(w => w.Calls);
            Writer[] writers = cut.Writers;
            var survivor = new SimulatedDisk(cut.Images);
            rolled += SegmentsOn(survivor, path).Length > 1 ? 1 : 0;

            string? failure;
            LiteDbStateStore? reopened = null;
            try
            {
                reopened = Open(path, survivor, rollBytes, writeBehind: writeBehind);
                failure = null;
            }
            catch (StateGenException ex)
            {
                failure = $"the file did not open: {ex.GetType().Name}: {ex.Message}";
            }

            if (reopened is not null)
            {
                using (reopened)
                {
                    replayed += reopened.ReplayedAtOpen > 0 ? 1 : 0;

                    // Only records of commits not yet acknowledged can be lost: no more than the operations unanswered.
                    long lost = reopened.HistoryGaps.Sum(g => g.ToSequence - g.FromSequence + 1);
                    int inFlight = writers.Sum(w => w.InFlight?.Count ?? 0);
                    gapped += lost > 0 ? 1 : 0;
                    if (lost > inFlight)
                    {
                        failure = $"{lost} change records lost, but only {inFlight} operations were unanswered at the cut";
                    }

                    foreach (Writer w in writers)
                    {
                        failure ??= await LogMatchesValuesAsync(reopened, w.Scope, Enumerable.Range(0, LiteDbDurabilityTests.Keys).Select(k => $"k{k}"));
                    }

                    failure ??= await VerifyReopenedAsync(reopened, writers);
                }
            }

            if (failure is not null)
            {
                int unanswered = writers.Sum(w => w.InFlight?.Count ?? 0);
                failures.Add($"seed {seed} ({(cut.Torn ? "torn" : "clean")} crash, {SegmentsOn(survivor, path).Length} segment(s), {unanswered} unanswered operation(s) at the cut): {failure}");
            }
        }

        // A commit not yet acknowledged whose LiteDB pages reached the disk without its records keeps its values; its
        // records are a reported gap (storage.md, "History gaps"). Some seeds must meet that, or the rule went untested.
        int lostTail = failures.Count(f => f.Contains("StateStoreCorruptedException", StringComparison.Ordinal));
        Assert.True(failures.Count == 0, $"{failures.Count} of 200 seeds failed ({lostTail} with the corruption error at the open):{Environment.NewLine}{string.Join(Environment.NewLine, failures)}");
        if (writeBehind)
        {
            // The open replayed commits LiteDB did not hold yet in some seeds, or the replay went untested. LiteDB is never
            // given a commit whose records are not flushed: no history gap.
            Assert.True(replayed > 20, $"only {replayed} seeds replayed commits at the open");
            Assert.Equal(0, gapped);
        }
        else
        {
            Assert.True(gapped > 0, "no seed left a history gap");
            Assert.Equal(0, replayed);
        }

        Assert.InRange(torn, 1, 199);
        Assert.InRange(checkpointing, 1, 199);
        Assert.True(rolled > 20, $"only {rolled} seeds left more than one segment");
        Assert.True(acknowledged > 200, $"only {acknowledged} acknowledged calls: the crashes came too early to test much");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Failing_the_kth_write_or_flush_of_a_segmented_batch_save_gives_a_typed_error_and_the_batch_is_all_or_nothing(bool failFlush, bool writeBehind)
    {
        // Segments of two records: the seed fills the first and starts the second; the batch fills it and rolls to a third.
        const long RollBytes = 4_000;
        string probePath = _dir.NewDatabaseFile();
        var probe = new SimulatedDisk();
        LiteDbStateStore seeded = await SeededAsync(probePath, probe, RollBytes, writeBehind);
        var flushed = new List<string>();
        probe.BeforeSync = flushed.Add;
        probe.FailAt();
        await seeded.CommitAsync(Batch());
        (long writes, long syncs) = probe.FaultCounts;
        probe.BeforeSync = null;
        seeded.Dispose();
        string[] segments = SegmentsOn(probe, probePath);
        Assert.Equal(3, segments.Length);

        // The flush of the new segment's header, the roll's second flush (after the sealed segment's).
        long headerFlush = flushed.IndexOf(segments[2]) + 1;
        Assert.True(headerFlush >= 2, string.Join(" ", flushed));
        long last = (failFlush ? syncs : writes) + 1;
        Assert.True(writes > 4 && syncs >= 3, $"a batch save took {writes} writes and {syncs} flushes");
        int failed = 0;
        var refusedAfter = new List<long>();
        for (long k = 1; k <= last; k++)
        {
            string path = _dir.NewDatabaseFile();
            var disk = new SimulatedDisk();
            LiteDbStateStore store = await SeededAsync(path, disk, RollBytes, writeBehind);
            (bool committed, string seen) = await SaveBatchFailingAtAsync(disk, store, k, failFlush);
            failed += committed ? 0 : 1;
            if (!await SucceedsAsync(async () => await store.WriteAsync(Write("d", "later"))))
            {
                refusedAfter.Add(k);
            }

            DisposeQuietly(store);

            // Reopened (the power stayed on: what was written, flushed or not): all or nothing, the log fits the values, and
            // the store writes.
            using LiteDbStateStore reopened = Open(path, new SimulatedDisk(disk.Contents()), RollBytes, writeBehind: writeBehind);
            string after = await StateOfAsync(reopened);
            Assert.True(after is "old,old,old" or "new,new,gone", $"k={k} reopened: {after}");
            Assert.True(after == seen || (failFlush && !committed), $"k={k}: reopened {after}, saw {seen}");
            Assert.Null(await LogMatchesValuesAsync(reopened, Scope, ["a", "b", "c", "d"]));
            await reopened.WriteAsync(Write("e", "fine")).AsTask().WaitAsync(Hang);
        }

        Assert.True(failed == last - 1, $"{failed} of {last - 1} injected faults surfaced");
        if (failFlush)
        {
            // After a failed fsync nothing later can be vouched for: the same store takes no more changes. Except when the
            // flush that failed was the new segment's header: the roll is undone and the file deleted, nothing it held was
            // acknowledged, and the store reopens the log (as after a failed write) and goes on.
            Assert.Equal(Enumerable.Range(1, (int)last - 1).Select(k => (long)k).Where(k => k != headerFlush), refusedAfter);
        }
        else
        {
            Assert.True(refusedAfter.Count == 0, $"after a failed write the same store refused the next one for k = {string.Join(", ", refusedAfter)}");
        }
    }

    private static async Task<LiteDbStateStore> SeededAsync(string path, SimulatedDisk disk, long rollBytes, bool writeBehind = false)
    {
        LiteDbStateStore store = Open(path, disk, rollBytes, writeBehind: writeBehind);
        await store.CommitAsync([Write("a", "old"), Write("b", "old")]);
        await store.WriteAsync(Write("c", "old"));
        return store;
    }
}
