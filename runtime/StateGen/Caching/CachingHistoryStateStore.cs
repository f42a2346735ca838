using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;

namespace StateGen.Caching;

/// <summary>A <see cref="CachingStateStore"/> over a store that keeps history: history calls pass straight through.</summary>
internal sealed class CachingHistoryStateStore : CachingStateStore, IStateHistoryStore
{
    private readonly IStateHistoryStore _history;

    public CachingHistoryStateStore(IStateStore inner, IStateHistoryStore history, CachingStateStoreOptions options, bool ownsInner)
        : base(inner, options, ownsInner)
        => _history = history;

    public bool RecordsChanges => _history.RecordsChanges;

    public IReadOnlyList<StateHistoryGap> HistoryGaps => _history.HistoryGaps;

    public ValueTask<IReadOnlyList<StateChangeRecord>> ReadChangesAsync(StateChangeQuery query, CancellationToken cancellationToken = default)
        => _history.ReadChangesAsync(query, cancellationToken);

    public ValueTask<StateChangeRecord?> ReadChangeAsync(long sequence, CancellationToken cancellationToken = default)
        => _history.ReadChangeAsync(sequence, cancellationToken);

    public ValueTask<long> PruneChangesAsync(DateTimeOffset? olderThan, int? keepPerKey, CancellationToken cancellationToken = default)
        => _history.PruneChangesAsync(olderThan, keepPerKey, cancellationToken);

    public ValueTask AppendHookExecutionsAsync(IReadOnlyList<HookExecutionRecord> records, CancellationToken cancellationToken = default)
        => _history.AppendHookExecutionsAsync(records, cancellationToken);

    public ValueTask<IReadOnlyList<HookExecutionRecord>> ReadHookExecutionsAsync(HookExecutionQuery query, CancellationToken cancellationToken = default)
        => _history.ReadHookExecutionsAsync(query, cancellationToken);

    public ValueTask<long> PruneHookExecutionsAsync(DateTimeOffset? olderThan, int? keepNewest, CancellationToken cancellationToken = default)
        => _history.PruneHookExecutionsAsync(olderThan, keepNewest, cancellationToken);
}
