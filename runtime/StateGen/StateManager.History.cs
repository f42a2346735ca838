using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.History;
using StateGen.Storage;

namespace StateGen;

/// <summary>Timeline, point-in-time reads, fork, replay and the hook history, read from the store's change log.</summary>
public sealed partial class StateManager
{
    /// <summary>
    /// The ordered changes of a key, a scope or a correlation id, each with its old and new value (the stored form: a
    /// <see cref="SensitiveAttribute"/> member is absent, a marker or a ciphertext) and the top-level members that changed.
    /// </summary>
    /// <exception cref="StateHistoryUnavailableException">The store keeps no change log.</exception>
    public async ValueTask<IReadOnlyList<StateChangeEvent>> GetTimelineAsync(StateTimelineQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        IStateHistoryStore history = RequireHistory();
        if (query.Key is not null && query.Scope is null)
        {
            throw new ArgumentException("A timeline of a key needs its scope.", nameof(query));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query));
        IReadOnlyList<StateChangeRecord> records = await history.ReadChangesAsync(
            new StateChangeQuery
            {
                Scope = query.Scope?.Path,
                Key = query.Key is null ? null : StateKeys.Normalize(query.Key),
                CorrelationId = query.CorrelationId,
                Since = query.Since,
                Until = query.Until,
                Limit = query.Limit,
            },
            cancellationToken).ConfigureAwait(false);

        var known = records.ToDictionary(r => r.Sequence);
        var timeline = new List<StateChangeEvent>(records.Count);
        foreach (StateChangeRecord record in records)
        {
            StateChangeRecord? previous = null;
            bool previousKnown = record.PreviousSequence == 0;
            if (record.PreviousSequence != 0)
            {
                previous = known.TryGetValue(record.PreviousSequence, out StateChangeRecord? cached)
                    ? cached
                    : await history.ReadChangeAsync(record.PreviousSequence, cancellationToken).ConfigureAwait(false);
                previousKnown = previous is not null;
            }

            ReadOnlyMemory<byte>? oldDocument = !previousKnown ? null : previous is { Kind: StateChangeKind.Write } ? previous.Payload : NoDocument;
            long previousVersion = previous is { Kind: StateChangeKind.Write } ? previous.Version : 0;
            timeline.Add(new StateChangeEvent(record.Kind, record.Scope, record.Key, record.TypeName, record.SchemaVersion, record.Version, previousVersion, record.Sequence, record.Timestamp, record.CorrelationId ?? string.Empty, record.Origin ?? string.Empty, record.Kind == StateChangeKind.Write ? record.Payload : NoDocument, oldDocument));
        }

