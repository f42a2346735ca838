using System;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The LiteDB store's key-prefix list keeps the whole-scope list's guarantee: it walks the whole scope against the
/// scope's stored count, so an entry the index no longer lists (planted with a raw LiteDB handle, as in
/// <see cref="LiteDbScopeCountTests"/>) is the typed error, never a shorter list; and it sees values written behind.
/// </summary>
public sealed class LiteDbKeyPrefixListTests : IDisposable
{
    private const string A = "agent/a";
    private const string B = "agent/b";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StateWrite Write(string scope, string key) => new(scope, key, "Note", 1, Encoding.UTF8.GetBytes("\"v\""));

    private async Task<string> SeedAsync()
    {
        string path = _dir.NewDatabaseFile();
        await using var store = new LiteDbStateStore(path);
        await store.CommitAsync([Write(A, "note/1"), Write(A, "note/2"), Write(A, "task/1"), Write(A, "task/2")]);
        await store.CommitAsync([Write(B, "note/1"), Write(B, "note/2")]);
        return path;
    }

    private static LiteDbStateStore OpenWithoutWalk(string path) => new(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false });

    [Theory]
    [InlineData("note/1")] // inside the prefix's range: a walk of that range alone would list note/2 only
    [InlineData("task/1")] // outside it: the scope's index is damaged all the same
    public async Task An_entry_the_index_no_longer_lists_makes_the_prefix_list_the_typed_error(string lost)
    {
        string path = await SeedAsync();
        using (LiteDatabase db = LiteDbScopeCountTests.Raw(path))
        {
            Assert.True(db.GetCollection("state").Delete(A + '\u001F' + lost));
        }

        await using LiteDbStateStore store = OpenWithoutWalk(path);
        var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A, "note/"));
        Assert.Contains("count", ex.Failure, StringComparison.Ordinal);
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A, "zzz"));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A, string.Empty));
    }

    [Fact]
    public async Task A_prefix_list_of_an_intact_scope_beside_a_damaged_one_is_complete()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = LiteDbScopeCountTests.Raw(path))
        {
            Assert.True(db.GetCollection("state").Delete(A + '\u001F' + "note/1"));
        }

        await using LiteDbStateStore store = OpenWithoutWalk(path);
        Assert.Equal(["note/1", "note/2"], await store.ListKeysAsync(B, "note/"));
    }

    [Fact]
    public async Task An_entry_more_than_counted_makes_the_prefix_list_the_typed_error()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = LiteDbScopeCountTests.Raw(path))
        {
            db.GetCollection("state").Insert(DocumentIntegrity.Seal(new BsonDocument
            {
                ["_id"] = A + '\u001F' + "note/planted",
                ["s"] = A,
                ["k"] = "note/planted",
                ["t"] = "Note",
                ["sv"] = 1,
                ["v"] = 1L,
                ["u"] = 0L,
                ["cs"] = 0L,
                ["p"] = Encoding.UTF8.GetBytes("\"planted\""),
            }));
        }

        await using LiteDbStateStore store = OpenWithoutWalk(path);
        Assert.NotNull(await store.GetAsync(A, "note/planted"));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A, "note/"));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A, "task/"));
    }

    [Fact]
    public async Task A_prefix_list_sees_values_written_behind_and_applies_them_as_a_whole_list_does()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = LiteDbWriteBehindTests.Open(path);
        await store.CommitAsync([Write(A, "note/1"), Write(A, "note/2"), Write(A, "task/1")]);
        await store.DeleteAsync(A, "note/1");
        await store.WriteAsync(Write(A, "note/3"));
        Assert.True(store.PendingValueCount > 0);
        Assert.Equal(0, store.AppliedSequence);

        Assert.Equal(["note/2", "note/3"], await store.ListKeysAsync(A, "note/"));

        Assert.Equal(0, store.PendingValueCount);
        Assert.Equal(store.ChangeLogPosition, store.AppliedSequence);
        Assert.Equal(3, store.StoredCounts()[A]);
    }
}
