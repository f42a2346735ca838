using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;

namespace StateGen.Caching;

/// <summary>
/// An in-memory read cache in front of another store, with write-through persistence: the first read of an entry goes
/// to the inner store and later reads are served from memory; writes, deletes and commits go to the inner store first
/// and change the cache only after they succeed. Size-limited by entries and/or bytes, evicting approximately the least
/// recently used entries (second-chance "clock"). Thread-safe.
/// </summary>
/// <remarks>
/// <para>Create one with <see cref="Create"/>: the result also implements <see cref="IStateHistoryStore"/> exactly when the
/// inner store does (history calls pass through), so a <see cref="StateManager"/> over it behaves as over the inner store.</para>
/// <para>Every write must go through this cache: a change made to the inner store behind its back is not seen until the
/// entry is evicted, <see cref="Invalidate"/>d or <see cref="Clear"/>ed. A failed write (for example a
/// <see cref="StateConcurrencyException"/>) drops the entry, so the next read goes to the store.</para>
/// <para>Cached entries are shared, immutable <see cref="StoredEntry"/> instances: callers must not write through their
/// payload memory.</para>
/// </remarks>
public class CachingStateStore : IStateStore, IDisposable
{
    /// <summary>The bytes counted per entry beyond its payload and text: the entry, node and dictionary objects.</summary>
    public const int EntryOverheadBytes = 160;

    // Write bookkeeping is striped by key hash: a read that missed may fill the cache only when no write of its stripe
    // started or finished while it read from the store. Collisions only make the cache skip a fill.
    private const int StripeCount = 1024;

    private readonly IStateStore _inner;
    private readonly bool _ownsInner;
    private readonly int _maxEntries;
    private readonly long _maxBytes;
    // Two levels, scope then key, both keyed by plain strings: string-keyed dictionaries hash with the runtime's fast
    // non-randomized comparer (switching to randomized hashing if it sees many collisions), which a composite key cannot.
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, Node>> _scopes = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    // Guarded by _gate.
    private readonly Queue<Node> _clock = new();
    private readonly long[] _stamps = new long[StripeCount];
    private readonly int[] _writers = new int[StripeCount];
    private int _count;
    private long _bytes;
    private int _staleInClock;

    private long _hits;
    private long _misses;
    private long _evictions;
    private int _disposed;

    private protected CachingStateStore(IStateStore inner, CachingStateStoreOptions options, bool ownsInner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _inner = inner;
        _ownsInner = ownsInner;
        _maxEntries = options.MaxEntries > 0 ? options.MaxEntries : int.MaxValue;
        _maxBytes = options.MaxBytes > 0 ? options.MaxBytes : long.MaxValue;
    }

    /// <summary>Wraps <paramref name="inner"/> in a read cache.</summary>
    /// <param name="inner">The store that keeps the data.</param>
    /// <param name="options">The size limits (at least one above 0).</param>
    /// <param name="ownsInner">Whether disposing the cache disposes <paramref name="inner"/>.</param>
    /// <returns>The cache; it implements <see cref="IStateHistoryStore"/> when <paramref name="inner"/> does.</returns>
    /// <exception cref="ArgumentException">Neither limit is above 0, or one is negative.</exception>
    public static CachingStateStore Create(IStateStore inner, CachingStateStoreOptions options, bool ownsInner = true)
        => inner is IStateHistoryStore history
            ? new CachingHistoryStateStore(inner, history, options, ownsInner)
            : new CachingStateStore(inner, options, ownsInner);

    /// <summary>The store behind the cache.</summary>
    public IStateStore Inner => _inner;

