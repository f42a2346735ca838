using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using Microsoft.Win32.SafeHandles;
using StateGen.Storage.LiteDb;
using StjSerializer = System.Text.Json.JsonSerializer;

namespace StateGen.Benchmarks;

/// <summary>
/// Durable saves against their floors, on real files (run with <c>-- --durability</c>): a fsync is milliseconds and
/// depends on the disk, so this is a throughput harness with interleaved rounds, not a BenchmarkDotNet suite.
/// <list type="bullet">
/// <item>One writer: <c>SaveStateAsync</c> on a durable store against serialize + raw LiteDB upsert + one fsync of
/// LiteDB's log (the least a durable LiteDB save can cost), and a relaxed store.</item>
/// <item>32 concurrent writers: a durable store (group commit) against one fsync per write (raw LiteDB, upsert + fsync
/// under one lock), and a relaxed store.</item>
/// </list>
/// </summary>
internal static class DurabilityCheck
{
    private const int Writers = 32;

    public static void Run()
    {
        int rounds = Env("DURABILITY_ROUNDS", 7);
        int singleOps = Env("DURABILITY_SINGLE_OPS", 100);
        int perWriter = Env("DURABILITY_PER_WRITER", 100); // 3,200 saves a round: 640 (the old 20) was ~40 ms for the default store, where one slow fsync or a thread-pool ramp moved the ratio by 10-20 %
        string folder = Path.Combine(Path.GetTempPath(), "stategen-durability-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        if (Environment.GetEnvironmentVariable("DURABILITY_PROFILE") is { Length: > 0 } profiled)
        {
            Profile(folder, profiled, Env("DURABILITY_PROFILE_SECONDS", 20), perWriter);
            return;
        }

        Console.WriteLine($"folder {folder} ({DriveInfo.GetDrives().FirstOrDefault(d => folder.StartsWith(d.Name, StringComparison.Ordinal) && d.Name != "/")?.DriveFormat ?? "root fs"}), {Environment.ProcessorCount} cores, {rounds} rounds");
        try
        {
            // Without the change log, a save is one upsert, as in the raw floor; the logged store shows what the log adds.
            using var durable = new Bench(Path.Combine(folder, "durable.db"), StateDurability.Durable, recordChanges: false);
            using var relaxed = new Bench(Path.Combine(folder, "relaxed.db"), StateDurability.Relaxed, recordChanges: false);
            using var logged = new Bench(Path.Combine(folder, "logged.db"), StateDurability.Durable, recordChanges: true);
            using var behind = new Bench(Path.Combine(folder, "behind.db"), StateDurability.Durable, recordChanges: true, writeBehind: true);
            using var raw = new RawBench(Path.Combine(folder, "raw.db"));

            var single = new Dictionary<string, List<double>> { ["durable"] = [], ["raw+fsync"] = [], ["relaxed"] = [], ["durable+changelog"] = [], ["durable+behind"] = [] };
            var group = new Dictionary<string, List<double>> { ["durable"] = [], ["fsync-per-write"] = [], ["relaxed"] = [], ["durable+behind"] = [] };
            var behindSingleRatio = new List<double>();
            var behindGroupRatio = new List<double>();
            var singleRatio = new List<double>();
            var groupRatio = new List<double>();
            var relaxedSingle = new List<double>();
            var relaxedGroup = new List<double>();
            long commits = 0, flushes = 0, saves = 0, grouped = 0;
            for (int round = -1; round < rounds; round++)
            {
                // Single writer: microseconds per save.
                // Interleaved save by save, so a disk that is slower for a moment slows all of them alike.
                double d = 0, r = 0, x = 0, l = 0, b = 0;
                int loggedWriter = (round + 1) % Writers;
                for (int i = 0; i < singleOps; i++)
                {
                    d += Time(1, () => durable.SaveAsync(0).AsTask().GetAwaiter().GetResult());
                    r += Time(1, () => raw.Save(0, fsync: true));
                    x += Time(1, () => relaxed.SaveAsync(0).AsTask().GetAwaiter().GetResult());
                    l += Time(1, () => logged.SaveAsync(loggedWriter).AsTask().GetAwaiter().GetResult());
                    b += Time(1, () => behind.SaveAsync(loggedWriter).AsTask().GetAwaiter().GetResult());
                }

                b /= singleOps;

                d /= singleOps;
                r /= singleOps;
                x /= singleOps;
                l /= singleOps;

                // 32 writers: saves per second.
                long c0 = durable.Store.CommitCount, f0 = durable.LogSyncs, g0 = durable.Store.GroupedTransactions;
                double gd = Writers * perWriter / (Time(1, () => Concurrent(w => durable.SaveAsync(w).AsTask(), perWriter)) / 1e6);
                long c1 = durable.Store.CommitCount, f1 = durable.LogSyncs, g1 = durable.Store.GroupedTransactions;
                double gr = Writers * perWriter / (Time(1, () => Concurrent(w => { raw.Save(w, fsync: true); return Task.CompletedTask; }, perWriter)) / 1e6);
                double gx = Writers * perWriter / (Time(1, () => Concurrent(w => relaxed.SaveAsync(w).AsTask(), perWriter)) / 1e6);
                double gb = Writers * perWriter / (Time(1, () => Concurrent(w => behind.SaveAsync(w).AsTask(), perWriter)) / 1e6);
                if (round < 0)
                {
                    continue; // warm-up
                }

                single["durable"].Add(d);
                single["raw+fsync"].Add(r);
                single["relaxed"].Add(x);
                single["durable+changelog"].Add(l);
                single["durable+behind"].Add(b);
                group["durable+behind"].Add(gb);
                behindSingleRatio.Add(b / r);
                behindGroupRatio.Add(gb / gr);
                group["durable"].Add(gd);
                group["fsync-per-write"].Add(gr);
                group["relaxed"].Add(gx);
                singleRatio.Add(d / r);
                groupRatio.Add(gd / gr);
                relaxedSingle.Add(d / x);
                relaxedGroup.Add(gx / gd);
                commits += c1 - c0;
                flushes += f1 - f0;
                grouped += g1 - g0;
                saves += Writers * perWriter;
                Console.WriteLine(FormattableString.Invariant($"round {round + 1}: single durable {d:F0} us, raw+fsync {r:F0} us, relaxed {x:F0} us | 32 writers durable {gd:F0}/s, fsync-per-write {gr:F0}/s, relaxed {gx:F0}/s"));
            }

            Console.WriteLine();
            Console.WriteLine("One writer, us per save (median):");
            foreach (var (name, values) in single)
            {
                Console.WriteLine(FormattableString.Invariant($"  {name,-18} {Median(values),10:F0}"));
            }

            Console.WriteLine(FormattableString.Invariant($"  durable / (serialize + raw upsert + fsync): {Median(singleRatio):F2}x (target <= 1.2x)"));
            Console.WriteLine(FormattableString.Invariant($"  durable / relaxed:                        {Median(relaxedSingle):F1}x"));
            Console.WriteLine(FormattableString.Invariant($"  durable+behind / (serialize + raw upsert + fsync): {Median(behindSingleRatio):F2}x (change log on, written behind: the default store)"));
            Console.WriteLine("  (durable, relaxed: RecordChanges = false, one upsert per save like the floor; durable+changelog: change log on, written directly (WriteBehind = false))");
            Console.WriteLine($"{Writers} concurrent writers, saves per second (median):");
            foreach (var (name, values) in group)
            {
                Console.WriteLine(FormattableString.Invariant($"  {name,-18} {Median(values),10:F0}"));
            }

            Console.WriteLine(FormattableString.Invariant($"  durable (group commit) / fsync-per-write: {Median(groupRatio):F1}x (target >= 5x)"));
            Console.WriteLine(FormattableString.Invariant($"  relaxed / durable:                        {Median(relaxedGroup):F1}x"));
            Console.WriteLine(FormattableString.Invariant($"  durable+behind (group commit) / fsync-per-write: {Median(behindGroupRatio):F1}x (change log on, written behind: the default store)"));
            Console.WriteLine(FormattableString.Invariant($"  durable: {saves} saves in {commits} LiteDB transactions ({grouped} shared by several saves, {(double)saves / Math.Max(1, commits):F1} saves each), {flushes} log fsyncs ({(double)saves / Math.Max(1, flushes):F1} saves per fsync)"));
            Checksum(Median(single["relaxed"]));
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A temp folder left behind is harmless.
            }
        }
    }

