using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage.ChangeLog;

namespace StateGen.Storage.LiteDb;

/// <summary>Backups: a consistent read of the whole file while writers continue, and building a restored file.</summary>
public sealed partial class LiteDbStateStore : IStateSnapshotSource
{
    private const int SnapshotBatch = 512;
    private int _fileCopies; // data-file copies running (guarded by _gate): automatic checkpoints are off meanwhile

    // Entries per stable type name and schema version, for backup manifests (guarded by _gate). Null: not kept. Not
    // known: a count is running and commits record their differences. Known: exact, kept by every commit.
    private Dictionary<(string Type, int Version), long>? _typeCounts;
    private bool _typeCountsKnown;
    private long _typeCountsGeneration;

    /// <summary>Test hook: the size of each read of a data-file copy.</summary>
    internal int CopyChunkBytes { get; set; } = 1 << 20;

    /// <summary>Test hook: LiteDB's automatic checkpoint threshold in force, in log pages (0: off).</summary>
    internal int CheckpointThreshold => Run(() => _db.Pragma("CHECKPOINT").AsInt32);

    /// <summary>Test hook: called after each chunk of a data-file copy with the bytes copied so far.</summary>
    internal Action<long>? AfterCopyChunk { get; set; }

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

            // The snapshot reads LiteDB alone: what was written behind goes in first (Run maps a failure as every
            // operation's, and reopens the store first when an earlier one failed).
            _ = Run(() => 0);

            if (!_db.BeginTrans())
            {
                throw new InvalidOperationException("A LiteDB transaction is already open on this thread.");
            }

            try
            {
                long count = _state.Count();
                CheckTotal(count);
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
        catch (OutOfMemoryException oom)
        {
            // A damaged length in a document, or memory that really ran out (LiteDbStateStore.Lengths.cs).
            if (DamagedLengthFailure() is not { } failure)
            {
                throw;
            }

            throw new StateStoreCorruptedException(FilePath, failure, oom);
        }
        finally
        {
            EndSnapshot();
        }
    }

