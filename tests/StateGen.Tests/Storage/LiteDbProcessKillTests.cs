using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// A child process (tests/StateGen.CrashWriter) writes through the LiteDB store and prints a ledger of acknowledged
/// writes; it is killed with SIGKILL at random moments, 50 times over one file (STATEGEN_KILL_CYCLES for the long run), and after every kill the file opens and
/// holds every acknowledged write, byte for byte.
/// </summary>
public sealed class LiteDbProcessKillTests : IDisposable
{
    private static readonly int Cycles = ReliabilityRuns.KillCycles;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <param name="segmented">
    /// The file keeps its change log in segment files (preview layout): then every acknowledged write also has its change
    /// record, and no record of a write that was not committed survives the reopen.
    /// </param>
    /// <param name="writeBehind">
    /// Segmented and writing behind: a commit is its records in the log, LiteDB is brought up to date in batches, and the
    /// reopen (not writing behind) replays what LiteDB did not hold yet.
    /// </param>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Sigkill_at_random_moments_loses_no_acknowledged_write_in_any_cycle(bool segmented, bool writeBehind)
    {
        long replayed = 0;
        string writer = CrashWriterChild.Path();

        string path = _dir.File("killed.db");
        var acknowledged = new Dictionary<string, long>(StringComparer.Ordinal);
        var newestRecords = new Dictionary<string, StateChangeRecord>(StringComparer.Ordinal);
        var random = new Random(2025);
        int totalAcks = 0;
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            var ledger = new ConcurrentQueue<string>();
            int acks = 0;
            using var ready = new ManualResetEventSlim();
            var errors = new StringBuilder();
            using Process child = CrashWriterChild.Create(writer, path, cycle % 5 == 4 ? "relaxed" : "durable", cycle.ToString(CultureInfo.InvariantCulture), writeBehind ? "behind" : segmented ? "segmented" : "collection");
            child.OutputDataReceived += (_, e) =>
            {
                if (e.Data == "ready")
                {
                    ready.Set();
                }
                else if (e.Data is not null && e.Data.StartsWith("ack ", StringComparison.Ordinal))
                {
                    ledger.Enqueue(e.Data);
                    Interlocked.Increment(ref acks);
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

            // Killed after a random number of acknowledged calls plus a random pause: mid-commit, mid-flush or between calls.
            bool started = ready.Wait(TimeSpan.FromSeconds(60)) || child.HasExited;
            if (!started)
            {
                child.Kill(); // not left running (and holding the file) past the failed test
                child.WaitForExit();
            }

            Assert.True(started, $"cycle {cycle}: the child did not start within 60 s: {errors}");
            int killAfter = random.Next(0, 60);
            SpinWait.SpinUntil(() => Volatile.Read(ref acks) >= killAfter || child.HasExited, TimeSpan.FromSeconds(60));
            Thread.Sleep(random.Next(0, 15));
            bool exitedOnItsOwn = child.HasExited;
            child.Kill(); // SIGKILL on Unix
            child.WaitForExit(); // also drains the redirected output: every ledger line printed before the kill
            Assert.False(exitedOnItsOwn, $"cycle {cycle}: the child stopped before it was killed: {errors}");

            foreach (string line in ledger)
            {
                string[] parts = line.Split(' ');
                long version = long.Parse(parts[2], CultureInfo.InvariantCulture);
                if (!acknowledged.TryGetValue(parts[1], out long known) || version > known)
                {
                    acknowledged[parts[1]] = version;
                }

                totalAcks++;
            }

            using var store = new LiteDbStateStore(path);
            replayed += store.ReplayedAtOpen;
            foreach (var (key, version) in acknowledged)
            {
                StoredEntry? entry = await store.GetAsync("kill", key);
                Assert.True(entry is not null && entry.Version >= version, $"cycle {cycle}: {key} v{version} was acknowledged, the file has v{entry?.Version}");
                Assert.Equal(StateGen.CrashWriter.CrashPayload.Of(key, entry!.Version), entry.Payload.ToArray());
                if (segmented)
                {
                    // The key's newest record is the stored value's write: nothing lost, nothing appended for a lost commit.
                    // (Only the records since the last cycle are read: the key's chain is walked back to them.)
                    newestRecords.TryGetValue(key, out StateChangeRecord? known);
                    IReadOnlyList<StateChangeRecord> added = await store.ReadChangesAsync(new StateChangeQuery { Scope = "kill", Key = key, AfterSequence = known?.Sequence ?? 0 });
                    StateChangeRecord newest = added.Count > 0 ? added[^1] : known ?? throw new InvalidOperationException($"cycle {cycle}: {key} has no change record");
                    newestRecords[key] = newest;
                    Assert.True(newest.Kind == StateChangeKind.Write && newest.Version == entry.Version, $"cycle {cycle}: {key} is v{entry.Version}, its newest record v{newest.Version}");
                    Assert.Equal(entry.Payload.ToArray(), newest.Payload.ToArray());
                }
            }

            if (segmented)
            {
                Assert.True(Directory.Exists(StateGen.Storage.ChangeLog.SegmentLog.FolderFor(path)), "the file does not keep its log in segments");
            }
        }

        Assert.True(totalAcks >= Cycles, $"only {totalAcks} acknowledged writes in {Cycles} cycles");

        // Writing behind, the reopens replayed commits LiteDB did not hold (else the replay went untested); otherwise none.
        Assert.True(writeBehind ? replayed > Cycles : replayed == 0, $"{replayed} records replayed at the reopens");
    }
}
