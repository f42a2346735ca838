using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.CrashWriter;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Encryption;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage;

/// <summary>
/// The re-encryption job (<see cref="EncryptedStateStore.ReEncryptAsync(IProgress{ReEncryptionProgress}?, StateScanPosition?, CancellationToken)"/>),
/// history part included, killed with SIGKILL at random moments: a child process (tests/StateGen.CrashWriter, mode
/// <c>reencrypt</c>) over an encrypted LiteDB store in the default layout (segment files of 16 KiB, written behind)
/// rotates to a new key and runs the job again and again while another task writes and prints its acknowledged writes.
/// It kills itself after a random number of progress reports of a part chosen at random (a quarter of the kills aimed at the
/// entries, half at the change-log segment rewrites, a quarter at the hook values) plus a random pause, 24 times (<c>STATEGEN_KILL_CYCLES</c> ×
/// 24/50 for the long run, a new file every 24 kills). After each kill the file opens with the ring of every key the
/// child announced, with a strict change log: no <c>.seg.tmp</c> is left, every acknowledged write is there (value and
/// change record), and every change record and hook record decrypts to what was written. At the end of each file a
/// clean job lets every retired key go, and with them removed everything still reads. Kills must land in the history
/// part.
/// </summary>
public sealed class LiteDbReEncryptProcessKillTests : IDisposable
{
    private const int CyclesPerFile = 24;
    private static readonly int Cycles = Math.Max(4, ReliabilityRuns.KillCycles * 24 / 50);
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public LiteDbReEncryptProcessKillTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    /// <summary>What a killed child printed: its acknowledged writes, the newest key it announced, and where the job was.</summary>
    private sealed record KillReport(List<(string Key, long Version, long N)> Acks, int NewestKey, string Where, int Reports);

    /// <summary>What the test knows of a file: the newest key in use, and per writer key the newest acknowledged version and n.</summary>
    private sealed class FileModel
    {
        public int NewestKey { get; set; } = 1;

        public Dictionary<string, (long Version, long N)> Acked { get; } = new(StringComparer.Ordinal);

        public long Records { get; set; }
    }

