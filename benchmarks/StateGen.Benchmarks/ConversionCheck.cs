using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// How long converting a file's change log from the <c>changes</c> collection to segment files takes
/// (<c>-- --changelog-upgrade</c>): <see cref="LiteDbStateStore.UpgradeChangeLogAsync"/> over a file of
/// <see cref="Records"/> change records of about 11 KB (<see cref="Keys"/> keys, so most records are history), beside,
/// in the same round and on a copy of the same file, a raw floor: raw LiteDB reading every change record in sequence
/// order and writing its payload once to a plain file, then one fsync. Each round converts a fresh copy.
/// </summary>
internal static class ConversionCheck
{
    private const int Records = 10_000;
    private const int Keys = 500;
    private const int Rounds = 3;

    public static void Run()
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-conversion-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string prepared = Path.Combine(folder, "prepared.db");
            long bytes = Prepare(prepared);
            Console.WriteLine($"Change-log conversion of {Records:N0} records ({bytes / 1e6:F0} MB database file, {Keys} keys), {Rounds} rounds; load average {MigrationCheck.LoadAverage()}");
            var rows = new List<(double Floor, double Conversion)>();
            for (int round = 0; round < Rounds; round++)
            {
                double floor = TimeFloor(prepared, Path.Combine(folder, $"floor-{round}.db"));
                (double conversion, ChangeLogUpgradeResult result) = TimeConversion(prepared, Path.Combine(folder, $"round-{round}.db"));
                rows.Add((floor, conversion));
                Console.WriteLine($"round {round + 1}: raw floor {floor:F2} s ({Records / floor:N0} records/s), conversion {conversion:F2} s ({Records / conversion:N0} records/s, {conversion / floor:F2}x the floor; {result.ValuesMoved} values moved, {result.RecordsCopied} records, {result.Tombstones} tombstones)");
            }

            double floorMedian = rows.Select(r => r.Floor).Order().ElementAt(Rounds / 2);
            double conversionMedian = rows.Select(r => r.Conversion).Order().ElementAt(Rounds / 2);
            Console.WriteLine($"median: raw floor {floorMedian:F2} s, conversion {conversionMedian:F2} s ({conversionMedian / floorMedian:F2}x), {Records / conversionMedian:N0} records/s");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static long Prepare(string path)
    {
        var text = new StringBuilder("{\"turns\":[");
        for (int i = 0; text.Length < 11_000; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{{\"role\":\"user\",\"text\":\"turn {i} of a conversation about state persistence\"}},");
        }

        byte[] payload = Encoding.UTF8.GetBytes(text.Append("{}]}").ToString());
        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, Durability = StateDurability.Relaxed }))
        {
            for (int i = 0; i < Records; i += 100)
            {
                var batch = Enumerable.Range(i, 100).Select(n => (StateOperation)new StateWrite("agent/bench", "key-" + (n % Keys), "Bench", 1, payload) { CorrelationId = "step-" + (n / 10) }).ToArray();
                store.CommitAsync(batch).AsTask().GetAwaiter().GetResult();
            }
        }

        return new FileInfo(path).Length;
    }

    private static double TimeFloor(string prepared, string copy)
    {
        File.Copy(prepared, copy);
        string output = copy + ".records";
        var clock = Stopwatch.StartNew();
        using (var db = new LiteDatabase(new ConnectionString { Filename = copy, Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal) }))
        using (var file = new FileStream(output, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
        {
            foreach (BsonDocument doc in db.GetCollection("changes").Find(Query.All("_id", Query.Ascending)))
            {
                file.Write(doc["p"].AsBinary);
            }

            file.Flush(flushToDisk: true);
        }

        double seconds = clock.Elapsed.TotalSeconds;
        File.Delete(output);
        File.Delete(copy);
        return seconds;
    }

    private static (double Seconds, ChangeLogUpgradeResult Result) TimeConversion(string prepared, string copy)
    {
        File.Copy(prepared, copy);
        using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = copy });
        var clock = Stopwatch.StartNew();
        var stages = new Dictionary<ChangeLogUpgradeStage, double>();
        var progress = new StageClock(p =>
        {
            if (!stages.ContainsKey(p.Stage))
            {
                stages[p.Stage] = clock.Elapsed.TotalSeconds;
            }
        });
        ChangeLogUpgradeResult result = store.UpgradeChangeLogAsync(progress).AsTask().GetAwaiter().GetResult();
        double total = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  stages: moving values {stages[ChangeLogUpgradeStage.CopyingRecords] - stages[ChangeLogUpgradeStage.MovingValues]:F2} s, copying records {stages[ChangeLogUpgradeStage.Switching] - stages[ChangeLogUpgradeStage.CopyingRecords]:F2} s, switching and reopening {total - stages[ChangeLogUpgradeStage.Switching]:F2} s");
        return (total, result);
    }

    /// <summary>Reports on the converting thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class StageClock(Action<ChangeLogUpgradeProgress> report) : IProgress<ChangeLogUpgradeProgress>
    {
        public void Report(ChangeLogUpgradeProgress value) => report(value);
    }
}
