using System;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage;

/// <summary>
/// A store whose history (change records and hook execution values) can have its payloads replaced in place, every
/// other field kept: what <see cref="Encryption.EncryptedStateStore.ReEncryptAsync(IProgress{Encryption.ReEncryptionProgress}?, StateScanPosition?, CancellationToken)"/>
/// needs to move history to the active key after a rotation. The LiteDB and memory stores implement it.
/// </summary>
/// <remarks>
/// <para>
/// Each call does one step (a page of records, or one change-log segment) atomically, under the store's writer role,
/// and durably for a durable store: a crash leaves every record of the step old or new, never half. Sequences, ids,
/// keys, times, correlation ids and the links between records do not change, so indexes and history checks stay valid.
/// </para>
/// <para>
/// The rewrite callback runs under the store's lock: it must be quick and synchronous (encryption is), and report a
/// record it cannot rewrite by returning <see langword="null"/> (keep it), not by throwing. An exception it throws ends
/// the step with nothing of the step changed, and propagates unchanged; the store is not taken for damaged and goes on.
/// A record damaged on the disk ends the step with <see cref="StateStoreCorruptedException"/>, and every later step
/// meets it again: the history after it can be moved only once the file is salvaged.
/// </para>
/// </remarks>
internal interface IStateHistoryRewriter
{
    /// <summary>
    /// Offers the change records after <paramref name="afterSequence"/>, in sequence order, to <paramref name="rewrite"/>
    /// (a delete without a payload is not offered), for one step of at most about <paramref name="maxRecords"/> records
    /// (a segmented log does one segment); a non-null result replaces the record's payload.
    /// </summary>
    /// <returns>The step: the last sequence it covered (pass it back to go on), and whether no record is left after it.</returns>
    /// <exception cref="StateStoreCorruptedException">A record of the step is damaged; the step changed nothing.</exception>
    /// <exception cref="StateStoreException">The step could not be written; it changed nothing.</exception>
    ValueTask<HistoryRewriteStep> RewriteChangePayloadsAsync(long afterSequence, int maxRecords, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite, CancellationToken cancellationToken = default);

    /// <summary>
    /// Offers the hook execution records after <paramref name="afterId"/>, in id order, to <paramref name="rewrite"/>,
    /// for one step of at most <paramref name="maxRecords"/> records; a non-null result replaces the record's three
    /// values.
    /// </summary>
    /// <returns>The step: the last id it covered (pass it back to go on), and whether no record is left after it.</returns>
    /// <exception cref="StateStoreCorruptedException">A record of the step is damaged; the step changed nothing.</exception>
    /// <exception cref="StateStoreException">The step could not be written; it changed nothing.</exception>
    ValueTask<HistoryRewriteStep> RewriteHookValuesAsync(long afterId, int maxRecords, Func<HookExecutionRecord, HookValues?> rewrite, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes every step done so far durable, whatever the store's durability setting (a relaxed store's steps are
    /// otherwise flushed on its interval): the job calls it before it reports that a retired key is no longer needed.
    /// </summary>
    /// <exception cref="StateStoreException">The flush failed.</exception>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);
}

/// <summary>One step of an <see cref="IStateHistoryRewriter"/>.</summary>
/// <param name="Last">The last sequence (or hook id) the step covered; the position it started from when it covered none.</param>
/// <param name="Offered">How many records were offered to the callback.</param>
/// <param name="Rewritten">How many records were replaced.</param>
/// <param name="Done">Whether no record is left after <paramref name="Last"/>.</param>
internal readonly record struct HistoryRewriteStep(long Last, int Offered, int Rewritten, bool Done);

/// <summary>The three values of a hook execution record (empty: none).</summary>
internal readonly record struct HookValues(ReadOnlyMemory<byte> OldValue, ReadOnlyMemory<byte> NewValue, ReadOnlyMemory<byte> ResultValue);