    /// <summary>Reads served from memory (<see cref="GetAsync"/> calls that found the entry cached).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Reads that went to the inner store.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Entries dropped to stay within the limits.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>How many entries are cached now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>How many bytes the cached entries count for now (see <see cref="CachingStateStoreOptions.MaxBytes"/>).</summary>
    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        // The hit path: one dictionary lookup, no lock, no allocation.
        if (_scopes.TryGetValue(scope, out ConcurrentDictionary<string, Node>? keys) && keys.TryGetValue(key, out Node? node))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!node.Referenced)
            {
                node.Referenced = true; // written only when clear, so hot entries do not bounce a cache line between cores
            }

            Interlocked.Increment(ref _hits);
            return new ValueTask<StoredEntry?>(node.Entry);
        }

        return MissAsync(scope, key, cancellationToken);
    }

    private async ValueTask<StoredEntry?> MissAsync(string scope, string key, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var cacheKey = new CacheKey(scope, key);
        int stripe = StripeOf(cacheKey);
        long stamp;
        lock (_gate)
        {
            stamp = _stamps[stripe];
        }

        Interlocked.Increment(ref _misses);
        StoredEntry? entry = await _inner.GetAsync(scope, key, cancellationToken).ConfigureAwait(false);
        if (entry is not null)
        {
            lock (_gate)
            {
                if (_disposed == 0 && _stamps[stripe] == stamp && _writers[stripe] == 0)
                {
                    Set(cacheKey, entry);
                }
            }
        }

        return entry;
    }

    /// <inheritdoc />
    public async ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        ThrowIfDisposed();
        var key = new CacheKey(write.Scope, write.Key);
        PendingWrite pending = Begin([key]);
        StoredEntry stored;
        try
        {
            stored = await _inner.WriteAsync(write, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            End(pending, null);
            throw;
        }

        End(pending, [stored]);
        return stored;
    }

    /// <inheritdoc />
    public async ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        PendingWrite pending = Begin([new CacheKey(scope, key)]);
        try
        {
            return await _inner.DeleteAsync(scope, key, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            End(pending, null); // deleted, not found or failed: in every case the key is not cached any more
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return TryGetNode(new CacheKey(scope, key), out _) ? new ValueTask<bool>(true) : _inner.ExistsAsync(scope, key, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.ListKeysAsync(scope, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, string keyPrefix, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.ListKeysAsync(scope, keyPrefix, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Scans read the inner store and do not fill the cache (a store-wide scan would evict everything).</remarks>
    public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.ScanAsync(after, limit, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ThrowIfDisposed();
        var keys = new CacheKey[operations.Count];
        for (int i = 0; i < keys.Length; i++)
        {
            StateOperation operation = operations[i] ?? throw new ArgumentException($"Operation {i} of the batch is null.", nameof(operations));
            keys[i] = new CacheKey(operation.Scope, operation.Key);
        }

        PendingWrite pending = Begin(keys);
        IReadOnlyList<StateOperationResult> results;
        try
        {
            results = await _inner.CommitAsync(operations, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            End(pending, null);
            throw;
        }

        var stored = new StoredEntry?[keys.Length];
        for (int i = 0; i < stored.Length && i < results.Count; i++)
        {
            stored[i] = operations[i] is StateWrite ? results[i].Stored : null;
        }

        End(pending, stored);
        return results;
    }

    /// <summary>Drops one entry from the cache (for example after it was changed in the inner store directly).</summary>
    public void Invalidate(string scope, string key)
    {
        var cacheKey = new CacheKey(scope, key);
        lock (_gate)
        {
            _stamps[StripeOf(cacheKey)]++; // a read in flight must not put the old value back
            Remove(cacheKey);
        }
    }

    /// <summary>Drops every entry from the cache.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            for (int i = 0; i < _stamps.Length; i++)
            {
                _stamps[i]++;
            }

            _scopes.Clear();
            _clock.Clear();
            _count = 0;
            _bytes = 0;
            _staleInClock = 0;
        }
    }

    /// <summary>Drops the cache and disposes the inner store when the cache owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (MarkDisposed() && _ownsInner)
        {
            await _inner.DisposeAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Drops the cache and disposes the inner store when the cache owns it.</summary>
    public void Dispose()
    {
        if (MarkDisposed() && _ownsInner)
        {
            if (_inner is IDisposable disposable)
            {
                disposable.Dispose();
            }
            else
            {
                _inner.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        GC.SuppressFinalize(this);
    }

    private bool MarkDisposed()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }

        Clear();
        return true;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private static int StripeOf(CacheKey key) => key.GetHashCode() & (StripeCount - 1);

    /// <summary>Marks the keys' stripes as being written; reads that miss meanwhile do not fill the cache.</summary>
    private PendingWrite Begin(CacheKey[] keys)
    {
        var stripes = new int[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            stripes[i] = StripeOf(keys[i]);
        }

        lock (_gate)
        {
            if (keys.Length == 1)
            {
                _writers[stripes[0]]++;
                return new PendingWrite(keys, stripes, ++_stamps[stripes[0]], null);
            }

            var byStripe = new Dictionary<int, (long Stamp, int Count)>();
            foreach (int stripe in stripes)
            {
                _writers[stripe]++;
                long stamp = ++_stamps[stripe];
                byStripe[stripe] = (stamp, byStripe.TryGetValue(stripe, out var seen) ? seen.Count + 1 : 1);
            }

            return new PendingWrite(keys, stripes, 0, byStripe);
        }
    }

    /// <summary>
    /// Applies what the store did to the cache: <paramref name="stored"/> holds the entry each operation left stored
    /// (null for a delete), or is null when the operation failed (then every key is dropped). An entry is cached only
    /// when its write was the only one of its stripe from start to end, so concurrent writes cannot leave an older
    /// value cached; otherwise the key is dropped and the next read fetches it.
    /// </summary>
    private void End(PendingWrite pending, StoredEntry?[]? stored)
    {
        CacheKey[] keys = pending.Keys;
        bool[]? last = null;
        if (keys.Length > 1 && stored is not null)
        {
            // A key written more than once in one batch: only its last operation counts.
            last = new bool[keys.Length];
            var seen = new HashSet<CacheKey>();
            for (int i = keys.Length - 1; i >= 0; i--)
            {
                last[i] = seen.Add(keys[i]);
            }
        }

        lock (_gate)
        {
            for (int i = 0; i < keys.Length; i++)
            {
                int stripe = pending.Stripes[i];
                (long stamp, int count) = pending.ByStripe is null ? (pending.Stamp, 1) : pending.ByStripe[stripe];
                bool alone = _stamps[stripe] == stamp && _writers[stripe] == count;
                StoredEntry? entry = stored?[i];
                if (entry is not null && alone && _disposed == 0 && (last is null || last[i]))
                {
                    Set(keys[i], entry);
                }
                else
                {
                    Remove(keys[i]);
                }
            }

            foreach (int stripe in pending.Stripes)
            {
                _stamps[stripe]++;
                _writers[stripe]--;
            }
        }
    }

    /// <summary>Caches an entry (under <see cref="_gate"/>), then evicts until within the limits.</summary>
    private void Set(CacheKey key, StoredEntry entry)
    {
        long size = SizeOf(entry);
        if (size > _maxBytes)
        {
            Remove(key);
            return;
        }

        if (TryGetNode(key, out Node? node))
        {
            _bytes += size - node.Size;
            node.Size = size;
            Volatile.Write(ref node.Entry, entry);
        }
        else
        {
            if (!_scopes.TryGetValue(key.Scope, out ConcurrentDictionary<string, Node>? keys))
            {
                keys = new ConcurrentDictionary<string, Node>(concurrencyLevel: 1, capacity: 7, StringComparer.Ordinal); // written under the gate only
                _scopes[key.Scope] = keys;
            }

            node = new Node(key, keys, entry, size);
            keys[key.Key] = node;
            _clock.Enqueue(node);
            _count++;
            _bytes += size;
        }

        EvictOverLimits();
    }

    /// <summary>Second-chance eviction: the hand skips (and clears) entries read since it last passed them.</summary>
    private void EvictOverLimits()
    {
        int budget = 2 * (_clock.Count + 1); // readers may set bits again behind the hand: bound the passes
        while ((_count > _maxEntries || _bytes > _maxBytes) && _clock.Count > 0)
        {
            Node node = _clock.Dequeue();
            if (node.Removed)
            {
                _staleInClock--;
                continue;
            }

            if (node.Referenced && budget-- > 0)
            {
                node.Referenced = false;
                _clock.Enqueue(node);
                continue;
            }

            Remove(node.Key, node, inClock: false);
            _evictions++;
        }
    }

    private void Remove(CacheKey key)
    {
        if (TryGetNode(key, out Node? node))
        {
            Remove(key, node, inClock: true);
        }
    }

    private void Remove(CacheKey key, Node node, bool inClock)
    {
        node.Keys.TryRemove(new KeyValuePair<string, Node>(key.Key, node));
        if (node.Keys.IsEmpty)
        {
            _scopes.TryRemove(new KeyValuePair<string, ConcurrentDictionary<string, Node>>(key.Scope, node.Keys));
        }

        node.Removed = true;
        _count--;
        _bytes -= node.Size;
        if (inClock && ++_staleInClock > 64 && _staleInClock > _count)
        {
            // Removed nodes stay in the clock until the hand passes them; compact when they outnumber live ones.
            int live = _clock.Count;
            for (int i = 0; i < live; i++)
            {
                Node queued = _clock.Dequeue();
                if (!queued.Removed)
                {
                    _clock.Enqueue(queued);
                }
            }

            _staleInClock = 0;
        }
    }

    private static long SizeOf(StoredEntry entry)
        => entry.Payload.Length + (2L * (entry.Scope.Length + entry.Key.Length + entry.TypeName.Length)) + EntryOverheadBytes;

    private readonly record struct PendingWrite(CacheKey[] Keys, int[] Stripes, long Stamp, Dictionary<int, (long Stamp, int Count)>? ByStripe);

    private readonly struct CacheKey(string scope, string key) : IEquatable<CacheKey>
    {
        public readonly string Scope = scope;
        public readonly string Key = key;

        public bool Equals(CacheKey other) => string.Equals(Key, other.Key) && string.Equals(Scope, other.Scope);

        public override bool Equals(object? obj) => obj is CacheKey other && Equals(other);

        public override int GetHashCode() => HashCode.Combine(Scope.GetHashCode(), Key.GetHashCode());
    }

    private bool TryGetNode(CacheKey key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Node? node)
    {
        node = null;
        return _scopes.TryGetValue(key.Scope, out ConcurrentDictionary<string, Node>? keys) && keys.TryGetValue(key.Key, out node);
    }

    private sealed class Node(CacheKey key, ConcurrentDictionary<string, Node> keys, StoredEntry entry, long size)
    {
        public readonly CacheKey Key = key;
        public readonly ConcurrentDictionary<string, Node> Keys = keys; // the scope's dictionary that holds this node
        public StoredEntry Entry = entry; // replaced under the gate, read without it
        public long Size = size;
        public bool Referenced; // set by readers, cleared by the clock hand
        public bool Removed;
    }
}
