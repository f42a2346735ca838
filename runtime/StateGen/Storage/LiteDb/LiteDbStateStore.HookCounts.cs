using System;
using System.Collections.Generic;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The hook history's count and newest id, kept in one checksummed <c>meta</c> record (<see cref="HookCountId"/>) that
/// every append and prune updates in its own transaction. LiteDB lists hook records through an index; a damaged index
/// page can drop records from a read without any error (the file fuzz found one: a full read came back empty). A read
/// that walks the history compares what it found with this record, so an omission becomes
/// <see cref="StateStoreCorruptedException"/>: by id, and by correlation id (which walks the whole history).
/// </summary>
public sealed partial class LiteDbStateStore
{
    private const string HookCountId = "hooks";
    private const string HookCountMismatch = "the hook records found do not match the history's stored count: an index is damaged";

    /// <summary>
    /// The count record: how many hook records the history holds, the newest one's id, the id from which every record
    /// carries its correlation index value (<c>ci</c>; <see langword="null"/> when not known, as in a file written before
    /// it), the newest id ever assigned (ids are never reused, even when the newest records are pruned), and the id from
    /// which every record carries its link to the previous record of its correlation id (<c>pc</c>, stored as <c>p</c>;
    /// <see langword="null"/> when not known: see LiteDbStateStore.HookChains.cs).
    /// </summary>
    private readonly record struct HookTotals(long Count, long Last, long? IndexedFrom, long Assigned, long? ChainedFrom);

    /// <summary>
    /// At open (with the index walk): a file without the record, new or older, gets it, counted now, with the id from
    /// which every record carries <c>ci</c> (after the newest record without it, which files from before it hold).
    /// </summary>
    private void OpenHookCount()
    {
        if (_meta.FindById(HookCountId) is { } stored)
        {
            _ = CheckedHookCount(stored);
            return;
        }

        long count = 0;
        long last = 0;
        long lastUnindexed = 0;
        long lastUnchained = 0;
        foreach (BsonDocument doc in _hooks.FindAll())
        {
            count++;
            long id = CheckedHook(doc)["_id"].AsInt64;
            last = Math.Max(last, id);
            if (!doc.ContainsKey(CorrelationIndex))
            {
                lastUnindexed = Math.Max(lastUnindexed, id);
            }

            if (!doc.ContainsKey(PreviousInCorrelation))
            {
                lastUnchained = Math.Max(lastUnchained, id);
            }
        }

        InTransaction(() => WriteHookCount(new HookTotals(count, last, lastUnindexed + 1, last, lastUnchained + 1)));
    }

    /// <summary>The stored totals; <see langword="null"/> for a file not yet counted (opened without the index walk).</summary>
    private HookTotals? StoredHookCount() => _meta.FindById(HookCountId) is { } doc ? CheckedHookCount(doc) : null;

    private HookTotals CheckedHookCount(BsonDocument doc)
    {
        if (!DocumentIntegrity.Verify(doc, required: true) || !doc["n"].IsInt64 || !doc["l"].IsInt64 || doc["n"].AsInt64 < 0 || doc["l"].AsInt64 < 0
            || (doc["n"].AsInt64 == 0) != (doc["l"].AsInt64 == 0)
            || (!doc["i"].IsNull && (!doc["i"].IsInt64 || doc["i"].AsInt64 < 1))
            || (!doc["a"].IsNull && (!doc["a"].IsInt64 || doc["a"].AsInt64 < doc["l"].AsInt64))
            || (!doc["p"].IsNull && (!doc["p"].IsInt64 || doc["p"].AsInt64 < 1)))
        {
            throw new StateStoreCorruptedException(FilePath, "the hook history's count record failed its checks");
        }

        // Written by a StateGen from before the correlation index, the record has neither "i" nor "a" (it rewrites the
        // whole record): then the records are not known to carry "ci", and ids continue after the newest. Written by one
        // from before the correlation chains, it has no "p" (and that StateGen's appends and prunes kept no chain).
        return new HookTotals(doc["n"].AsInt64, doc["l"].AsInt64, doc["i"].IsNull ? null : doc["i"].AsInt64, doc["a"].IsNull ? doc["l"].AsInt64 : doc["a"].AsInt64,
            doc["p"].IsNull ? null : doc["p"].AsInt64);
    }

    /// <summary>Inside a transaction: the history's totals are now <paramref name="totals"/>.</summary>
    private void WriteHookCount(HookTotals totals)
    {
        var doc = new BsonDocument { ["_id"] = HookCountId, ["n"] = totals.Count, ["l"] = totals.Last, ["a"] = Math.Max(totals.Assigned, totals.Last) };
        if (totals.IndexedFrom is long from)
        {
            doc["i"] = from;
        }

        if (totals.ChainedFrom is long chainedFrom)
        {
            doc["p"] = chainedFrom;
        }

        _meta.Upsert(DocumentIntegrity.Seal(doc));
    }

    /// <summary>
    /// Inside an append's transaction, before its inserts: the id of its first record, after every id assigned before
    /// (from the count record; in a file not yet counted, after the newest record, found by the guarded walk).
    /// </summary>
    private long NextHookId()
    {
        if (StoredHookCount() is { } stored)
        {
            return Math.Max(stored.Last, stored.Assigned) + 1;
        }

        long last = 0;
        foreach (BsonDocument doc in _hooks.Find(Query.All("_id", Query.Descending), limit: 1))
        {
            last = CheckedHook(doc)["_id"].AsInt64;
        }

        return last + 1;
    }

