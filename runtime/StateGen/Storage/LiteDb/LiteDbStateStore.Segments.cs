using System;
using System.Collections.Generic;
using System.Linq;
using LiteDB;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.Memory;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The change log of a <see cref="DocumentIntegrity.SegmentedFormat"/> file: its reads and retention go to the segment
/// files beside it (<see cref="SegmentLog"/>) instead of the <c>changes</c> collection. Called under the store's lock.
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <summary>The records matching <paramref name="query"/>, in sequence order, from the segment log.</summary>
    private StateChangeRecord[] ReadSegmentChanges(StateChangeQuery query)
    {
        SegmentLog log = _log!;
        IEnumerable<StateChangeRecord> candidates;
        if (query.Scope is not null && query.Key is not null)
        {
            // The key's chain, newest first: it can stop at the first record not after the query's position.
            var chain = new List<StateChangeRecord>();
            foreach (StateChangeRecord record in log.ReadHistory(query.Scope, query.Key))
            {
                if (record.Sequence <= query.AfterSequence)
                {
                    break;
                }

                chain.Add(record);
            }

            chain.Reverse();
            candidates = chain;
        }
        else if (query.CorrelationId is not null)
        {
            candidates = log.SequencesOf(query.CorrelationId)
                .Where(sequence => sequence > query.AfterSequence)
                .Select(log.Read)
                .OfType<StateChangeRecord>();
        }
        else
        {
            // A scope without a key has no index of its own: the log is read in order from the query's position.
            candidates = log.ReadFrom(query.AfterSequence);
        }

        return candidates.Where(r => MemoryStateStore.Matches(r, query)).Take(query.Limit).ToArray();
    }

    /// <summary>
    /// Retention in the segment log: the records older than <paramref name="olderThan"/> and all but the newest
    /// <paramref name="keepPerKey"/> of each key, except each current value's record, become tombstones.
    /// </summary>
    private long PruneSegmentChanges(DateTimeOffset? olderThan, int? keepPerKey)
    {
        SegmentLog log = _log!;
        if (olderThan is null && keepPerKey is null)
        {
            return 0;
        }

        var remove = new HashSet<long>();
        var kept = new HashSet<long>();
        var perKey = keepPerKey is null ? null : new Dictionary<(string Scope, string Key), List<long>>();
        foreach (StateChangeRecord record in log.ReadFrom(0))
        {
            if (log.LastChangeOf(record.Scope, record.Key) == (record.Sequence, false))
            {
                // A key's newest record that is a write is kept even with no current value (a delete made with the log
                // off): the log refuses to remove it. It still counts as the key's newest.
                kept.Add(record.Sequence);
            }

            if (olderThan is DateTimeOffset limit && record.Timestamp < limit)
            {
                remove.Add(record.Sequence);
            }

            if (perKey is not null)
            {
                if (!perKey.TryGetValue((record.Scope, record.Key), out List<long>? sequences))
                {
                    perKey[(record.Scope, record.Key)] = sequences = [];
                }

                sequences.Add(record.Sequence);
            }
        }

        if (perKey is not null)
        {
            int keep = Math.Max(0, keepPerKey!.Value);
            foreach (List<long> sequences in perKey.Values)
            {
                // Read in sequence order: the newest are at the end.
                remove.UnionWith(sequences.Take(Math.Max(0, sequences.Count - keep)));
            }
        }

        // A current value's record is always kept.
        remove.ExceptWith(_state.FindAll().Select(d => SequenceOf(CheckedEntry(d)!)));
        remove.ExceptWith(kept);
        if (remove.Count == 0)
        {
            return 0;
        }

        long removed = log.Remove(remove);

        // Leading segments left holding only tombstones go too (tombstones carry no time: the limit is irrelevant there).
        log.RemoveSegments(DateTimeOffset.MinValue);
        return removed;
    }

    /// <summary>The snapshot form of a current value whose change record is in the segment log.</summary>
    private SnapshotDocument ToSegmentSnapshotDocument(BsonDocument doc)
    {
        Checked(doc, CollectionName);
        long sequence = SequenceOf(doc);
        StateChangeRecord? change = sequence == 0 ? null : _log?.Read(sequence);
        StoredEntry entry = EntryOf(doc, doc.TryGetValue("p", out BsonValue payload) && payload.IsBinary ? payload.AsBinary : throw new StateStoreCorruptedException(FilePath, "a current value has no payload"));
        return change is null
            ? new SnapshotDocument(entry, 0, 0, null, null)
            : new SnapshotDocument(entry, change.Sequence, change.PreviousSequence, change.CorrelationId, change.Origin);
    }

    /// <summary>Physical copies do not carry the segment files yet: a restored copy would have no change log.</summary>
    private void ThrowIfSegmented(string what)
    {
        if (_segmented)
        {
            throw new StateStoreException($"{what} of '{FilePath}' is not available: its change log is in segment files (preview layout), which a copy of the data file does not carry yet.");
        }
    }
}
