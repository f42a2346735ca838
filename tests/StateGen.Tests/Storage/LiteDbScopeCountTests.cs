using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using LiteDB.Engine;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The per-scope count of current values (issue #6): exact after creates, deletes, overwrites, failed and concurrent
/// commits and a restart; added once to files from before it; and an entry an index no longer lists (planted with a raw
/// LiteDB handle) makes whole-scope lists and scans the typed error instead of a silently shorter answer.
/// </summary>
public sealed class LiteDbScopeCountTests : IDisposable
{
    private const string A1 = "agent/a1";
    private const string A2 = "agent/a2";
    private const string A3 = "agent/a3";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Value(string text) => Encoding.UTF8.GetBytes("\"" + text + "\"");

    private static StateWrite Write(string scope, string key, string text = "v") => new(scope, key, "Note", 1, Value(text));

    /// <summary>A raw LiteDB handle on a closed store's file, with the store's collation.</summary>
    internal static LiteDatabase Raw(string path) => new(new LiteEngine(new EngineSettings
    {
        Filename = path,
        Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
    }));

    /// <summary>Each scope's keys as its list gives them, counted: what the stored counts must equal.</summary>
    private static async Task<Dictionary<string, long>> ListedAsync(LiteDbStateStore store, params string[] scopes)
    {
        var listed = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string scope in scopes)
        {
            int n = (await store.ListKeysAsync(scope)).Count;
            if (n > 0)
            {
                listed[scope] = n;
            }
        }

        return listed;
    }

    private static void AssertCounts(IReadOnlyDictionary<string, long> expected, IReadOnlyDictionary<string, long> actual)
        => Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), actual.OrderBy(p => p.Key, StringComparer.Ordinal));

    private async Task<string> SeedAsync()
    {
        string path = _dir.NewDatabaseFile();
        await using var store = new LiteDbStateStore(path);
        foreach (string scope in new[] { A1, A2, A3 })
        {
            await store.CommitAsync([Write(scope, "k0"), Write(scope, "k1"), Write(scope, "k2")]);
        }

        return path;
    }

    /// <summary>Changes a scope's count record with a raw handle, leaving its checksum stale.</summary>
    private static void DamageCount(string path, string scope)
    {
        using LiteDatabase db = Raw(path);
        ILiteCollection<BsonDocument> counts = db.GetCollection("counts");
        BsonDocument record = counts.FindById(scope);
        record["n"] = record["n"].AsInt64 + 1;
        Assert.True(counts.Update(record));
    }

    [Fact]
    public async Task Counts_follow_creates_deletes_and_overwrites_and_survive_a_restart()
    {
        string path = _dir.NewDatabaseFile();
        await using (var store = new LiteDbStateStore(path))
        {
            Assert.True(store.KeepsCounts);
            Assert.Empty(store.StoredCounts());
            for (int i = 0; i < 5; i++)
            {
                await store.WriteAsync(Write(A1, "k" + i));
            }

            await store.WriteAsync(Write(A2, "only"));
            await store.WriteAsync(Write(A1, "k0", "overwritten"));
            await store.WriteAsync(Write(A1, "k0", "again"));
            Assert.True(await store.DeleteAsync(A1, "k4"));
            Assert.False(await store.DeleteAsync(A1, "k4"));
            Assert.False(await store.DeleteAsync(A3, "never"));

            // One batch: a create and delete of the same key (no net change), an overwrite, a create, the last of a scope.
            await store.CommitAsync([Write(A3, "tmp"), new StateDelete(A3, "tmp"), Write(A1, "k1", "x"), Write(A1, "k9"), new StateDelete(A2, "only")]);
            AssertCounts(new Dictionary<string, long> { [A1] = 5 }, store.StoredCounts());
            AssertCounts(store.StoredCounts(), await ListedAsync(store, A1, A2, A3));
        }

        await using (var reopened = new LiteDbStateStore(path))
        {
            AssertCounts(new Dictionary<string, long> { [A1] = 5 }, reopened.StoredCounts());
            Assert.Equal(["k0", "k1", "k2", "k3", "k9"], await reopened.ListKeysAsync(A1));
            Assert.Empty(await reopened.ListKeysAsync(A2));
            Assert.Equal(5, (await reopened.ScanAsync(null, 100)).Count);
        }
    }

    [Fact]
    public async Task An_overwrite_neither_reads_nor_writes_the_count_while_a_create_does()
    {
        // The count record of a1 is damaged with a raw handle: only an operation that touches it can notice.
        string path = await SeedAsync();
        DamageCount(path, A1);
        // Written directly: each commit is a LiteDB transaction (written behind, the counts are written by the overlay's
        // apply, LiteDbWriteBehindTests).
        await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false, WriteBehind = false });
        await store.WriteAsync(Write(A1, "k0", "updated"));
        await store.CommitAsync([Write(A1, "k1", "updated"), Write(A1, "k2", "updated")]);
        var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.WriteAsync(Write(A1, "new")));
        Assert.Contains("count record", ex.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_commit_that_fails_inside_its_transaction_changes_no_count_and_no_value()
    {
        // a3's count record is damaged: a batch creating keys in a2 and a3 fails while it writes the counts, after its
        // values were written in the same transaction; the rollback must take them all back.
        string path = await SeedAsync();
        DamageCount(path, A3);

        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false, WriteBehind = false }))
        {
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.CommitAsync([Write(A2, "new"), Write(A3, "new")]));
            Assert.Null(await store.GetAsync(A2, "new"));
            Assert.Null(await store.GetAsync(A3, "new"));
            Assert.Equal(["k0", "k1", "k2"], await store.ListKeysAsync(A2));
        }

        using (LiteDatabase db = Raw(path))
        {
            Assert.Equal(3, db.GetCollection("counts").FindById(A2)["n"].AsInt64);
            Assert.Equal(3, db.GetCollection("state").Count(Query.EQ("s", A2)));
        }
    }

    [Fact]
    public async Task Counts_stay_exact_when_the_kth_page_write_of_a_batch_fails_for_every_k()
    {
        const string path = "/counts/state.db";
        var probe = new SimulatedDisk();
        long last = await RunBatchAsync(probe, failAt: null) + 1;
        Assert.True(last > 3, $"the batch took {last - 1} page writes");
        for (long k = 1; k <= last; k++)
        {
            var disk = new SimulatedDisk();
            await RunBatchAsync(disk, k);
            await using var reopened = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = new SimulatedDisk(disk.Contents()).Open });
            Dictionary<string, long> listed = await ListedAsync(reopened, A1, A2, A3);
            AssertCounts(listed, reopened.StoredCounts());
            Assert.True(listed.GetValueOrDefault(A1) is 2 or 3, $"k={k}: a1 holds {listed.GetValueOrDefault(A1)} keys");
        }

        // Seeds a store, then commits one batch of creates and deletes with the k-th page write failing; returns the
        // batch's page writes. The same store then writes again (LiteDB reopened over its files) and must count right.
        static async Task<long> RunBatchAsync(SimulatedDisk disk, long? failAt)
        {
            await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open });
            await store.CommitAsync([Write(A1, "k0"), Write(A1, "k1"), Write(A2, "k0")]);
            disk.FailAt(write: failAt);
            bool committed;
            try
            {
                await store.CommitAsync([Write(A1, "k2"), new StateDelete(A2, "k0"), Write(A3, "k0"), Write(A1, "k0", "overwrite")]);
                committed = true;
            }
            catch (StateStoreException ex) when (ex is not StateStoreCorruptedException)
            {
                committed = false;
            }

            long writes = disk.FaultCounts.Writes;
            disk.FailAt();
            try
            {
                await store.WriteAsync(Write(A2, "after"));
                AssertCounts(await ListedAsync(store, A1, A2, A3), store.StoredCounts());
                // A commit reported failed may still be in place (the failure was in the checkpoint after it).
                int a1 = (await store.ListKeysAsync(A1)).Count;
                Assert.True(a1 == 3 || (!committed && a1 == 2), $"a1 holds {a1} keys");
            }
            catch (StateStoreException ex) when (ex is not StateStoreCorruptedException)
            {
                // A failed flush makes the store refuse further changes; the reopen above checks the files.
            }

            return writes;
        }
    }

    [Fact]
    public async Task Concurrent_writers_creating_and_deleting_keep_every_count_exact()
    {
        string path = _dir.NewDatabaseFile();
        string[] scopes = [A1, A2, A3];
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed }))
        {
            Task[] writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                var rng = new Random(w);
                for (int i = 0; i < 60; i++)
                {
                    string scope = scopes[rng.Next(scopes.Length)];
                    string key = "k" + rng.Next(8);
                    switch (rng.Next(4))
                    {
                        case 0:
                            await store.DeleteAsync(scope, key);
                            break;
                        case 1:
                            await store.CommitAsync([Write(scope, key), new StateDelete(scopes[rng.Next(scopes.Length)], "k" + rng.Next(8)), Write(scopes[rng.Next(scopes.Length)], "k" + rng.Next(8))]);
                            break;
                        default:
                            await store.WriteAsync(Write(scope, key, "w" + w));
                            break;
                    }
                }
            })).ToArray();
            await Task.WhenAll(writers);
            AssertCounts(await ListedAsync(store, scopes), store.StoredCounts());
            Assert.NotEmpty(store.StoredCounts());
        }

        await using var reopened = new LiteDbStateStore(path);
        Dictionary<string, long> listed = await ListedAsync(reopened, scopes);
        AssertCounts(listed, reopened.StoredCounts());
        Assert.Equal(listed.Values.Sum(), (await reopened.ScanAsync(null, 1000)).Count);
    }

    [Fact]
    public async Task An_entry_the_index_no_longer_lists_makes_lists_and_scans_of_its_scope_the_typed_error()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            // The document goes and every index entry with it, while the count still says 3: an omission as a damaged
            // index page produces it (the change log still records the write, as it would then).
            Assert.True(db.GetCollection("state").Delete(A2 + '\u001F' + "k1"));
        }

        // The open compares the walk of the primary index with the counts.
        var atOpen = Assert.Throws<StateStoreCorruptedException>(() => new LiteDbStateStore(path));
        Assert.Contains("count", atOpen.Failure, StringComparison.Ordinal);

        await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false });
        Assert.Equal(["k0", "k1", "k2"], await store.ListKeysAsync(A1));
        Assert.Equal(["k0", "k1", "k2"], await store.ListKeysAsync(A3));
        var list = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A2));
        Assert.Contains("count", list.Failure, StringComparison.Ordinal);
        Assert.DoesNotContain("k0", list.Message, StringComparison.Ordinal);

        // A scan that holds the scope whole, from the start or from a position before it.
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ScanAsync(null, 100));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ScanAsync(new StateScanPosition(A1, "k2"), 100));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ScanAsync(new StateScanPosition(A1, "k0"), 6));

        // Pages that hold a2 only in part cannot compare it with its count (a paged scan checks the scopes each page
        // holds whole); its list does.
        Assert.Equal(4, (await store.ScanAsync(null, 4)).Count);
        Assert.Equal(4, (await store.ScanAsync(new StateScanPosition(A2, "k0"), 4)).Count);
    }

    [Fact]
    public async Task A_scope_missing_from_a_scan_and_an_uncounted_entry_are_the_typed_error()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            ILiteCollection<BsonDocument> state = db.GetCollection("state");
            foreach (string key in new[] { "k0", "k1", "k2" })
            {
                Assert.True(state.Delete(A3 + '\u001F' + key));
            }
        }

        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false }))
        {
            // A page that ends the store holds every scope after its position whole: a3 has a count and no entry.
            Assert.Equal(3, (await store.ScanAsync(null, 3)).Count);
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ScanAsync(new StateScanPosition(A2, "k2"), 10));
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A3));
        }

        // One more entry than counted: a sound document planted in a1 (its payload inline, no change record).
        string other = await SeedAsync();
        using (LiteDatabase db = Raw(other))
        {
            db.GetCollection("state").Insert(DocumentIntegrity.Seal(new BsonDocument
            {
                ["_id"] = A1 + '\u001F' + "planted",
                ["s"] = A1,
                ["k"] = "planted",
                ["t"] = "Note",
                ["sv"] = 1,
                ["v"] = 1L,
                ["u"] = 0L,
                ["cs"] = 0L,
                ["p"] = Value("planted"),
            }));
        }

        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = other, WalkIndexOnOpen = false }))
        {
            Assert.NotNull(await store.GetAsync(A1, "planted"));
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ListKeysAsync(A1));
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.ScanAsync(null, 100));
        }
    }

    /// <summary>
    /// A file written by StateGen before counts (<c>Files/pre-counts.db</c>, USER_VERSION <see cref="DocumentIntegrity.ChecksummedFormat"/>,
    /// no counts collection): agent/a1 k0–k3, agent/a2 k0–k1, agent/a3 "only", with overwrites and deletes in its history.
    /// </summary>
    private string OldFile()
    {
        string path = _dir.NewDatabaseFile();
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Storage", "Files", "pre-counts.db"), path);
        return path;
    }

    private static readonly Dictionary<string, long> OldFileCounts = new(StringComparer.Ordinal) { [A1] = 4, [A2] = 2, [A3] = 1 };

    [Fact]
    public async Task A_file_from_before_counts_gets_them_on_its_first_open_and_keeps_them()
    {
        string path = OldFile();
        using (LiteDatabase db = Raw(path))
        {
            Assert.Equal(DocumentIntegrity.ChecksummedFormat, db.UserVersion);
            Assert.DoesNotContain("counts", db.GetCollectionNames());
        }

        await using (var store = new LiteDbStateStore(path))
        {
            Assert.True(store.KeepsCounts);
            AssertCounts(OldFileCounts, store.StoredCounts());
            Assert.Equal(["key-0", "key-1", "key-2", "key-3"], await store.ListKeysAsync(A1));
            Assert.Equal("\"a1-0 v2\"", Encoding.UTF8.GetString((await store.GetAsync(A1, "key-0"))!.Payload.Span));
            await store.WriteAsync(Write(A3, "second"));
            Assert.True(await store.DeleteAsync(A2, "key-0"));
        }

        using (LiteDatabase db = Raw(path))
        {
            Assert.Equal(DocumentIntegrity.CountedFormat, db.UserVersion);
        }

        await using var reopened = new LiteDbStateStore(path);
        AssertCounts(new Dictionary<string, long> { [A1] = 4, [A2] = 1, [A3] = 2 }, reopened.StoredCounts());
        Assert.Equal(7, (await reopened.ScanAsync(null, 100)).Count);
    }

    [Fact]
    public async Task An_upgrade_cut_short_before_the_marker_counts_again_and_ignores_its_records()
    {
        // Records from an upgrade whose transaction committed but whose marker was never written (the process died
        // between them): wrong on purpose, they must be replaced, not trusted.
        string path = OldFile();
        using (LiteDatabase db = Raw(path))
        {
            db.GetCollection("counts").Insert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = A1, ["s"] = A1, ["n"] = 40L }));
            db.GetCollection("counts").Insert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = "agent/gone", ["s"] = "agent/gone", ["n"] = 2L }));
        }

        await using var store = new LiteDbStateStore(path);
        AssertCounts(OldFileCounts, store.StoredCounts());
        Assert.Equal(4, (await store.ListKeysAsync(A1)).Count);
    }

    [Fact]
    public async Task A_file_from_before_counts_opened_without_the_index_walk_lists_unchecked_until_a_full_open_counts_it()
    {
        // Restores open the file they replace this way: it must not need to be readable to the end.
        string path = OldFile();
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false }))
        {
            Assert.False(store.KeepsCounts);
            Assert.Equal(2, (await store.ListKeysAsync(A2)).Count);
            await store.WriteAsync(Write(A2, "uncounted"));
        }

        using (LiteDatabase db = Raw(path))
        {
            Assert.Equal(DocumentIntegrity.ChecksummedFormat, db.UserVersion);
        }

        await using var reopened = new LiteDbStateStore(path);
        AssertCounts(new Dictionary<string, long> { [A1] = 4, [A2] = 3, [A3] = 1 }, reopened.StoredCounts());
    }

    [Fact]
    public async Task A_file_from_before_checksums_gets_counts_and_still_reads_its_unchecksummed_documents()
    {
        string path = OldFile();
        using (LiteDatabase db = Raw(path))
        {
            foreach (string name in new[] { "state", "changes" })
            {
                ILiteCollection<BsonDocument> collection = db.GetCollection(name);
                foreach (BsonDocument doc in collection.FindAll())
                {
                    Assert.True(doc.Remove(DocumentIntegrity.Field));
                    collection.Update(doc);
                }
            }

            db.UserVersion = 0;
        }

        await using (var store = new LiteDbStateStore(path))
        {
            AssertCounts(OldFileCounts, store.StoredCounts());
            Assert.Equal(["key-0", "key-1"], await store.ListKeysAsync(A2));
            await store.WriteAsync(Write(A2, "new"));
        }

        using (LiteDatabase db = Raw(path))
        {
            Assert.Equal(DocumentIntegrity.UncheckedCountedFormat, db.UserVersion);
        }

        await using var reopened = new LiteDbStateStore(path);
        Assert.Equal(["key-0", "key-1", "new"], await reopened.ListKeysAsync(A2));
        Assert.Equal(3, reopened.StoredCounts()[A2]);
    }

    [Fact]
    public async Task A_counted_file_whose_counts_collection_is_gone_is_the_typed_error()
    {
        string path = await SeedAsync();
        using (LiteDatabase db = Raw(path))
        {
            Assert.True(db.DropCollection("counts"));
        }

        var ex = Assert.Throws<StateStoreCorruptedException>(() => new LiteDbStateStore(path));
        Assert.Contains("counts", ex.Failure, StringComparison.Ordinal);
    }
}
