using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// Backup, restore and point-in-time replay against a plain file copy of the same database, interleaved in one process
/// (copy, backups per compression, restore; repeated), so load from other processes hits them alike. Run with
/// <c>-- --paired-backup</c>. Throughput is the database file's size over the elapsed time, for the copy and the backup
/// alike; every copy and backup is flushed to the disk.
/// </summary>
internal static class BackupCheck
{
    private const int Documents = 100_000;
    private const int Rounds = 3;
    private const int ReplayChanges = 10_000;
    private static readonly BackupCompression[] Compressions = [BackupCompression.GZip, BackupCompression.Lz4, BackupCompression.Brotli, BackupCompression.None];

    public static void Run() => RunAsync().GetAwaiter().GetResult();

    private static async Task RunAsync()
    {
        string dir = Path.Combine(Path.GetTempPath(), "stategen-backup-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string db = Path.Combine(dir, "store.db");
            var build = Stopwatch.StartNew();
            LiteDbStateStore.BuildRestoredFile(db, 0, Seed(), [], null, default);
            long dbBytes = new FileInfo(db).Length;
            Console.WriteLine($"Store: {Documents:N0} documents, database file {dbBytes / 1e6:F1} MB (built in {build.Elapsed.TotalSeconds:F1} s)");

            var results = new Dictionary<string, List<double>>();
            void Add(string name, double seconds) => (results.TryGetValue(name, out var list) ? list : results[name] = []).Add(seconds);
            var sizes = new Dictionary<BackupCompression, long>();
            for (int round = 0; round < Rounds; round++)
            {
                string copy = Path.Combine(dir, $"copy-{round}.db");
                var sw = Stopwatch.StartNew();
                File.Copy(db, copy);
                using (var f = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite))
                {
                    f.Flush(flushToDisk: true);
                }

                Add("File copy (+fsync)", sw.Elapsed.TotalSeconds);
                File.Delete(copy);

                string? lz4Id = null;
                BackupManager? lz4Manager = null;
                await using (var store = new LiteDbStateStore(db))
                {
                    // The first backup after the store opens counts its entries per type (a read pass beside the copy);
                    // later ones take the counts every commit keeps.
                    var first = new BackupManager(new BackupManagerOptions { Directory = Path.Combine(dir, $"backups-first-{round}"), Compression = BackupCompression.GZip });
                    sw.Restart();
                    BackupInfo firstBackup = await first.CreateAsync(store);
                    Add("Backup, first after open (GZip)", sw.Elapsed.TotalSeconds);
                    await first.DeleteAsync(firstBackup.Id);

                    foreach (BackupCompression compression in Compressions)
                    {
                        var manager = new BackupManager(new BackupManagerOptions { Directory = Path.Combine(dir, $"backups-{compression}-{round}"), Compression = compression });
                        sw.Restart();
                        BackupInfo backup = await manager.CreateAsync(store);
                        Add($"Backup ({compression})", sw.Elapsed.TotalSeconds);
                        sizes[compression] = backup.SizeBytes;
                        if (compression == BackupCompression.Lz4)
                        {
                            lz4Id = backup.Id;
                            lz4Manager = manager;
                        }
                        else
                        {
                            await manager.DeleteAsync(backup.Id);
                        }
                    }
                }

                // The default compression's backup: restored before and after a verification (a verified backup's
                // restore does not read every entry again), then over a closed copy of the store (safety copy kept).
                string restored = Path.Combine(dir, $"restored-{round}.db");
                sw.Restart();
                await lz4Manager!.RestoreAsync(lz4Id!, restored);
                Add("Restore (Lz4, never verified)", sw.Elapsed.TotalSeconds);
                File.Delete(restored);

                sw.Restart();
                BackupVerification verification = await lz4Manager.VerifyAsync(lz4Id!);
                Add("Verify (Lz4)", sw.Elapsed.TotalSeconds);
                if (!verification.IsValid)
                {
                    throw new InvalidOperationException("the benchmark's backup failed verification");
                }

                sw.Restart();
                BackupRestoreResult fresh = await lz4Manager.RestoreAsync(lz4Id!, restored);
                Add("Restore (Lz4, verified)", sw.Elapsed.TotalSeconds);
                if (fresh.DocumentCount != Documents)
                {
                    throw new InvalidOperationException("the restore did not restore every document");
                }

                File.Delete(restored);
                string target = Path.Combine(dir, $"target-{round}.db");
                File.Copy(db, target);
                sw.Restart();
                BackupRestoreResult over = await lz4Manager.RestoreAsync(lz4Id!, target);
                Add("Restore (Lz4, verified, over store)", sw.Elapsed.TotalSeconds);
                File.Delete(target);
                File.Delete(over.SafetyCopyPath!);
                await lz4Manager.DeleteAsync(lz4Id!);
            }

            double copyMedian = Median(results["File copy (+fsync)"]);
            Console.WriteLine();
            Console.WriteLine($"{"Operation",-36} {"median s",9} {"MB/s",8} {"x copy",7}");
            foreach (var (name, times) in results)
            {
                double median = Median(times);
                Console.WriteLine($"{name,-36} {median,9:F2} {dbBytes / 1e6 / median,8:F1} {copyMedian / median,7:F2}");
            }

            Console.WriteLine();
            foreach (var (compression, bytes) in sizes)
            {
                Console.WriteLine($"Backup size ({compression}): {bytes / 1e6:F1} MB ({(double)bytes / dbBytes:P0} of the database file)");
            }

            await ReplayAsync(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A store of 1,000 documents, a backup, then <see cref="ReplayChanges"/> committed changes; a point-in-time restore to now replays them all.</summary>
    private static async Task ReplayAsync(string dir)
    {
        string db = Path.Combine(dir, "replay.db");
        var manager = new BackupManager(new BackupManagerOptions { Directory = Path.Combine(dir, "replay-backups") });
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = db, Durability = StateDurability.Relaxed }))
        {
            await store.CommitAsync(Enumerable.Range(0, 1000).Select(i => (StateOperation)Write(i, 0)).ToArray());
            await manager.CreateAsync(store);
            for (int n = 0; n < ReplayChanges; n += 1000)
            {
                await store.CommitAsync(Enumerable.Range(n, 1000).Select(i => (StateOperation)Write(i % 1000, i)).ToArray());
            }
        }