    /// <summary>
    /// Copies the data file as it is at one change-log position to <paramref name="destination"/> while writers go on, and
    /// counts the entries of each stable type name and schema version at that position. Under the store's lock the log is
    /// checkpointed into the data file and LiteDB's automatic checkpoints are turned off; from then on commits only append
    /// to the log, so the data file holds exactly the state at that position until the copy ends and checkpoints resume.
    /// The first copy after the store opens counts in a LiteDB read transaction begun at the same moment, on this thread,
    /// while a second thread copies; later copies take the counts every commit keeps.
    /// A process that dies meanwhile leaves checkpoints off in the log: the next open turns them back on.
    /// <para>
    /// A segmented file's change log is copied too, into <paramref name="logDestination"/> (a <see cref="SegmentArchive"/>):
    /// at the same moment its segments hold exactly the records up to that position; each is copied up to its length then
    /// while appends go on past it, and prunes wait until the copy ends (they would compact or delete segments).
    /// </para>
    /// </summary>
    /// <param name="destination">Receives the data file's bytes.</param>
    /// <param name="logDestination">Receives a segmented file's change log; required for one, ignored otherwise.</param>
    /// <param name="progress">Receives the bytes copied so far and the file's length.</param>
    /// <param name="cancellationToken">Stops the copy.</param>
    internal DataFileCopy CopyDataFile(System.IO.Stream destination, System.IO.Stream? logDestination, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (_segmented && logDestination is null)
        {
            throw new StateStoreException($"A copy of the data file '{FilePath}' alone would have no change log: its change log is in segment files.");
        }

        IReadOnlyList<(string Path, long Length)>? extent = null;
        long? logFirst = null;
        long length = 0;
        StateSnapshotInfo info = default;
        Dictionary<(string Type, int Version), long>? known = null;
        bool startedCounts = false;
        long generation = 0;
        Run(() =>
        {
            _db.Checkpoint();
            _fileCopies++;
            try
            {
                ApplyCheckpointPragma();
                if (_log is not null)
                {
                    // No commit runs now, so the log ends at the position the data file holds.
                    if (_log.NextSequence != _sequence + 1)
                    {
                        throw new StateStoreException($"The change log of '{FilePath}' does not end at the file's position {_sequence}; it was not backed up.");
                    }

                    extent = _log.Extent();
                    logFirst = _log.FirstSequence;
                }

                if (_typeCounts is not null && _typeCountsKnown)
                {
                    // Kept up to date by every commit since the first backup after the store opened.
                    known = _typeCounts.Where(p => p.Value != 0).ToDictionary(p => p.Key, p => p.Value);
                    info = new StateSnapshotInfo(_sequence, _time.GetUtcNow(), RecordsChanges, known.Values.Sum());
                }
                else
                {
                    // Count them once, in a read transaction at this position; commits from now on record their
                    // differences, which are added to the count when it is done.
                    if (_typeCounts is null)
                    {
                        _typeCounts = [];
                        _typeCountsKnown = false;
                        startedCounts = true;
                        generation = _typeCountsGeneration;
                    }

                    if (!_db.BeginTrans())
                    {
                        throw new InvalidOperationException("A LiteDB transaction is already open on this thread.");
                    }

                    try
                    {
                        long count = _state.Count();
                        CheckTotal(count);
                        info = new StateSnapshotInfo(_sequence, _time.GetUtcNow(), RecordsChanges, count);
                    }
                    catch
                    {
                        EndSnapshot();
                        throw;
                    }
                }

                length = _dataFile.Length;
            }
            catch
            {
                EndFileCopy();
                throw;
            }

            return 0;
        });

        try
        {
            SegmentFileSystem files = _dataFile.FileSystem ?? SegmentFileSystem.Os;
            Task copy = Task.Factory.StartNew(
                () =>
                {
                    // Progress counts the data file's bytes, then the segments' (a long history can outweigh the values).
                    long total = length + (extent?.Sum(e => e.Length) ?? 0);
                    CopyRange(length, total, destination, progress, cancellationToken);
                    if (extent is not null)
                    {
                        SegmentArchive.Write(logDestination!, extent, files, progress is null ? null : copied => progress(length + copied, total), cancellationToken);
                    }
                },
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            IReadOnlyDictionary<(string Type, int Version), long> types;
            try
            {
                types = known ?? CountTypes(cancellationToken);
            }
            finally
            {
                if (known is null)
                {
                    EndSnapshot();
                }

                try
                {
                    copy.Wait(CancellationToken.None);
                }
                catch (AggregateException ex) when (ex.InnerExceptions.Count == 1)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
                }
            }

            if (types.Values.Sum() != info.DocumentCount)
            {
                throw new StateStoreCorruptedException(FilePath, "the entries counted by type do not add up to the entry count");
            }

            if (startedCounts)
            {
                lock (_gate)
                {
                    if (_typeCounts is not null && !_typeCountsKnown && _typeCountsGeneration == generation)
                    {
                        foreach (var (key, count) in types)
                        {
                            CountType(key.Type, key.Version, count);
                        }

                        _typeCountsKnown = true;
                    }
                }
            }

            return new DataFileCopy(info, length, types, logFirst);
        }
        catch (Exception ex) when (ex is not StateGenException and not OperationCanceledException and not OutOfMemoryException
                                   and not System.IO.IOException and not ObjectDisposedException)
        {
            throw Wrap(ex);
        }
        catch (OutOfMemoryException oom)
        {
            // A damaged length in a document, or memory that really ran out (LiteDbStateStore.Lengths.cs).
            if (DamagedLengthFailure() is not { } failure)
            {
                throw;
            }

            throw new StateStoreCorruptedException(FilePath, failure, oom);
        }
        finally
        {
            if (startedCounts)
            {
                lock (_gate)
                {
                    if (!_typeCountsKnown && _typeCountsGeneration == generation)
                    {
                        ForgetTypeCounts(); // the count failed: the differences alone mean nothing
                    }
                }
            }

            EndFileCopy();
        }
    }

