using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;

namespace StateGen.Benchmarks;

/// <summary>
/// A cross-check for a busy machine, not a replacement for BenchmarkDotNet: runs every benchmark method in short
/// interleaved batches (A, B, C, A, B, C, ...) in one process, so load from other processes hits the candidate and its
/// baseline alike, and prints the median of the per-round ratios. Run with <c>-- --paired</c>;
/// <c>-- --paired-upgrade</c> runs only the upgrade chain, with a breakdown of its cost (<see cref="RunUpgrade"/>).
/// </summary>
internal static class PairedCheck
{
    private const int Rounds = 60;
    private const int WarmupRounds = 10;

    public static void Run()
    {
        var store = new StoreBenchmarks();
        var serializer = new SerializerBenchmarks();
        store.Setup();
        serializer.Setup();
        try
        {
            var ops = new (string Name, int Batch, Action Op)[]
            {
                ("Save: raw LiteDB + STJ", 200, () => store.Save_RawLiteDb()),
                ("Save: raw, read version first", 200, () => store.Save_RawLiteDbWithVersionRead()),
                ("Save: StateGen SaveStateAsync", 200, () => Wait(store.Save_StateGen())),
                ("Load: raw LiteDB + STJ", 200, () => store.Load_RawLiteDb()),
                ("Load: StateGen LoadStateAsync", 200, () => Wait(store.Load_StateGen())),
                ("Serialize: STJ source-gen", 2000, () => serializer.Serialize_Stj()),
                ("Serialize: StateGen WriteState", 2000, () => serializer.Serialize_StateGen()),
                ("Deserialize: STJ source-gen", 2000, () => serializer.Deserialize_Stj()),
                ("Deserialize: StateGen ReadState", 2000, () => serializer.Deserialize_StateGen()),
            };

            Measure(ops, new[] { (1, 0), (2, 0), (2, 1), (4, 3), (6, 5), (8, 7) });
        }
        finally
        {
            store.Cleanup();
            serializer.Cleanup();
        }
    }

    /// <summary>
    /// The runtime pipeline against its floors (<see cref="RuntimeBenchmarks"/>), interleaved: saves with the change log
    /// off and on against serialize + raw upsert, load against raw read + generated reader, hooks on the memory store.
    /// Run with <c>-- --paired-runtime</c>.
    /// </summary>
    public static void RunRuntime()
    {
        var runtime = new RuntimeBenchmarks();
        runtime.Setup();
        try
        {
            var ops = new (string Name, int Batch, Action Op)[]
            {
                ("Save floor: serialize + raw upsert", 100, () => runtime.WriteFloor()),
                ("Save: change log off", 100, () => Wait(runtime.Save_NoChangeLog())),
                ("Save: change log on", 100, () => Wait(runtime.Save_ChangeLog())),
                ("Save: change log in segment files", 100, () => Wait(runtime.Save_SegmentLog())),
                ("Load floor: raw FindById + read", 100, () => runtime.ReadFloor()),
                ("Load: LoadStateAsync (change log on)", 100, () => Wait(runtime.Load_StateGen())),
                ("Load: LoadStateAsync (change log off)", 100, () => Wait(runtime.Load_NoChangeLog())),
                ("Load: LoadStateAsync (segment files)", 100, () => Wait(runtime.Load_SegmentLog())),
                ("Memory store, 0 hooks", 200, () => Wait(runtime.Hooks0())),
                ("Memory store, 1 no-op hook", 200, () => Wait(runtime.Hooks1())),
                ("Memory store, 10 no-op hooks", 200, () => Wait(runtime.Hooks10())),
                ("Channel floor x1000", 20, () => runtime.ChannelFloor()),
                ("Event publish x1000", 20, () => runtime.PublishEvents()),
                ("Save: segment files, written behind", 100, () => Wait(runtime.Save_WriteBehind())),
                ("Load: segment files, written behind", 100, () => Wait(runtime.Load_WriteBehind())),
            };

            Measure(ops, new[] { (1, 0), (2, 0), (3, 0), (13, 0), (5, 4), (6, 4), (7, 4), (14, 4), (9, 8), (10, 9), (12, 11) });
        }
        finally
        {
            runtime.Cleanup();
        }
    }

