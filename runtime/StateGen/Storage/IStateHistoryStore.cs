using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage;

/// <summary>
/// A store that keeps a change log (every committed write and delete, in commit order, written in the same atomic step
/// as the change) and the hook history. Timeline, point-in-time reads, fork and replay are built on it. Both built-in
/// stores implement it.
/// </summary>
public interface IStateHistoryStore
{
    /// <summary>Whether this store records changes (a store may be opened with its change log turned off).</summary>
    bool RecordsChanges { get; }

    /// <summary>
    /// The ranges of change records this store lost and went on after, oldest first; empty when it lost none (the
    /// default). A store lists a gap when a crash kept its values but not their change records (see
    /// docs/storage.md, "History gaps"): timelines, point-in-time reads, fork and replay have no records there.
    /// </summary>
    IReadOnlyList<StateHistoryGap> HistoryGaps => Array.Empty<StateHistoryGap>();

    /// <summary>The change records that match <paramref name="query"/>, in sequence order.</summary>
    ValueTask<IReadOnlyList<StateChangeRecord>> ReadChangesAsync(StateChangeQuery query, CancellationToken cancellationToken = default);

    /// <summary>One change record, or <see langword="null"/> when it is not (or no longer) kept.</summary>
    ValueTask<StateChangeRecord?> ReadChangeAsync(long sequence, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes change records older than <paramref name="olderThan"/> and all but the newest <paramref name="keepPerKey"/>
    /// of each key, except the record of each key's current value, which is always kept.
    /// </summary>
    /// <returns>How many records were removed.</returns>
    ValueTask<long> PruneChangesAsync(DateTimeOffset? olderThan, int? keepPerKey, CancellationToken cancellationToken = default);

    /// <summary>Appends hook execution records; the store assigns their ids.</summary>
    ValueTask AppendHookExecutionsAsync(IReadOnlyList<HookExecutionRecord> records, CancellationToken cancellationToken = default);

    /// <summary>The hook execution records that match, in the order they were appended.</summary>
    ValueTask<IReadOnlyList<HookExecutionRecord>> ReadHookExecutionsAsync(HookExecutionQuery query, CancellationToken cancellationToken = default);

    /// <summary>Removes hook execution records older than <paramref name="olderThan"/> and all but the newest <paramref name="keepNewest"/>.</summary>
    /// <returns>How many records were removed.</returns>
    ValueTask<long> PruneHookExecutionsAsync(DateTimeOffset? olderThan, int? keepNewest, CancellationToken cancellationToken = default);
}

/// <summary>Whether a change wrote or deleted a value.</summary>
public enum StateChangeKind
{
    /// <summary>A value was written.</summary>
    Write = 1,

    /// <summary>A value was deleted.</summary>
    Delete = 2,
}

/// <summary>One committed change, as the change log keeps it.</summary>
/// <param name="Sequence">The store-wide commit order, starting at 1; never reused.</param>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The key.</param>
/// <param name="Kind">Write or delete.</param>
/// <param name="TypeName">The stable type name written (for a delete, the type deleted).</param>
/// <param name="SchemaVersion">The schema version written (for a delete, of the value deleted).</param>
/// <param name="Version">The version written (for a delete, the version deleted).</param>
/// <param name="Timestamp">When the change was committed (UTC).</param>
/// <param name="Payload">The document written; empty for a delete.</param>
/// <param name="PreviousSequence">The sequence of the key's previous change, 0 when the key had none.</param>
/// <param name="CorrelationId">The correlation id of the change.</param>
/// <param name="Origin">What caused it (see <see cref="StateOperation.Origin"/>).</param>
public sealed record StateChangeRecord(
    long Sequence,
    string Scope,
    string Key,
    StateChangeKind Kind,
    string TypeName,
    int SchemaVersion,
    long Version,
    DateTimeOffset Timestamp,
    ReadOnlyMemory<byte> Payload,
    long PreviousSequence,
    string? CorrelationId,
    string? Origin);

/// <summary>Which change records to read. Conditions combine with "and"; unset conditions match everything.</summary>
public sealed record StateChangeQuery
{
    /// <summary>Only this scope path.</summary>
    public string? Scope { get; init; }

    /// <summary>Only this key (with <see cref="Scope"/>).</summary>
    public string? Key { get; init; }

    /// <summary>Only this correlation id.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Only records with a greater sequence.</summary>
    public long AfterSequence { get; init; }

    /// <summary>Only records committed at or before this time.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Only records committed at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>At most this many records (the first ones in sequence order).</summary>
    public int Limit { get; init; } = int.MaxValue;
}

/// <summary>One persisted hook execution. Values are the redacted view (the stored document form).</summary>
/// <param name="Id">Assigned by the store on append, in append order.</param>
/// <param name="HookId">The hook's registration id.</param>
/// <param name="Point">The hook point (for example <c>BeforeChange</c>).</param>
/// <param name="Scope">The scope path of the operation.</param>
/// <param name="Key">The key of the operation.</param>
/// <param name="TypeName">The stable type name of the value, when there is one.</param>
/// <param name="Outcome">Continued, Modified, Canceled, Failed or TimedOut.</param>
/// <param name="Error">The exception type name when the hook failed; never its message.</param>
/// <param name="Duration">How long the hook ran.</param>
/// <param name="Timestamp">When it ran (UTC).</param>
/// <param name="CorrelationId">The correlation id of the operation.</param>
/// <param name="OldValue">The stored value before the operation (empty when none).</param>
/// <param name="NewValue">The proposed value (empty for a delete).</param>
/// <param name="ResultValue">The value the hook substituted, when it modified the operation.</param>
public sealed record HookExecutionRecord(
    long Id,
    string HookId,
    string Point,
    string Scope,
    string Key,
    string? TypeName,
    string Outcome,
    string? Error,
    TimeSpan Duration,
    DateTimeOffset Timestamp,
    string? CorrelationId,
    ReadOnlyMemory<byte> OldValue,
    ReadOnlyMemory<byte> NewValue,
    ReadOnlyMemory<byte> ResultValue);

/// <summary>Which hook execution records to read.</summary>
public sealed record HookExecutionQuery
{
    /// <summary>Only this correlation id.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Only this hook id.</summary>
    public string? HookId { get; init; }

    /// <summary>Only this scope path.</summary>
    public string? Scope { get; init; }

    /// <summary>Only this key (with <see cref="Scope"/>).</summary>
    public string? Key { get; init; }

    /// <summary>At most this many records (the first ones in append order).</summary>
    public int Limit { get; init; } = int.MaxValue;

    /// <summary>
    /// Only records appended after this one: pass the <see cref="HookExecutionRecord.Id"/> of the last record of the
    /// previous page (with <see cref="Limit"/>) to read the history a page at a time. 0 reads from the start.
    /// </summary>
    public long AfterId { get; init; }
}