    /// <summary>
    /// Only the 32 writers on one store (<c>DURABILITY_PROFILE</c> = <c>durable</c>, <c>relaxed</c>, <c>behind</c> (the
    /// default store) or <c>raw</c>), over and over for <c>DURABILITY_PROFILE_SECONDS</c>: a steady load for a profiler
    /// (<c>dotnet-trace collect -- dotnet StateGen.Benchmarks.dll --durability</c>, see docs/benchmarks.md).
    /// </summary>
    private static void Profile(string folder, string which, int seconds, int perWriter)
    {
        try
        {
            string path = Path.Combine(folder, which + ".db");
            using var raw = which == "raw" ? new RawBench(path) : null;
            using var bench = which switch
            {
                "raw" => null,
                "durable" => new Bench(path, StateDurability.Durable, recordChanges: false),
                "relaxed" => new Bench(path, StateDurability.Relaxed, recordChanges: false),
                "behind" => new Bench(path, StateDurability.Durable, recordChanges: true, writeBehind: true),
                _ => throw new ArgumentException($"DURABILITY_PROFILE is durable, relaxed, behind or raw, not '{which}'"),
            };
            Func<int, Task> save = bench is null ? w => { raw!.Save(w, fsync: true); return Task.CompletedTask; } : w => bench.SaveAsync(w).AsTask();
            var total = Stopwatch.StartNew();
            long saved = 0;
            while (total.Elapsed.TotalSeconds < seconds)
            {
                double micros = Time(1, () => Concurrent(save, perWriter));
                saved += Writers * perWriter;
                Console.WriteLine(FormattableString.Invariant($"{which}: {Writers * perWriter / (micros / 1e6):F0} saves/s"));
            }

            Console.WriteLine(FormattableString.Invariant($"{which}: {saved} saves in {total.Elapsed.TotalSeconds:F1} s, {saved / total.Elapsed.TotalSeconds:F0}/s"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// The per-document checksum on the 11 KB document, as a change record carries it: computed once per save (sealing)
    /// and once per load (verifying), against a relaxed save (which includes one).
    /// </summary>
    private static void Checksum(double relaxedSaveMicros)
    {
        byte[] payload = new byte[11 * 1024]; // the hash's cost depends on the length only
        new Random(1).NextBytes(payload);
        var doc = new BsonDocument
        {
            ["_id"] = 1L, ["ski"] = "agent/a\u001Fagent\u001E0000000000000000001", ["ci"] = BsonValue.Null, ["s"] = "agent/a", ["k"] = "agent",
            ["x"] = 1, ["t"] = "BenchAgent", ["sv"] = 1, ["v"] = 1L, ["u"] = 0L, ["p"] = payload, ["ps"] = 0L, ["c"] = BsonValue.Null, ["o"] = BsonValue.Null,
        };
        DocumentIntegrity.Seal(doc);
        var samples = new List<double>();
        for (int round = 0; round < 21; round++)
        {
            samples.Add(Time(2000, () => DocumentIntegrity.Verify(doc, required: true)) / 2000);
        }

        double micros = Median(samples);
        Console.WriteLine(FormattableString.Invariant($"Checksum (XxHash3) of the {payload.Length / 1024.0:F1} KB document with its fields: {micros:F2} us (median of 21 x 2000), once per save and once per load"));
        Console.WriteLine(FormattableString.Invariant($"  = {100 * micros / relaxedSaveMicros:F1} % of a relaxed save ({relaxedSaveMicros:F0} us, which includes it)"));
    }

    private static void Concurrent(Func<int, Task> save, int perWriter)
    {
        Task[] tasks = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < perWriter; i++)
            {
                await save(w).ConfigureAwait(false);
            }
        })).ToArray();
        Task.WaitAll(tasks);
    }