    /// <summary>Runs one runtime operation in a loop for <paramref name="seconds"/> seconds, for a profiler to sample.</summary>
    public static void LoopRuntime(string operation, int seconds)
    {
        var runtime = new RuntimeBenchmarks();
        runtime.Setup();
        try
        {
            Action op = operation switch
            {
                "save-unlogged" => () => Wait(runtime.Save_NoChangeLog()),
                "save-segmented" => () => Wait(runtime.Save_SegmentLog()),
                "save-behind" => () => Wait(runtime.Save_WriteBehind()),
                "load-segmented" => () => Wait(runtime.Load_SegmentLog()),
                "save-floor" => () => runtime.WriteFloor(),
                _ => throw new ArgumentException($"Unknown operation '{operation}'.", nameof(operation)),
            };
            long count = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                op();
                count++;
            }

            Console.WriteLine($"{operation}: {count} operations in {clock.Elapsed.TotalSeconds:F1} s, {clock.Elapsed.TotalMicroseconds / count:F1} us each");
        }
        finally
        {
            runtime.Cleanup();
        }
    }

    /// <summary>
    /// The upgrade chain for both document sizes (and the 11 KB one with its text written two other ways: through the
    /// default encoder as StateGen writes it, and as plain ASCII) against the JsonNode baseline, plus pieces that split
    /// up its cost:
    /// one step of the chain alone, one tokenizing pass with nothing written, and a prototype of the three steps fused
    /// into one streaming pass (which must give the chain's bytes).
    /// </summary>
    public static void RunUpgrade()
    {
        var ops = new List<(string Name, int Batch, Action Op)>();
        var ratios = new List<(int Candidate, int Baseline)>();
        foreach ((int turns, DocumentText text) in new[] { (5, DocumentText.Relaxed), (50, DocumentText.Relaxed), (50, DocumentText.DefaultEncoder), (50, DocumentText.PlainAscii) })
        {
            var bench = new UpgradeBenchmarks { Turns = turns, Text = text };
            bench.Setup();
            if (!bench.FusedPrototype().AsSpan().SequenceEqual(bench.Upgrade_StateGen()))
            {
                throw new InvalidOperationException("The fused prototype does not give the chain's bytes.");
            }

            string size = $"{turns} turns, {bench.DocumentLength} B{(text == DocumentText.Relaxed ? "" : ", " + text)}";
            int batch = turns == 5 ? 2000 : 400;
            int baseline = ops.Count;
            ops.Add(($"JsonNode parse-edit-write ({size})", batch, () => bench.Upgrade_JsonNode()));
            ops.Add(($"StateGen SchemaUpgrader, 3 steps ({size})", batch, () => bench.Upgrade_StateGen()));
            ops.Add(($"StateGen SchemaUpgrader, 1 step ({size})", batch, () => bench.OneStep_StateGen()));
            ops.Add(($"Tokenize once, no output ({size})", batch, () => bench.TokenizeOnly()));
            ops.Add(($"Fused one-pass prototype ({size})", batch, () => bench.FusedPrototype()));
            for (int i = 1; i <= 4; i++)
            {
                ratios.Add((baseline + i, baseline));
            }
        }

        Measure(ops.ToArray(), ratios.ToArray());
    }

    /// <summary>
    /// Save and load of the 11 KB agent through StateManager over LiteDB, plain and encrypted (AES-256-GCM), in
    /// interleaved batches (<see cref="EncryptionBenchmarks"/>). Run with <c>-- --paired-encryption</c>.
    /// </summary>
    public static void RunEncryption()
    {
        var bench = new EncryptionBenchmarks();
        bench.Setup();
        try
        {
            var ops = new (string Name, int Batch, Action Op)[]
            {
                ("Save, LiteDB (11 KB)", 100, () => Wait(bench.Save_Plain())),
                ("Save, encrypted LiteDB (11 KB)", 100, () => Wait(bench.Save_Encrypted())),
                ("Load, LiteDB (11 KB)", 200, () => Wait(bench.Load_Plain())),
                ("Load, encrypted LiteDB (11 KB)", 200, () => Wait(bench.Load_Encrypted())),
                ("Encrypt alone (11 KB)", 2000, () => bench.Encrypt_Alone()),
                ("Decrypt alone (11 KB)", 2000, () => bench.Decrypt_Alone()),
            };

            Measure(ops, new[] { (1, 0), (3, 2), (4, 0), (5, 2) });
        }
        finally
        {
            bench.Cleanup();
        }
    }

    /// <summary>
    /// Issue #3's serializer set (<see cref="RepresentativeBenchmarks"/>), interleaved: the same methods BenchmarkDotNet
    /// runs, at 5 and 50 turns, with many short rounds so that the ratios are medians of paired measurements (load from
    /// other processes hits a candidate and its baseline alike). Run with <c>-- --paired-representative</c>.
    /// </summary>
    public static void RunRepresentative()
    {
        foreach (int turns in new[] { 5, 50 })
        {
            var bench = new RepresentativeBenchmarks { Turns = turns };
            bench.Setup();
            try
            {
                int batch = turns == 5 ? 400 : 60;
                var ops = new (string Name, int Batch, Action Op)[]
                {
                    ("Serialize: STJ source-gen", batch * 2, () => bench.Serialize_Stj()),
                    ("Serialize: StateGen (scan on)", batch * 2, () => bench.Serialize_StateGen()),
                    ("Serialize: StateGen (scan off)", batch * 2, () => bench.Serialize_StateGenScanOff()),
                    ("Secret scan alone", batch * 2, () => bench.Scan_Alone()),
                    ("Deserialize: STJ source-gen", batch, () => bench.Deserialize_Stj()),
                    ("Deserialize: StateGen", batch, () => bench.Deserialize_StateGen()),
                    ("Round trip: STJ source-gen", batch, () => bench.RoundTrip_Stj()),
                    ("Round trip: StateGen (scan on)", batch, () => bench.RoundTrip_StateGen()),
                };

                Console.WriteLine($"## {turns} turns");
                Measure(ops, new[] { (1, 0), (2, 0), (3, 0), (5, 4), (7, 6) }, rounds: 300);
                Console.WriteLine();
            }
            finally
            {
                bench.Cleanup();
            }
        }
    }

    internal static void Measure((string Name, int Batch, Action Op)[] ops, (int Candidate, int Baseline)[] ratios, int rounds = Rounds)
    {
        var perOp = ops.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < ops.Length; i++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int k = 0; k < ops[i].Batch; k++)
                {
                    ops[i].Op();
                }

                if (round >= WarmupRounds)
                {
                    perOp[i].Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds / ops[i].Batch);
                }
            }
        }

        Console.WriteLine($"Interleaved batches, {rounds - WarmupRounds} measured rounds ({WarmupRounds} warmup rounds dropped).");
        Console.WriteLine();
        Console.WriteLine("| Operation | Median per op | Min per op |");
        Console.WriteLine("|---|---:|---:|");
        for (int i = 0; i < ops.Length; i++)
        {
            Console.WriteLine($"| {ops[i].Name} | {Median(perOp[i]):F2} us | {perOp[i].Min():F2} us |");
        }

        Console.WriteLine();
        Console.WriteLine("| Candidate / baseline | Median of per-round ratios | Middle half of per-round ratios |");
        Console.WriteLine("|---|---:|---:|");
        foreach ((int candidate, int baseline) in ratios)
        {
            List<double> perRound = perOp[candidate].Zip(perOp[baseline], (c, b) => c / b).OrderBy(r => r).ToList();
            double ratio = Median(perRound);
            Console.WriteLine($"| {ops[candidate].Name} / {ops[baseline].Name} | {ratio:F2} | {perRound[perRound.Count / 4]:F2}-{perRound[perRound.Count * 3 / 4]:F2} |");
        }
    }

    private static void Wait(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }

    private static void Wait<T>(ValueTask<T> task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }

    private static double Median(List<double> values)
    {
        double[] sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
