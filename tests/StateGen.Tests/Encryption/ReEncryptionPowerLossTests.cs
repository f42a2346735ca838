using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;
using static StateGen.Tests.Storage.LiteDbFaultTests;

namespace StateGen.Tests.Encryption;

/// <summary>
/// Power loss during the re-encryption job, history part included: an encrypted LiteDB store in the default layout
/// (segment files, here of 4,000 bytes) with every file on the simulated disk (<see cref="SimulatedDisk"/>), seeded
/// under <c>k1</c> (30 values written 3 times over 9 segments, 20 hook records), rotated to <c>k2</c>, and the job run
/// with the power cut at the k-th page write and at the k-th flush, for every k: in the clean model (only what was
/// flushed survives) and in the torn model (plus a random in-order prefix of each file's unflushed writes and of the
/// name changes) with one seed per cut (<see cref="ReliabilityRuns.ReEncryptTornSeeds"/> for the long run). Written
/// behind (the default) and directly.
/// </summary>
/// <remarks>
/// From what the disk kept the store opens: written behind with a strict change log and no history gap; written
/// directly a gap may take the job's own records of a commit the cut left unacknowledged, whose values LiteDB kept (as
/// for any commit: storage.md, "History gaps"), never a record of before the job. Every value reads as before the job,
/// every change record and hook record of before the job is there and decrypts to the same plaintext (the job's own
/// records of the values it moved come after them), each under <c>k1</c> or <c>k2</c>; a rerun lets <c>k1</c> go, and
/// with it removed (and after a reopen with <c>k2</c> alone) everything reads the same.
/// </remarks>
public sealed class ReEncryptionPowerLossTests : IDisposable
{
    private const long RollBytes = 4_000;
    private const int Keys = 30;
    private const int Hooks = 20;

    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public ReEncryptionPowerLossTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    /// <summary>What the store holds, decrypted: values, change records and hook records, each as one line.</summary>
    private sealed record Snapshot(List<string> Values, List<string> Changes, List<string> Hooks);

    private static EncryptedStateStore Open(string path, SimulatedDisk disk, StateKeyRing ring, bool writeBehind)
        => new(
            new LiteDbStateStore(new LiteDbStateStoreOptions
            {
                Path = path,
                OpenFile = disk.Open,
                WriteBehind = writeBehind,
                SegmentLogOptions = new SegmentLogOptions { RollBytes = RollBytes },
                // Written behind, a commit is its records in the log: a lost tail is the typed error, never a gap. Written
                // directly, a commit not yet acknowledged can keep its values without its records (a reported gap).
                StrictChangeLog = writeBehind,
            }),
            new StateEncryptor(ring),
            new EncryptedStateStoreOptions { PageSize = 8 });

    private static StateKeyRing BothKeys()
    {
        StateKeyRing ring = TestKeys.Ring("k1", 1);
        ring.Rotate("k2", TestKeys.Key(2));
        return ring;
    }

    private static string Scope(int i) => "agent/" + (i % 3).ToString(CultureInfo.InvariantCulture);

    private static string Key(int i) => "note" + i.ToString("D2", CultureInfo.InvariantCulture);

