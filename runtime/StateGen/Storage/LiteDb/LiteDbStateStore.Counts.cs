using System;
using System.Collections.Generic;
using System.Linq;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The count of current values per scope. LiteDB pages carry no checksum, and a damaged index page can leave a
/// valid-looking pointer that skips entries: a list or scan would then omit a value while every entry it returns is
/// intact. So the file keeps, in its <c>counts</c> collection, one checksummed record per scope that has values
/// (<c>_id</c> and <c>s</c>: the scope; <c>n</c>: how many), written in the same LiteDB transaction as the create or
/// delete that changes it (an update of an existing key does not touch it), and every enumeration of a whole scope or of
/// the whole store compares what it found with it.
/// </summary>
public sealed partial class LiteDbStateStore
{
    private const string CountsCollectionName = "counts";
    private const string CountMismatch = "the entries found do not match their scope's stored count: an index is damaged";

    /// <summary>
    /// At open (with the index walk on): a file from before counts gets them, counted once from its entries in one write
    /// transaction and then marked with the new format (a crash between the two leaves the old marker, and the next open
    /// counts again); a file with counts must hold as many entries as they add up to.
    /// </summary>
    private void OpenCounts(int format, long entries)
    {
        if (_countsKept)
        {
            if (entries != StoredTotal())
            {
                throw new StateStoreCorruptedException(FilePath, CountMismatch);
            }

            return;
        }

        InTransaction(() =>
        {
            _counts.DeleteAll(); // records of an upgrade that did not get to mark the file
            CreateCountsCollection();
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (BsonDocument doc in _state.FindAll())
            {
                string scope = CheckedEntry(doc)!["s"].AsString;
                counts[scope] = counts.GetValueOrDefault(scope) + 1;
            }

            foreach (var (scope, n) in counts)
            {
                _counts.Insert(CountDocument(scope, n));
            }
        });
        _db.UserVersion = format == DocumentIntegrity.ChecksummedFormat ? DocumentIntegrity.CountedFormat : DocumentIntegrity.UncheckedCountedFormat;
        _countsKept = true;
    }

    /// <summary>
    /// Creates the (empty) collection of counts when the file is created or upgraded, never on a later write. Created by
    /// the first create instead, one fault-test run (the 13th page write failing, with checkpoints every 4 pages) left a
    /// file that reopened with LiteDB's "page type must be collection page" (the current-value, change-log and hook
    /// collections are created at open too).
    /// </summary>
    private void CreateCountsCollection() => CreateCollection(_counts, CountsCollectionName);

    /// <summary>Creates an empty collection (LiteDB creates one with its first insert), inside the caller's transaction.</summary>
    private void CreateCollection(ILiteCollection<BsonDocument> collection, string name)
    {
        if (!_db.CollectionExists(name))
        {
            collection.Insert(new BsonDocument { ["_id"] = string.Empty });
            collection.Delete(string.Empty);
        }
    }

    private static BsonDocument CountDocument(string scope, long count)
        => DocumentIntegrity.Seal(new BsonDocument { ["_id"] = scope, ["s"] = scope, ["n"] = count });

    /// <summary>A count record, checked: its checksum (always required: counts came with checksums), its id, a positive count.</summary>
    private (string Scope, long Count) CheckedCount(BsonDocument doc)
    {
        if (!DocumentIntegrity.Verify(doc, required: true) || !doc["_id"].IsString || !doc["s"].IsString || !doc["n"].IsInt64
            || !string.Equals(doc["_id"].AsString, doc["s"].AsString, StringComparison.Ordinal) || doc["n"].AsInt64 <= 0)
        {
            throw new StateStoreCorruptedException(FilePath, "a scope's count record failed its checks");
        }

        return (doc["s"].AsString, doc["n"].AsInt64);
    }

    /// <summary>The stored count of a scope's current values (0 when it has no record).</summary>
    private long StoredCount(string scope) => _counts.FindById(scope) is { } doc ? CheckedCount(doc).Count : 0;

    /// <summary>The stored counts of all scopes added up.</summary>
    private long StoredTotal() => _counts.FindAll().Sum(d => CheckedCount(d).Count);

    /// <summary>Adds <paramref name="delta"/> to a scope's difference in <paramref name="deltas"/> (created when counts are kept).</summary>
    private void Tally(ref Dictionary<string, long>? deltas, string scope, long delta)
    {
        if (!_countsKept && deltas is null)
        {
            return;
        }

        deltas ??= new Dictionary<string, long>(StringComparer.Ordinal);
        deltas[scope] = deltas.GetValueOrDefault(scope) + delta;
    }

