using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;

namespace StateGen.Benchmarks;

/// <summary>
/// A cross-check for a busy machine, not a replacement for BenchmarkDotNet: runs every benchmark method in short
/// interleaved batches (A, B, C, A, B, C, ...) in one process, so load from other processes hits the candidate and its
/// baseline alike, and prints the median of the per-round ratios. Run with <c>-- --paired</c>.
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

            var perOp = ops.Select(_ => new List<double>()).ToArray();
            for (int round = 0; round < Rounds; round++)
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

            Console.WriteLine($"Interleaved batches, {Rounds - WarmupRounds} measured rounds ({WarmupRounds} warmup rounds dropped).");
            Console.WriteLine();
            Console.WriteLine("| Operation | Median per op | Min per op |");
            Console.WriteLine("|---|---:|---:|");
            for (int i = 0; i < ops.Length; i++)
            {
                Console.WriteLine($"| {ops[i].Name} | {Median(perOp[i]):F2} us | {perOp[i].Min():F2} us |");
            }

            Console.WriteLine();
            Console.WriteLine("| Candidate / baseline | Median of per-round ratios |");
            Console.WriteLine("|---|---:|");
            foreach ((int candidate, int baseline) in new[] { (1, 0), (2, 0), (2, 1), (4, 3), (6, 5), (8, 7) })
            {
                double ratio = Median(perOp[candidate].Zip(perOp[baseline], (c, b) => c / b).ToList());
                Console.WriteLine($"| {ops[candidate].Name} / {ops[baseline].Name} | {ratio:F2} |");
            }
        }
        finally
        {
            store.Cleanup();
            serializer.Cleanup();
        }
    }

    private static void Wait(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }

    private static void Wait(ValueTask<bool> task)
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
