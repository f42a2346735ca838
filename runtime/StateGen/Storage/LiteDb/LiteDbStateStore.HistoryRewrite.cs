using System;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage.ChangeLog;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Payloads of the history replaced in place (<see cref="IStateHistoryRewriter"/>): what the re-encryption job uses to
/// move change records and hook values to the active key. Sequences, ids, links, indexes and counts do not change.
/// </summary>
public sealed partial class LiteDbStateStore : IStateHistoryRewriter
{
    /// <inheritdoc />
    /// <remarks>
    /// A segmented file rewrites one change-log segment per step (copied, flushed and renamed over the segment, as
    /// retention does: each segment is old or new after a crash), after the values written behind are in LiteDB and
    /// flushed; a backup copying the segments is waited for. The <c>changes</c> collection updates a page of records in
    /// one transaction, each resealed with its checksum. Either way, the store's writers wait for the step.
    /// </remarks>
    ValueTask<HistoryRewriteStep> IStateHistoryRewriter.RewriteChangePayloadsAsync(long afterSequence, int maxRecords, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rewrite);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var guard = new CallbackGuard();
        Func<StateChangeRecord, ReadOnlyMemory<byte>?> guarded = record => guard.Call(rewrite, record);
        return guard.Run(() => RunDurable(() => _log is not null
            ? RewriteSegmentPayloads(afterSequence, guarded, cancellationToken)
            : RewriteCollectionPayloads(afterSequence, maxRecords, guarded)));
    }

    /// <inheritdoc />
    /// <remarks>One transaction per step; each record is resealed with its checksum (its id and links are kept).</remarks>
    ValueTask<HistoryRewriteStep> IStateHistoryRewriter.RewriteHookValuesAsync(long afterId, int maxRecords, Func<HookExecutionRecord, HookValues?> rewrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rewrite);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var guard = new CallbackGuard();
        return guard.Run(() => RunDurable(
            () =>
            {
                var replaced = new System.Collections.Generic.List<BsonDocument>();
                long last = afterId;
                int offered = 0;
                foreach (BsonDocument doc in IndexWalk.Ascending(_hooks, "_id", Math.Max(0, afterId), _ => true, FilePath))
                {
                    CheckedHook(doc);
                    HookExecutionRecord record = ToHookRecord(doc);
                    last = record.Id;
                    offered++;
                    if (guard.Call(rewrite, record) is HookValues values)
                    {
                        doc["ov"] = values.OldValue.ToArray();
                        doc["nv"] = values.NewValue.ToArray();
                        doc["rv"] = values.ResultValue.ToArray();
                        replaced.Add(DocumentIntegrity.Seal(doc));
                    }

                    if (offered == maxRecords)
                    {
                        break;
                    }
                }

                if (replaced.Count > 0)
                {
                    InTransaction(() =>
                    {
                        foreach (BsonDocument doc in replaced)
                        {
                            _hooks.Update(doc);
                        }
                    });
                }

                bool done = IndexWalk.Next(_hooks, "_id", last, FilePath) is null;
                return new HistoryRewriteStep(last, offered, replaced.Count, done);
            },
            applyPending: false)); // the hook history is its own collection
    }

    /// <summary>One page of the <c>changes</c> collection: records after <paramref name="afterSequence"/> in sequence order.</summary>
    private HistoryRewriteStep RewriteCollectionPayloads(long afterSequence, int maxRecords, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite)
    {
        var replaced = new System.Collections.Generic.List<BsonDocument>();
        long last = afterSequence;
        int offered = 0, seen = 0;
        foreach (BsonDocument doc in IndexWalk.Ascending(_changes, "_id", Math.Max(0, afterSequence), _ => true, FilePath))
        {
            StateChangeRecord record = CheckedChange(doc);
            last = record.Sequence;
            seen++;
            if (!(record.Kind == StateChangeKind.Delete && record.Payload.IsEmpty))
            {
                offered++;
                if (rewrite(record) is ReadOnlyMemory<byte> payload)
                {
                    // A current value whose payload is in its record (not repeated in its document) reads the new one.
                    doc["p"] = payload.ToArray();
                    replaced.Add(DocumentIntegrity.Seal(doc));
                }
            }

            if (seen == maxRecords)
            {
                break;
            }
        }

        if (replaced.Count > 0)
        {
            InTransaction(() =>
            {
                foreach (BsonDocument doc in replaced)
                {
                    _changes.Update(doc);
                }
            });
        }

        bool done = IndexWalk.Next(_changes, "_id", last, FilePath) is null;
        return new HistoryRewriteStep(last, offered, replaced.Count, done);
    }

    /// <summary>One segment of the segment log: the first holding a record after <paramref name="afterSequence"/>.</summary>
    private HistoryRewriteStep RewriteSegmentPayloads(long afterSequence, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite, CancellationToken cancellationToken)
    {
        // A backup copying the segments reads them by their lengths at its start: a rewrite waits for it, as retention does.
        SegmentLog log = WaitForFileCopies(cancellationToken);

        // Only records LiteDB's documents already hold (meta.S) are rewritten, and those documents are on the disk first:
        // the next open replays the records after meta.S, whole with their commit-end flags, and never needs one rewritten.
        ApplyPending();
        SyncFiles();
        long through = _appliedSequence;
        int offered = 0;
        long last = log.RewritePayloads(
            afterSequence,
            through,
            record =>
            {
                if (record.Kind == StateChangeKind.Delete && record.Payload.IsEmpty)
                {
                    return null; // a delete without a document: nothing to rewrite
                }

                offered++;
                return rewrite(record);
            },
            out int rewritten);
        bool done = last >= through || last == afterSequence;
        return new HistoryRewriteStep(last, offered, rewritten, done);
    }

    /// <summary>Waits (releasing the lock) until no backup copies the files; returns the change log, which a reopen may have replaced.</summary>
    private SegmentLog WaitForFileCopies(CancellationToken cancellationToken)
    {
        SegmentLog log = _log!;
        while (_fileCopies > 0)
        {
            PruneWaits++;
            Monitor.Wait(_gate, TimeSpan.FromMilliseconds(200)); // the copy's end pulses; the timeout lets a cancel in
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_faulted)
            {
                throw new StateStoreCorruptedException(FilePath);
            }

            if (_reopenPending)
            {
                // An I/O error while the lock was released (a backup's copy, another writer): the files are reopened now,
                // as the next operation would, before anything below reads or rewrites them.
                Reopen();
            }

            log = _log ?? throw new StateStoreException($"The change log of '{FilePath}' is closed.");
        }

        return log;
    }

    /// <summary>
    /// Carries an exception of a rewrite callback past <see cref="Run{T}"/>, which would take it for damage and close the
    /// store: the callback's exception leaves the step as a marker the store lets through, and comes out unchanged.
    /// </summary>
    private sealed class CallbackGuard
    {
        private ExceptionDispatchInfo? _error;

        public TResult Call<TRecord, TResult>(Func<TRecord, TResult> callback, TRecord record)
        {
            try
            {
                return callback(record);
            }
            catch (Exception ex)
            {
                _error = ExceptionDispatchInfo.Capture(ex);
                throw new CallbackFailedException();
            }
        }

        public ValueTask<HistoryRewriteStep> Run(Func<ValueTask<HistoryRewriteStep>> step)
        {
            try
            {
                return step();
            }
            catch (CallbackFailedException) when (_error is not null)
            {
                _error.Throw();
                throw;
            }
        }
    }

    /// <summary>The marker of <see cref="CallbackGuard"/>: a <see cref="StateGenException"/>, so the store does not take it for damage.</summary>
    private sealed class CallbackFailedException() : StateGenException("A history rewrite callback failed.");

    /// <summary>The public form of a checked hook record document.</summary>
    private static HookExecutionRecord ToHookRecord(BsonDocument d) => new(
        d["_id"].AsInt64,
        d["h"].AsString,
        d["pt"].AsString,
        d["s"].AsString,
        d["k"].AsString,
        d["t"].IsNull ? null : d["t"].AsString,
        d["o"].AsString,
        d["e"].IsNull ? null : d["e"].AsString,
        new TimeSpan(d["d"].AsInt64),
        new DateTimeOffset(d["u"].AsInt64, TimeSpan.Zero),
        d["c"].IsNull ? null : d["c"].AsString,
        d["ov"].AsBinary,
        d["nv"].AsBinary,
        d["rv"].AsBinary);
}