    /// <summary>Microseconds for <paramref name="count"/> calls.</summary>
    internal static double Time(int count, Action action)
    {
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            action();
        }

        return watch.Elapsed.TotalMilliseconds * 1000;
    }

    internal static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    internal static int Env(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value > 0 ? value : fallback;

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(SafeFileHandle fd);

    /// <summary>StateGen: <c>SaveStateAsync</c> of one agent per writer, through a durable or relaxed store.</summary>
    private sealed class Bench : IDisposable
    {
        private readonly StateManager _manager;
        private readonly BenchAgent[] _agents;
        private readonly List<StoreFile> _logs = [];

        public Bench(string path, StateDurability durability, bool recordChanges, bool writeBehind = false)
        {
            Store = new LiteDbStateStore(new LiteDbStateStoreOptions
            {
                Path = path,
                RecordChanges = recordChanges,
                WriteBehind = writeBehind,
                Durability = durability,
                RelaxedFlushInterval = TimeSpan.FromSeconds(1),
                OpenFile = p =>
                {
                    var file = new OsStoreFile(p);
                    if (p == LiteDbStateStore.LogPath(path))
                    {
                        _logs.Add(file);
                    }

                    return file;
                },
            });
            _manager = new StateManager(Store);
            _agents = Enumerable.Range(0, Writers).Select(i =>
            {
                BenchAgent agent = BenchAgent.CreateSample();
                agent.Id = "agent-" + i.ToString(CultureInfo.InvariantCulture);
                return agent;
            }).ToArray();
        }

        public LiteDbStateStore Store { get; }

        public long LogSyncs => _logs.Sum(l => l.SyncCount);

        public ValueTask<StateWriteResult> SaveAsync(int writer) => _agents[writer].SaveStateAsync(_manager, StateScope.Agent("bench"));

        public void Dispose() => _manager.Dispose();
    }

    /// <summary>The floor: serialize, raw LiteDB upsert, then one fsync of LiteDB's log; one lock around all of it.</summary>
    private sealed class RawBench : IDisposable
    {
        private readonly LiteDatabase _db;
        private readonly ILiteCollection<BsonDocument> _raw;
        private readonly SafeFileHandle _log;
        private readonly BenchAgent[] _agents;
        private readonly long[] _versions = new long[Writers];
        private readonly object _gate = new();

        public RawBench(string path)
        {
            _db = new LiteDatabase(new ConnectionString
            {
                Filename = path,
                Connection = ConnectionType.Direct,
                Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
            });
            _raw = _db.GetCollection("state");
            _raw.EnsureIndex("s");
            _agents = Enumerable.Range(0, Writers).Select(i =>
            {
                BenchAgent agent = BenchAgent.CreateSample();
                agent.Id = "agent-" + i.ToString(CultureInfo.InvariantCulture);
                return agent;
            }).ToArray();
            Save(0, fsync: false); // creates the log
            string log = Path.Combine(Path.GetDirectoryName(path)!, Path.GetFileNameWithoutExtension(path) + "-log" + Path.GetExtension(path));
            _log = File.OpenHandle(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }

        public void Save(int writer, bool fsync)
        {
            lock (_gate)
            {
                BenchAgent agent = _agents[writer];
                byte[] payload = StjSerializer.SerializeToUtf8Bytes(agent, BenchJsonContext.Default.BenchAgent);
                _raw.Upsert(new BsonDocument
                {
                    ["_id"] = "agent/bench\u001F" + agent.Id,
                    ["s"] = "agent/bench",
                    ["k"] = agent.Id,
                    ["t"] = "bench-agent",
                    ["sv"] = 1,
                    ["v"] = ++_versions[writer],
                    ["u"] = DateTimeOffset.UtcNow.UtcTicks,
                    ["p"] = payload,
                });
                if (fsync && DurabilityCheck.fsync(_log) != 0)
                {
                    throw new IOException($"fsync failed: {Marshal.GetLastPInvokeError()}");
                }
            }
        }

        public void Dispose()
        {
            _log.Dispose();
            _db.Dispose();
        }
    }
}
