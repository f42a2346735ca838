using System;
using System.Collections.Generic;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The collection layout's history of one key (issue #6: a read gives intact data or the typed error, never a silent
/// omission). It is read by steps through the change records' key index (<c>ski</c>), which a damaged index entry can make
/// miss a record. Each record already holds, inside its checksum, the sequence of its key's previous record
/// (<see cref="StateChangeRecord.PreviousSequence"/>, <c>ps</c>), and the key's current value holds the sequence of its
/// newest (<c>cs</c>): a read of a key's history checks its records against both. A deleted key has no current value:
/// its delete's sequence is kept in a checksummed <c>meta</c> record (<see cref="KeyDeletedPrefix"/> + the key's id),
/// written with the delete, removed when the key is written again or when a prune leaves the key no record.
/// </summary>
/// <remarks>
/// Checked, for a read its limit did not cut: each record's previous sequence is the record found before it, or 0 (a
/// record written after the change log was off, which restarts the chain), or one the log no longer holds (a pruned
/// record: one lookup by sequence, through the primary index, which a damaged key index does not touch); a key with a
/// current value ends at the record the value names; a deleted key ends at its delete (unless pruned), and a key with
/// neither does not end at a write (unless deletes went unlogged). Not checked: a record missed right before a pruned
/// one (its successor names the pruned one); a key deleted before the delete records (or by a restore's replay) whose
/// every record the index misses; a value written while the change log was off (<c>cs</c> 0) names no newest record.
/// </remarks>
public sealed partial class LiteDbStateStore
{
    private const string KeyHistoryMismatch = "the change records found for a key do not match their links: the change log's index is damaged";

    /// <summary>The <c>meta</c> id prefix of a deleted key's delete sequence (collection layout): "kd", U+001E.</summary>
    private const string KeyDeletedPrefix = "kd\u001E";

    /// <summary>The <c>meta</c> id of the first sequence from which every delete leaves its record (collection layout).</summary>
    private const string KeyDeletesFromId = "key-deletes-from";

    /// <summary>
    /// The first sequence from which every logged delete wrote its record (<see cref="KeyDeletedPrefix"/>): a key's history
    /// ending at a write at or after it, with no current value and no delete record, is damage. Unknown (never checked)
    /// until an open with the index walk reads or writes it.
    /// </summary>
    private long _keyDeletesFrom = long.MaxValue;

    /// <summary>
    /// At an open with the index walk, in the collection layout: reads the sequence from which deletes leave their records,
    /// or, in a file that does not have it (new, or written by a StateGen from before the delete records), stores the next
    /// sequence.
    /// </summary>
    private void OpenKeyDeletesFrom()
    {
        if (_segmented || !RecordsChanges)
        {
            return;
        }

        if (_meta.FindById(KeyDeletesFromId) is { } doc)
        {
            BsonDocument checkedDoc = Checked(doc, MetaCollectionName);
            _keyDeletesFrom = checkedDoc["v"].IsInt64 && checkedDoc["v"].AsInt64 >= 1
                ? checkedDoc["v"].AsInt64
                : throw new StateStoreCorruptedException(FilePath, "the record of where delete records begin failed its checks");
            return;
        }

        long from = _sequence + 1;
        InTransaction(() => _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = KeyDeletesFromId, ["v"] = from })));
        _keyDeletesFrom = from;
    }

    /// <summary>The sequence of <paramref name="id"/>'s delete record, as stored while the key stays deleted; null when none is.</summary>
    private long? StoredKeyDeleted(string id)
        => StoredPointer(KeyDeletedPrefix, id, "k", "a deleted key's record failed its checks");

    /// <summary>Inside a transaction (collection layout): <paramref name="id"/> was deleted by the record <paramref name="sequence"/> (0: written again).</summary>
    private void WriteKeyDeleted(string id, long sequence)
        => WritePointer(KeyDeletedPrefix, id, "k", sequence);

    /// <summary>
    /// Inside a prune's transaction, after it deleted <paramref name="removed"/> (among <paramref name="records"/>, the whole
    /// log as its walk found it): a deleted key left without records loses its record. (One whose delete went while older
    /// records stay keeps it: its history must not end at a write.)
    /// </summary>
    private void ForgetPrunedKeys(IReadOnlyList<StateChangeRecord> records, HashSet<long> removed)
    {
        var affected = new HashSet<string>(StringComparer.Ordinal);
        var left = new HashSet<string>(StringComparer.Ordinal);
        foreach (StateChangeRecord r in records)
        {
            (removed.Contains(r.Sequence) ? affected : left).Add(Id(r.Scope, r.Key));
        }

        foreach (string id in affected)
        {
            if (!left.Contains(id) && StoredKeyDeleted(id) is not null)
            {
                WriteKeyDeleted(id, 0);
            }
        }
    }

    /// <summary>
    /// After a read of one key's history (<paramref name="id"/>) through the key index: <paramref name="walked"/>, in
    /// sequence order; <paramref name="cut"/> when its limit stopped it before the range's end.
    /// </summary>
    private void CheckKeyHistory(string id, List<StateChangeRecord> walked, bool cut)
    {
        long previous = 0;
        foreach (StateChangeRecord r in walked)
        {
            long link = r.PreviousSequence;
            bool linked = link == previous || link == 0
                || (link > previous && link < r.Sequence && _changes.FindById(link) is null);
            if (!linked)
            {
                throw new StateStoreCorruptedException(FilePath, KeyHistoryMismatch);
            }

            previous = r.Sequence;
        }

        if (cut)
        {
            return;
        }

        if (CheckedEntry(_state.FindById(id)) is { } entry)
        {
            // The value names its key's newest record, unless a prune removed it (a key deleted, its records pruned, then
            // written again with the change log off: the value keeps the pruned sequence; review, session 14).
            long newest = SequenceOf(entry);
            if (newest != 0 && previous != newest && (previous > newest || _changes.FindById(newest) is not null))
            {
                throw new StateStoreCorruptedException(FilePath, KeyHistoryMismatch);
            }
        }
        else if (StoredKeyDeleted(id) is long deleted)
        {
            // The delete ends the history, unless a prune removed it (records stamped out of order: the clock set back).
            if (previous > deleted || (previous != deleted && _changes.FindById(deleted) is not null))
            {
                throw new StateStoreCorruptedException(FilePath, KeyHistoryMismatch);
            }
        }
        else if (walked.Count > 0 && walked[^1].Kind == StateChangeKind.Write && !_unloggedDeletes && walked[^1].Sequence >= _keyDeletesFrom)
        {
            // Only where a delete after that write would have left its record: a StateGen from before them deleted without
            // one, and a prune (clock set back) can remove such a delete while the older write stays.
            throw new StateStoreCorruptedException(FilePath, KeyHistoryMismatch);
        }
    }
}