    private static byte[] Value(string text) => Encoding.UTF8.GetBytes(text + ";" + new string('x', 260));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_power_cut_at_any_write_or_flush_of_the_job_loses_no_record_and_a_rerun_lets_the_old_key_go(bool writeBehind)
    {
        var clock = Stopwatch.StartNew();
        string path = _dir.File("reencrypt.db");

        // Seeded under k1 and closed: every file flushed.
        var seedDisk = new SimulatedDisk();
        using (StateKeyRing k1 = TestKeys.Ring("k1", 1))
        await using (EncryptedStateStore store = Open(path, seedDisk, k1, writeBehind))
        {
            for (int round = 0; round < 3; round++)
            {
                for (int i = 0; i < Keys; i += 3)
                {
                    await store.CommitAsync(Enumerable.Range(i, 3).Select(j => (StateOperation)new StateWrite(Scope(j), Key(j), "Note", 1, Value($"{Key(j)} round {round}"))).ToArray());
                }
            }

            await store.AppendHookExecutionsAsync(Enumerable.Range(0, Hooks).Select(h => new HookExecutionRecord(
                0, "audit", "BeforeChange", Scope(h), Key(h), "Note", "Modified", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch.AddMinutes(h), "run-" + (h % 4).ToString(CultureInfo.InvariantCulture),
                Value("old " + h.ToString(CultureInfo.InvariantCulture)), h % 5 == 0 ? ReadOnlyMemory<byte>.Empty : Value("new " + h.ToString(CultureInfo.InvariantCulture)), Value("result " + h.ToString(CultureInfo.InvariantCulture)))).ToArray());
        }

        Dictionary<string, byte[]> prepared = seedDisk.Images();
        int segments = prepared.Keys.Count(p => p.StartsWith(SegmentLog.FolderFor(path) + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        Assert.True(segments >= 5, $"{segments} segment(s)");
        Snapshot before;
        using (StateKeyRing k1 = TestKeys.Ring("k1", 1))
        await using (EncryptedStateStore store = Open(path, new SimulatedDisk(prepared), k1, writeBehind))
        {
            before = await SnapshotAsync(store);
        }

        Assert.Equal((Keys, Keys * 3, Hooks), (before.Values.Count, before.Changes.Count, before.Hooks.Count));

        // A job without a cut: how many page writes and flushes it makes (the k of the sweeps).
        var probe = new SimulatedDisk(prepared);
        (long Writes, long Syncs) counts;
        using (StateKeyRing ring = BothKeys())
        await using (EncryptedStateStore store = Open(path, probe, ring, writeBehind))
        {
            probe.FailAt();
            ReEncryptionResult result = await store.ReEncryptAsync().AsTask().WaitAsync(Hang);
            counts = probe.FaultCounts;
            Assert.True(result.CanRemoveRetiredKeys);
            Assert.Equal((long)Keys * 3, result.ChangeRecordsReEncrypted);
        }

        _output.WriteLine($"seeded: {segments} segments; a job: {counts.Writes} writes (page writes, length and name changes), {counts.Syncs} flushes");

        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        int runs = 0;
        int completed = 0;
        int gapped = 0;
        for (long k = 1; k <= counts.Writes + 1; k++)
        {
            await CutAsync($"write {k}, clean", null, disk => disk.CrashAfterWrites = k - 1);
        }

        for (long k = 1; k <= counts.Syncs + 1; k++)
        {
            await CutAsync($"flush {k}, clean", null, disk => CrashAtFlush(disk, k));
        }

        int seeds = ReliabilityRuns.ReEncryptTornSeeds;
        for (int seed = 1; seed <= seeds; seed++)
        {
            for (long k = 1; k <= counts.Writes + 1; k++)
            {
                await CutAsync($"write {k}, torn seed {seed}", (k * 31) + seed, disk => disk.CrashAfterWrites = k - 1);
            }

            for (long k = 1; k <= counts.Syncs + 1; k++)
            {
                await CutAsync($"flush {k}, torn seed {seed}", (k * 37) + seed, disk => CrashAtFlush(disk, k));
            }
        }

        string distribution = string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}"));
        _output.WriteLine($"{(writeBehind ? "written behind" : "written directly")}: {runs} power cuts in {clock.Elapsed.TotalSeconds:F1} s ({completed} after the job had returned, {gapped} with the job's own records of an unacknowledged commit a reported gap): {distribution}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {runs} power cuts failed ({distribution}):{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(40))}");

        // The cuts must have landed in every part of the job: some left history records under k1 and k2 both.
        Assert.True(outcomes.GetValueOrDefault("history mixed") > 0, $"no cut left the history half moved: {distribution}");
        Assert.True(outcomes.GetValueOrDefault("history all k1") > 0 && outcomes.GetValueOrDefault("history all k2") > 0, distribution);

        // One job cut where arm says, checked from what the disk kept.
        async Task CutAsync(string name, long? tornSeed, Action<SimulatedDisk> arm)
        {
            runs++;
            var disk = new SimulatedDisk(prepared, tornSeed is long t ? new Random((int)(t * 7919 % int.MaxValue)) : null);
            using StateKeyRing ring = BothKeys();
            EncryptedStateStore store = Open(path, disk, ring, writeBehind);
            arm(disk);
            string stopped;
            try
            {
                await store.ReEncryptAsync().AsTask().WaitAsync(Hang);
                stopped = "completed";
            }
            catch (StateGenException ex)
            {
                stopped = ex.GetType().Name;
            }

            disk.BeforeSync = null;
            IReadOnlyDictionary<string, byte[]> images = disk.Crash();
            DisposeQuietly(store);
            (string? failure, string outcome, bool gap) = await CheckAsync(path, images, before, writeBehind);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            gapped += gap ? 1 : 0;
            completed += stopped == "completed" ? 1 : 0;
            if (failure is not null)
            {
                failures.Add($"{name} (job: {stopped}): {failure}");
            }
        }
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
    /// Opens what the disk kept and checks it against <paramref name="before"/>; then reruns the job, removes <c>k1</c>
    /// and checks again, and once more after a reopen with <c>k2</c> alone. Returns why it failed (or
    /// <see langword="null"/>), which keys the history was under after the cut, and whether the open reported a history
    /// gap: allowed written directly, and only after the records of before the job (the job's own records of a commit
    /// the cut left unacknowledged, whose values LiteDB kept).
    /// </summary>
    private static async Task<(string? Failure, string Outcome, bool Gap)> CheckAsync(string path, IReadOnlyDictionary<string, byte[]> images, Snapshot before, bool writeBehind)
    {
        var survivor = new SimulatedDisk(images);
        string outcome = "did not open";
        bool gap = false;
        try
        {
            using StateKeyRing ring = BothKeys();
            await using (EncryptedStateStore store = Open(path, survivor, ring, writeBehind))
            {
                gap = store.HistoryGaps.Count > 0;
                if (store.HistoryGaps.Any(g => g.FromSequence <= before.Changes.Count) || (gap && writeBehind))
                {
                    return ($"history gaps {string.Join(", ", store.HistoryGaps)}", "gap", gap);
                }

                HashSet<string?> keyIds = await HistoryKeyIdsAsync(store);
                outcome = keyIds.SetEquals(["k1"]) ? "history all k1" : keyIds.SetEquals(["k2"]) ? "history all k2" : "history mixed";
                if (!keyIds.IsSubsetOf(["k1", "k2"]))
                {
                    return ($"history records under {string.Join(", ", keyIds)}", outcome, gap);
                }

                if (Difference(before, await SnapshotAsync(store)) is string afterCut)
                {
                    return ("after the cut: " + afterCut, outcome, gap);
                }

                ReEncryptionResult rerun = await store.ReEncryptAsync().AsTask().WaitAsync(Hang);
                if (!rerun.CanRemoveRetiredKeys || rerun.Failures.Count > 0)
                {
                    return ($"the rerun left {string.Join(", ", rerun.RetiredKeysInUse)} in use, {rerun.Failures.Count} failures", outcome, gap);
                }

                if (!ring.RemoveRetiredKey("k1", rerun.CanRemoveRetiredKeys))
                {
                    return ("k1 could not be removed", outcome, gap);
                }

                if (Difference(before, await SnapshotAsync(store)) is string afterRerun)
                {
                    return ("after the rerun, k1 removed: " + afterRerun, outcome, gap);
                }
            }

            using StateKeyRing k2 = TestKeys.Ring("k2", 2);
            await using EncryptedStateStore reopened = Open(path, new SimulatedDisk(survivor.Contents()), k2, writeBehind);
            return (Difference(before, await SnapshotAsync(reopened)) is string again ? "reopened with k2 alone: " + again : null, outcome, gap);
        }
        catch (Exception ex) when (ex is StateGenException or TimeoutException)
        {
            return ($"{ex.GetType().Name}: {ex.Message}", outcome, gap);
        }
    }

    /// <summary>
    /// Why <paramref name="now"/> is not <paramref name="before"/>, or <see langword="null"/>: the same values, the same
    /// hook records, the change records of before first and unchanged, and after them only the job's own records of
    /// values it moved (each holding its key's value).
    /// </summary>
    private static string? Difference(Snapshot before, Snapshot now)
    {
        if (!before.Values.SequenceEqual(now.Values))
        {
            return "the values differ: " + string.Join(" | ", now.Values.Except(before.Values).Take(3));
        }

        if (!before.Hooks.SequenceEqual(now.Hooks))
        {
            return $"the hook records differ ({now.Hooks.Count} of {before.Hooks.Count}): " + string.Join(" | ", now.Hooks.Except(before.Hooks).Take(3));
        }

        if (now.Changes.Count < before.Changes.Count || !before.Changes.SequenceEqual(now.Changes.Take(before.Changes.Count)))
        {
            return $"the change records differ ({now.Changes.Count} of {before.Changes.Count}): " + string.Join(" | ", now.Changes.Take(before.Changes.Count).Except(before.Changes).Take(3));
        }

        var values = before.Values.Select(v => v.Split('|')).ToDictionary(v => v[0] + "|" + v[1], v => v[3], StringComparer.Ordinal);
        foreach (string added in now.Changes.Skip(before.Changes.Count))
        {
            string[] parts = added.Split('|');
            if (parts[6] != EncryptedStateStore.ReEncryptOrigin || values.GetValueOrDefault(parts[1] + "|" + parts[2]) != parts[7])
            {
                return "a change record that is not the job's move of a value: " + added;
            }
        }

        return null;
    }

    private static async Task<Snapshot> SnapshotAsync(EncryptedStateStore store)
    {
        var values = (await At.ScanAllAsync(store))
            .Select(e => $"{e.Scope}|{e.Key}|{e.TypeName}|{At.Text(e.Payload)}")
            .Order(StringComparer.Ordinal)
            .ToList();
        var changes = (await store.ReadChangesAsync(new StateChangeQuery()))
            .Select(r => $"{r.Sequence}|{r.Scope}|{r.Key}|{r.Kind}|{r.Version}|{r.Timestamp.UtcTicks}|{r.Origin}|{At.Text(r.Payload)}")
            .ToList();
        var hooks = (await store.ReadHookExecutionsAsync(new HookExecutionQuery()))
            .Select(r => $"{r.Id}|{r.Scope}|{r.Key}|{r.CorrelationId}|{r.Timestamp.UtcTicks}|{At.Text(r.OldValue)}|{At.Text(r.NewValue)}|{At.Text(r.ResultValue)}")
            .ToList();
        return new Snapshot(values, changes, hooks);
    }

    /// <summary>The key ids of the change records and hook values, read raw from the inner store (nothing decrypted).</summary>
    private static async Task<HashSet<string?>> HistoryKeyIdsAsync(EncryptedStateStore store)
    {
        var history = (IStateHistoryStore)store.Inner;
        var ids = (await history.ReadChangesAsync(new StateChangeQuery())).Select(r => At.KeyIdOf(r.Payload.Span)).ToHashSet();
        ids.UnionWith((await history.ReadHookExecutionsAsync(new HookExecutionQuery()))
            .SelectMany(r => new[] { r.OldValue, r.NewValue, r.ResultValue }).Where(v => !v.IsEmpty).Select(v => At.KeyIdOf(v.Span)));
        return ids;
    }
}
