using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// How long the re-encryption job takes after a rotation, history included (<c>-- --reencrypt-history</c>): a default
/// LiteDB file (segment files, written behind, durable) with <see cref="Records"/> encrypted change records of about
/// 11 KB over <see cref="Keys"/> keys and <see cref="Hooks"/> hook records, the job timed by part, beside, in the same
/// round, its crypto floor (decrypting and encrypting the same envelopes in memory, nothing written). A writer saving one
/// value after another runs beside the job: its slowest save is how long a history step held writers back.
/// </summary>
internal static class ReEncryptionCheck
{
    private const int Records = 10_000;
    private const int Keys = 500;
    private const int Hooks = 2_000;
    private const int Rounds = 3;

    public static void Run()
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-reencrypt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            byte[] payload = Payload();
            Console.WriteLine($"Re-encryption after a rotation: {Records:N0} change records of {payload.Length:N0} B ({Keys} keys), {Hooks:N0} hook records, {Rounds} rounds; load average {MigrationCheck.LoadAverage()}");
            for (int round = 0; round < Rounds; round++)
            {
                RunRound(Path.Combine(folder, $"round-{round}.db"), payload, round + 1);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static byte[] Payload()
    {
        var text = new StringBuilder("{\"turns\":[");
        for (int i = 0; text.Length < 11_000; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{{\"role\":\"user\",\"text\":\"turn {i} of a conversation about state persistence\"}},");
        }

        return Encoding.UTF8.GetBytes(text.Append("{}]}").ToString());
    }

    private static byte[] Key(byte seed) => Enumerable.Range(0, StateKeyRing.KeySizeInBytes).Select(i => (byte)(seed * 31 + i)).ToArray();

    private static void RunRound(string path, byte[] payload, int round)
    {
        using var ring = new StateKeyRing("k1", Key(1));
        var store = new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring));
        try
        {
            for (int i = 0; i < Records; i += 100)
            {
                var batch = Enumerable.Range(i, 100).Select(n => (StateOperation)new StateWrite("agent/bench", "key-" + (n % Keys), "Bench", 1, payload) { CorrelationId = "step-" + (n / 10) }).ToArray();
                store.CommitAsync(batch).AsTask().GetAwaiter().GetResult();
            }

            var hooks = Enumerable.Range(0, Hooks).Select(h => new HookExecutionRecord(0, "audit", "BeforeChange", "agent/bench", "key-" + (h % Keys), "Bench", "Modified", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch, "step-" + h, payload.AsMemory(0, 2_000), payload.AsMemory(0, 2_000), ReadOnlyMemory<byte>.Empty)).ToArray();
            for (int h = 0; h < Hooks; h += 200)
            {
                store.AppendHookExecutionsAsync(hooks[h..(h + 200)]).AsTask().GetAwaiter().GetResult();
            }

            double floor = CryptoFloor(store);
            ring.Rotate("k2", Key(2));

            // The writer beside the job: one durable save after another, each timed.
            using var stop = new CancellationTokenSource();
            var latencies = new List<double>();
            Task writer = Task.Run(async () =>
            {
                var one = Stopwatch.StartNew();
                for (int n = 0; !stop.IsCancellationRequested; n++)
                {
                    one.Restart();
                    await store.WriteAsync(new StateWrite("agent/beside", "key-" + (n % 10), "Bench", 1, payload.AsMemory(0, 1_000)));
                    latencies.Add(one.Elapsed.TotalMilliseconds);
                }
            });

            var clock = Stopwatch.StartNew();
            var parts = new Dictionary<ReEncryptionPart, double>();
            var progress = new PartClock(p => parts[p.Part] = clock.Elapsed.TotalSeconds); // each part's last report: its end
            ReEncryptionResult result = store.ReEncryptAsync(progress).AsTask().GetAwaiter().GetResult();
            double total = clock.Elapsed.TotalSeconds;
            stop.Cancel();
            writer.GetAwaiter().GetResult();

            double entries = parts[ReEncryptionPart.Entries];
            double changes = parts[ReEncryptionPart.ChangeRecords] - entries;
            double hookPart = parts[ReEncryptionPart.HookValues] - entries - changes;
            latencies.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: job {total:F2} s (entries {entries:F2} s: {result.ReEncrypted:N0}; change records {changes:F2} s: {result.ChangeRecordsReEncrypted:N0}, {result.ChangeRecordsReEncrypted / Math.Max(changes, 1e-9):N0}/s; hooks {hookPart:F2} s: {result.HookRecordsReEncrypted:N0}); " +
                $"crypto floor of the history {floor:F2} s ({changes / floor:F2}x for the change records); retired key removable: {result.CanRemoveRetiredKeys}; " +
                $"writer beside: {latencies.Count:N0} saves, median {latencies[latencies.Count / 2]:F2} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:F2} ms, max {latencies[^1]:F1} ms"));
        }
        finally
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Decrypting and encrypting every change record's envelope in memory, as the job does, with nothing written.</summary>
    private static double CryptoFloor(EncryptedStateStore store)
    {
        var inner = (IStateHistoryStore)store.Inner;
        var records = new List<StateChangeRecord>();
        for (long after = 0; ;)
        {
            IReadOnlyList<StateChangeRecord> page = inner.ReadChangesAsync(new StateChangeQuery { AfterSequence = after, Limit = 1_000 }).AsTask().GetAwaiter().GetResult();
            records.AddRange(page);
            if (page.Count < 1_000)
            {
                break;
            }

            after = page[^1].Sequence;
        }

        using var scratch = new StateKeyRing("k1", Key(1));
        scratch.Rotate("k2", Key(2));
        var encryptor = new StateEncryptor(scratch);
        var clock = Stopwatch.StartNew();
        foreach (StateChangeRecord record in records)
        {
            byte[] aad = StateAssociatedData.ForDocument(record.Scope, record.Key, record.TypeName, record.SchemaVersion);
            _ = encryptor.ReEncrypt(record.Payload.Span, aad);
        }

        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Reports on the job's own thread.</summary>
    private sealed class PartClock(Action<ReEncryptionProgress> report) : IProgress<ReEncryptionProgress>
    {
        public void Report(ReEncryptionProgress value) => report(value);
    }
}
