using System;
using System.Collections.Generic;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The hook history's chains per correlation id (issue #6: a read gives intact data or the typed error, never a silent
/// omission). A read by correlation id steps through the <c>ci</c> index, and a damaged index entry (one byte of its key
/// changed, a damaged link) made it miss a record without any error. So each record with a correlation id carries
/// <c>pc</c>, the id of the previous record with the same correlation id (0 if none), inside its checksum, and a
/// checksummed <c>meta</c> record per correlation id (<see cref="HookCorrelationPrefix"/> + the id) holds the newest
/// record's id; both are written in the append's transaction. A stepped read then checks that each record it finds links
/// to the one found before it, that the first links to one at or before its position, and, unless its limit cut it,
/// that it ended at the stored newest. A record the index misses breaks one of these.
/// </summary>
/// <remarks>
/// <para>
/// Cost: per append, one <c>meta</c> lookup and one upsert per distinct correlation id in the batch; per stepped read, one
/// <c>meta</c> lookup. A prune keeps the chains exact: a record whose previous record it removes is relinked (rewritten
/// and resealed) to the one before, and a correlation id whose newest record it removes gets the newest one left, or loses
/// its <c>meta</c> record when none is left (no record per correlation id is kept forever).
/// </para>
/// <para>
/// Files written before the chains (records without <c>pc</c>) step unchecked, as before, until those records are pruned,
/// as the <c>ci</c> index's own migration did: the hook count record keeps the id from which every record carries
/// <c>pc</c> (<c>p</c>). A StateGen from before the chains rewrites the count record without <c>p</c>, and keeps neither
/// <c>pc</c> nor the <c>meta</c> records: the next append starts the chain again from its first id (a record's link to one
/// before that id is then not checked, and a stored newest before it means "none since").
/// </para>
/// </remarks>
public sealed partial class LiteDbStateStore
{
    /// <summary>A hook record's field: the id of the previous record with its correlation id (0 if none; null without one).</summary>
    private const string PreviousInCorrelation = "pc";

    /// <summary>The <c>meta</c> id prefix of a correlation id's record (its newest hook record's id): "hc", U+001E.</summary>
    private const string HookCorrelationPrefix = "hc\u001E";

    private const string HookChainMismatch = "the hook records found for a correlation id do not match its stored chain: an index is damaged";

    /// <summary>The id of the newest hook record with <paramref name="correlationId"/>, as stored; null when none is.</summary>
    private long? StoredCorrelationNewest(string correlationId)
        => StoredPointer(HookCorrelationPrefix, correlationId, "c", "a hook correlation record failed its checks");

    /// <summary>Inside a transaction: <paramref name="correlationId"/>'s newest hook record is now <paramref name="newest"/> (0: none).</summary>
    private void WriteCorrelationNewest(string correlationId, long newest)
        => WritePointer(HookCorrelationPrefix, correlationId, "c", newest);

    /// <summary>
    /// Before a stepped read by correlation id checks its chain: the newest id the chain reaches. A stored newest before
    /// <paramref name="chainedFrom"/> is one a StateGen from before the chains left behind: no chained record since.
    /// </summary>
    private long CorrelationChainEnd(string correlationId, long chainedFrom)
        => StoredCorrelationNewest(correlationId) is long newest && newest >= chainedFrom ? newest : 0;

    /// <summary>
    /// One record found by a stepped read by correlation id: it must link to the record found before it
    /// (<paramref name="previous"/>), or, the first, to one at or before the read's position (or from before the chain
    /// began); and it must not be newer than the chain's end.
    /// </summary>
    private void CheckChainLink(BsonDocument doc, long? previous, long afterId, long chainedFrom, long end)
    {
        bool linked = doc.TryGetValue(PreviousInCorrelation, out BsonValue pc) && pc.IsInt64
            && (previous is long before ? pc.AsInt64 == before : pc.AsInt64 <= afterId || pc.AsInt64 < chainedFrom);
        if (!linked || doc["_id"].AsInt64 > end)
        {
            throw new StateStoreCorruptedException(FilePath, HookChainMismatch);
        }
    }

    /// <summary>A stepped read that its limit did not cut: it must have ended at the chain's end (or found none after its position).</summary>
    private void CheckChainEnd(long? last, long afterId, long end)
    {
        if (last is long id ? id != end : end > afterId)
        {
            throw new StateStoreCorruptedException(FilePath, HookChainMismatch);
        }
    }

    /// <summary>A hook record as a prune sees it: its id, time, correlation id and link (null without <c>pc</c>).</summary>
    private readonly record struct PrunedHook(long Id, long Ticks, string? Correlation, long? Previous);

    private static PrunedHook ToPrunedHook(BsonDocument doc)
        => new(doc["_id"].AsInt64, doc["u"].AsInt64, doc["c"].IsString ? doc["c"].AsString : null,
            doc.TryGetValue(PreviousInCorrelation, out BsonValue pc) && pc.IsInt64 ? pc.AsInt64 : null);

    /// <summary>
    /// Inside a prune's transaction, after its deletes of <paramref name="removed"/> (among <paramref name="records"/>, the
    /// whole history as its walk found it): each record left whose previous record was removed links past it, to the
    /// newest one left before it (0 if none), and each correlation id whose newest record was removed gets the newest left
    /// (or loses its record). The chains stay exact, so reads need not know what was pruned.
    /// </summary>
    private void RelinkPrunedHooks(List<PrunedHook> records, HashSet<long> removed)
    {
        var links = new Dictionary<long, long>();
        var correlations = new HashSet<string>(StringComparer.Ordinal);
        foreach (PrunedHook r in records)
        {
            if (removed.Contains(r.Id) && r.Correlation is { } c && r.Previous is long previous)
            {
                links[r.Id] = previous;
                correlations.Add(c);
            }
        }

        if (links.Count == 0)
        {
            return;
        }

        // Links point to smaller ids (CheckedHook), so this ends.
        long Past(long id)
        {
            while (links.TryGetValue(id, out long previous))
            {
                id = previous;
            }

            return id;
        }

        foreach (PrunedHook r in records)
        {
            if (!removed.Contains(r.Id) && r.Previous is long previous && links.ContainsKey(previous))
            {
                BsonDocument doc = _hooks.FindById(r.Id) is { } found ? CheckedHook(found)
                    : throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
                doc[PreviousInCorrelation] = Past(previous);
                _hooks.Update(DocumentIntegrity.Seal(doc));
            }
        }

        // A newest left that is not a record left (a link from before the chains began, after a StateGen from before them
        // wrote the file) means none: the record goes rather than stay behind.
        var left = new HashSet<long>();
        foreach (PrunedHook r in records)
        {
            if (!removed.Contains(r.Id))
            {
                left.Add(r.Id);
            }
        }

        foreach (string c in correlations)
        {
            if (StoredCorrelationNewest(c) is long newest && links.ContainsKey(newest))
            {
                long newestLeft = Past(newest);
                WriteCorrelationNewest(c, left.Contains(newestLeft) ? newestLeft : 0);
            }
        }
    }
}
