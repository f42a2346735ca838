using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiteDB;
using StateGen.Migrations;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// Store-wide migration rate (<c>-- --migration</c>): documents per second of <see cref="MigrationManager.ApplyAsync"/>
/// over a LiteDB store of <see cref="Documents"/> version-1 agent documents going to version 4 (rename, added member,
/// removed member), beside, in the same run and on the same documents:
/// <list type="bullet">
/// <item>the per-document upgrade alone (<see cref="SchemaUpgrader.Upgrade"/>, the schema-versioning benchmark's candidate);</item>
/// <item>a raw floor: raw LiteDB calls reading pages of 100 by id, the same upgrade, and updating them in one transaction per page.</item>
/// </list>
/// The StateGen run also validates every document (reads it into the type), goes through the hooks and events machinery,
/// keeps a rollback journal and, with the change log on (the default), records each change. Both stores run Relaxed.
/// </summary>
internal static class MigrationCheck
{
    private const int Documents = 20_000;
    private const int Rounds = 3;
    private const int BatchSize = 100;

    public static void Run()
    {
        byte[] v1 = CreateV1Document();
        Console.WriteLine($"Store-wide migration of {Documents:N0} documents of {v1.Length:N0} B (v1 -> v4), {Rounds} rounds, batch {BatchSize}; load average {LoadAverage()}");
        var rows = new List<(double Upgrade, double Raw, double Logged, double Unlogged)>();
        for (int round = 0; round < Rounds; round++)
        {
            double upgrade = TimeUpgradeOnly(v1);
            double raw = TimeRaw(v1);
            double logged = TimeStateGen(v1, recordChanges: true);
            double unlogged = TimeStateGen(v1, recordChanges: false);
            rows.Add((upgrade, raw, logged, unlogged));
            Console.WriteLine($"round {round + 1}: upgrade alone {Rate(upgrade)} docs/s ({upgrade * 1e6 / Documents:F1} us/doc), raw LiteDB floor {Rate(raw)} docs/s, StateGen change log on {Rate(logged)} docs/s, off {Rate(unlogged)} docs/s");
        }

        double Median(Func<(double Upgrade, double Raw, double Logged, double Unlogged), double> pick)
            => rows.Select(pick).Order().ElementAt(rows.Count / 2);

        Console.WriteLine($"median: upgrade alone {Rate(Median(r => r.Upgrade))} docs/s; raw floor {Rate(Median(r => r.Raw))} docs/s; StateGen log on {Rate(Median(r => r.Logged))} docs/s ({Median(r => r.Logged) / Median(r => r.Raw):F2}x the floor's time), log off {Rate(Median(r => r.Unlogged))} docs/s ({Median(r => r.Unlogged) / Median(r => r.Raw):F2}x)");
    }

    private static string Rate(double seconds) => (Documents / seconds).ToString("N0", CultureInfo.InvariantCulture);

    internal static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static double TimeUpgradeOnly(byte[] v1)
    {
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < Documents; i++)
        {
            _ = SchemaUpgrader.Upgrade(MigratingAgent.TypeName, 1, 4, v1, MigratingAgent.Steps);
        }

