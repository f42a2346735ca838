using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Backups;

/// <summary>
/// A child process (tests/StateGen.CrashWriter, modes <c>backup</c> and <c>restore</c>) is killed with SIGKILL at random
/// moments: afterwards every listed backup verifies, and the store opens with the state from before the restore or
/// after it, never a mix. Both tests also run for a store whose change log is in segment files: a backup then restores
/// the live store's history up to its position, a killed restore switches history together with the values, and the
/// next restore succeeds whatever the killed one left.
/// </summary>
public sealed class BackupProcessKillTests : IDisposable
{
    private const int Cycles = 12;

    /// <summary>Kills of a segmented restore: cheap (under a second each), and its switch of values and history has narrow windows.</summary>
    private const int SegmentedRestoreCycles = 24;
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public BackupProcessKillTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sigkill_during_backups_never_leaves_an_invalid_backup_listed(bool segmented)
    {
        string path = _dir.File("live.db");
        string folder = _dir.File("backups");
        var random = new Random(3);
        int completed = 0;
        int historiesChecked = 0;
        string[] arguments = segmented ? ["backup", path, folder, "segmented"] : ["backup", path, folder];
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            int backupsBeforeKill = random.Next(0, 3);
            (int lines, _, _) = RunAndKill(arguments, line => line.StartsWith("backup ", StringComparison.Ordinal), backupsBeforeKill, random.Next(0, 400));
            completed += lines;

            var manager = new BackupManager(new BackupManagerOptions { Directory = folder });
            IReadOnlyList<BackupInfo> listed = await manager.ListAsync();
            foreach (BackupInfo backup in listed)
            {
                BackupVerification verification = await manager.VerifyAsync(backup.Id);
                Assert.True(verification.IsValid, $"cycle {cycle}: listed backup {backup.Id} is invalid: {string.Join("; ", verification.Problems)}");
            }

            // Everything the child reported complete is listed.
            Assert.True(listed.Count >= completed, $"cycle {cycle}: {completed} backups were reported complete, {listed.Count} are listed");
            // The killed writer's store opens and reads (what it holds is LiteDbProcessKillTests' concern).
            await using var store = new LiteDbStateStore(path);
            _ = await ReadAllAsync(store);

            // A backup turns LiteDB's automatic checkpoints off while it copies the file; a kill mid-copy must not leave
            // them off (the log would grow without bound): the open turns them back on.
            Assert.Equal(LiteDbStateStore.DefaultCheckpointPages, store.CheckpointThreshold);

            if (segmented)
            {
                // Every third cycle (and the last): the newest listed backup, restored into a new file, holds exactly the
                // live store's change records up to the backup's position, chains and payloads included.
                if (listed.Count > 0 && (cycle % 3 == 2 || cycle == Cycles - 1))
                {
                    BackupInfo newest = listed.MaxBy(b => b.ChangeLogPosition)!;
                    List<string> expected = (await store.ReadChangesAsync(new StateChangeQuery()))
                        .Where(r => r.Sequence <= newest.ChangeLogPosition).Select(DescribeRecord).ToList();
                    Assert.Equal(newest.ChangeLogPosition, expected.Count); // the live log has no hole up to it
                    string check = _dir.File($"check-{cycle}.db");
                    await manager.RestoreAsync(newest.Id, check);
                    await using (var restored = new LiteDbStateStore(check))
                    {
                        Assert.Equal(newest.ChangeLogPosition, restored.ChangeLogPosition);
                        List<string> history = (await restored.ReadChangesAsync(new StateChangeQuery())).Select(DescribeRecord).ToList();
                        Assert.True(expected.SequenceEqual(history), $"cycle {cycle}: backup {newest.Id} (position {newest.ChangeLogPosition}) restores {history.Count} change records, not the live store's {expected.Count} up to its position");
                    }

                    historiesChecked++;
                }
            }
        }

