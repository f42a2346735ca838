using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;

namespace StateGen.CrashWriter;

/// <summary>
/// <c>StateGen.CrashWriter reencrypt db-path next-key [part reports ms]</c>: opens an encrypted LiteDB store in the default layout (segment
/// files written behind, segments of 16 KiB) with the ring <c>k1</c> .. <c>k(next-key - 1)</c>
/// (<see cref="ReEncryptWorkload.Ring"/>); a new file is first seeded under <c>k1</c> (480 change records over a dozen
/// segments, 150 hook records). Prints <c>ready</c>, then rotates to the next key and runs the re-encryption job, again
/// and again: <c>key kN</c> before each rotation (so the test knows every key that may be in use), <c>progress part
/// changes-after hooks-after changes-done hooks-done</c> at each report and <c>done ...</c> at the end of a job.
/// Meanwhile a second task writes the keys <c>w0</c> .. <c>w9</c> and prints <c>ack key version n</c> once each write
/// is acknowledged (the value is <see cref="ReEncryptWorkload.WriterValue"/> of <c>n</c>). With <c>part reports ms</c> it
/// kills itself (<see cref="SelfKill"/>) <c>ms</c> after its <c>reports</c>-th progress report of that part (counted over
/// all its jobs; 0: after <c>ready</c>), by its own clock: LiteDbReEncryptProcessKillTests aims its kills so (counting the
/// reports as it read them, a loaded parent aimed late).
/// </summary>
internal static class ReEncryptMode
{
    private static readonly object PrintLock = new();

    public static async Task<int> RunAsync(string[] args)
    {
        string path = args[1];
        int nextKey = int.Parse(args[2], CultureInfo.InvariantCulture);
        Aim? aim = args.Length > 5
            ? new Aim(Enum.Parse<ReEncryptionPart>(args[3]), int.Parse(args[4], CultureInfo.InvariantCulture), new SelfKill(SelfKill.ParsePause(args[5]), new Stopwatch()))
            : null;
        bool fresh = !File.Exists(path);
        StateKeyRing ring = ReEncryptWorkload.Ring(nextKey - 1);
        await using var store = new EncryptedStateStore(
            new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, SegmentLogOptions = new SegmentLogOptions { RollBytes = ReEncryptWorkload.RollBytes } }),
            new StateEncryptor(ring),
            new EncryptedStateStoreOptions { PageSize = ReEncryptWorkload.PageSize });
        if (fresh)
        {
            await SeedAsync(store);
        }

        var numbers = new long[ReEncryptWorkload.WriterKeys];
        for (int k = 0; k < numbers.Length; k++)
        {
            string key = ReEncryptWorkload.WriterKey(k);
            StoredEntry? entry = await store.GetAsync(ReEncryptWorkload.WriterScope, key);
            numbers[k] = entry is null ? 0 : ReEncryptWorkload.WriterNumber(key, entry.Payload.Span);
        }

        Print("ready");
        aim?.Started();
        Task writer = Task.Run(() => WriteForeverAsync(store, numbers, new Random(nextKey)));
        var progress = new LineProgress(aim);
        for (int n = nextKey; ; n++)
        {
            string keyId = ReEncryptWorkload.KeyId(n);
            Print("key " + keyId); // before the rotation: no record is written under a key the test has not been told of
            ring.Rotate(keyId, ReEncryptWorkload.KeyBytes(keyId));
            ReEncryptionResult result = await store.ReEncryptAsync(progress);
            if (result.Failed > 0 || result.HistoryFailed > 0 || writer.IsFaulted)
            {
                await Console.Error.WriteLineAsync($"the job failed: {result.Failed} entries, {result.HistoryFailed} history records: {string.Join("; ", result.Failures)} {writer.Exception}");
                return 2;
            }

            Print(string.Create(CultureInfo.InvariantCulture, $"done {result.ReEncrypted} {result.ChangeRecordsReEncrypted} {result.HookRecordsReEncrypted} {result.CanRemoveRetiredKeys}"));
        }
    }

    /// <summary>Seeds a new file under <c>k1</c>: each seeded key written 4 times (10 a commit), then the hook records.</summary>
    private static async Task SeedAsync(EncryptedStateStore store)
    {
        for (int round = 0; round < ReEncryptWorkload.SeedRounds; round++)
        {
            var batch = new List<StateOperation>();
            for (int i = 0; i < ReEncryptWorkload.SeedKeys; i++)
            {
                batch.Add(new StateWrite(ReEncryptWorkload.SeedScope(i), ReEncryptWorkload.SeedKey(i), "Note", 1, ReEncryptWorkload.SeedValue(i, round)));
                if (batch.Count == 10)
                {
                    await store.CommitAsync(batch);
                    batch.Clear();
                }
            }
        }

        var hooks = new List<HookExecutionRecord>();
        for (int h = 0; h < ReEncryptWorkload.SeedHooks; h++)
        {
            hooks.Add(ReEncryptWorkload.SeedHook(h));
        }

        await store.AppendHookExecutionsAsync(hooks);
    }

    /// <summary>Writes a random writer key after another (a pause of 0-2 ms between), printing each acknowledged write.</summary>
    private static async Task WriteForeverAsync(EncryptedStateStore store, long[] numbers, Random random)
    {
        try
        {
            while (true)
            {
                int k = random.Next(numbers.Length);
                string key = ReEncryptWorkload.WriterKey(k);
                long n = numbers[k] + 1;
                StoredEntry stored = await store.WriteAsync(new StateWrite(ReEncryptWorkload.WriterScope, key, "W", 1, ReEncryptWorkload.WriterValue(key, n)));
                numbers[k] = n;
                Print(string.Create(CultureInfo.InvariantCulture, $"ack {key} {stored.Version} {n}"));
                int pause = random.Next(3);
                if (pause > 0)
                {
                    await Task.Delay(pause);
                }
            }
        }
        catch (Exception ex)
        {
            // Not expected: the test sees the child stop before it is killed, with this on standard error.
            await Console.Error.WriteLineAsync("the writer failed: " + ex);
            Environment.Exit(3);
        }
    }

    /// <summary>Prints a line whole (the writer task and the job print from different threads).</summary>
    private static void Print(string line)
    {
        lock (PrintLock)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }

    /// <summary>Where the kill is aimed: <see cref="Kill"/>'s pause after the <see cref="Reports"/>-th report of <see cref="Part"/>.</summary>
    private sealed record Aim(ReEncryptionPart Part, int Reports, SelfKill Kill)
    {
        private int _seen;

        /// <summary>At <c>ready</c>: starts the clock, and arms the kill if it is aimed at no report.</summary>
        public void Started()
        {
            Kill.Clock.Start();
            if (Reports == 0)
            {
                Kill.Arm();
            }
        }

        /// <summary>After a report is printed: arms the kill at the aimed one.</summary>
        public void Reported(ReEncryptionPart part)
        {
            if (part == Part && ++_seen == Reports)
            {
                Kill.Arm();
            }
        }
    }

    /// <summary>Prints each report on the job's own thread, so the line is out before the next step starts.</summary>
    private sealed class LineProgress(Aim? aim) : IProgress<ReEncryptionProgress>
    {
        public void Report(ReEncryptionProgress value)
        {
            Print(string.Create(
                CultureInfo.InvariantCulture,
                $"progress {value.Part} {value.Checkpoint.ChangesAfter} {value.Checkpoint.HooksAfter} {value.ChangeRecordsReEncrypted} {value.HookRecordsReEncrypted}"));
            aim?.Reported(value.Part);
        }
    }
}
