using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage.Memory;

/// <summary>
/// A store that keeps entries, the change log and the hook history in memory, for tests and caches. Nothing survives
/// the process.
/// </summary>
public sealed class MemoryStateStore : IStateStore, IStateHistoryStore, IStateSnapshotSource, IStateKeyUsageRecords, IStateHistoryRewriter
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Scope, string Key), (StoredEntry Entry, long Sequence)> _entries = new();
    private readonly Dictionary<(string Scope, string Key), long> _lastSequence = new();
    private readonly SortedDictionary<long, StateChangeRecord> _changes = new();
    private readonly List<HookExecutionRecord> _hooks = new();
    private readonly TimeProvider _time;
    private long _sequence;
    private long _hookId;
    private readonly Dictionary<string, long> _keyUsage = new(StringComparer.Ordinal); // IStateKeyUsageRecords

    /// <summary>Creates an empty store.</summary>
    /// <param name="timeProvider">The clock for <see cref="StoredEntry.UpdatedAt"/>; the system clock by default.</param>
    /// <param name="recordChanges">Whether to keep a change log (<see cref="IStateHistoryStore"/>).</param>
    public MemoryStateStore(TimeProvider? timeProvider = null, bool recordChanges = true)
    {
        _time = timeProvider ?? TimeProvider.System;
        RecordsChanges = recordChanges;
    }

    /// <inheritdoc />
    public bool RecordsChanges { get; }

    /// <inheritdoc />
    public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_entries.TryGetValue((scope, key), out var found) ? found.Entry : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(Apply([write])[0].Stored!);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(Apply([new StateDelete(scope, key)])[0].Existed);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        StoreRules.CheckBatch(operations, int.MaxValue);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(Apply(operations));
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
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, string keyPrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            IReadOnlyList<string> keys = _entries.Keys
                .Where(k => k.Scope == scope && k.Key.StartsWith(keyPrefix, StringComparison.Ordinal))
                .Select(k => k.Key)
                .OrderBy(k => k, StringComparer.Ordinal)
                .ToArray();
            return new(keys);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            IEnumerable<StoredEntry> entries = _entries.Values.Select(v => v.Entry);
            if (after is StateScanPosition position)
            {
                entries = entries.Where(e => StateScanPosition.Compare(e.Scope, e.Key, position.Scope, position.Key) > 0);
            }

            IReadOnlyList<StoredEntry> page = entries
                .OrderBy(e => e.Scope, StringComparer.Ordinal)
                .ThenBy(e => e.Key, StringComparer.Ordinal)
                .Take(limit)
                .ToArray();
            return new(page);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StateChangeRecord>> ReadChangesAsync(StateChangeQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            IReadOnlyList<StateChangeRecord> found = _changes.Values.Where(r => Matches(r, query)).Take(query.Limit).ToArray();
            return new(found);
        }
    }

    /// <inheritdoc />
    public ValueTask<StateChangeRecord?> ReadChangeAsync(long sequence, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return new(_changes.TryGetValue(sequence, out StateChangeRecord? record) ? record : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> PruneChangesAsync(DateTimeOffset? olderThan, int? keepPerKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var remove = new HashSet<long>();
            if (olderThan is DateTimeOffset limit)
            {
                remove.UnionWith(_changes.Values.Where(r => r.Timestamp < limit).Select(r => r.Sequence));
            }

            if (keepPerKey is int keep)
            {
                foreach (var group in _changes.Values.GroupBy(r => (r.Scope, r.Key)))
                {
                    remove.UnionWith(group.OrderByDescending(r => r.Sequence).Skip(Math.Max(0, keep)).Select(r => r.Sequence));
                }
            }

            // A current entry's own change record is never removed (the LiteDB store keeps the document only there).
            remove.ExceptWith(_entries.Values.Select(v => v.Sequence));
            foreach (long sequence in remove)
            {
                _changes.Remove(sequence);
            }

            return new((long)remove.Count);
        }
    }

    /// <summary>Copies every entry under the store's lock: the copy is the snapshot.</summary>
    T IStateSnapshotSource.ReadSnapshot<T>(Func<StateSnapshotInfo, IEnumerable<SnapshotDocument>, T> reader)
    {
        SnapshotDocument[] documents;
        StateSnapshotInfo info;
        lock (_gate)
        {
            documents = _entries
                .OrderBy(e => e.Key.Scope, StringComparer.Ordinal)
                .ThenBy(e => e.Key.Key, StringComparer.Ordinal)
                .Select(e => _changes.TryGetValue(e.Value.Sequence, out StateChangeRecord? change)
                    ? new SnapshotDocument(e.Value.Entry, change.Sequence, change.PreviousSequence, change.CorrelationId, change.Origin)
                    : new SnapshotDocument(e.Value.Entry, 0, 0, null, null))
                .ToArray();
            info = new StateSnapshotInfo(_sequence, _time.GetUtcNow(), RecordsChanges, documents.Length);
        }

        return reader(info, documents);
    }

    /// <inheritdoc />
    public ValueTask AppendHookExecutionsAsync(IReadOnlyList<HookExecutionRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            foreach (HookExecutionRecord record in records)
            {
                _hooks.Add(record with
                {
                    Id = ++_hookId,
                    OldValue = record.OldValue.ToArray(),
                    NewValue = record.NewValue.ToArray(),
                    ResultValue = record.ResultValue.ToArray(),
                });
            }
        }

        return default;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<HookExecutionRecord>> ReadHookExecutionsAsync(HookExecutionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            IReadOnlyList<HookExecutionRecord> found = _hooks.Where(r =>
                    r.Id > query.AfterId
                    && (query.CorrelationId is null || r.CorrelationId == query.CorrelationId)
                    && (query.HookId is null || r.HookId == query.HookId)
                    && (query.Scope is null || r.Scope == query.Scope)
                    && (query.Key is null || r.Key == query.Key))
                .Take(query.Limit)
                .ToArray();
            return new(found);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> PruneHookExecutionsAsync(DateTimeOffset? olderThan, int? keepNewest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            // Both conditions look at the records as they were: older than the limit, or not among the newest kept.
            int before = _hooks.Count;
            int firstKept = keepNewest is int keep ? Math.Max(0, before - Math.Max(0, keep)) : 0;
            var kept = new List<HookExecutionRecord>(before - firstKept);
            for (int i = firstKept; i < before; i++)
            {
                if (olderThan is not DateTimeOffset limit || _hooks[i].Timestamp >= limit)
                {
                    kept.Add(_hooks[i]);
                }
            }

            _hooks.Clear();
            _hooks.AddRange(kept);
            return new((long)(before - _hooks.Count));
        }
    }

    /// <inheritdoc />
    ValueTask<HistoryRewriteStep> IStateHistoryRewriter.RewriteChangePayloadsAsync(long afterSequence, int maxRecords, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rewrite);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            // All new values first, then the swap: a callback that throws leaves the step unchanged.
            var replaced = new List<StateChangeRecord>();
            long last = afterSequence;
            int offered = 0;
            foreach (StateChangeRecord record in _changes.Values.Where(r => r.Sequence > afterSequence).Take(maxRecords))
            {
                last = record.Sequence;
                if (record.Kind == StateChangeKind.Delete && record.Payload.IsEmpty)
                {
                    continue;
                }

                offered++;
                if (rewrite(record) is ReadOnlyMemory<byte> payload)
                {
                    replaced.Add(record with { Payload = payload.ToArray() });
                }
            }

            foreach (StateChangeRecord record in replaced)
            {
                _changes[record.Sequence] = record;
            }

            return new(new HistoryRewriteStep(last, offered, replaced.Count, !_changes.Keys.Any(s => s > last)));
        }
    }

    /// <inheritdoc />
    ValueTask<HistoryRewriteStep> IStateHistoryRewriter.RewriteHookValuesAsync(long afterId, int maxRecords, Func<HookExecutionRecord, HookValues?> rewrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rewrite);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var replaced = new List<(int Index, HookExecutionRecord Record)>();
            long last = afterId;
            int offered = 0;
            for (int i = 0; i < _hooks.Count && offered < maxRecords; i++)
            {
                HookExecutionRecord record = _hooks[i];
                if (record.Id <= afterId)
                {
                    continue;
                }

                last = record.Id;
                offered++;
                if (rewrite(record) is HookValues values)
                {
                    replaced.Add((i, record with { OldValue = values.OldValue.ToArray(), NewValue = values.NewValue.ToArray(), ResultValue = values.ResultValue.ToArray() }));
                }
            }

            foreach ((int index, HookExecutionRecord record) in replaced)
            {
                _hooks[index] = record;
            }

            return new(new HistoryRewriteStep(last, offered, replaced.Count, !_hooks.Any(r => r.Id > last)));
        }
    }

    /// <inheritdoc />
    ValueTask IStateHistoryRewriter.FlushAsync(CancellationToken cancellationToken) => default;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => default;

    internal static bool Matches(StateChangeRecord r, StateChangeQuery q)
        => r.Sequence > q.AfterSequence
           && (q.Scope is null || r.Scope == q.Scope)
           && (q.Key is null || r.Key == q.Key)
           && (q.CorrelationId is null || r.CorrelationId == q.CorrelationId)
           && (q.Until is not DateTimeOffset until || r.Timestamp <= until)
           && (q.Since is not DateTimeOffset since || r.Timestamp >= since);

    private StateOperationResult[] Apply(IReadOnlyList<StateOperation> operations)
    {
        // Check everything against a working view first, then apply: all or nothing.
        var view = new Dictionary<(string, string), StoredEntry?>();
        StoredEntry? Current((string, string) id) => view.TryGetValue(id, out StoredEntry? e) ? e : _entries.TryGetValue(id, out var f) ? f.Entry : null;

        DateTimeOffset now = _time.GetUtcNow();
        var results = new StateOperationResult[operations.Count];
        var staged = new List<(StateOperation Op, (string, string) Id, StoredEntry? Before, StoredEntry? After)>(operations.Count);
        for (int i = 0; i < operations.Count; i++)
        {
            StateOperation op = operations[i];
            var id = (op.Scope, op.Key);
            StoredEntry? before = Current(id);
            StoreRules.CheckExpectedVersion(op, before?.Version);
            StoredEntry? after = op is StateWrite w
                ? new StoredEntry(w.Scope, w.Key, w.TypeName, w.SchemaVersion, (before?.Version ?? 0) + 1, now, w.Payload.ToArray())
                : null;
            view[id] = after;
            staged.Add((op, id, before, after));
        }

        for (int i = 0; i < staged.Count; i++)
        {
            var (op, id, before, after) = staged[i];
            long sequence = 0;
            if (RecordsChanges && (after is not null || before is not null))
            {
                sequence = ++_sequence;
                _lastSequence.TryGetValue(id, out long previous);
                _changes[sequence] = new StateChangeRecord(
                    sequence,
                    op.Scope,
                    op.Key,
                    after is null ? StateChangeKind.Delete : StateChangeKind.Write,
                    (after ?? before)!.TypeName,
                    (after ?? before)!.SchemaVersion,
                    (after ?? before)!.Version,
                    now,
                    after?.Payload ?? ReadOnlyMemory<byte>.Empty,
                    previous,
                    op.CorrelationId,
                    op.Origin);
                _lastSequence[id] = sequence;
            }

            if (after is null)
            {
                _entries.Remove(id);
            }
            else
            {
                _entries[id] = (after, sequence);
            }

            results[i] = new StateOperationResult(after, before is not null, op.ReturnPrevious ? before : null, sequence, now);
        }

        return results;
    }

    /// <inheritdoc />
    bool IStateKeyUsageRecords.KeyUsageClosed => false; // a memory store is never closed

    /// <inheritdoc />
    long? IStateKeyUsageRecords.ReadKeyUsageReservation(string keyId)
    {
        lock (_gate)
        {
            return _keyUsage.TryGetValue(keyId, out long reserved) ? reserved : null;
        }
    }

    /// <inheritdoc />
    long IStateKeyUsageRecords.WriteKeyUsageReservation(string keyId, long reservation)
    {
        lock (_gate)
        {
            long stored = Math.Max(_keyUsage.GetValueOrDefault(keyId), reservation);
            _keyUsage[keyId] = stored;
            return stored;
        }
    }
}