        Assert.True(completed > 0, "no backup completed in any cycle");
        if (segmented)
        {
            // The writes rolled segments while backups copied them.
            int segments = Directory.EnumerateFiles(SegmentLog.FolderFor(path), "*.seg").Count();
            _output.WriteLine($"{completed} backups completed, {segments} segments, histories checked in {historiesChecked} cycles");
            Assert.True(segments > 2, $"the store's log did not roll ({segments} segments)");
            Assert.True(historiesChecked >= 3, $"the restored history was checked in {historiesChecked} cycles only");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sigkill_during_restore_leaves_the_state_from_before_or_after_never_a_mix(bool segmented)
    {
        // State B is in a backup; state A is the store's. Both differ in every key they share, and in their key sets.
        // Segmented: both are stores whose change log is in segment files, and their histories differ too.
        string pathB = _dir.File("b.db");
        string folder = _dir.File("backups");
        var manager = new BackupManager(new BackupManagerOptions { Directory = folder });
        BackupInfo backup;
        SortedDictionary<string, string> stateB;
        List<string> historyB;
        await using (var store = new LiteDbStateStore(Options(pathB, segmented, StateDurability.Relaxed, rollBytes: 16 * 1024)))
        {
            for (int i = 0; i < 3000; i += 500)
            {
                await store.CommitAsync(Enumerable.Range(i, 500).Select(j => (StateOperation)Write("agent/b", "k" + j, j, 200)).ToArray());
            }

            stateB = await ReadAllAsync(store);
            historyB = await HistoryAsync(store);
            backup = await manager.CreateAsync(store);

            // After the backup: not in it, so B's history is the log up to the backup's position.
            await store.WriteAsync(Write("agent/b", "after-backup", 1));
        }

        string master = _dir.File("a-master.db");
        SortedDictionary<string, string> stateA;
        List<string> historyA;
        await using (var store = new LiteDbStateStore(Options(master, segmented, StateDurability.Durable, rollBytes: 4096)))
        {
            await store.CommitAsync(Enumerable.Range(0, 400).Select(j => (StateOperation)Write("agent/b", "k" + (j * 2), -j, 50)).ToArray());
            await store.WriteAsync(Write("agent/a", "only-in-a", 1));
            stateA = await ReadAllAsync(store);
            historyA = await HistoryAsync(store);
        }

        if (segmented)
        {
            Assert.Equal(backup.ChangeLogPosition, historyB.Count);
            Assert.True(Directory.EnumerateFiles(SegmentLog.FolderFor(pathB), "*.seg").Count() > 2);
            Assert.True(Directory.EnumerateFiles(SegmentLog.FolderFor(master), "*.seg").Count() > 2);
            Assert.False(File.Exists(LiteDbStateStore.LogPath(master)) && new FileInfo(LiteDbStateStore.LogPath(master)).Length != 0);
            Assert.NotEqual(historyA, historyB);
        }

        // One restore runs to its end first: its duration spreads the kills over the whole restore.
        string path = _dir.File("live.db");
        ResetToA(master, path, segmented);
        (int completedOnce, _, int duration) = RunAndKill(["restore", path, folder, backup.Id], line => line == "restored", 1, 0);
        Assert.Equal(1, completedOnce);
        var random = new Random(5);
        var outcomes = new List<string>();
        int cycles = segmented ? SegmentedRestoreCycles : Cycles;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            // Back to state A: the data file, and no log left by a child killed while it had the store open.
            ResetToA(master, path, segmented);
            int pause = random.Next(0, duration * 3 / 2);
            (int restored, _, _) = RunAndKill(["restore", path, folder, backup.Id], line => line == "restored", 0, pause);
            bool isA;
            await using (var store = new LiteDbStateStore(path))
            {
                SortedDictionary<string, string> state = await ReadAllAsync(store);
                isA = state.SequenceEqual(stateA);
                bool isB = state.SequenceEqual(stateB);
                Assert.True(isA || isB, $"cycle {cycle}: the store holds {state.Count} entries, neither the state before the restore ({stateA.Count}) nor after it ({stateB.Count})");
                Assert.True(restored == 0 || isB, $"cycle {cycle}: the child reported the restore complete but the store holds the old state");
                if (segmented)
                {
                    // Values and history switch together: A's whole log, or B's up to the backup's position.
                    List<string> history = await HistoryAsync(store);
                    Assert.True(history.SequenceEqual(isA ? historyA : historyB), $"cycle {cycle}: the store holds state {(isA ? "A" : "B")} with {history.Count} change records, not that state's history ({(isA ? historyA : historyB).Count})");
                }
            }

            outcomes.Add(isA ? "before" : "after");
            if (segmented)
            {
                // What the kill left beside the file, for the test's output (kinds, not names).
                IEnumerable<string> left = Directory.EnumerateFileSystemEntries(_dir.Path, Path.GetFileName(path) + ".*")
                    .Select(e => Path.GetFileName(e)[Path.GetFileName(path).Length..])
                    .Select(e => e.StartsWith(".changes-", StringComparison.Ordinal) ? (e.EndsWith(".archive", StringComparison.Ordinal) ? ".changes-*.archive" : ".changes-*")
                        : e.StartsWith(".pre-restore-", StringComparison.Ordinal) ? (e.Contains(".changes", StringComparison.Ordinal) ? ".pre-restore-*.changes*" : ".pre-restore-*") : e)
                    .Where(e => e.Length != 0).Distinct().Order(StringComparer.Ordinal);
                outcomes[^1] += " [" + string.Join(" ", left) + "]";

                // Whatever the killed restore left (its lock file, a temporary file, an extracted log folder or archive
                // that no file names, a safety copy) neither blocks nor spoils the next restore.
                await manager.RestoreAsync(backup.Id, path);
                await using var again = new LiteDbStateStore(path);
                Assert.True((await ReadAllAsync(again)).SequenceEqual(stateB), $"cycle {cycle}: a restore after the killed one does not hold state B");
                Assert.True((await HistoryAsync(again)).SequenceEqual(historyB), $"cycle {cycle}: a restore after the killed one does not hold B's history");

                // And it cleaned them up: the one log folder left is the one the restored file names; no temporary file,
                // lock or archive stays (safety copies and their folders are the user's to delete).
                string[] remaining = Directory.EnumerateFileSystemEntries(_dir.Path, Path.GetFileName(path) + ".*")
                    .Select(Path.GetFileName).Where(e => e != Path.GetFileName(path) && !e!.Contains(".pre-restore-", StringComparison.Ordinal)).ToArray()!;
                Assert.True(remaining.Length == 1 && again.ChangeLogFolder == Path.Combine(_dir.Path, remaining[0]), $"cycle {cycle}: after the next restore, beside the file: {string.Join(", ", remaining)}; its log is {again.ChangeLogFolder}");
            }
        }

        _output.WriteLine($"restore of {duration} ms; outcomes: {string.Join(", ", outcomes)}");
        Assert.Equal(cycles, outcomes.Count);
    }

