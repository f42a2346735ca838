using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Channels;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LiteDB;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Serialization;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;

namespace StateGen.Benchmarks;

/// <summary>
/// The runtime-depth costs against their floors, in one run: a save through the whole pipeline (per-key lock,
/// correlation id, hooks check, change log, event check) against the generated serializer plus a raw LiteDB upsert of
/// the same bytes; a load against raw <c>FindById</c> plus the generated reader; the hook machinery with 0, 1 and 10
/// no-op hooks; and change-event publishing against a bare <see cref="Channel{T}"/> write/read.
/// The document is the benchmark agent with 53 turns (about 11 KB).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[BenchConfig(3)]
public class RuntimeBenchmarks
{
    private const int Events = 1000;

    private string _folder = null!;
    private BenchAgent _agent = null!;
    private BenchAgent _loadTarget = null!;
    private StateScope _scope;
    private StateManager _logged = null!;
    private StateManager _unlogged = null!;
    private StateManager _segmented = null!;
    private StateManager _behind = null!;
    private StateManager _memory0 = null!;
    private StateManager _memory1 = null!;
    private StateManager _memory10 = null!;
    private LiteDatabase _rawDb = null!;
    private ILiteCollection<BsonDocument> _raw = null!;
    private string _rawId = null!;
    private string _rawKey = null!;
    private long _rawVersion;
    private ArrayBufferWriter<byte> _buffer = null!;
    private Utf8JsonWriter _writer = null!;
    private Channel<object> _channel = null!;
    private object _item = null!;
    private StateChangeEvents _events = null!;
    private StateEventSubscription _subscription = null!;
    private byte[] _payload = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = BenchFolder.Create();
        _agent = BenchAgent.CreateSample();
        for (int i = _agent.History.Count; i < 53; i++)
        {
            Turn model = _agent.History[i % 20];
            _agent.History.Add(new Turn { Role = model.Role, Text = model.Text.Replace($" {i % 20}:", $" {i}:", StringComparison.Ordinal), At = model.At.AddMinutes(i) });
        }