    [Fact]
    public async Task Sigkill_at_random_moments_of_re_encryption_loses_nothing_and_a_rerun_lets_the_old_keys_go()
    {
        string writer = CrashWriterChild.Path();
        var clock = Stopwatch.StartNew();
        var random = new Random(6606);
        var where = new Dictionary<string, int>(StringComparer.Ordinal);
        int copiesLeft = 0;
        int acks = 0;
        int keys = 0;
        var model = new FileModel();
        string path = string.Empty;
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            if (cycle % CyclesPerFile == 0)
            {
                // A new file every 24 kills, so a long run does not re-encrypt an ever longer history.
                string folder = Path.Combine(_dir.Path, "file" + (cycle / CyclesPerFile).ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(folder);
                path = Path.Combine(folder, "state.db");
                model = new FileModel();
            }

            // Aimed at a part: killed after the n-th report of the entries (a job reports 8-9 pages), of the change records
            // (one per segment: 30 and more) or of the hook values (10 pages), plus 0-10 ms. Half the kills go to the
            // segment rewrites.
            (ReEncryptionPart part, int reports) = random.Next(4) switch
            {
                0 => (ReEncryptionPart.Entries, random.Next(0, 9)),
                1 => (ReEncryptionPart.HookValues, random.Next(1, 10)),
                _ => (ReEncryptionPart.ChangeRecords, random.Next(1, 30)),
            };
            TimeSpan pause = TimeSpan.FromMilliseconds(random.NextDouble() * 10);
            KillReport kill = await RunAndKillAsync(writer, path, model.NewestKey + 1, part, reports, pause, cycle);
            where[kill.Where] = where.GetValueOrDefault(kill.Where) + 1;
            acks += kill.Acks.Count;
            model.NewestKey = Math.Max(model.NewestKey, kill.NewestKey);
            foreach ((string key, long version, long n) in kill.Acks)
            {
                if (!model.Acked.TryGetValue(key, out var known) || version > known.Version)
                {
                    model.Acked[key] = (version, n);
                }
            }

            bool copyLeft = Directory.EnumerateFiles(SegmentLog.FolderFor(path), "*.tmp").Any();
            copiesLeft += copyLeft ? 1 : 0;
            await VerifyAsync(path, model, cycle, kill.Where).WaitAsync(Hang);
            _output.WriteLine($"cycle {cycle}: killed after {kill.Reports} reports ({kill.Where}){(copyLeft ? ", a segment copy left" : string.Empty)}; {kill.Acks.Count} acks, keys k1..k{model.NewestKey}, {model.Records} change records");

            if (cycle % CyclesPerFile == CyclesPerFile - 1 || cycle == Cycles - 1)
            {
                keys += model.NewestKey;
                await FinishAsync(path, model).WaitAsync(Hang);
            }
        }

        string distribution = string.Join(", ", where.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => $"{w.Key}: {w.Value}"));
        int inHistory = where.Where(w => w.Key.StartsWith("history", StringComparison.Ordinal)).Sum(w => w.Value);
        _output.WriteLine($"{Cycles} kills in {clock.Elapsed.TotalSeconds:F1} s: {distribution}; {inHistory} in the history part, {copiesLeft} left a segment copy; {acks} acknowledged writes, {keys} keys");
        Assert.True(where.GetValueOrDefault("history: change records") > 0, $"no kill landed among the segment rewrites: {distribution}");
        Assert.True(inHistory >= Cycles / 4, $"only {inHistory} of {Cycles} kills landed in the history part: {distribution}");
        Assert.True(acks >= Cycles, $"only {acks} acknowledged writes in {Cycles} cycles");
    }

    private static EncryptedStateStore Open(string path, StateKeyRing ring)
        => new(
            new LiteDbStateStore(new LiteDbStateStoreOptions
            {
                Path = path,
                SegmentLogOptions = new SegmentLogOptions { RollBytes = ReEncryptWorkload.RollBytes },
                StrictChangeLog = true, // a lost tail of the change log is the typed error here, not a gap
            }),
            new StateEncryptor(ring),
            new EncryptedStateStoreOptions { PageSize = ReEncryptWorkload.PageSize });

    /// <summary>
    /// Reopens a killed child's file with the ring of every key it announced and checks it: nothing left of a segment
    /// copy, no history gap, the acknowledged writes, the seeded values, and the whole history decrypted.
    /// </summary>
    private static async Task VerifyAsync(string path, FileModel model, int cycle, string where)
    {
        using StateKeyRing ring = ReEncryptWorkload.Ring(model.NewestKey);
        await using EncryptedStateStore store = Open(path, ring);
        string at = $"cycle {cycle} ({where})";
        Assert.True(!Directory.EnumerateFiles(SegmentLog.FolderFor(path), "*.tmp").Any(), $"{at}: a segment copy is left after the open");
        Assert.True(store.HistoryGaps.Count == 0, $"{at}: history gaps {string.Join(", ", store.HistoryGaps)}");
        foreach ((string key, (long version, long n)) in model.Acked)
        {
            StoredEntry? entry = await store.GetAsync(ReEncryptWorkload.WriterScope, key);
            Assert.True(entry is not null && entry.Version >= version, $"{at}: {key} v{version} was acknowledged, the file has v{entry?.Version}");
            long stored = ReEncryptWorkload.WriterNumber(key, entry!.Payload.Span);
            Assert.True(stored >= n, $"{at}: {key} write {n} was acknowledged, the value is write {stored}");
        }

        await CheckAllAsync(store, model, at);
    }

    /// <summary>
    /// Every entry, change record and hook record reads and decrypts to what was written: the seeded values as seeded, the
    /// writer's values well formed, each acknowledged write's change record there; the sequences run 1, 2, ... with no
    /// hole, no fewer than last time; the 150 hook records as appended.
    /// </summary>
    private static async Task CheckAllAsync(EncryptedStateStore store, FileModel model, string at)
    {
        for (int i = 0; i < ReEncryptWorkload.SeedKeys; i++)
        {
            StoredEntry? entry = await store.GetAsync(ReEncryptWorkload.SeedScope(i), ReEncryptWorkload.SeedKey(i));
            Assert.True(entry is not null && entry.Payload.Span.SequenceEqual(ReEncryptWorkload.SeedValue(i, ReEncryptWorkload.SeedRounds - 1)), $"{at}: seeded value {i} reads wrong");
        }

        // The seeded keys and the writer keys written (a write the kill cut may have created one that no ack names).
        Assert.InRange((await At.ScanAllAsync(store)).Count, ReEncryptWorkload.SeedKeys + model.Acked.Count, ReEncryptWorkload.SeedKeys + ReEncryptWorkload.WriterKeys);

        IReadOnlyList<StateChangeRecord> records = await store.ReadChangesAsync(new StateChangeQuery());
        var acked = new HashSet<(string, long)>(model.Acked.Select(a => (a.Key, a.Value.Version)));
        int seededWrites = 0;
        for (int r = 0; r < records.Count; r++)
        {
            StateChangeRecord record = records[r];
            Assert.True(record.Sequence == r + 1, $"{at}: sequence {record.Sequence} where {r + 1} should be");
            Assert.Equal(StateChangeKind.Write, record.Kind);
            if (record.Scope == ReEncryptWorkload.WriterScope)
            {
                long n = ReEncryptWorkload.WriterNumber(record.Key, record.Payload.Span);
                Assert.True(n > 0, $"{at}: change record {record.Sequence} ({record.Key}) is not a writer value");
                acked.Remove((record.Key, record.Version));
            }
            else
            {
                int i = int.Parse(record.Key.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture);
                int round = Enumerable.Range(0, ReEncryptWorkload.SeedRounds).FirstOrDefault(x => record.Payload.Span.SequenceEqual(ReEncryptWorkload.SeedValue(i, x)), -1);
                Assert.True(round >= 0, $"{at}: change record {record.Sequence} ({record.Key}) is no seeded value");
                seededWrites += record.Origin == EncryptedStateStore.ReEncryptOrigin ? 0 : 1;
            }
        }

        Assert.True(acked.Count == 0, $"{at}: no change record for the acknowledged writes {string.Join(", ", acked)}");
        Assert.Equal(ReEncryptWorkload.SeedKeys * ReEncryptWorkload.SeedRounds, seededWrites);
        Assert.True(records.Count >= model.Records, $"{at}: {records.Count} change records, {model.Records} at the last check");
        model.Records = records.Count;

        IReadOnlyList<HookExecutionRecord> hooks = await store.ReadHookExecutionsAsync(new HookExecutionQuery());
        Assert.Equal(ReEncryptWorkload.SeedHooks, hooks.Count);
        for (int h = 0; h < hooks.Count; h++)
        {
            Assert.True(
                hooks[h].OldValue.Span.SequenceEqual(ReEncryptWorkload.HookValue(h, "old"))
                && hooks[h].NewValue.Span.SequenceEqual(ReEncryptWorkload.HookValue(h, "new"))
                && hooks[h].ResultValue.Span.SequenceEqual(ReEncryptWorkload.HookValue(h, "result")),
                $"{at}: hook record {hooks[h].Id} reads wrong");
        }
    }

    /// <summary>A clean job over the file with every key: afterwards the retired keys go, and everything still reads, with a reopen holding the active key alone too.</summary>
    private static async Task FinishAsync(string path, FileModel model)
    {
        using StateKeyRing ring = ReEncryptWorkload.Ring(model.NewestKey);
        string active = ring.ActiveKeyId;
        await using (EncryptedStateStore store = Open(path, ring))
        {
            ReEncryptionResult result = await store.ReEncryptAsync();
            Assert.True(result.Failures.Count == 0, string.Join("; ", result.Failures.Select(f => $"{f.Part} {f.RecordId} {f.Key}: {f.Reason}")));
            Assert.True(result.CanRemoveRetiredKeys, $"retired keys still in use after a clean job: {string.Join(", ", result.RetiredKeysInUse)}");
            Assert.Equal(new[] { active }, (await store.GetKeyUsageAsync()).KeyIds);
            foreach (string retired in ring.RetiredKeyIds.ToArray())
            {
                Assert.True(ring.RemoveRetiredKey(retired, noRecordUsesKey: result.CanRemoveRetiredKeys), retired);
            }

            Assert.Equal(new[] { active }, ring.KeyIds);
            await CheckAllAsync(store, model, "after the clean job, retired keys removed");
        }

        using var alone = new StateKeyRing(active, ReEncryptWorkload.KeyBytes(active));
        await using EncryptedStateStore reopened = Open(path, alone);
        await CheckAllAsync(reopened, model, "reopened with the active key alone");
    }

    /// <summary>
    /// Starts the child on <paramref name="path"/> with the next key to rotate to, and with where it kills itself (SIGKILL):
    /// <paramref name="pause"/> after its <paramref name="reports"/>-th progress report of <paramref name="part"/>, by its
    /// own clock (counting the reports as this read them, a loaded machine aimed late). Waits for it to be gone.
    /// </summary>
    private static async Task<KillReport> RunAndKillAsync(string writer, string path, int nextKey, ReEncryptionPart part, int reports, TimeSpan pause, int cycle)
    {
        var lines = new ConcurrentQueue<string>();
        var errors = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using Process child = CrashWriterChild.Create(
            writer,
            "reencrypt",
            path,
            nextKey.ToString(CultureInfo.InvariantCulture),
            part.ToString(),
            reports.ToString(CultureInfo.InvariantCulture),
            pause.TotalMilliseconds.ToString("F3", CultureInfo.InvariantCulture));
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lines.Enqueue(e.Data);
            if (e.Data == "ready")
            {
                ready.TrySetResult();
            }
        };
        child.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        child.Start();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        Task exited = child.WaitForExitAsync();
        try
        {
            await Task.WhenAny(ready.Task, exited, Task.Delay(Startup));
            Assert.True(ready.Task.IsCompleted, $"cycle {cycle}: the child did not start within {Startup.TotalSeconds} s: {errors}");
            await Task.WhenAny(exited, Task.Delay(Startup));
            Assert.True(
                exited.IsCompleted,
                $"cycle {cycle}: the child did not kill itself within {Startup.TotalSeconds} s ({reports} {part} reports and {pause.TotalMilliseconds:F1} ms): {lines.Count(l => l.StartsWith("progress " + part + " ", StringComparison.Ordinal))} such reports: {errors}");
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill(entireProcessTree: true); // SIGKILL on Unix
            }

            await exited; // also drains the redirected output: every line printed before the kill
        }

        lock (errors)
        {
            // Killed by itself: SIGKILL (128 + 9), after its line saying so (it prints nothing else on standard error).
            Assert.True(
                child.ExitCode == 137 && errors.ToString().Contains("kill @", StringComparison.Ordinal),
                $"cycle {cycle}: the child stopped with {child.ExitCode} before it killed itself: {errors}");
        }

        var acks = new List<(string Key, long Version, long N)>();
        int newestKey = 0;
        string state = "starting";
        foreach (string line in lines)
        {
            string[] parts = line.Split(' ');
            switch (parts[0])
            {
                case "ack":
                    acks.Add((parts[1], long.Parse(parts[2], CultureInfo.InvariantCulture), long.Parse(parts[3], CultureInfo.InvariantCulture)));
                    break;
                case "key":
                    newestKey = int.Parse(parts[1].AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture);
                    state = "entries";
                    break;
                case "progress":
                    state = parts[1] switch
                    {
                        nameof(ReEncryptionPart.Entries) => "entries",
                        nameof(ReEncryptionPart.ChangeRecords) => "history: change records",
                        _ => "history: hook values",
                    };
                    break;
                case "done":
                    Assert.True(parts[4] == "True", $"cycle {cycle}: a finished job left retired keys in use: {line}");
                    state = "between jobs";
                    break;
            }
        }

        return new KillReport(acks, newestKey, state, lines.Count(l => l.StartsWith("progress ", StringComparison.Ordinal)));
    }
}
