using System;
using System.Collections.Generic;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The collection layout's history of one correlation id (issue #6: a read gives intact data or the typed error, never a
/// silent omission). It is read by steps through the change records' correlation index (<c>ci</c>), which a damaged
/// index entry can make miss a record. Each change record with a correlation id written since this check carries
/// <c>pc</c>, the sequence of the previous record with the same correlation id (0 if none), inside its checksum, and a
/// checksummed <c>meta</c> record per correlation id (<see cref="ChangeCorrelationPrefix"/> + the id) holds the newest
/// one's sequence; both are written in the commit's transaction. (The segment layout is not concerned: a record missing
/// there is a gap in the sequence.)
/// </summary>
/// <remarks>
/// <para>
/// Checked, for a read of a correlation id's history: each record with <c>pc</c> links to the record with <c>pc</c> found
/// before it, or to 0 (none), or to one the log no longer holds (pruned: one lookup by sequence, through the primary
/// index); unless its limit cut it, the read must reach the stored newest (or the log no longer holds it), and find no
/// record with <c>pc</c> after it; a correlation id without the <c>meta</c> record has no record with <c>pc</c>.
/// Records without <c>pc</c> (written before this check, by a StateGen from before it, or by a restore from a backup) are
/// not checked, nor is a record missed right before a pruned one.
/// </para>
/// <para>
/// A prune does not rewrite records (they hold payloads): a link to a pruned record is accepted as above. It moves a
/// correlation id's <c>meta</c> record to the newest record left, or deletes it when none is left. Cost: per commit, one
/// <c>meta</c> lookup and one upsert per distinct correlation id; per read, one <c>meta</c> lookup, and a lookup by
/// sequence where a link skips.
/// </para>
/// </remarks>
public sealed partial class LiteDbStateStore
{
    /// <summary>The <c>meta</c> id prefix of a correlation id's newest change record (collection layout): "cc", U+001E.</summary>
    private const string ChangeCorrelationPrefix = "cc\u001E";

    private const string CorrelationHistoryMismatch = "the change records found for a correlation id do not match their links: the change log's index is damaged";

    /// <summary>The sequence of the newest change record with <paramref name="correlationId"/>, as stored; null when none is.</summary>
    private long? StoredChangeCorrelationNewest(string correlationId)
        => StoredPointer(ChangeCorrelationPrefix, correlationId, "c", "a change-log correlation record failed its checks");

    /// <summary>Inside a transaction: <paramref name="correlationId"/>'s newest change record is now <paramref name="newest"/> (0: none).</summary>
    private void WriteChangeCorrelationNewest(string correlationId, long newest)
        => WritePointer(ChangeCorrelationPrefix, correlationId, "c", newest);

    /// <summary>
    /// Inside a commit's transaction (collection layout), for a record of <paramref name="correlationId"/> at
    /// <paramref name="sequence"/>: its link, the previous record of the correlation id (this commit's, else the stored
    /// newest, else 0). <paramref name="newest"/> collects the commit's newest per correlation id.
    /// </summary>
    private long ChangeCorrelationLink(string correlationId, long sequence, ref Dictionary<string, long>? newest)
    {
        newest ??= new Dictionary<string, long>(StringComparer.Ordinal);
        long link = newest.TryGetValue(correlationId, out long before) ? before : StoredChangeCorrelationNewest(correlationId) ?? 0;
        newest[correlationId] = sequence;
        return link;
    }

    /// <summary>
    /// After a read of one correlation id's history through the correlation index: <paramref name="walked"/> in sequence
    /// order with each record's link (<paramref name="links"/>, null without one); <paramref name="cut"/> when its limit
    /// stopped it before the range's end.
    /// </summary>
    private void CheckCorrelationHistory(string correlationId, List<StateChangeRecord> walked, List<long?> links, bool cut)
    {
        long previous = 0;
        long before = 0; // the record found just before, linked or not
        bool chained = false;
        for (int i = 0; i < walked.Count; i++)
        {
            long sequence = walked[i].Sequence;
            if (links[i] is not long link)
            {
                before = sequence;
                continue; // a record from before the links (an older StateGen's, a restore's replay): not checked
            }

            // A link may name the record found just before even when that one has no link of its own: a prune can leave
            // such a record as the correlation id's stored newest, and the next commit links to it (review, session 14).
            bool linked = link < sequence
                && (link == previous || link == before || link == 0 || (link > previous && _changes.FindById(link) is null));
            if (!linked)
            {
                throw new StateStoreCorruptedException(FilePath, CorrelationHistoryMismatch);
            }

            previous = sequence;
            before = sequence;
            chained = true;
        }

        if (cut)
        {
            return;
        }

        if (StoredChangeCorrelationNewest(correlationId) is long newest)
        {
            // The stored newest, when the log still holds it as a linked record, is where the read must have ended (after a
            // StateGen from before the links wrote, a prune can leave an unlinked record as the newest: not checked).
            if (previous > newest || (previous != newest && _changes.FindById(newest) is { } doc && Checked(doc, ChangesCollectionName).ContainsKey(PreviousInCorrelation)))
            {
                throw new StateStoreCorruptedException(FilePath, CorrelationHistoryMismatch);
            }
        }
        else if (chained)
        {
            throw new StateStoreCorruptedException(FilePath, CorrelationHistoryMismatch);
        }
    }

    /// <summary>
    /// Inside a prune's transaction, after it deleted <paramref name="removed"/> (among <paramref name="records"/>, the
    /// whole log as its walk found it): each correlation id whose stored newest went gets the newest record left, or
    /// loses its record.
    /// </summary>
    private void MovePrunedCorrelations(IReadOnlyList<StateChangeRecord> records, HashSet<long> removed)
    {
        var affected = new HashSet<string>(StringComparer.Ordinal);
        var newestLeft = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (StateChangeRecord r in records)
        {
            if (r.CorrelationId is not { } c)
            {
                continue;
            }

            if (removed.Contains(r.Sequence))
            {
                affected.Add(c);
            }
            else if (r.Sequence > newestLeft.GetValueOrDefault(c))
            {
                newestLeft[c] = r.Sequence;
            }
        }

        foreach (string c in affected)
        {
            if (StoredChangeCorrelationNewest(c) is long newest && removed.Contains(newest))
            {
                WriteChangeCorrelationNewest(c, newestLeft.GetValueOrDefault(c));
            }
        }
    }
}
