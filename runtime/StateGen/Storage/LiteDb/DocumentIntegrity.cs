using System;
using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Per-document checksums. LiteDB 5 pages carry none (its issue #2935), so a flipped byte in a value would read back as
/// a different value. Every document the store writes carries <see cref="Field"/>: an XxHash3 of its other fields (names,
/// types and values, in ordinal name order; <c>_id</c> is left out, since LiteDB assigns the ids of auto-id documents after
/// the hash is taken, and ids are checked against the fields they repeat instead). A read recomputes it.
/// </summary>
internal static class DocumentIntegrity
{
    /// <summary>The field holding the checksum (a name no stored document uses: hook records use <c>h</c>).</summary>
    public const string Field = "xh";

    /// <summary>
    /// The LiteDB <c>USER_VERSION</c> of a file whose every document carries a checksum (written by this store since it
    /// was created), from before per-scope counts: the first open by a version with counts computes them and moves the
    /// file to <see cref="CountedFormat"/>. Files created before checksums have 0: there a document without one is read
    /// unverified. Far from 0 in bits (9 set), so a flipped bit cannot turn it into 0.
    /// </summary>
    public const int ChecksummedFormat = 0x5347_0001;

    /// <summary>
    /// The <c>USER_VERSION</c> of a file with checksums on every document and a count of current values per scope (the
    /// format new files get). Two bits from <see cref="ChecksummedFormat"/> and <see cref="UncheckedCountedFormat"/>, so
    /// one flipped bit makes an unknown marker, never another format.
    /// </summary>
    public const int CountedFormat = 0x5347_0002;

    /// <summary>
    /// The <c>USER_VERSION</c> of a file created before checksums (format 0) once counts were added: its older documents
    /// still have no checksum and are read unverified; its counts are kept and checked as in <see cref="CountedFormat"/>.
    /// </summary>
    public const int UncheckedCountedFormat = 0x5347_0004;

    /// <summary>
    /// The <c>USER_VERSION</c> of a file as in <see cref="CountedFormat"/> whose change log is in segment files beside it
    /// (<c>&lt;db&gt;.changes/</c>) instead of its <c>changes</c> collection; every current value holds its payload, and a
    /// <c>meta</c> record holds the newest change sequence committed. Two bits from each of the other markers.
    /// </summary>
    public const int SegmentedFormat = 0x5347_0008;

    /// <summary>
    /// The <c>USER_VERSION</c> of a file as in <see cref="SegmentedFormat"/> that a store writing behind has written
    /// (<see cref="LiteDbStateStoreOptions.WriteBehind"/>): its change log can hold whole commits after the <c>meta</c>
    /// sequence, which every open replays into the values. A StateGen from before write behind would cut them as
    /// records of commits that never happened; it refuses this marker instead. Set at the open by such a store, before
    /// it writes.
    /// </summary>
    public const int WriteBehindFormat = 0x5347_0010;

    /// <summary>Whether a file in <paramref name="format"/> keeps its change log in segment files.</summary>
    public static bool IsSegmented(int format) => format is SegmentedFormat or WriteBehindFormat;

    /// <summary>Whether every document of a file in <paramref name="format"/> must carry a checksum.</summary>
    public static bool RequiresChecksums(int format) => format is ChecksummedFormat or CountedFormat || IsSegmented(format);

    /// <summary>Whether a file in <paramref name="format"/> keeps a count of current values per scope.</summary>
    public static bool KeepsCounts(int format) => format is CountedFormat or UncheckedCountedFormat || IsSegmented(format);

    [ThreadStatic]
    private static XxHash3? _hasher;

    /// <summary>Adds (or replaces) the checksum of <paramref name="doc"/>; returns it.</summary>
    public static BsonDocument Seal(BsonDocument doc)
    {
        doc[Field] = Compute(doc);
        return doc;
    }

    /// <summary>
    /// Whether <paramref name="doc"/> is intact: its checksum matches, or it has none and <paramref name="required"/> is false
    /// (a document written before checksums).
    /// </summary>
    public static bool Verify(BsonDocument doc, bool required)
    {
        if (!doc.TryGetValue(Field, out BsonValue stored))
        {
            return !required;
        }

        return stored.IsInt64 && stored.AsInt64 == Compute(doc);
    }

    /// <summary>The checksum of every field but <c>_id</c> and <see cref="Field"/>.</summary>
    public static long Compute(BsonDocument doc)
    {
        XxHash3 hash = _hasher ??= new XxHash3();
        hash.Reset();
        string[] names = ArrayPool<string>.Shared.Rent(doc.Count);
        int count = 0;
        try
        {
            foreach (string name in doc.Keys)
            {
                if (name is not "_id" and not Field)
                {
                    names[count++] = name;
                }
            }

            Array.Sort(names, 0, count, StringComparer.Ordinal);
            Span<byte> scalar = stackalloc byte[9];
            for (int i = 0; i < count; i++)
            {
                AppendString(hash, names[i]);
                BsonValue value = doc[names[i]];
                scalar[0] = (byte)value.Type;
                switch (value.Type)
                {
                    case BsonType.Int32:
                        BinaryPrimitives.WriteInt32LittleEndian(scalar[1..], value.AsInt32);
                        hash.Append(scalar[..5]);
                        break;
                    case BsonType.Int64:
                        BinaryPrimitives.WriteInt64LittleEndian(scalar[1..], value.AsInt64);
                        hash.Append(scalar);
                        break;
                    case BsonType.Double:
                        BinaryPrimitives.WriteDoubleLittleEndian(scalar[1..], value.AsDouble);
                        hash.Append(scalar);
                        break;
                    case BsonType.Boolean:
                        scalar[1] = value.AsBoolean ? (byte)1 : (byte)0;
                        hash.Append(scalar[..2]);
                        break;
                    case BsonType.String:
                        hash.Append(scalar[..1]);
                        AppendString(hash, value.AsString);
                        break;
                    case BsonType.Binary:
                        byte[] bytes = value.AsBinary;
                        BinaryPrimitives.WriteInt32LittleEndian(scalar[1..], bytes.Length);
                        hash.Append(scalar[..5]);
                        hash.Append(bytes);
                        break;
                    default:
                        // The store writes no other types; any other is hashed by its type alone, so it cannot match.
                        hash.Append(scalar[..1]);
                        break;
                }
            }
        }
        finally
        {
            ArrayPool<string>.Shared.Return(names, clearArray: true);
        }

        return (long)hash.GetCurrentHashAsUInt64();
    }

    private static void AppendString(XxHash3 hash, string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length) + 4;
        byte[]? rented = max > 512 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[512];
        int length = Encoding.UTF8.GetBytes(value, buffer[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(buffer, length);
        hash.Append(buffer[..(length + 4)]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
