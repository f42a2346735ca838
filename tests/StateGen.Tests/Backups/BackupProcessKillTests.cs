using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Backups;

/// <summary>
/// A child process (tests/StateGen.CrashWriter, modes <c>backup</c> and <c>restore</c>) is killed with SIGKILL at random
/// moments: afterwards every listed backup verifies, and the store opens with the state from before the restore or
/// after it, never a mix.
/// </summary>
public sealed class BackupProcessKillTests : IDisposable
{
    private const int Cycles = 12;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Sigkill_during_backups_never_leaves_an_invalid_backup_listed()
    {
        string path = _dir.File("live.db");
        string folder = _dir.File("backups");
        var random = new Random(3);
        int completed = 0;
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            int backupsBeforeKill = random.Next(0, 3);
            (int lines, _, _) = RunAndKill(["backup", path, folder], line => line.StartsWith("backup ", StringComparison.Ordinal), backupsBeforeKill, random.Next(0, 400));
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
        }

        Assert.True(completed > 0, "no backup completed in any cycle");
    }

    [Fact]
    public async Task Sigkill_during_restore_leaves_the_state_from_before_or_after_never_a_mix()
    {
        // State B is in a backup; state A is the store's. Both differ in every key they share, and in their key sets.
        string pathB = _dir.File("b.db");
        string folder = _dir.File("backups");
        var manager = new BackupManager(new BackupManagerOptions { Directory = folder });
        BackupInfo backup;
        SortedDictionary<string, string> stateB;
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = pathB, Durability = StateDurability.Relaxed, ChangeLogLayout = LiteDbChangeLogLayout.Collection }))
        {
            for (int i = 0; i < 3000; i += 500)
            {
                await store.CommitAsync(Enumerable.Range(i, 500).Select(j => (StateOperation)Write("agent/b", "k" + j, j, 200)).ToArray());
            }

            stateB = await ReadAllAsync(store);
            backup = await manager.CreateAsync(store);
        }

        string master = _dir.File("a-master.db");
        SortedDictionary<string, string> stateA;
        await using (var store = CollectionLayout.Open(master))
        {
            await store.CommitAsync(Enumerable.Range(0, 400).Select(j => (StateOperation)Write("agent/b", "k" + (j * 2), -j, 50)).ToArray());
            await store.WriteAsync(Write("agent/a", "only-in-a", 1));
            stateA = await ReadAllAsync(store);
        }

        // One restore runs to its end first: its duration spreads the kills over the whole restore.
        string path = _dir.File("live.db");
        File.Copy(master, path, overwrite: true);
        (int completedOnce, _, int duration) = RunAndKill(["restore", path, folder, backup.Id], line => line == "restored", 1, 0);
        Assert.Equal(1, completedOnce);
        var random = new Random(5);
        var outcomes = new List<string>();
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            // Back to state A: the data file, and no log left by a child killed while it had the store open.
            File.Delete(LiteDbStateStore.LogPath(path));
            File.Copy(master, path, overwrite: true);
            int pause = random.Next(0, duration * 3 / 2);
            (int restored, _, _) = RunAndKill(["restore", path, folder, backup.Id], line => line == "restored", 0, pause);
            await using var store = new LiteDbStateStore(path);
            SortedDictionary<string, string> state = await ReadAllAsync(store);
            bool isA = state.SequenceEqual(stateA);
            bool isB = state.SequenceEqual(stateB);
            Assert.True(isA || isB, $"cycle {cycle}: the store holds {state.Count} entries, neither the state before the restore ({stateA.Count}) nor after it ({stateB.Count})");
            Assert.True(restored == 0 || isB, $"cycle {cycle}: the child reported the restore complete but the store holds the old state");
            outcomes.Add(isA ? "before" : "after");
        }

        Assert.Equal(Cycles, outcomes.Count);
    }

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
        using var child = new Process
        {
            StartInfo = new ProcessStartInfo(CrashWriterChild.DotnetHost())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        child.StartInfo.ArgumentList.Add(writer);
        foreach (string argument in arguments)
        {
            child.StartInfo.ArgumentList.Add(argument);
        }

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
