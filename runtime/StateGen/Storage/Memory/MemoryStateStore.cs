using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage.Memory;

/// <summary>
/// A store that keeps entries in memory, for tests and caches. Nothing survives the process.
/// </summary>
public sealed class MemoryStateStore : IStateStore
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Scope, string Key), StoredEntry> _entries = new();
    private readonly TimeProvider _time;

    /// <summary>Creates an empty store.</summary>
    /// <param name="timeProvider">The clock for <see cref="StoredEntry.UpdatedAt"/>; the system clock by default.</param>
    public MemoryStateStore(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <inheritdoc />
    public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_entries.TryGetValue((scope, key), out StoredEntry? entry) ? entry : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _entries.TryGetValue((write.Scope, write.Key), out StoredEntry? current);
            StoreRules.CheckExpectedVersion(write, current?.Version);
            var entry = new StoredEntry(
                write.Scope,
                write.Key,
                write.TypeName,
                write.SchemaVersion,
                (current?.Version ?? 0) + 1,
                _time.GetUtcNow(),
                write.Payload.ToArray());
            _entries[(write.Scope, write.Key)] = entry;
            return new(entry);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_entries.Remove((scope, key)));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_entries.ContainsKey((scope, key)));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            IReadOnlyList<string> keys = _entries.Keys.Where(k => k.Scope == scope).Select(k => k.Key).OrderBy(k => k, StringComparer.Ordinal).ToArray();
            return new(keys);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => default;
}