    /// <summary>Adds <paramref name="delta"/> to a type's entry count (commits call it while counts are kept).</summary>
    private void CountType(string type, int version, long delta)
    {
        var key = (type, version);
        long count = (_typeCounts!.TryGetValue(key, out long n) ? n : 0) + delta;
        if (count == 0)
        {
            _typeCounts.Remove(key);
        }
        else
        {
            _typeCounts[key] = count;
        }
    }

    /// <summary>Stops keeping entry counts per type (after a reopen, an import, or a failed count): the next backup counts.</summary>
    private void ForgetTypeCounts()
    {
        _typeCounts = null;
        _typeCountsKnown = false;
        _typeCountsGeneration++;
    }

    private Dictionary<(string Type, int Version), long> CountTypes(CancellationToken cancellationToken)
    {
        var types = new Dictionary<(string Type, int Version), long>();
        long n = 0;
        foreach (BsonDocument doc in _state.FindAll())
        {
            if ((++n & 1023) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            Checked(doc, "state"); // a backup never carries a damaged current value away as if it were sound
            var key = (doc["t"].AsString, doc["sv"].AsInt32);
            types[key] = types.TryGetValue(key, out long count) ? count + 1 : 1;
        }

        return types;
    }

    private void CopyRange(long length, long total, System.IO.Stream destination, Action<long, long>? progress, CancellationToken cancellationToken)
        => _dataFile.CopyPrefix(length, destination, new byte[CopyChunkBytes], "The data file", copied =>
        {
            progress?.Invoke(copied, total);
            AfterCopyChunk?.Invoke(copied);
        }, cancellationToken);

    /// <summary>Ends a data-file copy: the last one to end turns automatic checkpoints back on and wakes a waiting close.</summary>
    private void EndFileCopy()
    {
        lock (_gate)
        {
            _fileCopies--;
            if (_fileCopies == 0 && !_disposed && !_faulted)
            {
                try
                {
                    ApplyCheckpointPragma();
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The next open turns them back on; a failing store reports its own error on the next operation.
                    _reopenPending = true;
                }
            }

            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>LiteDB's automatic checkpoint threshold: off while a backup copies the data file, else the configured one.</summary>
    private void ApplyCheckpointPragma()
    {
        int wanted = _fileCopies > 0 ? 0 : _checkpointPages ?? DefaultCheckpointPages;
        if (_db.Pragma("CHECKPOINT").AsInt32 != wanted)
        {
            _db.Pragma("CHECKPOINT", wanted);
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
        // One pass over the entries in key order, in the snapshot's read transaction (a query per batch sorted what was
        // left each time). Entries whose payload is inline come out at once; change-record lookups wait for the pass.
        var logged = new Dictionary<long, BsonDocument>();
        var inline = new List<BsonDocument>();
        foreach (BsonDocument doc in _state.FindAll())
        {
            long sequence = SequenceOf(doc);
            if (sequence == 0)
            {
                yield return ToSnapshotDocument(doc, null);
            }
            else if (doc.ContainsKey("p"))
            {
                inline.Add(doc);
            }
            else
            {
                logged[sequence] = doc;
            }
        }

        foreach (BsonDocument doc in inline)
        {
            yield return _segmented ? ToSegmentSnapshotDocument(doc) : ToSnapshotDocument(doc, _changes.FindById(SequenceOf(doc)));
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
        StoredEntry entry = EntryOf(doc, payload);
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
            ChangeLogLayout = LiteDbChangeLogLayout.Collection, // entries carry records out of sequence order
        });
        store.Import(sequenceFloor, documents, replay, progress, cancellationToken);
    }

    /// <summary>Replays change records into this store (a database file taken out of a backup) with their own sequences.</summary>
    internal void ReplayChanges(long sequenceFloor, IEnumerable<StateChangeRecord> replay, Action<long>? progress, CancellationToken cancellationToken)
        => Import(sequenceFloor, [], replay, progress, cancellationToken);

    private void Import(long sequenceFloor, IEnumerable<SnapshotDocument> documents, IEnumerable<StateChangeRecord> replay, Action<long>? progress, CancellationToken cancellationToken)
    {
        long done = 0;
        long last = sequenceFloor;
        if (_log is not null && documents.Any())
        {
            // Entries with their change records go into a new file in the collection layout (BuildRestoredFile): a
            // segmented file's records must come in sequence order, as a replay's do.
            throw new InvalidOperationException("Entries are imported into a new file in the collection layout only.");
        }

        lock (_gate)
        {
            _ = Run(() => 0); // applies what was written behind (with Run's error handling)
            ForgetTypeCounts();
            foreach (SnapshotDocument[] batch in documents.Chunk(SnapshotBatch))
            {
                cancellationToken.ThrowIfCancellationRequested();
                InTransaction(() =>
                {
                    Dictionary<string, long>? counted = null;
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

                        _state.Insert(DocumentIntegrity.Seal(ToDocument(id, e, payload, d.ChangeSequence, payloadInLog: d.ChangeSequence != 0 && !_segmented)));
                        Tally(ref counted, e.Scope, +1);
                    }

                    AddCounts(counted);
                });
                done += batch.Length;
                progress?.Invoke(done);
            }

            foreach (StateChangeRecord[] batch in replay.Chunk(SnapshotBatch))
            {
                cancellationToken.ThrowIfCancellationRequested();
                InTransaction(() =>
                {
                    Dictionary<string, long>? counted = null;
                    foreach (StateChangeRecord r in batch)
                    {
                        string id = Id(r.Scope, r.Key);
                        InsertChange(r);
                        if (r.Kind == StateChangeKind.Delete)
                        {
                            if (_state.Delete(id))
                            {
                                Tally(ref counted, r.Scope, -1);
                            }

                            if (!_segmented)
                            {
                                WriteKeyDeleted(id, r.Sequence); // as a commit's delete (LiteDbStateStore.KeyHistory.cs)
                            }
                        }
                        else
                        {
                            var entry = new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload);
                            if (_state.Upsert(DocumentIntegrity.Seal(ToDocument(id, entry, r.Payload.ToArray(), r.Sequence, payloadInLog: !_segmented))))
                            {
                                Tally(ref counted, r.Scope, +1);
                                if (!_segmented)
                                {
                                    WriteKeyDeleted(id, 0);
                                }
                            }
                        }

                        last = Math.Max(last, r.Sequence);
                    }

                    AddCounts(counted);
                    if (_log is not null)
                    {
                        // As every logged commit of a segmented file: the batch's last sequence, with its records.
                        _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = SequenceId, ["v"] = last }));
                    }
                }, rolledBack: _log is null ? null : DiscardUncommitted);
                _sequence = last;
                done += batch.Length;
                progress?.Invoke(done);
            }

            // Sequences are never reused: the restored file continues after everything the backup and replay knew.
            InTransaction(() => _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = "sequence", ["v"] = last })));
            _sequence = last;
        }
    }

    /// <summary>A change record into the change log: the segments of a segmented file (in sequence order), else the collection.</summary>
    private void InsertChange(StateChangeRecord r)
    {
        if (_log is not null)
        {
            AppendToLog(r);
            return;
        }

        _changes.Insert(ChangeDocument(r.Sequence, Id(r.Scope, r.Key), r.Scope, r.Key, r.Kind, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp.UtcTicks, r.Payload.ToArray(), r.PreviousSequence, r.CorrelationId, r.Origin));
    }
}

/// <summary>A copy of a LiteDB store's data file: the position it holds, its length, and its entries per type and version.</summary>
/// <param name="Info">The position, time and entry count the copy holds.</param>
/// <param name="Length">The data file's length copied.</param>
/// <param name="Types">Entries per stable type name and schema version.</param>
/// <param name="LogFirstSequence">For a segmented file, the first sequence its copied change log holds (records before it were pruned).</param>
internal sealed record DataFileCopy(StateSnapshotInfo Info, long Length, IReadOnlyDictionary<(string Type, int Version), long> Types, long? LogFirstSequence = null);
