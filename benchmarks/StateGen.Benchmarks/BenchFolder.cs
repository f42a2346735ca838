using System;
using System.Globalization;
using System.IO;
using LiteDB;

namespace StateGen.Benchmarks;

/// <summary>The temporary folder a benchmark class keeps its database files in.</summary>
internal static class BenchFolder
{
    /// <summary>Creates a new, uniquely named folder under the temp path.</summary>
    public static string Create()
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>
    /// The raw LiteDB baseline's file (<c>raw.db</c>) in <paramref name="folder"/>, opened the way LiteDbStateStore opens its
    /// own (direct mode, ordinal collation), and its <c>state</c> collection with an index on the scope.
    /// </summary>
    public static (LiteDatabase Db, ILiteCollection<BsonDocument> State) OpenRaw(string folder)
    {
        var db = new LiteDatabase(new ConnectionString
        {
            Filename = Path.Combine(folder, "raw.db"),
            Connection = ConnectionType.Direct,
            Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
        });
        ILiteCollection<BsonDocument> state = db.GetCollection("state");
        state.EnsureIndex("s");
        return (db, state);
    }

    /// <summary>Deletes the folder; one left behind (a file still open) is harmless.</summary>
    public static void Delete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }
}
