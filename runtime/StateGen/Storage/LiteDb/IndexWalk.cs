using System;
using System.Collections.Generic;
using System.Linq;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Reads of a LiteDB index range that end on a damaged index instead of hanging in it, with the values passed as
/// parameters.
/// </summary>
/// <remarks>
/// <para>
/// LiteDB 5.0.21 guards two of its index walks against a loop in the links: the walk of a whole index (behind
/// <c>Query.All</c>) and the descent to one key (behind every query's first node, and <c>FindById</c>); both throw once
/// they have taken more steps than the file has room for nodes. Its range, equality and prefix walks
/// (<c>Query.GT</c>, <c>LT</c>, <c>EQ</c> on a non-unique index, <c>StartsWith</c>) follow the level-0 links with no such
/// guard, and drop nodes they have already returned: a damaged link that points back into the range makes them go round
/// it forever without returning (kept in <c>tests/StateGen.Tests/Storage/Hangs</c>). So the store never walks a range
/// with them. It reads a range either from one end of the index (<see cref="FromEnd"/>: the guarded whole-index walk,
/// stopped by the caller where the range ends), or one document per guarded descent, each strictly after the one before
/// (<see cref="Ascending"/>, <see cref="Next"/>, <see cref="Last"/>): a step that does not move forward is the damaged
/// index, reported as <see cref="StateStoreCorruptedException"/>; since every step moves forward, the walk ends.
/// </para>
/// <para>
/// A step costs one query (about 13 µs against under 1 µs per document of a linked walk, measured on a 10,000-document
/// collection), so the store takes a range from an end wherever it starts or ends there.
/// </para>
/// <para>
/// Values are parameters (<c>@0</c>), never text in the expression: LiteDB compiles every distinct expression text and
/// keeps it for the process's lifetime (about 0.7 ms and 3 KB for each, measured), so a value written into the text,
/// such as a key, made every new key cost a compilation and leak its delegate.
/// </para>
/// </remarks>
internal static class IndexWalk
{
    /// <summary>Every document, in the order of <paramref name="field"/>'s index, from one end (the guarded walk).</summary>
    public static IEnumerable<BsonDocument> FromEnd(ILiteCollection<BsonDocument> collection, string field, int order, int limit = int.MaxValue)
        => collection.Find(Query.All(field, order), limit: limit);

    /// <summary>
    /// The documents whose key in the unique index <paramref name="field"/> is after <paramref name="after"/>, in key order,
    /// while <paramref name="inRange"/> holds: one guarded descent each.
    /// </summary>
    /// <param name="collection">The collection.</param>
    /// <param name="field">The field a unique index is on (its name is the field's).</param>
    /// <param name="after">A key, a string or a whole number; the walk starts strictly after it.</param>
    /// <param name="inRange">Whether a key is in the range; the walk ends at the first that is not.</param>
    /// <param name="file">The database file, for the error.</param>
    public static IEnumerable<BsonDocument> Ascending(ILiteCollection<BsonDocument> collection, string field, BsonValue after, Func<BsonValue, bool> inRange, string file)
    {
        BsonValue last = after;
        while (Next(collection, field, last, file) is { } doc)
        {
            BsonValue key = doc[field];
            if (!inRange(key))
            {
                yield break;
            }

            yield return doc;
            last = key;
        }
    }

    /// <summary>
    /// The document with the least key after <paramref name="after"/> in the unique index <paramref name="field"/>, or
    /// <see langword="null"/>; a document whose key is not after it is the damaged index.
    /// </summary>
    public static BsonDocument? Next(ILiteCollection<BsonDocument> collection, string field, BsonValue after, string file)
    {
        // The bound is a value no key can equal (a key plus U+0000, which ids never hold; a whole number plus a half): LiteDB's
        // range walk steps over keys equal to its bound through the links before it returns anything, and a damaged link
        // there could loop; past an absent bound its first node comes from the guarded descent alone.
        BsonValue bound = after.IsString ? new BsonValue(after.AsString + "\0")
            : after.IsNumber ? new BsonValue(after.AsDecimal + 0.5m)
            : throw new ArgumentException("an index walk starts after a string or a whole number", nameof(after));
        BsonDocument? doc = collection.Find(BsonExpression.Create(field + " > @0", bound), limit: 1).FirstOrDefault();
        if (doc is not null && !(Compare(doc[field], after) > 0))
        {
            throw new StateStoreCorruptedException(file, $"a walk of the {collection.Name} collection's index went backward: the index is damaged");
        }

        return doc;
    }

    /// <summary>
    /// The document with the greatest key before <paramref name="before"/> in the unique index <paramref name="field"/>,
    /// or <see langword="null"/>. <paramref name="before"/> must be a string no key can equal (see <see cref="Next"/>).
    /// </summary>
    public static BsonDocument? Last(ILiteCollection<BsonDocument> collection, string field, string before, string file)
    {
        BsonDocument? doc = collection.Query().Where(BsonExpression.Create(field + " < @0", before)).OrderByDescending(field).Limit(1).FirstOrDefault();
        if (doc is not null && !(Compare(doc[field], before) < 0))
        {
            throw new StateStoreCorruptedException(file, $"a walk of the {collection.Name} collection's index went forward: the index is damaged");
        }

        return doc;
    }

    /// <summary>Ordinal order of two strings, numeric order of two numbers; none for a key of another type (the damaged index).</summary>
    private static int? Compare(BsonValue key, BsonValue other)
        => key.IsString && other.IsString ? string.CompareOrdinal(key.AsString, other.AsString)
            : key.IsNumber && other.IsNumber ? key.AsDecimal.CompareTo(other.AsDecimal)
            : null;
}