    private static LiteDbStateStoreOptions Options(string path, bool segmented, StateDurability durability, long rollBytes)
        => new()
        {
            Path = path,
            Durability = durability,
            SegmentChangeLog = segmented,
            SegmentLogOptions = segmented ? new() { RollBytes = rollBytes } : null,
        };

    /// <summary>
    /// Puts state A back at <paramref name="path"/>: deletes everything named after it (the data file, LiteDB's log, log
    /// folders, safety copies, a killed restore's leftovers) and copies the master's data file (and its log folder).
    /// </summary>
    private void ResetToA(string master, string path, bool segmented)
    {
        if (!segmented)
        {
            // As the collection-layout test always did: the data file, and no log left by a killed child.
            File.Delete(LiteDbStateStore.LogPath(path));
            File.Copy(master, path, overwrite: true);
            return;
        }

        foreach (string entry in Directory.EnumerateFileSystemEntries(_dir.Path, Path.GetFileName(path) + "*"))
        {
            if (Directory.Exists(entry))
            {
                Directory.Delete(entry, recursive: true);
            }
            else
            {
                File.Delete(entry);
            }
        }

        File.Copy(master, path);
        string log = SegmentLog.FolderFor(path);
        Directory.CreateDirectory(log);
        foreach (string file in Directory.EnumerateFiles(SegmentLog.FolderFor(master)))
        {
            File.Copy(file, Path.Combine(log, Path.GetFileName(file)));
        }
    }

    private static string DescribeRecord(StateChangeRecord r)
        => string.Join("|", r.Sequence.ToString(CultureInfo.InvariantCulture), r.PreviousSequence.ToString(CultureInfo.InvariantCulture), r.Kind, r.CorrelationId, r.Origin, r.Scope, r.Key)
           + "|" + Describe(new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload));

    private static async Task<List<string>> HistoryAsync(LiteDbStateStore store)
        => (await store.ReadChangesAsync(new StateChangeQuery())).Select(DescribeRecord).ToList();

    /// <summary>
    /// Starts the child, waits for <c>ready</c> and for <paramref name="linesBeforeKill"/> matching lines, pauses, kills
    /// it (SIGKILL on Unix) and returns how many matching lines it printed and how long it ran after <c>ready</c>.
    /// </summary>
    private static (int Lines, string Errors, int RanMs) RunAndKill(string[] arguments, Func<string, bool> counts, int linesBeforeKill, int pauseMs)
    {
        string writer = CrashWriterChild.Path();
        using var ready = new ManualResetEventSlim();
        int lines = 0;
        var errors = new StringBuilder();
        using Process child = CrashWriterChild.Create(writer, arguments);

        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "ready")
            {
                ready.Set();
            }
            else if (e.Data is not null && counts(e.Data))
            {
                Interlocked.Increment(ref lines);
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
        Assert.True(ready.Wait(TimeSpan.FromSeconds(60)) || child.HasExited, "the child did not start");
        var clock = Stopwatch.StartNew();
        SpinWait.SpinUntil(() => Volatile.Read(ref lines) >= linesBeforeKill || child.HasExited, TimeSpan.FromSeconds(60));
        Thread.Sleep(pauseMs);
        if (!child.HasExited)
        {
            child.Kill();
        }

        child.WaitForExit();
        int ran = (int)clock.ElapsedMilliseconds;
        string errorText;
        lock (errors)
        {
            errorText = errors.ToString();
        }

        Assert.True(child.ExitCode is 0 or 137 or -1 || errorText.Trim().Length == 0, $"the child failed: {errorText}");
        return (Volatile.Read(ref lines), errorText, ran);
    }
}
