using System;
using System.Collections.Concurrent;
using System.IO;
using System.Text;
using BenchmarkDotNet.Attributes;
using StateGen.Caching;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// A cached read through <see cref="CachingStateStore.GetAsync"/> against a plain <see cref="ConcurrentDictionary{TKey, TValue}"/>
/// lookup of the same 11 KB entry, plus the same read from the LiteDB store with no cache (what a hit saves).
/// The target for the hit path is at most 3x the string-keyed dictionary lookup.
/// </summary>
[MemoryDiagnoser]
[BenchConfig]
public class CacheBenchmarks
{
    private const string Scope = "agent/researcher-1";
    private const string Key = "bench-agent/agent-42";

    private readonly ConcurrentDictionary<string, StoredEntry> _byString = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, string), StoredEntry> _byPair = new();
    private string _folder = null!;
    private string _lookupKey = null!;
    private string _lookupScope = null!;
    private string _lookupPairKey = null!;
    private LiteDbStateStore _liteDb = null!;
    private CachingStateStore _cache = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = BenchFolder.Create();
        byte[] payload = Encoding.UTF8.GetBytes("\"" + new string('x', (11 * 1024) - 2) + "\"");

        _liteDb = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "cache.db"), Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) });
        _cache = CachingStateStore.Create(_liteDb, new CachingStateStoreOptions { MaxEntries = 1000, MaxBytes = 64L * 1024 * 1024 }, ownsInner: false);
        StoredEntry entry = _cache.WriteAsync(new StateWrite(Scope, Key, "json", 1, payload)).AsTask().GetAwaiter().GetResult();
        _byString[Scope + "\u001F" + Key] = entry;
        _byPair[(Scope, Key)] = entry;

        // Lookups use copies of the strings, as keys arriving from callers would be: equal, not the same instances.
        _lookupKey = new string((Scope + "\u001F" + Key).AsSpan());
        _lookupScope = new string(Scope.AsSpan());
        _lookupPairKey = new string(Key.AsSpan());

        if (Cache_GetAsync_hit()?.Payload.Length != payload.Length || _cache.Misses != 0)
        {
            throw new InvalidOperationException("The entry was not served from the cache.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _liteDb.Dispose();
        BenchFolder.Delete(_folder);
    }

    [Benchmark(Baseline = true, Description = "ConcurrentDictionary<string> TryGetValue")]
    public StoredEntry? Dictionary_string_key() => _byString.TryGetValue(_lookupKey, out StoredEntry? entry) ? entry : null;

    [Benchmark(Description = "ConcurrentDictionary<(string, string)> TryGetValue")]
    public StoredEntry? Dictionary_pair_key() => _byPair.TryGetValue((_lookupScope, _lookupPairKey), out StoredEntry? entry) ? entry : null;

    [Benchmark(Description = "CachingStateStore.GetAsync (hit)")]
    public StoredEntry? Cache_GetAsync_hit() => _cache.GetAsync(_lookupScope, _lookupPairKey).GetAwaiter().GetResult();

    [Benchmark(Description = "LiteDbStateStore.GetAsync (no cache)")]
    public StoredEntry? LiteDb_GetAsync() => _liteDb.GetAsync(_lookupScope, _lookupPairKey).GetAwaiter().GetResult();
}
