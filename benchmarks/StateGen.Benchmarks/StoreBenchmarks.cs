using System;
using System.Globalization;
using System.IO;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LiteDB;
using StateGen.Storage.LiteDb;
using StjSerializer = System.Text.Json.JsonSerializer;

namespace StateGen.Benchmarks;

/// <summary>
/// Save and load of one <see cref="BenchAgent"/> through <see cref="StateManager"/> over <see cref="LiteDbStateStore"/>,
/// against raw LiteDB calls doing the same work: STJ source-gen bytes in a BsonDocument with the same fields, in a
/// collection with the same index and collation, on its own file opened the same way (direct mode).
/// Each operation overwrites (or reads) the same single entry, which exists before measuring starts.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[BenchConfig]
public class StoreBenchmarks
{
    private const string TypeName = "bench-agent";
    private const int SchemaVersion = 1;

    private string _folder = null!;
    private StateManager _manager = null!;
    private LiteDatabase _rawDb = null!;
    private ILiteCollection<BsonDocument> _raw = null!;
    private BenchAgent _agent = null!;
    private BenchAgent _loadTarget = null!;
    private StateScope _scope;
    private string _rawScope = null!;
    private string _rawKey = null!;
    private string _rawId = null!;
    private long _rawVersion;

    [GlobalSetup]
    public void Setup()
    {
        _folder = BenchFolder.Create();

        _agent = BenchAgent.CreateSample();
        _loadTarget = new BenchAgent { Id = _agent.Id };
        _scope = StateScope.Agent("researcher-1");

        // Relaxed: the raw LiteDB baseline does not flush to the disk either (durable saves: DurabilityCheck, --durability).
        _manager = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = Path.Combine(_folder, "stategen.db"),
            Durability = StateDurability.Relaxed,
            RelaxedFlushInterval = TimeSpan.FromHours(1),
        }));

        (_rawDb, _raw) = BenchFolder.OpenRaw(_folder);
        _rawScope = _scope.Path;
        _rawKey = StateManager.KeyOf(_agent);
        _rawId = _rawScope + '\u001F' + _rawKey;

        // Both stores hold the entry before measuring, so Save is always an update and Load always finds it.
        _agent.SaveStateAsync(_manager, _scope).AsTask().GetAwaiter().GetResult();
        Save_RawLiteDb();
        if (!Load_StateGen().AsTask().GetAwaiter().GetResult() || _loadTarget.History.Count != 20)
        {
            throw new InvalidOperationException("StateGen load did not find the saved entry.");
        }

        if (Load_RawLiteDb().History.Count != 20)
        {
            throw new InvalidOperationException("Raw load did not find the saved entry.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _manager.Dispose();
        _rawDb.Dispose();
        BenchFolder.Delete(_folder);
    }

    [Benchmark(Baseline = true, Description = "raw LiteDB + STJ")]
    [BenchmarkCategory("Save")]
    public bool Save_RawLiteDb()
    {
        byte[] payload = StjSerializer.SerializeToUtf8Bytes(_agent, BenchJsonContext.Default.BenchAgent);
        return _raw.Upsert(new BsonDocument
        {
            ["_id"] = _rawId,
            ["s"] = _rawScope,
            ["k"] = _rawKey,
            ["t"] = TypeName,
            ["sv"] = SchemaVersion,
            ["v"] = ++_rawVersion,
            ["u"] = DateTimeOffset.UtcNow.UtcTicks,
            ["p"] = payload,
        });
    }

    /// <summary>
    /// The baseline plus the read LiteDbStateStore does before every write to number versions (FindById, then
    /// Upsert). Not a baseline: it shows how much of the gap is that read.
    /// </summary>
    [Benchmark(Description = "raw LiteDB + STJ, read version first")]
    [BenchmarkCategory("Save")]
    public bool Save_RawLiteDbWithVersionRead()
    {
        byte[] payload = StjSerializer.SerializeToUtf8Bytes(_agent, BenchJsonContext.Default.BenchAgent);
        BsonDocument? current = _raw.FindById(_rawId);
        long version = (current?["v"].AsInt64 ?? 0) + 1;
        return _raw.Upsert(new BsonDocument
        {
            ["_id"] = _rawId,
            ["s"] = _rawScope,
            ["k"] = _rawKey,
            ["t"] = TypeName,
            ["sv"] = SchemaVersion,
            ["v"] = version,
            ["u"] = DateTimeOffset.UtcNow.UtcTicks,
            ["p"] = payload,
        });
    }

    [Benchmark(Description = "StateGen SaveStateAsync")]
    [BenchmarkCategory("Save")]
    public ValueTask<StateWriteResult> Save_StateGen() => _agent.SaveStateAsync(_manager, _scope);

    [Benchmark(Baseline = true, Description = "raw LiteDB + STJ")]
    [BenchmarkCategory("Load")]
    public BenchAgent Load_RawLiteDb()
    {
        BsonDocument doc = _raw.FindById(_rawId) ?? throw new InvalidOperationException("missing");
        if (doc["t"].AsString != TypeName || doc["sv"].AsInt32 != SchemaVersion)
        {
            throw new InvalidOperationException("type or schema mismatch");
        }

        return StjSerializer.Deserialize(doc["p"].AsBinary, BenchJsonContext.Default.BenchAgent)!;
    }

    [Benchmark(Description = "StateGen LoadStateAsync")]
    [BenchmarkCategory("Load")]
    public ValueTask<bool> Load_StateGen() => _loadTarget.LoadStateAsync(_manager, _scope);
}
