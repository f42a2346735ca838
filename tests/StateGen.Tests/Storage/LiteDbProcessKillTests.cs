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

    [Fact]
    public async Task Sigkill_at_random_moments_loses_no_acknowledged_write_in_any_cycle()
    {
        string writer = CrashWriterChild.Path();

        string path = _dir.File("killed.db");
        var acknowledged = new Dictionary<string, long>(StringComparer.Ordinal);
        var random = new Random(2025);
        int totalAcks = 0;
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            var ledger = new ConcurrentQueue<string>();
            int acks = 0;
            using var ready = new ManualResetEventSlim();
            var errors = new StringBuilder();
            using var child = new Process
            {
                StartInfo = new ProcessStartInfo(CrashWriterChild.DotnetHost())
                {
                    ArgumentList = { writer, path, cycle % 5 == 4 ? "relaxed" : "durable", cycle.ToString(CultureInfo.InvariantCulture) },
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                },
            };
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
            Assert.True(ready.Wait(TimeSpan.FromSeconds(60)) || child.HasExited, "the child did not start");
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
            foreach (var (key, version) in acknowledged)
            {
                StoredEntry? entry = await store.GetAsync("kill", key);
                Assert.True(entry is not null && entry.Version >= version, $"cycle {cycle}: {key} v{version} was acknowledged, the file has v{entry?.Version}");
                Assert.Equal(StateGen.CrashWriter.CrashPayload.Of(key, entry!.Version), entry.Payload.ToArray());
            }
        }

        Assert.True(totalAcks >= Cycles, $"only {totalAcks} acknowledged writes in {Cycles} cycles");
    }
}
