using System.Collections.Generic;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The collection layout's history of one key (issue #6: a read gives intact data or the typed error, never a silent
/// omission). It is read by steps through the change records' key index (<c>ski</c>), which a damaged index entry can make
/// miss a record. Each record already holds, inside its checksum, the sequence of its key's previous record
/// (<see cref="StateChangeRecord.PreviousSequence"/>, <c>ps</c>), and the key's current value holds the sequence of its
/// newest (<c>cs</c>): a read of a key's history checks its records against both, with no new field and no extra write.
/// </summary>
/// <remarks>
/// Checked, for a read its limit did not cut: each record's previous sequence is the record found before it, or 0 (a
/// record written after the change log was off, which restarts the chain), or one the log no longer holds (a pruned
/// record: one lookup by sequence, through the primary index, which a damaged key index does not touch); a key with a
/// current value ends at the record the value names; a key without one does not end at a write (unless deletes went
/// unlogged). Not checked: a record missed right before a pruned one (its successor names the pruned one); a key whose
/// every record the index misses, when the key has no current value; a value written while the change log was off
/// (<c>cs</c> 0) names no newest record.
/// </remarks>
public sealed partial class LiteDbStateStore
{
    private const string KeyHistoryMismatch = "the change records found for a key do not match their links: the change log's index is damaged";

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
            long newest = SequenceOf(entry);
            if (newest != 0 && previous != newest)
            {
                throw new StateStoreCorruptedException(FilePath, KeyHistoryMismatch);
            }
        }
        else if (walked.Count > 0 && walked[^1].Kind == StateChangeKind.Write && !_unloggedDeletes)
        {
            throw new StateStoreCorruptedException(FilePath, KeyHistoryMismatch);
        }
    }
}
