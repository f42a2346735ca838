using System;
using System.Globalization;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using LiteDB.Engine;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// Files from before per-document checksums (LiteDB <c>USER_VERSION</c> 0, documents without the checksum field) still
/// open and read, unverified; in a file created with checksums a document without one is corruption.
/// </summary>
public sealed class LiteDbChecksumFormatTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Value(string text) => Encoding.UTF8.GetBytes("\"" + text + "\"");

    private async Task<string> CreateAsync()
    {
        string path = _dir.File();
        await using var store = CollectionLayout.Open(path);
        await store.WriteAsync(new StateWrite("agent/a1", "a", "Note", 1, Value("alpha")));
        await store.WriteAsync(new StateWrite("agent/a1", "b", "Note", 1, Value("beta")));
        return path;
    }

    /// <summary>Removes the checksum from every document (or from the current value "b" only); optionally clears the marker.</summary>
    private static void Strip(string path, bool all, bool clearMarker)
    {
        using var db = new LiteDatabase(new LiteEngine(new EngineSettings
        {
            Filename = path,
            Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
        }));
        Assert.Equal(DocumentIntegrity.CountedFormat, db.UserVersion);
        foreach (string name in all ? new[] { "state", "changes" } : new[] { "state" })
        {
            ILiteCollection<BsonDocument> collection = db.GetCollection(name);
            foreach (BsonDocument doc in collection.FindAll())
            {
                if (all || doc["k"].AsString == "b")
                {
                    Assert.True(doc.Remove(DocumentIntegrity.Field));
                    collection.Update(doc);
                }
            }
        }

        if (clearMarker)
        {
            db.UserVersion = 0;
        }
    }

    [Fact]
    public async Task A_file_from_before_checksums_opens_reads_unverified_and_takes_new_checksummed_writes()
    {
        string path = await CreateAsync();
        Strip(path, all: true, clearMarker: true);

        await using (var store = CollectionLayout.Open(path))
        {
            Assert.Equal("\"alpha\"", Encoding.UTF8.GetString((await store.GetAsync("agent/a1", "a"))!.Payload.Span));
            await store.WriteAsync(new StateWrite("agent/a1", "c", "Note", 1, Value("gamma")));
        }

        await using (var reopened = CollectionLayout.Open(path))
        {
            Assert.Equal("\"beta\"", Encoding.UTF8.GetString((await reopened.GetAsync("agent/a1", "b"))!.Payload.Span));
            Assert.Equal("\"gamma\"", Encoding.UTF8.GetString((await reopened.GetAsync("agent/a1", "c"))!.Payload.Span));
            Assert.Equal(["a", "b", "c"], await reopened.ListKeysAsync("agent/a1"));
        }
    }

    [Fact]
    public async Task In_a_checksummed_file_a_document_without_its_checksum_is_corruption()
    {
        string path = await CreateAsync();
        Strip(path, all: false, clearMarker: false);

        await using var store = CollectionLayout.Open(path);
        Assert.NotNull(await store.GetAsync("agent/a1", "a"));
        var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.GetAsync("agent/a1", "b"));
        Assert.Contains("checksum", ex.Failure, StringComparison.Ordinal);
    }
}
