using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit;

namespace StateGen.Tests.Storage;

/// <summary>
/// The hook history's correlation index (<c>ci</c>: correlation id, U+001E, the record's id in 19 digits, inside the
/// checksum): a read by correlation id steps through it (no walk of the whole history) and returns exactly its records
/// across restarts and prunes; a file written before it (records without <c>ci</c>) reads correctly through the whole
/// history until those records are pruned; a record whose <c>ci</c> disagrees with its correlation id or id is the typed
/// error. (A loop in this index: <see cref="LiteDbIndexLoopTests"/>.)
/// </summary>
public sealed class LiteDbHookCorrelationIndexTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDatabase Raw(string path) => LiteDbScopeCountTests.Raw(path);

    private static string? Correlation(int n) => n % 4 == 3 ? null : "corr-" + (n % 4).ToString(CultureInfo.InvariantCulture);

    /// <summary>Record n: hook h(n % 2), key k(n % 5), correlation corr-(n % 4) (none for n % 4 == 3), at Start + n minutes.</summary>
    private static HookExecutionRecord Record(int n) => new(
        0, "h" + (n % 2).ToString(CultureInfo.InvariantCulture), "BeforeChange", "agent/a1", "k" + (n % 5).ToString(CultureInfo.InvariantCulture), "Note", "Continued", null,
        TimeSpan.FromMilliseconds(1), Start.AddMinutes(n), Correlation(n), Encoding.UTF8.GetBytes("\"" + n + "\""), Encoding.UTF8.GetBytes("2"), ReadOnlyMemory<byte>.Empty);

    private static string IndexValue(string correlationId, long id) => correlationId + "\u001E" + id.ToString("D19", CultureInfo.InvariantCulture);

    private static HookExecutionRecord[] Records(int from, int count) => Enumerable.Range(from, count).Select(Record).ToArray();

    /// <summary>What a read must return: the expected records (by id, with their number n), filtered as the query says.</summary>
    private static long[] Expected(IEnumerable<(long Id, int N)> stored, HookExecutionQuery q)
        => stored.Where(r => r.Id > q.AfterId
                && (q.CorrelationId is null || Correlation(r.N) == q.CorrelationId)
                && (q.HookId is null || Record(r.N).HookId == q.HookId)
                && (q.Key is null || Record(r.N).Key == q.Key))
            .OrderBy(r => r.Id).Take(q.Limit).Select(r => r.Id).ToArray();

    private static IEnumerable<HookExecutionQuery> Queries()
    {
        foreach (string c in new[] { "corr-0", "corr-1", "corr-2", "corr-9" })
        {
            yield return new HookExecutionQuery { CorrelationId = c };
            yield return new HookExecutionQuery { CorrelationId = c, AfterId = 7 };
            yield return new HookExecutionQuery { CorrelationId = c, Limit = 3 };
            yield return new HookExecutionQuery { CorrelationId = c, AfterId = 5, Limit = 2 };
            yield return new HookExecutionQuery { CorrelationId = c, HookId = "h1" };
            yield return new HookExecutionQuery { CorrelationId = c, HookId = "h0", Key = "k2", Limit = 1 };
            yield return new HookExecutionQuery { CorrelationId = c, Scope = "agent/other" };
        }
    }

    private static async Task AssertReadsAsync(LiteDbStateStore store, IReadOnlyList<(long Id, int N)> stored)
    {
        foreach (HookExecutionQuery q in Queries())
        {
            IReadOnlyList<HookExecutionRecord> found = await store.ReadHookExecutionsAsync(q);
            long[] expected = q.Scope is null ? Expected(stored, q) : [];
            Assert.True(expected.SequenceEqual(found.Select(r => r.Id)), $"{q}: expected [{string.Join(",", expected)}], read [{string.Join(",", found.Select(r => r.Id))}]");
            foreach (HookExecutionRecord r in found)
            {
                int n = stored.Single(s => s.Id == r.Id).N;
                Assert.Equal(Correlation(n), r.CorrelationId);
                Assert.Equal(Record(n).Key, r.Key);
                Assert.Equal(Record(n).Timestamp, r.Timestamp);
                Assert.Equal(Record(n).OldValue.ToArray(), r.OldValue.ToArray());
            }
        }
    }

    /// <summary>A raw handle's view of the count record: whether it knows from which id every record carries "ci".</summary>
    private static long? IndexedFrom(string path)
    {
        using LiteDatabase db = Raw(path);
        BsonDocument doc = db.GetCollection("meta").FindById("hooks");
        return doc["i"].IsNull ? null : doc["i"].AsInt64;
    }

    [Fact]
    public async Task Correlation_reads_return_exactly_their_records_across_restarts_and_prunes()
    {
        string path = _dir.NewDatabaseFile();
        var stored = new List<(long Id, int N)>();
        await using (var store = new LiteDbStateStore(path))
        {
            await AssertReadsAsync(store, stored);
            await store.AppendHookExecutionsAsync(Records(0, 10));
            await store.AppendHookExecutionsAsync(Records(10, 1));
            await store.AppendHookExecutionsAsync(Records(11, 9));
            stored.AddRange(Enumerable.Range(0, 20).Select(n => ((long)n + 1, n)));
            await AssertReadsAsync(store, stored);
        }

        Assert.Equal(1L, IndexedFrom(path));
        using (LiteDatabase db = Raw(path))
        {
            // Every record carries its value, in the checksum; none without a correlation id has one.
            foreach (BsonDocument doc in db.GetCollection("hooks").FindAll())
            {
                string? c = doc["c"].IsNull ? null : doc["c"].AsString;
                Assert.Equal(c is null ? BsonValue.Null : new BsonValue(IndexValue(c, doc["_id"].AsInt64)), doc["ci"]);
            }
        }

        await using (var reopened = new LiteDbStateStore(path))
        {
            await AssertReadsAsync(reopened, stored);
            await reopened.AppendHookExecutionsAsync(Records(20, 10));
            stored.AddRange(Enumerable.Range(20, 10).Select(n => ((long)n + 1, n)));
            Assert.Equal(5, await reopened.PruneHookExecutionsAsync(Start.AddMinutes(4.5), null));
            stored.RemoveAll(r => r.N < 5);
            await AssertReadsAsync(reopened, stored);
        }

        await using (var again = new LiteDbStateStore(path))
        {
            await AssertReadsAsync(again, stored);

            // Pruned to nothing, then appended: ids continue after every id assigned before (never reused).
            Assert.Equal(25, await again.PruneHookExecutionsAsync(null, 0));
            stored.Clear();
            await AssertReadsAsync(again, stored);
            await again.AppendHookExecutionsAsync(Records(40, 4));
            stored.AddRange(Enumerable.Range(40, 4).Select(n => ((long)n - 40 + 31, n)));
            Assert.Equal([31L, 32, 33, 34], (await again.ReadHookExecutionsAsync(new HookExecutionQuery())).Select(r => r.Id));
            await AssertReadsAsync(again, stored);
        }

        await using var last = new LiteDbStateStore(path);
        await AssertReadsAsync(last, stored);
    }

    /// <summary>
    /// A file as a StateGen from before the index wrote it: hook records without "ci", a count record without "i" and "a"
    /// (or none at all, as before hook counts).
    /// </summary>
    private async Task<(string Path, List<(long Id, int N)> Stored)> OlderFileAsync(bool withCountRecord)
    {
        string path = _dir.NewDatabaseFile();
        await using (var store = new LiteDbStateStore(path))
        {
            await store.AppendHookExecutionsAsync(Records(0, 12));
        }

        using (LiteDatabase db = Raw(path))
        {
            ILiteCollection<BsonDocument> hooks = db.GetCollection("hooks");
            foreach (BsonDocument doc in hooks.FindAll().ToList())
            {
                Assert.True(doc.Remove("ci"));
                Assert.True(hooks.Update(DocumentIntegrity.Seal(doc)));
            }

            Assert.True(hooks.DropIndex("ci"));
            ILiteCollection<BsonDocument> meta = db.GetCollection("meta");
            if (withCountRecord)
            {
                BsonDocument count = meta.FindById("hooks");
                Assert.True(count.Remove("i"));
                Assert.True(count.Remove("a"));
                Assert.True(meta.Update(DocumentIntegrity.Seal(count)));
            }
            else
            {
                Assert.True(meta.Delete("hooks"));
            }
        }

        return (path, Enumerable.Range(0, 12).Select(n => ((long)n + 1, n)).ToList());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_file_written_before_the_index_reads_by_correlation_id_correctly_until_and_after_its_older_records_go(bool withCountRecord)
    {
        (string path, List<(long Id, int N)> stored) = await OlderFileAsync(withCountRecord);
        await using (var store = new LiteDbStateStore(path))
        {
            await AssertReadsAsync(store, stored);
            await store.AppendHookExecutionsAsync(Records(12, 8));
            stored.AddRange(Enumerable.Range(12, 8).Select(n => ((long)n + 1, n)));
            await AssertReadsAsync(store, stored);
        }

        // The count record learned where the records with "ci" begin: with the record kept, at the first append after it;
        // counted at open, after the newest record without it.
        Assert.Equal(13L, IndexedFrom(path));

        // Records without "ci" remain: reads walk the whole history, counted (a record gone from another correlation id is seen).
        string damaged = _dir.NewDatabaseFile();
        System.IO.File.Copy(path, damaged, overwrite: true);
        using (LiteDatabase db = Raw(damaged))
        {
            Assert.True(db.GetCollection("hooks").Delete(16)); // n = 15, without a correlation id
        }

        await using (var walking = new LiteDbStateStore(damaged))
        {
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await walking.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" }));
        }

        await using (var store = new LiteDbStateStore(path))
        {
            await AssertReadsAsync(store, stored);

            // The older records pruned: every record left carries "ci", and reads step through it.
            Assert.Equal(12, await store.PruneHookExecutionsAsync(Start.AddMinutes(11.5), null));
            stored.RemoveAll(r => r.N < 12);
            await AssertReadsAsync(store, stored);
        }

        using (LiteDatabase db = Raw(path))
        {
            // Proof of the step: a read of corr-1 no longer walks (counts) the whole history, so a record of corr-0 gone
            // (as a damaged index page can drop it; only reads of corr-0 or of the whole history can tell) does not stop it.
            Assert.True(db.GetCollection("hooks").Delete(13)); // n = 12: corr-0
        }

        await using var stepping = new LiteDbStateStore(path);
        stored.RemoveAll(r => r.Id == 13);
        Assert.Equal(Expected(stored, new HookExecutionQuery { CorrelationId = "corr-1" }), (await stepping.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" })).Select(r => r.Id));
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await stepping.ReadHookExecutionsAsync(new HookExecutionQuery()));
    }

    /// <summary>A closed store holding 12 hook records, then <paramref name="edit"/> of its hook collection through a raw handle.</summary>
    private async Task<string> TwelveRecordsEditedAsync(Action<ILiteCollection<BsonDocument>> edit)
    {
        string path = _dir.NewDatabaseFile();
        await using (var store = new LiteDbStateStore(path))
        {
            await store.AppendHookExecutionsAsync(Records(0, 12));
        }

        using (LiteDatabase db = Raw(path))
        {
            edit(db.GetCollection("hooks"));
        }

        return path;
    }

    [Fact]
    public async Task A_record_whose_correlation_index_value_disagrees_with_its_correlation_id_is_the_typed_error()
    {
        // Record 2 (n = 1, corr-1) listed under corr-0, resealed: its checksum holds, its value does not match its fields.
        string path = await TwelveRecordsEditedAsync(hooks =>
        {
            BsonDocument doc = hooks.FindById(2);
            doc["ci"] = IndexValue("corr-0", 2);
            Assert.True(hooks.Update(DocumentIntegrity.Seal(doc)));
        });

        await using var reopened = new LiteDbStateStore(path);
        var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await reopened.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-0" }));
        Assert.Contains("correlation", ex.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_record_whose_id_is_not_the_one_its_correlation_index_value_holds_is_the_typed_error()
    {
        // Record 6 (n = 5, corr-1) read back under id 60: the checksum leaves "_id" out, "ci" repeats it.
        string path = await TwelveRecordsEditedAsync(hooks =>
        {
            BsonDocument doc = hooks.FindById(6);
            Assert.True(hooks.Delete(6));
            doc["_id"] = 60L;
            hooks.Insert(doc);
        });

        await using var reopened = new LiteDbStateStore(path);
        var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await reopened.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" }));
        Assert.Contains("correlation index value", ex.Failure, StringComparison.Ordinal);

        // Reads by id check every record the same way.
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await reopened.ReadHookExecutionsAsync(new HookExecutionQuery { AfterId = 10 }));
    }
}