        return stopwatch.Elapsed.TotalSeconds;
    }

    private static double TimeStateGen(byte[] v1, bool recordChanges)
    {
        string folder = NewFolder();
        try
        {
            using var store = new LiteDbStateStore(new LiteDbStateStoreOptions
            {
                Path = Path.Combine(folder, "stategen.db"),
                Durability = StateDurability.Relaxed,
                RelaxedFlushInterval = TimeSpan.FromHours(1),
                RecordChanges = recordChanges,
            });
            using var manager = new StateManager(store);
            for (int start = 0; start < Documents; start += 500)
            {
                var writes = Enumerable.Range(start, Math.Min(500, Documents - start))
                    .Select(i => (StateOperation)new StateWrite("global", Key(i), MigratingAgent.TypeName, 1, v1))
                    .ToArray();
                store.CommitAsync(writes).AsTask().GetAwaiter().GetResult();
            }

            var migrations = new MigrationManager(manager).Register<MigratingAgent>();
            var stopwatch = Stopwatch.StartNew();
            MigrationReport report = migrations.ApplyAsync(new MigrationRequest { AllowDestructive = true, BatchSize = BatchSize }).AsTask().GetAwaiter().GetResult();
            double seconds = stopwatch.Elapsed.TotalSeconds;
            if (report.Migrated != Documents)
            {
                throw new InvalidOperationException($"Migrated {report.Migrated}, expected {Documents}.");
            }

            return seconds;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static double TimeRaw(byte[] v1)
    {
        string folder = NewFolder();
        try
        {
            using var db = new LiteDatabase(new ConnectionString
            {
                Filename = Path.Combine(folder, "raw.db"),
                Connection = ConnectionType.Direct,
                Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
            });
            ILiteCollection<BsonDocument> state = db.GetCollection("state");
            state.EnsureIndex("s");
            for (int start = 0; start < Documents; start += 500)
            {
                state.InsertBulk(Enumerable.Range(start, Math.Min(500, Documents - start)).Select(i => new BsonDocument
                {
                    ["_id"] = "global\u001F" + Key(i),
                    ["s"] = "global",
                    ["k"] = Key(i),
                    ["t"] = MigratingAgent.TypeName,
                    ["sv"] = 1,
                    ["v"] = 1L,
                    ["u"] = DateTimeOffset.UtcNow.UtcTicks,
                    ["p"] = v1,
                }));
            }

            var stopwatch = Stopwatch.StartNew();
            string last = string.Empty;
            int migrated = 0;
            while (true)
            {
                List<BsonDocument> page = state.Find(Query.GT("_id", last), limit: BatchSize).ToList();
                if (page.Count == 0)
                {
                    break;
                }

                db.BeginTrans();
                foreach (BsonDocument doc in page)
                {
                    byte[] upgraded = SchemaUpgrader.Upgrade(MigratingAgent.TypeName, doc["sv"].AsInt32, 4, doc["p"].AsBinary, MigratingAgent.Steps)!;
                    doc["p"] = upgraded;
                    doc["sv"] = 4;
                    doc["v"] = doc["v"].AsInt64 + 1;
                    doc["u"] = DateTimeOffset.UtcNow.UtcTicks;
                    state.Update(doc);
                    migrated++;
                }

                db.Commit();
                last = page[^1]["_id"].AsString;
            }

            double seconds = stopwatch.Elapsed.TotalSeconds;
            if (migrated != Documents)
            {
                throw new InvalidOperationException($"Raw migrated {migrated}, expected {Documents}.");
            }

            return seconds;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Key(int i) => "bench-migrating/" + i.ToString("D6", CultureInfo.InvariantCulture);

    private static string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-migration-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>The benchmark agent's document with the v1-only members: <c>Title</c> (renamed later) and <c>Obsolete</c> (removed later).</summary>
    private static byte[] CreateV1Document()
    {
        var agent = BenchAgent.CreateSample();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            ((IPersistentState<BenchAgent>)agent).WriteState(writer);
        }

        JsonObject document = JsonNode.Parse(buffer.WrittenSpan)!.AsObject();
        document["Title"] = "Survey of state persistence";
        document["Obsolete"] = new JsonObject { ["legacy"] = true, ["notes"] = "kept by version 1 only" };
        return System.Text.Encoding.UTF8.GetBytes(document.ToJsonString());
    }

    /// <summary>
    /// Version 4 of the benchmark agent, written out the way the generator emits a type with a three-step history
    /// (the steps of <see cref="UpgradeBenchmarks"/>); it reads and writes through <see cref="BenchAgent"/>'s generated code.
    /// </summary>
    private sealed class MigratingAgent : IPersistentState<MigratingAgent>
    {
        public const string TypeName = "bench-migrating";

        public static readonly UpgradeStep[] Steps =
        [
            new(1, new Dictionary<string, string> { ["Title"] = "Subject" }, [], [], null),
            new(2, new Dictionary<string, string>(), [], [], static upgrade => upgrade.Set("Priority", 5)),
            new(3, new Dictionary<string, string>(), ["Obsolete"], [], null),
        ];

        private static readonly PersistentStateInfo Info = new(TypeName, 4);

        private readonly BenchAgent _agent = new();

        static PersistentStateInfo IPersistentState<MigratingAgent>.StateInfo => Info;

        static IReadOnlyList<UpgradeStep> IPersistentState<MigratingAgent>.UpgradeSteps => Steps;

        static byte[]? IPersistentState<MigratingAgent>.UpgradeState(int fromVersion, ReadOnlySpan<byte> document)
            => SchemaUpgrader.Upgrade(TypeName, fromVersion, 4, document, Steps);

        static MigratingAgent IPersistentState<MigratingAgent>.CreateState() => new();

        string? IPersistentState<MigratingAgent>.GetStateId() => _agent.Id;

        void IPersistentState<MigratingAgent>.WriteState(Utf8JsonWriter writer) => ((IPersistentState<BenchAgent>)_agent).WriteState(writer);

        void IPersistentState<MigratingAgent>.ReadState(ref Utf8JsonReader reader) => ((IPersistentState<BenchAgent>)_agent).ReadState(ref reader);
    }
}
