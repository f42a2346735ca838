using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>Backups: a consistent read of the whole file while writers continue, and building a restored file.</summary>
public sealed partial class LiteDbStateStore : IStateSnapshotSource
{
    private const int SnapshotBatch = 512;

    /// <summary>The sequence of the last change committed (the change-log position).</summary>
    internal long ChangeLogPosition
    {
        get
        {
            lock (_gate)
            {
                return _sequence;
            }
        }
    }

    /// <summary>
    /// A LiteDB read transaction sees the pages of each collection as of the moment it first reads that collection. Both
    /// collections are opened under the store's lock, which every commit holds, so they agree with each other and with
    /// the change-log position; then the lock is released and writers go on while the snapshot is read. The transaction is
    /// bound to this thread and is rolled back (it wrote nothing) before this method returns.
    /// </summary>
    T IStateSnapshotSource.ReadSnapshot<T>(Func<StateSnapshotInfo, IEnumerable<SnapshotDocument>, T> reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        StateSnapshotInfo info;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_faulted)
            {
                throw new StateStoreCorruptedException(FilePath);
            }

            if (!_db.BeginTrans())
            {
                throw new InvalidOperationException("A LiteDB transaction is already open on this thread.");
            }

            try
            {
                long count = _state.Count();
                _ = _changes.FindById(0);
                info = new StateSnapshotInfo(_sequence, _time.GetUtcNow(), RecordsChanges, count);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                EndSnapshot();
                throw Wrap(ex);
            }
        }

        try
        {
            return reader(info, ReadSnapshotDocuments());
        }
        catch (Exception ex) when (ex is not StateGenException and not OperationCanceledException and not OutOfMemoryException
                                   and not System.IO.IOException and not ObjectDisposedException)
        {
            throw Wrap(ex);
        }
        finally
        {
            EndSnapshot();
        }
    }

    private Exception Wrap(Exception ex) => ex is StateGenException ? ex : new StateStoreCorruptedException(FilePath, ex);

    private void EndSnapshot()
    {
        try
        {
            _db.Rollback();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A read transaction holds nothing to undo.
        }
    }

    /// <summary>
    /// The entries, in two passes. First the entries themselves, in id order, a batch at a time (small: with the change
    /// log on, their payloads live in their change records). Then the payloads: when the change log is not much longer
    /// than the entries, one sequential pass over it picks each entry's record (several times faster than a lookup per
    /// entry: 100,000 lookups took 5 s, the pass 0.5 s); otherwise one lookup per entry. Entries whose payload is inline
    /// come first, the others in change-sequence order.
    /// </summary>
    private IEnumerable<SnapshotDocument> ReadSnapshotDocuments()
    {
        var logged = new Dictionary<long, BsonDocument>();
        string? after = null;
        while (true)
        {
            ILiteQueryable<BsonDocument> query = _state.Query();
            if (after is not null)
            {
                query = query.Where(Query.GT("_id", after));
            }

            List<BsonDocument> batch = query.OrderBy("_id").Limit(SnapshotBatch).ToList();
            foreach (BsonDocument doc in batch)
            {
                long sequence = SequenceOf(doc);
                if (doc.ContainsKey("p") || sequence == 0)
                {
                    BsonDocument? change = sequence == 0 ? null : _changes.FindById(sequence);
                    yield return ToSnapshotDocument(doc, change);
                }
                else
                {
                    logged[sequence] = doc;
                }
            }

            if (batch.Count < SnapshotBatch)
            {
                break;
            }

            after = batch[^1]["_id"].AsString;
        }

        if (logged.Count == 0)
        {
            yield break;
        }

        if (_changes.LongCount() <= 4L * logged.Count)
        {
            long found = 0;
            foreach (BsonDocument change in _changes.FindAll())
            {
                if (logged.TryGetValue(change["_id"].AsInt64, out BsonDocument? doc))
                {
                    found++;
                    yield return ToSnapshotDocument(doc, change);
                }
            }

            if (found != logged.Count)
            {
                throw new StateStoreCorruptedException(FilePath); // an entry points at a change record that is not there
            }
        }
        else
        {
            foreach (var (sequence, doc) in logged.OrderBy(p => p.Key))
            {
                yield return ToSnapshotDocument(doc, _changes.FindById(sequence) ?? throw new StateStoreCorruptedException(FilePath));
            }
        }
    }

    private SnapshotDocument ToSnapshotDocument(BsonDocument doc, BsonDocument? change)
    {
        // A backup never carries a damaged document away as if it were sound.
        Checked(doc, "state");
        if (change is not null)
        {
            Checked(change, "changes");
        }

        byte[] payload = doc.TryGetValue("p", out BsonValue inline) ? inline.AsBinary
            : change?["p"].AsBinary ?? throw new StateStoreCorruptedException(FilePath);
        var entry = new StoredEntry(
            doc["s"].AsString,
            doc["k"].AsString,
            doc["t"].AsString,
            doc["sv"].AsInt32,
            doc["v"].AsInt64,
            new DateTimeOffset(doc["u"].AsInt64, TimeSpan.Zero),
            payload);
        return change is null
            ? new SnapshotDocument(entry, 0, 0, null, null)
            : new SnapshotDocument(entry, change["_id"].AsInt64, change["ps"].AsInt64, change["c"].IsNull ? null : change["c"].AsString, change["o"].IsNull ? null : change["o"].AsString);
    }

    /// <summary>
    /// Builds a new database file at <paramref name="path"/> (which must not exist) holding <paramref name="documents"/>
    /// with their versions, times and change records as they were, then <paramref name="replay"/> applied in order with
    /// their own sequences. New changes continue after <paramref name="sequenceFloor"/> (or the last replayed change).
    /// The file is closed (checkpointed and flushed) when this returns.
    /// </summary>
    internal static void BuildRestoredFile(string path, long sequenceFloor, IEnumerable<SnapshotDocument> documents, IEnumerable<StateChangeRecord> replay, Action<long>? progress, CancellationToken cancellationToken)
    {
        using var store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = path,
            Durability = StateDurability.Relaxed,
            RelaxedFlushInterval = TimeSpan.FromDays(1),
        });
        store.Import(sequenceFloor, documents, replay, progress, cancellationToken);
    }

    private void Import(long sequenceFloor, IEnumerable<SnapshotDocument> documents, IEnumerable<StateChangeRecord> replay, Action<long>? progress, CancellationToken cancellationToken)
    {
        long done = 0;
        long last = sequenceFloor;
        lock (_gate)
        {
            foreach (SnapshotDocument[] batch in documents.Chunk(SnapshotBatch))
            {
                cancellationToken.ThrowIfCancellationRequested();
                InTransaction(() =>
                {
                    foreach (SnapshotDocument d in batch)
                    {
                        StoredEntry e = d.Entry;
                        string id = Id(e.Scope, e.Key);
                        byte[] payload = e.Payload.ToArray();
                        if (d.ChangeSequence != 0)
                        {
                            InsertChange(new StateChangeRecord(d.ChangeSequence, e.Scope, e.Key, StateChangeKind.Write, e.TypeName, e.SchemaVersion, e.Version, e.UpdatedAt, payload, d.PreviousSequence, d.CorrelationId, d.Origin));
                            last = Math.Max(last, d.ChangeSequence);
                        }

                        _state.Insert(DocumentIntegrity.Seal(ToDocument(id, e, payload, d.ChangeSequence, payloadInLog: d.ChangeSequence != 0)));
                    }
                });
                done += batch.Length;
                progress?.Invoke(done);
            }

            foreach (StateChangeRecord[] batch in replay.Chunk(SnapshotBatch))
            {
                cancellationToken.ThrowIfCancellationRequested();
                InTransaction(() =>
                {
                    foreach (StateChangeRecord r in batch)
                    {
                        string id = Id(r.Scope, r.Key);
                        InsertChange(r);
                        if (r.Kind == StateChangeKind.Delete)
                        {
                            _state.Delete(id);
                        }
                        else
                        {
                            var entry = new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload);
                            _state.Upsert(DocumentIntegrity.Seal(ToDocument(id, entry, r.Payload.ToArray(), r.Sequence, payloadInLog: true)));
                        }

                        last = Math.Max(last, r.Sequence);
                    }
                });
                done += batch.Length;
                progress?.Invoke(done);
            }

            // Sequences are never reused: the restored file continues after everything the backup and replay knew.
            InTransaction(() => _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = "sequence", ["v"] = last })));
            _sequence = last;
        }
    }

    private void InsertChange(StateChangeRecord r)
        => _changes.Insert(ChangeDocument(r.Sequence, Id(r.Scope, r.Key), r.Scope, r.Key, r.Kind, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp.UtcTicks, r.Payload.ToArray(), r.PreviousSequence, r.CorrelationId, r.Origin));
}
