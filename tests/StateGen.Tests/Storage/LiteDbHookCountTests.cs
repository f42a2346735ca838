using System;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The hook history's stored count and newest id (issue #6): exact after appends, prunes and a restart; added once to a
/// file without it; and a hook record that the index no longer lists (planted with a raw LiteDB handle, as the file
/// fuzz produced with seed <c>1I0LB4gD1qV1</c>: a full read came back empty) makes reads by id the typed error instead
/// of a silently shorter history.
/// </summary>
public sealed class LiteDbHookCountTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDatabase Raw(string path) => LiteDbScopeCountTests.Raw(path);

    private static HookExecutionRecord Record(int n, DateTimeOffset at) => new(
        0, "hook-" + n.ToString(CultureInfo.InvariantCulture), "BeforeChange", "agent/a1", "k" + n.ToString(CultureInfo.InvariantCulture), "Note", "Continue", null,
        TimeSpan.FromMilliseconds(1), at, "corr-" + (n % 2).ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetBytes("1"), Encoding.UTF8.GetBytes("2"), Encoding.UTF8.GetBytes("2"));

    private static readonly DateTimeOffset Start = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private async Task<string> SeedAsync(int records = 5)
    {
        string path = _dir.NewDatabaseFile();
        await using var store = new LiteDbStateStore(path);
        await store.AppendHookExecutionsAsync(Enumerable.Range(1, records).Select(i => Record(i, Start.AddMinutes(i))).ToArray());
        return path;
    }

    private static (long Count, long Last) StoredCount(string path)
    {
        using LiteDatabase db = Raw(path);
        BsonDocument doc = db.GetCollection("meta").FindById("hooks");
        return (doc["n"].AsInt64, doc["l"].AsInt64);
    }

    [Fact]
    public async Task Appends_and_prunes_keep_the_count_and_newest_id_exact_across_a_restart()
    {
        string path = await SeedAsync();
        Assert.Equal((5L, 5L), StoredCount(path));

        await using (var store = new LiteDbStateStore(path))
        {
            await store.AppendHookExecutionsAsync([Record(6, Start.AddMinutes(6)), Record(7, Start.AddMinutes(7))]);
            Assert.Equal(2, await store.PruneHookExecutionsAsync(Start.AddMinutes(2.5), null)); // 1 and 2
            Assert.Equal(2, await store.PruneHookExecutionsAsync(null, 3)); // 3 and 4
            Assert.Equal([5L, 6L, 7L], (await store.ReadHookExecutionsAsync(new HookExecutionQuery())).Select(r => r.Id));
            Assert.Equal([7L], (await store.ReadHookExecutionsAsync(new HookExecutionQuery { AfterId = 6 })).Select(r => r.Id));
        }

        Assert.Equal((3L, 7L), StoredCount(path));
        await using (var reopened = new LiteDbStateStore(path))
        {
            Assert.Equal(3, (await reopened.ReadHookExecutionsAsync(new HookExecutionQuery())).Count);
            Assert.Equal(3, await reopened.PruneHookExecutionsAsync(null, 0));
            Assert.Empty(await reopened.ReadHookExecutionsAsync(new HookExecutionQuery()));
        }

        Assert.Equal((0L, 0L), StoredCount(path));
    }

    [Fact]
    public async Task A_record_the_index_no_longer_lists_makes_reads_by_id_the_typed_error()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            // The record and its index entries go, the count stays: an omission as a damaged index page produces it.
            Assert.True(db.GetCollection("hooks").Delete(3));
        }

        await using var store = new LiteDbStateStore(path);
        var all = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery()));
        Assert.Contains("hook records found do not match", all.Failure, StringComparison.Ordinal);

        // A read from a later id cannot count, but the records it does see are consistent with the newest id.
        Assert.Equal([4L, 5L], (await store.ReadHookExecutionsAsync(new HookExecutionQuery { AfterId = 3 })).Select(r => r.Id));
    }

    [Fact]
    public async Task Losing_the_newest_record_is_the_typed_error_for_a_read_from_any_earlier_id()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            Assert.True(db.GetCollection("hooks").Delete(5));
        }

        await using var store = new LiteDbStateStore(path);
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery { AfterId = 2 }));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery()));
    }

    [Fact]
    public async Task A_file_without_the_count_record_is_counted_on_its_next_open_and_then_checked()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            Assert.True(db.GetCollection("meta").Delete("hooks")); // as a file written before hook counts
        }

        await using (var store = new LiteDbStateStore(path))
        {
            Assert.Equal(5, (await store.ReadHookExecutionsAsync(new HookExecutionQuery())).Count);
        }

        Assert.Equal((5L, 5L), StoredCount(path));
        using (LiteDatabase db = Raw(path))
        {
            Assert.True(db.GetCollection("hooks").Delete(1));
        }

        await using var reopened = new LiteDbStateStore(path);
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await reopened.ReadHookExecutionsAsync(new HookExecutionQuery()));
    }

    [Fact]
    public async Task A_damaged_count_record_is_the_typed_error_at_open()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            BsonDocument doc = db.GetCollection("meta").FindById("hooks");
            doc["n"] = 4L; // the checksum no longer matches
            db.GetCollection("meta").Update(doc);
        }

        var ex = Assert.Throws<StateStoreCorruptedException>(() => new LiteDbStateStore(path));
        Assert.Contains("hook history's count record", ex.Failure, StringComparison.Ordinal);
    }
}
