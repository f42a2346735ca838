using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage;

/// <summary>
/// The change-log conversion (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>) with the data file, LiteDB's log and
/// the new segment files on the simulated disk, the power cut at its k-th page write and at its k-th flush: in the clean
/// model (only flushed bytes and flushed directory entries survive) at every k; in the torn one (plus a random in-order
/// prefix of each file's unflushed writes and of the name changes) at every third write, every flush, and every write of
/// the switch window with 8 seeds each. With one segment and with segments rolling every few KB. After each cut the file
/// opens from what the disk kept, with the default options, and every value, change record and hook record reads as in
/// the prepared file, in whichever layout it is; a new conversion finishes it and a reopen reads the same again, in the
/// segment format with no <c>changes</c> collection. (The simulated disk's folders are its own: the conversion does not
/// remove leftover folders there, so they are not checked.)
/// </summary>
public sealed class LiteDbUpgradePowerLossTests : IDisposable
{
    /// <summary>
    /// The torn model cuts at every this-many-th k (a different residue per sweep); <c>STATEGEN_UPGRADE_TORN_STRIDE</c>=1
    /// for every k (the long run). The clean model always cuts at every k.
    /// </summary>
    private static readonly int TornStride = int.TryParse(Environment.GetEnvironmentVariable("STATEGEN_UPGRADE_TORN_STRIDE"), out int stride) && stride > 0 ? stride : 3;

    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public LiteDbUpgradePowerLossTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    private static LiteDbStateStore Open(string path, SimulatedDisk disk, long? rollBytes = null)
        => new(new LiteDbStateStoreOptions
        {
            Path = path,
            OpenFile = disk.Open,
            SegmentLogOptions = rollBytes is long roll ? new SegmentLogOptions { RollBytes = roll } : null,
        });