        _loadTarget = new BenchAgent { Id = _agent.Id };
        _scope = StateScope.Agent("researcher-1");
        var quiet = new StateManagerOptions { SecretScanning = SecretScanPolicy.RedactAndWarn, RecordHookHistory = false };
        // Relaxed, like the floors measured against (durable saves: DurabilityCheck, --durability).
        _logged = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "logged.db"), ChangeLogLayout = LiteDbChangeLogLayout.Collection, Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) }), quiet);
        _unlogged = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "unlogged.db"), RecordChanges = false, Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) }), quiet);
        _segmented = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "segmented.db"), SegmentChangeLog = true, WriteBehind = false, Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) }), quiet);
        _behind = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "behind.db"), Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) }), quiet);
        _memory0 = new StateManager(new MemoryStateStore(recordChanges: false), quiet);
        _memory1 = new StateManager(new MemoryStateStore(recordChanges: false), quiet);
        _memory10 = new StateManager(new MemoryStateStore(recordChanges: false), quiet);
        _memory1.Hooks.Register(StateHookPoint.BeforeChange, "noop", static _ => StateHookResult.Continue);
        for (int i = 0; i < 10; i++)
        {
            _memory10.Hooks.Register(StateHookPoint.BeforeChange, "noop-" + i.ToString(CultureInfo.InvariantCulture), static _ => StateHookResult.Continue);
        }

        (_rawDb, _raw) = BenchFolder.OpenRaw(_folder);
        _rawKey = StateManager.KeyOf(_agent);
        _rawId = _scope.Path + '\u001F' + _rawKey;
        _buffer = new ArrayBufferWriter<byte>(16384);
        _writer = new Utf8JsonWriter(_buffer, StateJson.WriterOptions);

        foreach (StateManager manager in new[] { _logged, _unlogged, _segmented, _behind, _memory0, _memory1, _memory10 })
        {
            _agent.SaveStateAsync(manager, _scope).AsTask().GetAwaiter().GetResult();
        }

        // The many-keys workload: every agent already saved once in both stores, so each save is an update.
        _manyScopes = Enumerable.Range(0, ManyKeys).Select(i => StateScope.Agent("many-" + i.ToString(CultureInfo.InvariantCulture))).ToArray();
        for (int i = 0; i < ManyKeys; i++)
        {
            _agent.SaveStateAsync(_behind, _manyScopes[i]).AsTask().GetAwaiter().GetResult();
            _agent.SaveStateAsync(_segmented, _manyScopes[i]).AsTask().GetAwaiter().GetResult();
            _next = i;
            WriteFloorManyKeys();
        }

        WriteFloor();
        _payload = _buffer.WrittenSpan.ToArray();
        if (!Load_StateGen().AsTask().GetAwaiter().GetResult() || ReadFloor().History.Count != 53)
        {
            throw new InvalidOperationException("Setup did not store the document.");
        }

        _channel = Channel.CreateBounded<object>(new BoundedChannelOptions(Events) { FullMode = BoundedChannelFullMode.DropOldest });
        _item = new object();
        _events = new StateChangeEvents();
        _subscription = _events.Subscribe(capacity: Events);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (StateManager manager in new[] { _logged, _unlogged, _segmented, _behind, _memory0, _memory1, _memory10 })
        {
            manager.Dispose();
        }

        _rawDb.Dispose();
        BenchFolder.Delete(_folder);
    }

    /// <summary>The write floor: the generated serializer into a reused buffer, then a raw LiteDB upsert of those bytes.</summary>
    [Benchmark(Baseline = true, Description = "floor: generated serialize + raw LiteDB upsert")]
    [BenchmarkCategory("Save")]
    public bool WriteFloor() => UpsertFloor(_scope.Path);

    /// <summary>The floor's work for the agent under <paramref name="scope"/>: serialize into the reused buffer, upsert the bytes.</summary>
    private bool UpsertFloor(string scope)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        ((IPersistentState<BenchAgent>)_agent).WriteState(_writer);
        _writer.Flush();
        return _raw.Upsert(new BsonDocument
        {
            ["_id"] = scope + '\u001F' + _rawKey,
            ["s"] = scope,
            ["k"] = _rawKey,
            ["t"] = "bench-agent",
            ["sv"] = 1,
            ["v"] = ++_rawVersion,
            ["u"] = DateTimeOffset.UtcNow.UtcTicks,
            ["p"] = _buffer.WrittenSpan.ToArray(),
        });
    }

    private const int ManyKeys = 4096;
    private StateScope[] _manyScopes = null!;
    private int _next;

    /// <summary>
    /// The write floor over 4,096 agents saved in turn (each save an update of another key), the workload where a store
    /// written behind pays, every 256 different keys (LiteDbStateStore.MaxPendingKeys), the batched upsert of those documents
    /// inside one of the saves.
    /// </summary>
    [Benchmark(Baseline = true, Description = "floor: generated serialize + raw LiteDB upsert, 4,096 keys in turn")]
    [BenchmarkCategory("Save, 4,096 keys in turn")]
    public bool WriteFloorManyKeys() => UpsertFloor(_manyScopes[_next++ & (ManyKeys - 1)].Path);

    [Benchmark(Description = "SaveStateAsync, 4,096 keys in turn, written behind (default)")]
    [BenchmarkCategory("Save, 4,096 keys in turn")]
    public ValueTask<StateWriteResult> Save_WriteBehindManyKeys() => _agent.SaveStateAsync(_behind, _manyScopes[_next++ & (ManyKeys - 1)]);

    [Benchmark(Description = "SaveStateAsync, 4,096 keys in turn, written directly")]
    [BenchmarkCategory("Save, 4,096 keys in turn")]
    public ValueTask<StateWriteResult> Save_SegmentLogManyKeys() => _agent.SaveStateAsync(_segmented, _manyScopes[_next++ & (ManyKeys - 1)]);

    [Benchmark(Description = "SaveStateAsync, change log off")]
    [BenchmarkCategory("Save")]
    public ValueTask<StateWriteResult> Save_NoChangeLog() => _agent.SaveStateAsync(_unlogged, _scope);

    [Benchmark(Description = "SaveStateAsync, changes collection (files made before session 8)")]
    [BenchmarkCategory("Save")]
    public ValueTask<StateWriteResult> Save_ChangeLog() => _agent.SaveStateAsync(_logged, _scope);

    /// <summary>The change log in segment files beside the database, written directly: one upsert plus one append.</summary>
    [Benchmark(Description = "SaveStateAsync, segment files written directly")]
    [BenchmarkCategory("Save")]
    public ValueTask<StateWriteResult> Save_SegmentLog() => _agent.SaveStateAsync(_segmented, _scope);

    /// <summary>Segment files written behind: the save is an append and an overlay entry; LiteDB is updated in batches.</summary>
    [Benchmark(Description = "SaveStateAsync, segment files written behind (default)")]
    [BenchmarkCategory("Save")]
    public ValueTask<StateWriteResult> Save_WriteBehind() => _agent.SaveStateAsync(_behind, _scope);

    /// <summary>The read floor: raw LiteDB <c>FindById</c>, then the generated reader.</summary>
    [Benchmark(Baseline = true, Description = "floor: raw LiteDB FindById + generated read")]
    [BenchmarkCategory("Load")]
    public BenchAgent ReadFloor()
    {
        BsonDocument doc = _raw.FindById(_rawId) ?? throw new InvalidOperationException("missing");
        var target = new BenchAgent();
        var reader = new Utf8JsonReader(doc["p"].AsBinary);
        reader.Read();
        ((IPersistentState<BenchAgent>)target).ReadState(ref reader);
        return target;
    }

    [Benchmark(Description = "LoadStateAsync")]
    [BenchmarkCategory("Load")]
    public ValueTask<bool> Load_StateGen() => _loadTarget.LoadStateAsync(_logged, _scope);

    /// <summary>A load from the store with the change log off: the payload is inline in the current value's document.</summary>
    [Benchmark(Description = "LoadStateAsync, change log off")]
    [BenchmarkCategory("Load")]
    public ValueTask<bool> Load_NoChangeLog() => _loadTarget.LoadStateAsync(_unlogged, _scope);

    /// <summary>A load from a file whose change log is in segment files: the payload is inline.</summary>
    [Benchmark(Description = "LoadStateAsync, change log in segment files")]
    [BenchmarkCategory("Load")]
    public ValueTask<bool> Load_SegmentLog() => _loadTarget.LoadStateAsync(_segmented, _scope);

    /// <summary>A load from the store written behind (the value is in the overlay or, after a batch, in LiteDB).</summary>
    [Benchmark(Description = "LoadStateAsync, segment files written behind")]
    [BenchmarkCategory("Load")]
    public ValueTask<bool> Load_WriteBehind() => _loadTarget.LoadStateAsync(_behind, _scope);

    /// <summary>The pipeline on the memory store with no hook registered: what the hook points cost when unused.</summary>
    [Benchmark(Baseline = true, Description = "memory store, 0 hooks")]
    [BenchmarkCategory("Hooks")]
    public ValueTask<StateWriteResult> Hooks0() => _agent.SaveStateAsync(_memory0, _scope);

    /// <summary>One no-op before-change hook: adds the old-value read the hook context needs, plus the hook call.</summary>
    [Benchmark(Description = "memory store, 1 no-op hook")]
    [BenchmarkCategory("Hooks")]
    public ValueTask<StateWriteResult> Hooks1() => _agent.SaveStateAsync(_memory1, _scope);

    /// <summary>Ten no-op hooks: (this - 1 hook) / 9 is the cost of each further hook.</summary>
    [Benchmark(Description = "memory store, 10 no-op hooks")]
    [BenchmarkCategory("Hooks")]
    public ValueTask<StateWriteResult> Hooks10() => _agent.SaveStateAsync(_memory10, _scope);

    /// <summary>The event floor: 1,000 writes to a bounded channel and 1,000 reads back.</summary>
    [Benchmark(Baseline = true, Description = "floor: Channel write + read x1000", OperationsPerInvoke = Events)]
    [BenchmarkCategory("Events")]
    public int ChannelFloor()
    {
        int read = 0;
        for (int i = 0; i < Events; i++)
        {
            _channel.Writer.TryWrite(_item);
        }

        while (_channel.Reader.TryRead(out _))
        {
            read++;
        }

        return read;
    }

    /// <summary>1,000 change events built and published to one subscriber, then read by it.</summary>
    [Benchmark(Description = "change event publish + read x1000, 1 subscriber", OperationsPerInvoke = Events)]
    [BenchmarkCategory("Events")]
    public int PublishEvents()
    {
        int read = 0;
        for (int i = 0; i < Events; i++)
        {
            _events.Publish(new StateChangeEvent(StateChangeKind.Write, "agent/researcher-1", "BenchAgent/r1", "bench-agent", 1, i + 1, i, i + 1, DateTimeOffset.UnixEpoch, "corr", "save", _payload, _payload));
        }

        while (_subscription.Reader.TryRead(out _))
        {
            read++;
        }

        return read;
    }
}
