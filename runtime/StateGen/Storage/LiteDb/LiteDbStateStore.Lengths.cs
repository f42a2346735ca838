using System;
using System.IO;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <remarks>
/// <para>
/// <b>Damaged lengths.</b> LiteDB 5.0.21 reads a stored document with its <c>BufferReader</c>
/// (<c>DatafileLookup.Load</c> → <c>BufferReader.ReadDocument</c> → <c>ReadElement</c>), which takes the 4-byte length of a
/// string or binary element from the page and allocates by it before it looks at how many bytes the document has:
/// <c>ReadString(n)</c> rents <c>n</c> bytes from <c>ArrayPool&lt;byte&gt;.Shared</c> when the string is not within one
/// page block, and <c>ReadBytes(n)</c> is <c>new byte[n]</c>. A damaged length (up to 2 GB) is a request for up to 2 GB:
/// over <see cref="Array.MaxLength"/> it is always <see cref="OutOfMemoryException"/> ("Array dimensions exceeded
/// supported range"); below, it is when the memory is not there (a container limit, a full machine), and otherwise
/// granted, after which the copy runs past the document's blocks and LiteDB's own check fails (a <see cref="LiteException"/>).
/// LiteDB rethrows it with <c>throw ex</c> (<c>Result.GetValue</c>, <c>BsonDataReader.Read</c>), which replaces its stack, and
/// the exception does not say how much was asked for: what asked, and whether the request was possible for a document,
/// cannot be read off it.
/// </para>
/// <para>
/// No document LiteDB wrote can need such a request: it refuses to store one over 16,683,050 bytes
/// (<c>DataService.Insert</c>). So the store tells a damaged length from a real shortage of memory by the file itself: after
/// an <see cref="OutOfMemoryException"/> out of a LiteDB read, <see cref="DamagedLengthFailure"/> reads every document of
/// every collection again with a projection on a field no document has. LiteDB then skips over each element by its
/// length (<c>BufferReader.Skip</c>, which allocates nothing and fails when a length runs past the document's stored
/// bytes) instead of reading it. A failure there is damage, reported as <see cref="StateStoreCorruptedException"/> (the
/// <see cref="OutOfMemoryException"/> kept as its inner exception; after a real shortage, damage found elsewhere in the
/// file is reported the same way: the file is damaged either way). A clean pass shows no damaged length, and the
/// <see cref="OutOfMemoryException"/> goes on as it was: a real shortage is never called damage without a document that
/// fails. The check costs a read of the whole file, on that path only; if it runs out of memory itself, the original
/// exception goes on.
/// </para>
/// <para>
/// What it does not see: a length inside an embedded document or array (LiteDB skips those whole, by their own length).
/// The store writes neither, so one appears only where a damaged type byte turned a string (or number) into one, and its
/// content then holds an element with a huge length: that read still ends in <see cref="OutOfMemoryException"/>.
/// </para>
/// </remarks>
public sealed partial class LiteDbStateStore
{
    /// <summary>A field no stored document has (compared ignoring case by LiteDB): projecting on it walks every element.</summary>
    private const string NoSuchField = "zzstategenlengthcheck";

    /// <summary>
    /// After an <see cref="OutOfMemoryException"/> out of LiteDB: the failure to report when a document of the file has a
    /// length that runs past its stored bytes, or <see langword="null"/> when none has (the memory really ran out) or the
    /// check could not run.
    /// </summary>
    private string? DamagedLengthFailure()
    {
        LiteDatabase? db = _db;
        if (db is null)
        {
            return null;
        }

        string? collection = null;
        try
        {
            // Made here, not at type load: this path is rare, and LiteDB compiles every expression it is given.
            BsonExpression projection = BsonExpression.Create("$." + NoSuchField);
            foreach (string name in db.GetCollectionNames())
            {
                collection = name;
                foreach (BsonDocument _ in db.GetCollection(name).Query().Select(projection).ToEnumerable())
                {
                }
            }

            return null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException and not IOException and not UnauthorizedAccessException
                                   and not OperationCanceledException and not ObjectDisposedException)
        {
            string what = ex is LiteException lite ? $"LiteException {lite.ErrorCode}" : ex.GetType().Name;
            return collection is null
                ? $"LiteDB ran out of memory reading a document, and the file's collections could not be listed ({what})"
                : $"LiteDB ran out of memory reading a document, and a re-read of the '{collection}' collection that skips each element by its length failed ({what}): the file is damaged (a damaged length makes LiteDB ask for up to 2 GB)";
        }
        catch (Exception)
        {
            return null; // the check could not run (memory, the disk): nothing shown either way
        }
    }
}