    /// <param name="rollBytes">The conversion's segment size (null: the default, one segment); reopens use the default.</param>
    [Theory]
    [InlineData(null)]
    [InlineData(6_000L)]
    public async Task A_power_cut_at_every_write_and_flush_of_a_conversion_leaves_a_file_that_reads_as_before_and_a_new_run_finishes_it(long? rollBytes)
    {
        var clock = Stopwatch.StartNew();
        string path = _dir.File("upgrade.db");
        var seedDisk = new SimulatedDisk();
        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = seedDisk.Open, ChangeLogLayout = LiteDbChangeLogLayout.Collection, Durability = StateDurability.Relaxed }))
        {
            await UpgradeHistory.SeedAsync(store, keysPerScope: 8, commits: 140, keepPerKey: 4);
        }

        Dictionary<string, byte[]> prepared = seedDisk.Images();
        List<string> before;
        using (LiteDbStateStore store = Open(path, new SimulatedDisk(prepared)))
        {
            Assert.Null(store.ChangeLogFolder);
            before = await UpgradeHistory.SnapshotAsync(store);
        }

        // A conversion without a cut: how many page writes and flushes it makes (the k of the sweeps), and its segments.
        var probe = new SimulatedDisk(prepared);
        long segments;
        (long writes, long syncs) counts;
        using (LiteDbStateStore store = Open(path, probe, rollBytes))
        {
            probe.FailAt();
            ChangeLogUpgradeResult result = await store.UpgradeChangeLogAsync();
            counts = probe.FaultCounts;
            Assert.True(result.Upgraded && result.Tombstones > 0 && result.RecordsCopied > 150, $"{result}");
            segments = probe.Contents().Keys.Count(p => p.StartsWith(result.Folder + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        }

        Assert.True(rollBytes is null ? segments == 1 : segments > 3, $"{segments} segment(s)");
        (int records, int values) = UpgradeHistory.Size(before);
        _output.WriteLine($"prepared: {records} records, {values} values; a conversion: {counts.writes} writes (page writes, length and name changes), {counts.syncs} flushes, {segments} segment(s)");

        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        int runs = 0;

        // The clean model at every k. It also finds the switch window: from the first cut after the copy's end (the
        // segments written and flushed) to the first cut that leaves the file switched (the marker flushed).
        long copyEnd = 0, firstSwitched = long.MaxValue;
        for (long k = 1; k <= counts.writes + 1; k++)
        {
            (bool reachedCopyEnd, string outcome) = await CutAsync($"write {k}, clean", null, disk => disk.CrashAfterWrites = k - 1);
            copyEnd = reachedCopyEnd && copyEnd == 0 ? k : copyEnd;
            firstSwitched = outcome == "segment layout" ? Math.Min(firstSwitched, k) : firstSwitched;
        }

        if (copyEnd == 0 || firstSwitched == long.MaxValue || firstSwitched < copyEnd)
        {
            // Reported with the failures (which say why): no cut left a switched file that opens.
            failures.Add($"no switch window: the first clean cut after the copy is {copyEnd}, the first that left a switched file that opens {firstSwitched}");
            firstSwitched = copyEnd - 1;
        }

        for (long k = 1; k <= counts.syncs + 1; k++) // every k: there are few
        {
            await CutAsync($"flush {k}, clean", null, disk => CrashAtFlush(disk, k));
        }

        // The torn model at every TornStride-th k, and at every k of the switch window with 8 seeds: there only a disk
        // that wrote some of the unflushed pages (in order) can keep the marker's commit without what came before it.
        int stride = TornStride;
        for (long k = 1 + (rollBytes is null ? 0 : 1) % stride; k <= counts.writes + 1; k += stride)
        {
            await CutAsync($"write {k}, torn", k, disk => disk.CrashAfterWrites = k - 1);
        }

        for (long k = copyEnd; k <= firstSwitched; k++)
        {
            for (int seed = 1; seed <= 8; seed++)
            {
                await CutAsync($"write {k}, torn seed {seed}", (k * 31) + seed, disk => disk.CrashAfterWrites = k - 1);
            }
        }

        for (long k = 1; k <= counts.syncs + 1; k++)
        {
            await CutAsync($"flush {k}, torn", k, disk => CrashAtFlush(disk, k));
        }

        // One conversion cut where arm says; returns whether it reached the end of the copy before the cut, and the
        // layout the file opened in.
        async Task<(bool ReachedCopyEnd, string Outcome)> CutAsync(string name, long? tornSeed, Action<SimulatedDisk> arm)
        {
            runs++;
            var disk = new SimulatedDisk(prepared, tornSeed is long t ? new Random((int)(t * 7919 % int.MaxValue)) : null);
            LiteDbStateStore store = Open(path, disk, rollBytes);
            bool reachedCopyEnd = false;
            store.UpgradeFault = step => reachedCopyEnd |= step == "segments-written" && !disk.Crashed;
            arm(disk);
            string stopped;
            try
            {
                await store.UpgradeChangeLogAsync();
                stopped = "completed";
            }
            catch (Exception ex)
            {
                stopped = ex.GetType().Name;
            }

            disk.BeforeSync = null;
            IReadOnlyDictionary<string, byte[]> images = disk.Crash();
            DisposeQuietly(store);
            (string? failure, string outcome) = await CheckAsync(path, images, before);
            string key = $"{outcome} ({(stopped == "completed" ? "conversion completed" : "conversion stopped")})";
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
            if (failure is not null)
            {
                failures.Add($"{name} (conversion: {stopped}): {failure}");
            }

            return (reachedCopyEnd, outcome);
        }

        _output.WriteLine($"switch window: writes {copyEnd}-{firstSwitched}");
        string distribution = string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}"));
        _output.WriteLine($"{runs} power cuts in {clock.Elapsed.TotalSeconds:F1} s: {distribution}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {runs} power cuts failed ({distribution}):{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(40))}");
        Assert.Contains(outcomes.Keys, o => o.StartsWith("collection layout (conversion stopped)", StringComparison.Ordinal));
        Assert.Contains(outcomes.Keys, o => o.StartsWith("segment layout (conversion stopped)", StringComparison.Ordinal));
    }

    /// <summary>The power goes at the k-th flush (before it reaches the disk).</summary>
    private static void CrashAtFlush(SimulatedDisk disk, long k)
    {
        long seen = 0;
        disk.BeforeSync = _ =>
        {
            if (++seen == k)
            {
                disk.Crash();
            }
        };
    }

    /// <summary>
    /// Opens what the disk kept; returns why it does not read as <paramref name="before"/> (or <see langword="null"/>) and
    /// the layout it opened in. Then converts it again and reopens it (the power staying on) to check the same.
    /// </summary>
    private async Task<(string? Failure, string Outcome)> CheckAsync(string path, IReadOnlyDictionary<string, byte[]> images, List<string> before)
    {
        var survivor = new SimulatedDisk(images);
        string outcome = "did not open";
        try
        {
            using (LiteDbStateStore store = Open(path, survivor))
            {
                bool switched = store.ChangeLogFolder is not null;
                outcome = switched ? "segment layout" : "collection layout";
                if (store.HistoryGaps.Count > 0)
                {
                    return ($"{outcome}: history gaps {string.Join(", ", store.HistoryGaps)}", outcome);
                }

                if (UpgradeHistory.Difference(before, await UpgradeHistory.SnapshotAsync(store)) is { } lost)
                {
                    return ($"{outcome}: {lost}", outcome);
                }

                ChangeLogUpgradeResult rerun = await store.UpgradeChangeLogAsync();
                if (rerun.Upgraded == switched || store.ChangeLogFolder is null)
                {
                    return ($"{outcome}: the new conversion returned Upgraded = {rerun.Upgraded}, folder {store.ChangeLogFolder}", outcome);
                }
            }

            using (LiteDbStateStore reopened = Open(path, new SimulatedDisk(survivor.Contents())))
            {
                if (reopened.ChangeLogFolder is null || reopened.HistoryGaps.Count > 0)
                {
                    return ($"{outcome}: after the new conversion the reopened file has folder {reopened.ChangeLogFolder}, gaps {string.Join(", ", reopened.HistoryGaps)}", outcome);
                }

                if (UpgradeHistory.Difference(before, await UpgradeHistory.SnapshotAsync(reopened)) is { } lost)
                {
                    return ($"{outcome}: after the new conversion, {lost}", outcome);
                }
            }

            (int format, bool collection) = Probe(path, survivor.Contents());
            if (!DocumentIntegrity.IsSegmented(format) || collection)
            {
                return ($"{outcome}: after the new conversion the file has format 0x{format:x8}, changes collection {collection}", outcome);
            }

            return (null, outcome);
        }
        catch (Exception ex)
        {
            return ($"{outcome}: {ex.GetType().Name}: {ex.Message}{Environment.NewLine}{ex.StackTrace}", outcome);
        }
    }

    /// <summary>The format marker and whether the <c>changes</c> collection is there: the files written out to a real folder and opened raw.</summary>
    private (int Format, bool ChangesCollection) Probe(string path, IReadOnlyDictionary<string, byte[]> files)
    {
        string probe = _dir.NewDatabaseFile();
        File.WriteAllBytes(probe, files[path]);
        if (files.TryGetValue(LiteDbStateStore.LogPath(path), out byte[]? log) && log.Length > 0)
        {
            File.WriteAllBytes(LiteDbStateStore.LogPath(probe), log);
        }

        try
        {
            using LiteDatabase raw = LiteDbScopeCountTests.Raw(probe);
            return (raw.UserVersion, raw.CollectionExists("changes"));
        }
        finally
        {
            File.Delete(probe);
            File.Delete(LiteDbStateStore.LogPath(probe));
        }
    }

    private static void DisposeQuietly(LiteDbStateStore store)
    {
        try
        {
            store.Dispose();
        }
        catch (Exception ex) when (ex is StateGenException or IOException or LiteException)
        {
            // With the power gone the final flush fails; the file is released anyway.
        }
    }
}
