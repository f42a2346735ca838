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

    /// <summary>At open (with the index walk): a file without the record, new or older, gets it, counted now.</summary>
    private void OpenHookCount()
    {
        if (_meta.FindById(HookCountId) is { } stored)
        {
            _ = CheckedHookCount(stored);
            return;
        }

        long count = 0;
        long last = 0;
        foreach (BsonDocument doc in _hooks.FindAll())
        {
            count++;
            last = Math.Max(last, Checked(doc, HooksCollectionName)["_id"].AsInt64);
        }

        InTransaction(() => WriteHookCount(count, last));
    }

    /// <summary>The stored count and newest id; <see langword="null"/> for a file not yet counted (opened without the index walk).</summary>
    private (long Count, long Last)? StoredHookCount() => _meta.FindById(HookCountId) is { } doc ? CheckedHookCount(doc) : null;

    private (long Count, long Last) CheckedHookCount(BsonDocument doc)
    {
        if (!DocumentIntegrity.Verify(doc, required: true) || !doc["n"].IsInt64 || !doc["l"].IsInt64 || doc["n"].AsInt64 < 0 || doc["l"].AsInt64 < 0
            || (doc["n"].AsInt64 == 0) != (doc["l"].AsInt64 == 0))
        {
            throw new StateStoreCorruptedException(FilePath, "the hook history's count record failed its checks");
        }

        return (doc["n"].AsInt64, doc["l"].AsInt64);
    }

    /// <summary>Inside a transaction: the history now holds <paramref name="count"/> records, the newest <paramref name="last"/>.</summary>
    private void WriteHookCount(long count, long last)
        => _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = HookCountId, ["n"] = count, ["l"] = last }));

    /// <summary>Inside an append's transaction, after the inserts: adds them, if the file is counted.</summary>
    private void CountAppendedHooks(int appended, long last)
    {
        if (appended > 0 && StoredHookCount() is { } stored)
        {
            WriteHookCount(stored.Count + appended, Math.Max(stored.Last, last));
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
                last = Checked(doc, HooksCollectionName)["_id"].AsInt64;
            }

            if (count < 0 || (count == 0) != (last == 0))
            {
                throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
            }

            WriteHookCount(count, last);
        }
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