    /// <summary>
    /// Writes the scopes' new counts: one record per scope whose count changed (removed at 0). Called inside the
    /// transaction of the change, so a commit that fails or rolls back changes no count.
    /// </summary>
    private void AddCounts(Dictionary<string, long>? deltas)
    {
        if (deltas is null || !_countsKept)
        {
            return;
        }

        foreach (var (scope, delta) in deltas)
        {
            if (delta == 0)
            {
                continue;
            }

            long count = StoredCount(scope) + delta;
            if (count < 0)
            {
                throw new StateStoreCorruptedException(FilePath, CountMismatch);
            }

            if (count == 0)
            {
                _counts.Delete(scope);
            }
            else
            {
                _counts.Upsert(CountDocument(scope, count));
            }
        }
    }

    /// <summary>A key found through the scope index, checked: the entry is intact and belongs to that scope.</summary>
    private string KeyInScope(string scope, BsonDocument doc)
    {
        BsonDocument entry = CheckedEntry(doc)!;
        if (!string.Equals(entry["s"].AsString, scope, StringComparison.Ordinal))
        {
            throw new StateStoreCorruptedException(FilePath, "a scope's index led to another scope's value");
        }

        return entry["k"].AsString;
    }

    /// <summary>A whole scope's keys (sorted ordinally) against its stored count: none repeated, none missing.</summary>
    private void CheckScopeCount(string scope, string[] keys)
    {
        if (!_countsKept)
        {
            return;
        }

        for (int i = 1; i < keys.Length; i++)
        {
            if (string.Equals(keys[i - 1], keys[i], StringComparison.Ordinal))
            {
                throw new StateStoreCorruptedException(FilePath, CountMismatch);
            }
        }

        if (keys.Length != StoredCount(scope))
        {
            throw new StateStoreCorruptedException(FilePath, CountMismatch);
        }
    }

    /// <summary>
    /// Checks a scan page against the stored counts of the scopes it holds whole: every scope after the position's scope
    /// and before the last entry's scope, and, when the page ended the store, every scope after the position. The scope
    /// of the position and the last entry's scope may continue on another page and are not checked here (a scope that
    /// never lies wholly in one page is checked by its list, <see cref="CountedScopeKeys"/>, not by the scan). A scope
    /// with a count but no entry in that range is an omission too.
    /// </summary>
    private void CheckScanCounts(StateScanPosition? after, StoredEntry[] page, bool exhausted)
    {
        if (!_countsKept)
        {
            return;
        }

        string? from = after?.Scope;
        string? to = exhausted ? null : page[^1].Scope;
        bool Whole(string scope) => (from is null || string.CompareOrdinal(scope, from) > 0) && (to is null || string.CompareOrdinal(scope, to) < 0);

        var found = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (StoredEntry entry in page)
        {
            if (Whole(entry.Scope))
            {
                found[entry.Scope] = found.GetValueOrDefault(entry.Scope) + 1;
            }
        }

        // Ranges walked by guarded steps or from the start (IndexWalk): a damaged index ends the walk, never loops it.
        IEnumerable<BsonDocument> counts = from is null
            ? IndexWalk.FromEnd(_counts, "_id", Query.Ascending)
            : IndexWalk.Ascending(_counts, "_id", from, _ => true, FilePath);
        if (to is not null)
        {
            counts = counts.TakeWhile(d => !d["_id"].IsString || string.CompareOrdinal(d["_id"].AsString, to) < 0);
        }

        foreach (BsonDocument doc in counts)
        {
            (string scope, long count) = CheckedCount(doc);
            if (Whole(scope) && (!found.Remove(scope, out long seen) || seen != count))
            {
                throw new StateStoreCorruptedException(FilePath, CountMismatch);
            }
        }

        if (found.Count != 0)
        {
            throw new StateStoreCorruptedException(FilePath, CountMismatch); // entries of a scope without a count
        }
    }

    /// <summary>The whole store's entry count, as a snapshot or a backup took it, against the stored counts.</summary>
    private void CheckTotal(long entries)
    {
        if (_countsKept && entries != StoredTotal())
        {
            throw new StateStoreCorruptedException(FilePath, CountMismatch);
        }
    }

    /// <summary>Test hook: the stored count of every scope that has values.</summary>
    internal IReadOnlyDictionary<string, long> StoredCounts()
        => Run(() => _counts.FindAll().Select(CheckedCount).ToDictionary(c => c.Scope, c => c.Count, StringComparer.Ordinal));

    /// <summary>Test hook: whether this file keeps counts (false for a file from before them opened without the index walk).</summary>
    internal bool KeepsCounts => Run(() => _countsKept);
}
