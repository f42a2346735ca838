using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using LiteDB;
using LiteDB.Engine;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using static StateGen.Benchmarks.DurabilityCheck;

namespace StateGen.Benchmarks;

/// <summary>
/// What the per-scope count costs (run with <c>-- --counts</c>): creates, updates and deletes through the store, on a
/// file that keeps counts and on the same kind of file from before counts opened so that it keeps none (the store's
/// own switch for such files), interleaved operation by operation, alternating which goes first. Relaxed durability, so the fsync (the same one for
/// both) does not hide the extra document write; the change log on, as by default.
/// </summary>
internal static class CountCheck
{
    public static void Run()
    {
        int rounds = Env("COUNTS_ROUNDS", 5);
        int keys = Env("COUNTS_KEYS", 300);
        int scopes = Env("COUNTS_SCOPES", 30);
        string folder = Path.Combine(Path.GetTempPath(), "stategen-counts-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        Console.WriteLine($"{Environment.ProcessorCount} cores, {rounds} rounds of {keys} keys in {scopes} scopes");
        try
        {
            using LiteDbStateStore counted = Open(Path.Combine(folder, "counted.db"), uncounted: false);
            using LiteDbStateStore uncounted = Open(Path.Combine(folder, "uncounted.db"), uncounted: true);
            if (!counted.KeepsCounts || uncounted.KeepsCounts)
            {
                throw new InvalidOperationException("the two stores do not differ in keeping counts");
            }

            var results = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            byte[] payload = Encoding.UTF8.GetBytes("{\"text\":\"" + new string('x', 200) + "\"}");
            for (int round = -1; round < rounds; round++)
            {
                var sums = new Dictionary<string, double>(StringComparer.Ordinal);
                foreach (string phase in new[] { "create", "update", "delete" })
                {
                    for (int i = 0; i < keys; i++)
                    {
                        string scope = "agent/a" + (i % scopes).ToString(CultureInfo.InvariantCulture);
                        string key = "k" + i.ToString(CultureInfo.InvariantCulture);
                        // Which store goes first alternates, so neither always pays for the other's leftovers.
                        var pair = new[] { ("counted", counted), ("uncounted", uncounted) };
                        foreach (var (name, store) in i % 2 == 0 ? pair : [pair[1], pair[0]])
                        {
                            double us = Time(1, () =>
                            {
                                if (phase == "delete")
                                {
                                    store.DeleteAsync(scope, key).AsTask().GetAwaiter().GetResult();
                                }
                                else
                                {
                                    store.WriteAsync(new StateWrite(scope, key, "Note", 1, payload)).AsTask().GetAwaiter().GetResult();
                                }
                            });
                            sums[phase + " " + name] = sums.GetValueOrDefault(phase + " " + name) + us;
                        }
                    }
                }

                if (round >= 0)
                {
                    foreach (var (name, sum) in sums)
                    {
                        results.TryAdd(name, []);
                        results[name].Add(sum / keys);
                    }
                }
            }

            foreach (string phase in new[] { "create", "update", "delete" })
            {
                double with = Median(results[phase + " counted"]), without = Median(results[phase + " uncounted"]);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase}: counted {with:F1} us, uncounted {without:F1} us, {with / without:F2}x (medians of {rounds} rounds)"));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A relaxed store; <paramref name="uncounted"/>: a file turned back into the format from before counts, opened without the index walk, so it keeps none.</summary>
    private static LiteDbStateStore Open(string path, bool uncounted)
    {
        if (uncounted)
        {
            new LiteDbStateStore(path).Dispose();
            using var db = new LiteDatabase(new LiteEngine(new EngineSettings
            {
                Filename = path,
                Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
            }));
            db.DropCollection("counts");
            db.UserVersion = DocumentIntegrity.ChecksummedFormat;
        }

        return new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed, WalkIndexOnOpen = !uncounted });
    }
}
