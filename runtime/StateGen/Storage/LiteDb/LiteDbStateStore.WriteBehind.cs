using System;
using System.Collections.Generic;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Write behind (segmented files with the change log on, <see cref="LiteDbStateStoreOptions.WriteBehind"/>): the segment
/// log is the write-ahead log of the values. A commit appends its change records (the last one flagged as the end of
/// its commit) and puts the new values in an in-memory overlay; LiteDB's <c>state</c> documents, their scope counts and
/// <c>meta.S</c> are brought up to date later, in one transaction for the whole overlay (only the newest value of each
/// key), by <see cref="ApplyPending"/>. A durable commit then waits for the log's flush alone.
/// <para>
/// <c>meta.S</c> is the newest sequence LiteDB holds; the records after it are the overlay. Every open loads them back
/// into it (<see cref="LoadUnapplied"/>), whether or not the option is on, so a file written behind opens the same in
/// any mode (a store not writing behind applies them before its first commit). Point reads and the version checks of writes look in the overlay first; every other read (lists, scans,
/// counts, snapshots, backups, prunes) applies the overlay first and reads LiteDB, so they need no merging.
/// </para>
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <summary>The most keys the overlay holds before the next commit applies it.</summary>
    internal const int MaxPendingKeys = 256;

    /// <summary>The most payload bytes the overlay holds before the next commit applies it.</summary>
    internal const long MaxPendingBytes = 16L << 20;

    /// <summary>The most change records after <c>meta.S</c> before the next commit applies the overlay (bounds the replay at open).</summary>
    internal const long MaxPendingRecords = 4096;

    private readonly bool _writeBehindRequested;
    private readonly Dictionary<string, PendingValue> _pendingValues = new(StringComparer.Ordinal);
    private long _pendingBytes;
    private long _appliedSequence; // meta.S: the newest change LiteDB's documents hold

    /// <summary>A value (or, with <see cref="Entry"/> null, a delete) committed to the log and not yet in LiteDB.</summary>
    private sealed record PendingValue(string Scope, string Key, StoredEntry? Entry, byte[]? Payload, long Sequence);

    /// <summary>Whether commits are written behind: the option, a segmented file, the change log on, a writable store.</summary>
    private bool WritesBehind => _writeBehindRequested && _log is not null && RecordsChanges && !_salvaging;

    /// <summary>Test hook: the keys committed to the log and not yet applied to LiteDB.</summary>
    internal int PendingValueCount
    {
        get
        {
            lock (_gate)
            {
                return _pendingValues.Count;
            }
        }
    }

    /// <summary>Test hook: the newest change sequence LiteDB's documents hold (<c>meta.S</c>).</summary>
    internal long AppliedSequence
    {
        get
        {
            lock (_gate)
            {
                return _appliedSequence;
            }
        }
    }

    /// <summary>Test hook: the file's format marker (<see cref="DocumentIntegrity"/>).</summary>
    internal int FileFormat => Run(() => _db.UserVersion, applyPending: false);

    /// <summary>Test hook: how many change records past <c>meta.S</c> the last open (or reopen) loaded into the overlay.</summary>
    internal long ReplayedAtOpen { get; private set; }

    /// <summary>Whether the overlay is over one of its bounds: the next commit applies it first.</summary>
    private bool PendingFull
        => _pendingValues.Count >= MaxPendingKeys || _pendingBytes >= MaxPendingBytes || _sequence - _appliedSequence >= MaxPendingRecords;

    /// <summary>The overlay's value of <paramref name="id"/>: <see langword="true"/> with a null entry for a pending delete.</summary>
    private bool TryGetPending(string id, out PendingValue pending)
    {
        // Point reads and writes ask on every call: with nothing pending (always, when not writing behind) no hash of the id.
        if (_pendingValues.Count == 0)
        {
            pending = null!;
            return false;
        }

        return _pendingValues.TryGetValue(id, out pending!);
    }

    /// <summary>Records a committed change in the overlay (a later change of the key replaces it).</summary>
    private void AddPending(string id, string scope, string key, StoredEntry? entry, byte[]? payload, long sequence)
    {
        if (_pendingValues.TryGetValue(id, out PendingValue? old))
        {
            _pendingBytes -= old.Payload?.Length ?? 0;
        }

        _pendingValues[id] = new PendingValue(scope, key, entry, payload, sequence);
        _pendingBytes += payload?.Length ?? 0;
    }

    /// <summary>
    /// Writes the overlay into LiteDB in one transaction (each key's newest value, the scope counts, and <c>meta.S</c> = the
    /// newest logged sequence), then empties it. Under the store's lock. Should the transaction fail, the overlay is left as
    /// it is: the caller's error handling reopens the store, and the reopen replays the log into LiteDB.
    /// </summary>
    private void ApplyPending()
    {
        if (_pendingValues.Count == 0)
        {
            // Nothing written behind: LiteDB holds every commit (each one direct, or applied before).
            _appliedSequence = _sequence;
            return;
        }

        if (Durability == StateDurability.Durable)
        {
            // LiteDB never holds a commit that a power cut could still take from the log (its records not yet flushed):
            // a durable file written behind has no history gaps. (Usually a no-op: a durable commit returned after it.)
            lock (_logSwap)
            {
                _log?.Flush();
            }
        }

        long upTo = _sequence;
        InTransaction(() =>
        {
            Dictionary<string, long>? counted = null;
            foreach (var (id, pending) in _pendingValues)
            {
                if (pending.Entry is null)
                {
                    if (_state.Delete(id))
                    {
                        Tally(ref counted, pending.Scope, -1);
                    }
                }
                else if (_state.Upsert(DocumentIntegrity.Seal(ToDocument(id, pending.Entry, pending.Payload!, pending.Sequence, payloadInLog: false))))
                {
                    Tally(ref counted, pending.Scope, +1);
                }
            }

            AddCounts(counted);
            _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = SequenceId, ["v"] = upTo }));
        });
        _pendingValues.Clear();
        _pendingBytes = 0;
        _appliedSequence = upTo;
    }

    /// <summary>
    /// The commit of <see cref="Apply"/> written behind: the change records are appended (the last one flagged as the end
    /// of the commit, which decides it: a crash before that flag is on the disk leaves a commit the next open cuts), then
    /// the new values go into the overlay. No LiteDB transaction. Should an append fail, the records appended for this
    /// commit are cut (or, should that fail too, the store reopens first) and nothing of it is in the overlay.
    /// </summary>
    private void CommitBehind(
        IReadOnlyList<StateOperation> operations,
        (string Id, StoredEntry? After, byte[]? Payload, long Before, long BeforeSequence, BsonDocument? BeforeDoc)[] staged,
        (string? Type, int SchemaVersion)[] beforeTypes,
        StateOperationResult[] results,
        DateTimeOffset now)
    {
        int last = -1;
        for (int i = 0; i < staged.Length; i++)
        {
            if (staged[i].After is not null || staged[i].Before != 0)
            {
                last = i;
            }
        }

        long sequence = _sequence;
        _commitAttempted = false;
        try
        {
            for (int i = 0; i < staged.Length; i++)
            {
                StateOperation op = operations[i];
                var (id, after, payload, beforeVersion, beforeSequence, beforeDoc) = staged[i];
                long changeSequence = 0;
                if (after is not null || beforeVersion != 0)
                {
                    changeSequence = ++sequence;
                    AppendToLog(SegmentRecord(changeSequence, op, after, payload, beforeVersion, beforeSequence, beforeTypes[i], now), endsCommit: i == last);
                    beforeSequence = changeSequence;
                }

                for (int j = i + 1; j < staged.Length; j++)
                {
                    if (string.Equals(staged[j].Id, id, StringComparison.Ordinal))
                    {
                        staged[j].BeforeSequence = beforeSequence;
                    }
                }

                results[i] = new StateOperationResult(after, beforeVersion != 0, op.ReturnPrevious ? ToEntry(beforeDoc) : null, changeSequence, now);
            }
        }
        catch
        {
            if (sequence != _sequence)
            {
                DiscardUncommitted();
            }

            throw;
        }

        // Decided: the commit's end record is in the log (in the OS cache; a durable caller waits for its flush).
        _sequence = sequence;
        for (int i = 0; i < staged.Length; i++)
        {
            if (results[i].ChangeSequence != 0)
            {
                AddPending(staged[i].Id, operations[i].Scope, operations[i].Key, staged[i].After, staged[i].Payload, results[i].ChangeSequence);
            }
        }
    }

    /// <summary>
    /// At open, after the segment log's recovery: the records after <c>meta.S</c> (<paramref name="applied"/>) that the
    /// log kept are whole commits (a record after it survives recovery only within a commit whose end record is there),
    /// written behind and not yet in LiteDB. Each key's newest one goes back into the overlay, as when it was committed;
    /// nothing is written (the next list, backup, close or full overlay applies them), so an open after an I/O error
    /// such as a full disk can still read.
    /// </summary>
    private void LoadUnapplied(long applied)
    {
        long last = _log!.NextSequence - 1;
        ReplayedAtOpen = Math.Max(0, last - applied);
        if (last <= applied)
        {
            return;
        }

        foreach (StateChangeRecord record in _log.ReadFrom(applied))
        {
            StoredEntry? entry = null;
            byte[]? payload = null;
            if (record.Kind == StateChangeKind.Write)
            {
                payload = record.Payload.ToArray();
                entry = new StoredEntry(record.Scope, record.Key, record.TypeName, record.SchemaVersion, record.Version, record.Timestamp, payload);
            }

            AddPending(Id(record.Scope, record.Key), record.Scope, record.Key, entry, payload, record.Sequence);
        }

        _sequence = last;
    }
}
