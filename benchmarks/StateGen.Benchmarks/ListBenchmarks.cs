using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// A scope's key list (1,000 keys, beside two other scopes of 1,000) and a 100-entry scan page after a position, through
/// <see cref="LiteDbStateStore"/> against raw LiteDB doing the same read with its own range walk (the <c>s</c> index;
/// <c>_id</c> after the position), which a damaged index can make loop forever. The store reads both by guarded steps
/// (one LiteDB query per entry, <c>IndexWalk</c>) and checks the result against the per-scope counts; this measures
/// what that costs. Session 13, issue #6.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[BenchConfig(3)]
public class ListBenchmarks
{
    private const int KeysPerScope = 1_000;
    private static readonly string[] Scopes = ["agent/a", "agent/b", "agent/c"];

    private string _folder = null!;
    private LiteDbStateStore _store = null!;
    private LiteDatabase _rawDb = null!;
    private ILiteCollection<BsonDocument> _raw = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = BenchFolder.Create();
        _store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = Path.Combine(_folder, "stategen.db"),
            Durability = StateDurability.Relaxed,
            RelaxedFlushInterval = TimeSpan.FromHours(1),
        });
        (_rawDb, _raw) = BenchFolder.OpenRaw(_folder);

        byte[] payload = "{\"note\":\"a small value\"}"u8.ToArray();
        foreach (string scope in Scopes)
        {
            var operations = new List<StateOperation>();
            for (int i = 0; i < KeysPerScope; i++)
            {
                string key = "key-" + i.ToString("D5", CultureInfo.InvariantCulture);
                operations.Add(new StateWrite(scope, key, "Note", 1, payload));
                _raw.Insert(new BsonDocument { ["_id"] = scope + '\u001F' + key, ["s"] = scope, ["k"] = key, ["v"] = 1L, ["p"] = payload });
            }

            _store.CommitAsync(operations).AsTask().GetAwaiter().GetResult();
        }

        if (List_StateGen().AsTask().GetAwaiter().GetResult() != KeysPerScope || List_RawLiteDb() != KeysPerScope
            || Scan_StateGen().AsTask().GetAwaiter().GetResult() != 100 || Scan_RawLiteDb() != 100)
        {
            throw new InvalidOperationException("a list or scan read back the wrong number of entries");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.Dispose();
        _rawDb.Dispose();
        BenchFolder.Delete(_folder);
    }

    [Benchmark(Baseline = true, Description = "raw LiteDB, range walk of the s index")]
    [BenchmarkCategory("List 1,000 keys")]
    public int List_RawLiteDb()
        => _raw.Find(BsonExpression.Create("s = @0", Scopes[1])).Select(d => d["k"].AsString).ToList().Count;

    [Benchmark(Description = "StateGen ListKeysAsync (guarded steps)")]
    [BenchmarkCategory("List 1,000 keys")]
    public async ValueTask<int> List_StateGen() => (await _store.ListKeysAsync(Scopes[1])).Count;

    [Benchmark(Baseline = true, Description = "raw LiteDB, range walk of _id")]
    [BenchmarkCategory("Scan page of 100")]
    public int Scan_RawLiteDb()
        => _raw.Find(BsonExpression.Create("_id > @0", Scopes[1] + '\u001F' + "key-00500"), limit: 100).Count();

    [Benchmark(Description = "StateGen ScanAsync (guarded steps)")]
    [BenchmarkCategory("Scan page of 100")]
    public async ValueTask<int> Scan_StateGen() => (await _store.ScanAsync(new StateScanPosition(Scopes[1], "key-00500"), 100)).Count;
}