    /// <summary>
    /// Inside an append's transaction, after the inserts of ids <paramref name="first"/> to <paramref name="last"/> (each
    /// with its <c>ci</c> and <c>pc</c>): adds them, if the file is counted. A record that did not know from which id every
    /// record carries <c>ci</c>, or <c>pc</c>, learns it: from this append's first.
    /// </summary>
    private void CountAppendedHooks(int appended, long first, long last)
    {
        if (appended > 0 && StoredHookCount() is { } stored)
        {
            WriteHookCount(new HookTotals(stored.Count + appended, Math.Max(stored.Last, last), stored.IndexedFrom ?? first, Math.Max(stored.Assigned, last), stored.ChainedFrom ?? first));
        }
    }

    /// <summary>Inside a prune's transaction, after the deletes: removes them, and finds the newest id left.</summary>
    private void CountPrunedHooks(int removed)
    {
        if (removed > 0 && StoredHookCount() is { } stored)
        {
            long count = stored.Count - removed;
            long last = 0;
            foreach (BsonDocument doc in _hooks.Find(Query.All("_id", Query.Descending), limit: 1))
            {
                last = CheckedHook(doc)["_id"].AsInt64;
            }

            if (count < 0 || (count == 0) != (last == 0))
            {
                throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
            }

            WriteHookCount(stored with { Count = count, Last = last });
        }
    }

    /// <summary>
    /// Whether a read by correlation id can step through the <c>ci</c> index: the count record knows the id from which
    /// every record carries it, and the oldest record (one guarded descent) is not older. Otherwise (records from
    /// before the index remain, or the file is not counted) the read walks the whole history. When it steps, whether the
    /// steps are checked against the correlation's chain (<c>ChainedFrom</c>, not null): the count record knows the id
    /// from which every record carries <c>pc</c>, and the oldest record is not older (records from before the chains
    /// remain: the read steps unchecked, as before them, until they are pruned).
    /// </summary>
    private (bool Indexed, long? ChainedFrom) HooksCorrelationIndexed()
    {
        if (StoredHookCount() is not { IndexedFrom: long from } stored)
        {
            return (false, null);
        }

        if (stored.Count == 0)
        {
            return (true, stored.ChainedFrom);
        }

        if (IndexWalk.Next(_hooks, "_id", 0L, FilePath) is not { } first || first["_id"].AsInt64 < from)
        {
            return (false, null);
        }

        return (true, stored.ChainedFrom is long chainedFrom && first["_id"].AsInt64 >= chainedFrom ? chainedFrom : null);
    }

    /// <summary>
    /// A hook record, checked: its checksum, and when it carries <c>ci</c> (every record since the correlation index),
    /// its id and correlation id against that value, which repeats them inside the checksum (the id is not covered by it).
    /// </summary>
    private BsonDocument CheckedHook(BsonDocument doc)
    {
        Checked(doc, HooksCollectionName);
        if (!doc["_id"].IsInt64)
        {
            throw new StateStoreCorruptedException(FilePath, "a hook record's id is not a whole number");
        }

        if (doc.TryGetValue(CorrelationIndex, out BsonValue ci)
            && !(doc["c"].IsNull ? ci.IsNull
                : doc["c"].IsString && ci.IsString && string.Equals(ci.AsString, IndexValue(doc["c"].AsString, doc["_id"].AsInt64), StringComparison.Ordinal)))
        {
            throw new StateStoreCorruptedException(FilePath, "a hook record's id or correlation id does not match its correlation index value");
        }

        // Its link to the previous record of its correlation id (records since the chains): before it, none without one.
        if (doc.TryGetValue(PreviousInCorrelation, out BsonValue pc)
            && !(doc["c"].IsNull ? pc.IsNull : pc.IsInt64 && pc.AsInt64 >= 0 && pc.AsInt64 < doc["_id"].AsInt64))
        {
            throw new StateStoreCorruptedException(FilePath, "a hook record's link to the previous record of its correlation id is not valid");
        }

        return doc;
    }

    /// <summary>A walk of the whole history: as many records as the stored count, the newest its newest id.</summary>
    private void CheckHookTotals(long seen, long newest)
    {
        if (StoredHookCount() is { } stored && (seen != stored.Count || (seen > 0 && newest != stored.Last)))
        {
            throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
        }
    }

    /// <summary>
    /// After a read that walked every record with an id above <paramref name="afterId"/>: the newest stored id must be
    /// among them, and a walk from the start must have found exactly the stored count.
    /// </summary>
    private void CheckHookRead(IReadOnlyList<BsonDocument> found, long afterId)
    {
        if (StoredHookCount() is not { } stored)
        {
            return;
        }

        long newest = 0;
        foreach (BsonDocument doc in found)
        {
            newest = Math.Max(newest, doc["_id"].AsInt64);
        }

        if ((afterId == 0 && found.Count != stored.Count) || (stored.Last > afterId && newest != stored.Last) || newest > stored.Last)
        {
            throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
        }
    }
}