        return timeline;
    }

    /// <summary>The value a key had at <paramref name="time"/> as raw JSON, or <see langword="null"/> when it had none.</summary>
    /// <exception cref="StateHistoryUnavailableException">The kept history does not reach back to <paramref name="time"/>.</exception>
    public async ValueTask<JsonElement?> GetJsonAsOfAsync(StateScope scope, string key, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        StateChangeRecord? record = await RecordAsOfAsync(scope.Path, StateKeys.Normalize(key), time, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }

        using JsonDocument document = JsonDocument.Parse(record.Payload, new JsonDocumentOptions { MaxDepth = _options.MaxDepth });
        return document.RootElement.Clone();
    }

    /// <summary>
    /// The value a key had at <paramref name="time"/>, read (and upgraded, if it was written by an older schema version)
    /// as <typeparamref name="T"/>; <see langword="null"/> when it had none.
    /// </summary>
    /// <exception cref="StateHistoryUnavailableException">The kept history does not reach back to <paramref name="time"/>.</exception>
    public async ValueTask<T?> GetAsOfAsync<T>(StateScope scope, string key, DateTimeOffset time, CancellationToken cancellationToken = default)
        where T : class, IPersistentState<T>
    {
        StateChangeRecord? record = await RecordAsOfAsync(scope.Path, StateKeys.Normalize(key), time, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }

        T value = T.CreateState();
        ReadInto(value, new StoredEntry(record.Scope, record.Key, record.TypeName, record.SchemaVersion, record.Version, record.Timestamp, record.Payload), T.StateInfo);
        return value;
    }

    /// <summary>
    /// Copies every value of <paramref name="source"/> as it was at <paramref name="asOf"/> (now, when
    /// <see langword="null"/>) into the empty scope <paramref name="target"/>, in one atomic commit. The source and its
    /// history are left as they are: time travel without losing anything.
    /// </summary>
    /// <returns>How many values were copied.</returns>
    /// <exception cref="InvalidOperationException">The target scope is not empty, or is the source.</exception>
    /// <exception cref="StateHistoryUnavailableException">The kept history does not reach back to <paramref name="asOf"/>.</exception>
    public async ValueTask<int> ForkAsync(StateScope source, StateScope target, DateTimeOffset? asOf = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (source == target)
        {
            throw new InvalidOperationException("A fork needs a target scope other than its source.");
        }

        if ((await Store.ListKeysAsync(target.Path, cancellationToken).ConfigureAwait(false)).Count != 0)
        {
            throw new InvalidOperationException($"The fork target scope '{target.Path}' is not empty.");
        }

        var items = new List<BatchItem>();
        if (asOf is not DateTimeOffset time)
        {
            foreach (string key in await Store.ListKeysAsync(source.Path, cancellationToken).ConfigureAwait(false))
            {
                if (await Store.GetAsync(source.Path, key, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    items.Add(new BatchItem(new StateWrite(target.Path, key, entry.TypeName, entry.SchemaVersion, entry.Payload, 0), JsonValidator.Instance, null));
                }
            }
        }
        else
        {
            IStateHistoryStore history = RequireHistory();
            IReadOnlyList<StateChangeRecord> records = await history.ReadChangesAsync(new StateChangeQuery { Scope = source.Path }, cancellationToken).ConfigureAwait(false);
            var keys = new SortedSet<string>(records.Select(r => r.Key), StringComparer.Ordinal);
            foreach (string current in await Store.ListKeysAsync(source.Path, cancellationToken).ConfigureAwait(false))
            {
                keys.Add(current);
            }

            foreach (string key in keys)
            {
                StateChangeRecord? record = AsOf(source.Path, key, records.Where(r => r.Key == key).ToList(), time, await Store.ExistsAsync(source.Path, key, cancellationToken).ConfigureAwait(false));
                if (record is not null)
                {
                    items.Add(new BatchItem(new StateWrite(target.Path, key, record.TypeName, record.SchemaVersion, record.Payload, 0), JsonValidator.Instance, null));
                }
            }
        }

        StateBatchResult result = await CommitBatchAsync(items.ToArray(), "fork", cancellationToken).ConfigureAwait(false);
        return result.IsCanceled ? 0 : items.Count;
    }

    /// <summary>
    /// Replays the changes recorded under <paramref name="correlationId"/>, in their original order, against
    /// <paramref name="target"/> (another manager, or this one): as a dry run that reports what would change, or applied
    /// through the target's hooks and events under the same correlation id. One step's failure does not stop the rest.
    /// </summary>
    /// <exception cref="StateHistoryUnavailableException">This manager's store keeps no change log.</exception>
    public async ValueTask<StateReplayResult> ReplayAsync(string correlationId, StateManager target, bool dryRun, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        StateCorrelation.Validate(correlationId);
        IStateHistoryStore history = RequireHistory();
        IReadOnlyList<StateChangeRecord> records = await history.ReadChangesAsync(new StateChangeQuery { CorrelationId = correlationId }, cancellationToken).ConfigureAwait(false);
        var steps = new List<StateReplayStep>(records.Count);
        using (StateCorrelation.Begin(correlationId))
        {
            foreach (StateChangeRecord record in records)
            {
                try
                {
                    StoredEntry? current = await target.Store.GetAsync(record.Scope, record.Key, cancellationToken).ConfigureAwait(false);
                    bool unchanged = record.Kind == StateChangeKind.Delete
                        ? current is null
                        : current is not null && current.TypeName == record.TypeName && current.SchemaVersion == record.SchemaVersion && current.Payload.Span.SequenceEqual(record.Payload.Span);
                    if (unchanged || dryRun)
                    {
                        steps.Add(new StateReplayStep(record.Sequence, record.Scope, record.Key, record.Kind, unchanged ? StateReplayOutcome.Unchanged : StateReplayOutcome.WouldApply, current?.Version ?? 0));
                        continue;
                    }

                    StateWriteResult applied = record.Kind == StateChangeKind.Write
                        ? await target.WriteCoreAsync(new StateWrite(record.Scope, record.Key, record.TypeName, record.SchemaVersion, record.Payload), "replay", JsonValidator.Instance, null, global::StateGen.Hooks.StateHookPoint.BeforeChange, cancellationToken).ConfigureAwait(false)
                        : await target.DeleteCoreAsync(record.Scope, record.Key, null, "replay", cancellationToken).ConfigureAwait(false);
                    steps.Add(new StateReplayStep(record.Sequence, record.Scope, record.Key, record.Kind, applied.IsCanceled ? StateReplayOutcome.Canceled : StateReplayOutcome.Applied, applied.Version));
                }
                catch (StateGenException ex)
                {
                    steps.Add(new StateReplayStep(record.Sequence, record.Scope, record.Key, record.Kind, StateReplayOutcome.Failed, 0, ex.GetType().Name));
                }
            }
        }

        return new StateReplayResult(correlationId, dryRun, steps);
    }

    /// <summary>The persisted hook executions that match, in the order they ran.</summary>
    /// <exception cref="StateHistoryUnavailableException">The store keeps no history.</exception>
    public ValueTask<IReadOnlyList<HookExecutionRecord>> GetHookHistoryAsync(HookExecutionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ThrowIfDisposed();
        if (_history is null)
        {
            throw new StateHistoryUnavailableException("The store keeps no hook history (it does not implement IStateHistoryStore).");
        }

        return _history.ReadHookExecutionsAsync(query, cancellationToken);
    }

    /// <summary>Removes history older or beyond what <paramref name="retention"/> keeps.</summary>
    public async ValueTask<StateHistoryPruneResult> PruneHistoryAsync(StateHistoryRetention retention, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(retention);
        ThrowIfDisposed();
        if (_history is null)
        {
            return default;
        }

        DateTimeOffset now = DateTimeOffset.UtcNow;
        long changes = retention.MaxChangeAge is not null || retention.MaxChangesPerKey is not null
            ? await _history.PruneChangesAsync(now - retention.MaxChangeAge, retention.MaxChangesPerKey, cancellationToken).ConfigureAwait(false)
            : 0;
        long hooks = retention.MaxHookExecutionAge is not null || retention.MaxHookExecutions is not null
            ? await _history.PruneHookExecutionsAsync(now - retention.MaxHookExecutionAge, retention.MaxHookExecutions, cancellationToken).ConfigureAwait(false)
            : 0;
        return new StateHistoryPruneResult(changes, hooks);
    }

    private IStateHistoryStore RequireHistory()
    {
        ThrowIfDisposed();
        if (_history is not { RecordsChanges: true })
        {
            throw new StateHistoryUnavailableException("The store keeps no change log: the timeline, point-in-time reads, fork and replay need one (LiteDbStateStoreOptions.RecordChanges).");
        }

        return _history;
    }

    private async ValueTask<StateChangeRecord?> RecordAsOfAsync(string scope, string key, DateTimeOffset time, CancellationToken cancellationToken)
    {
        IStateHistoryStore history = RequireHistory();
        List<StateChangeRecord> records = [.. await history.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key }, cancellationToken).ConfigureAwait(false)];
        bool exists = records.Count == 0 && await Store.ExistsAsync(scope, key, cancellationToken).ConfigureAwait(false);
        return AsOf(scope, key, records, time, exists);
    }

    /// <summary>
    /// The record in effect at <paramref name="time"/> (null: no value), from a key's records in sequence order; throws
    /// when the kept records cannot tell.
    /// </summary>
    private static StateChangeRecord? AsOf(string scope, string key, List<StateChangeRecord> records, DateTimeOffset time, bool existsNow)
    {
        if (records.Count == 0)
        {
            if (existsNow)
            {
                throw new StateHistoryUnavailableException($"The state at '{scope}' key '{key}' has no kept change history, so its value at {time:O} is unknown.");
            }

            return null; // never written while the log was kept
        }

        StateChangeRecord? inEffect = null;
        foreach (StateChangeRecord record in records)
        {
            if (record.Timestamp > time)
            {
                break;
            }

            inEffect = record;
        }

        if (inEffect is null)
        {
            StateChangeRecord first = records[0];
            if (first.PreviousSequence != 0)
            {
                throw new StateHistoryUnavailableException($"The kept history of the state at '{scope}' key '{key}' starts at {first.Timestamp:O}, after {time:O}.", first.Timestamp);
            }

            return null; // it did not exist yet
        }

        return inEffect.Kind == StateChangeKind.Write ? inEffect : null;
    }
}