        var times = new List<double>();
        for (int round = 0; round < Rounds; round++)
        {
            string copy = Path.Combine(dir, $"replay-{round}.db");
            File.Copy(db, copy);
            var sw = Stopwatch.StartNew();
            BackupRestoreResult result = await manager.RestoreToPointInTimeAsync(copy, DateTimeOffset.UtcNow);
            times.Add(sw.Elapsed.TotalSeconds);
            if (result.ReplayedChanges != ReplayChanges)
            {
                throw new InvalidOperationException($"replayed {result.ReplayedChanges} changes, expected {ReplayChanges}");
            }
        }

        double median = Median(times);
        Console.WriteLine();
        Console.WriteLine($"Point-in-time restore: 1,000-document backup + {ReplayChanges:N0} changes replayed in {median:F2} s (median of {Rounds}): {ReplayChanges / median:N0} changes/s, whole restore included");
    }

    private static StateWrite Write(int key, int n)
        => new("agent/" + (key % 10).ToString(CultureInfo.InvariantCulture), "note-" + key.ToString(CultureInfo.InvariantCulture), "Note", 1, Document(key, n));

    private static byte[] Document(int key, int n)
        => Encoding.UTF8.GetBytes($"{{\"id\":{key},\"n\":{n},\"title\":\"Agent note {key}\",\"tags\":[\"plan\",\"memory\",\"step-{key % 17}\"],\"body\":\"The agent observed item {key} at step {n} and decided to continue with the plan; confidence {key % 100}.\",\"score\":{(key * 7919) % 1000 / 10.0:F1}}}");

    private static IEnumerable<SnapshotDocument> Seed()
    {
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (int i = 0; i < Documents; i++)
        {
            StateWrite w = Write(i, 0);
            yield return new SnapshotDocument(new StoredEntry(w.Scope, w.Key, w.TypeName, w.SchemaVersion, 1, at.AddMilliseconds(i), w.Payload), i + 1, 0, Guid.NewGuid().ToString("N"), "seed");
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
