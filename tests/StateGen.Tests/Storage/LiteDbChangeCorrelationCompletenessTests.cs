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
/// Issue #6, a correlation id's history in the collection layout is complete or the typed error: it is read through the
/// change records' correlation index (<c>ci</c>), and each record written by a commit carries <c>pc</c> (the previous
/// record of its correlation id) with a <c>meta</c> record holding each correlation id's newest. A record the index
/// misses (its key changed by one byte in the index node, in a real file) must make the read the typed error; intact
/// reads stay exact across prunes (which remove records from the middle of a correlation id's history), batches, deletes
/// and restarts; records written before the links read as before.
/// </summary>
public sealed class LiteDbChangeCorrelationCompletenessTests : IDisposable
{
    private const string Scope = "agent/c";
    private const byte CiSlot = 2; // the change collection's indexes: "_id", "ski", "ci"
    private static readonly DateTimeOffset Start = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Key(int i) => "k" + i.ToString(CultureInfo.InvariantCulture);

    private static string? Correlation(int i) => i % 4 == 3 ? null : "corr-" + (i % 4).ToString(CultureInfo.InvariantCulture);

    private static LiteDbStateStore Open(string path, TimeProvider? time = null)
        => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, TimeProvider = time ?? TimeProvider.System });

    private static byte[] Ci(string correlationId, long sequence)
        => LiteDbIndexLoopTests.IndexLinks.StringKey(correlationId + "\u001E" + sequence.ToString("D19", CultureInfo.InvariantCulture));

    private sealed record Logged(long Sequence, string Key, string? Correlation, DateTimeOffset At);

    private static async Task AssertHistoriesAsync(LiteDbStateStore store, IReadOnlyList<Logged> log)
    {
        foreach (string c in new[] { "corr-0", "corr-1", "corr-2", "corr-9" })
        {
            foreach ((long after, int limit) in new[] { (0L, int.MaxValue), (10L, int.MaxValue), (0L, 1), (0L, 2), (5L, 3), (25L, 2) })
            {
                long[] expected = log.Where(r => r.Correlation == c && r.Sequence > after).OrderBy(r => r.Sequence).Take(limit).Select(r => r.Sequence).ToArray();
                IReadOnlyList<StateChangeRecord> read = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = c, AfterSequence = after, Limit = limit });
                Assert.True(expected.SequenceEqual(read.Select(r => r.Sequence)), $"{c} after {after} limit {limit}: expected [{string.Join(",", expected)}], read [{string.Join(",", read.Select(r => r.Sequence))}]");
            }
        }
    }

    /// <summary>Through a raw handle: each correlation id's stored newest change record.</summary>
    private static Dictionary<string, long> StoredNewest(string path)
    {
        using LiteDatabase db = LiteDbScopeCountTests.Raw(path);
        return db.GetCollection("meta").FindAll()
            .Where(d => d["_id"].AsString.StartsWith("cc\u001E", StringComparison.Ordinal))
            .ToDictionary(d => d["c"].AsString, d => d["n"].AsInt64);
    }

    private static void AssertStoredNewest(string path, IReadOnlyList<Logged> log)
        => Assert.Equal(
            log.Where(r => r.Correlation is not null).GroupBy(r => r.Correlation!).ToDictionary(g => g.Key, g => g.Max(r => r.Sequence)).OrderBy(p => p.Key),
            StoredNewest(path).OrderBy(p => p.Key));

    [Fact]
    public async Task Correlation_histories_stay_exact_across_batches_deletes_prunes_from_the_middle_and_restarts()
    {
        string path = _dir.NewDatabaseFile();
        var clock = new ManualTimeProvider(Start);
        var log = new List<Logged>();
        var current = new Dictionary<string, long>();
        long sequence = 0;
        await using (LiteDbStateStore store = Open(path, clock))
        {
            await AssertHistoriesAsync(store, log);
            for (int i = 0; i < 36; i++)
            {
                // Every fifth commit is stamped before Start (the clock set back); every seventh deletes; every sixth is a
                // batch of two operations with the same correlation id.
                DateTimeOffset at = i % 5 == 4 ? Start.AddMinutes(-i) : Start.AddMinutes(i);
                clock.Advance(at - clock.GetUtcNow());
                var ops = new List<StateOperation>();
                string key = Key(i % 3);
                if (i % 7 == 6 && current.ContainsKey(key))
                {
                    ops.Add(new StateDelete(Scope, key) { CorrelationId = Correlation(i) });
                    current.Remove(key);
                }
                else
                {
                    ops.Add(new StateWrite(Scope, key, "Note", 1, Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture))) { CorrelationId = Correlation(i) });
                    current[key] = sequence + 1;
                }

                log.Add(new Logged(++sequence, key, Correlation(i), at));
                if (i % 6 == 5)
                {
                    ops.Add(new StateWrite(Scope, Key(3), "Note", 1, Encoding.UTF8.GetBytes("batch" + i)) { CorrelationId = Correlation(i) });
                    log.Add(new Logged(++sequence, Key(3), Correlation(i), at));
                    current[Key(3)] = sequence;
                }

                await store.CommitAsync(ops);
            }

            await AssertHistoriesAsync(store, log);
        }

        AssertStoredNewest(path, log);
        await using (LiteDbStateStore store = Open(path, clock))
        {
            await AssertHistoriesAsync(store, log);
            int before = log.Count;
            log.RemoveAll(r => r.At < Start && !current.ContainsValue(r.Sequence));
            Assert.Equal(before - log.Count, await store.PruneChangesAsync(Start, null));
            await AssertHistoriesAsync(store, log);

            // By number per key: the correlation ids lose records from the middle of their histories.
            before = log.Count;
            var kept = log.GroupBy(r => r.Key).SelectMany(g => g.OrderByDescending(r => r.Sequence).Take(2)).Select(r => r.Sequence).ToHashSet();
            log.RemoveAll(r => !kept.Contains(r.Sequence) && !current.ContainsValue(r.Sequence));
            Assert.Equal(before - log.Count, await store.PruneChangesAsync(null, 2));
            await AssertHistoriesAsync(store, log);
        }

        AssertStoredNewest(path, log);
        await using (LiteDbStateStore store = Open(path, clock))
        {
            await AssertHistoriesAsync(store, log);

            // Only the current values' records stay: correlation ids left without records lose their meta record.
            int before = log.Count;
            log.RemoveAll(r => !current.ContainsValue(r.Sequence));
            Assert.Equal(before - log.Count, await store.PruneChangesAsync(null, 0));
            await AssertHistoriesAsync(store, log);
        }

        AssertStoredNewest(path, log);
    }

    /// <summary>
    /// A closed collection-layout store with 12 writes (key k(i % 4), correlation corr-(i % 3): corr-1's records are 2, 5,
    /// 8, 11), then the correlation-index key of corr-1's record <paramref name="sequence"/> changed by one byte to
    /// corr-0's, so that it sorts before corr-1's range.
    /// </summary>
    private async Task<string> OneKeyChangedAsync(long? sequence, Action<LiteDatabase>? edit = null)
    {
        string path = _dir.NewDatabaseFile();
        await using (LiteDbStateStore store = Open(path))
        {
            for (int i = 0; i < 12; i++)
            {
                await store.CommitAsync([new StateWrite(Scope, Key(i % 4), "Note", 1, Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture))) { CorrelationId = "corr-" + (i % 3) }]);
            }
        }

        if (edit is not null)
        {
            using LiteDatabase db = LiteDbScopeCountTests.Raw(path);
            edit(db);
        }

        if (sequence is long hidden)
        {
            LiteDbIndexLoopTests.IndexLinks.ChangeKey(path, Ci("corr-1", hidden), Ci("corr-0", hidden), CiSlot);
        }

        return path;
    }

    private static async Task<long[]> SequencesAsync(string path, StateChangeQuery query)
    {
        await using LiteDbStateStore store = Open(path);
        return (await store.ReadChangesAsync(query)).Select(r => r.Sequence).ToArray();
    }

    [Theory]
    [InlineData(2)] // the oldest
    [InlineData(5)] // a middle record
    [InlineData(11)] // the newest
    public async Task A_correlation_index_key_changed_by_one_byte_that_hides_a_change_record_is_the_typed_error(long sequence)
    {
        string path = await OneKeyChangedAsync(sequence);

        var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await SequencesAsync(path, new StateChangeQuery { CorrelationId = "corr-1" }));
        Assert.Contains("change log's index is damaged", ex.Failure, StringComparison.Ordinal);
        Assert.DoesNotContain("corr-1", ex.Failure, StringComparison.Ordinal);

        // After a position the read still walks the correlation id's range from its start: the typed error too.
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await SequencesAsync(path, new StateChangeQuery { CorrelationId = "corr-1", AfterSequence = sequence }));

        // The whole log (its own index) is intact.
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), await SequencesAsync(path, new StateChangeQuery()));
    }

    [Fact]
    public async Task Records_written_before_the_links_read_as_before_and_later_records_are_checked()
    {
        // The 12 records as a StateGen from before the links wrote them: no "pc", no correlation records.
        static void StripLinks(LiteDatabase db)
        {
            ILiteCollection<BsonDocument> changes = db.GetCollection("changes");
            foreach (BsonDocument doc in changes.FindAll().ToList())
            {
                Assert.True(doc.Remove("pc"));
                Assert.True(changes.Update(DocumentIntegrity.Seal(doc)));
            }

            foreach (string c in new[] { "corr-0", "corr-1", "corr-2" })
            {
                Assert.True(db.GetCollection("meta").Delete("cc\u001E" + c));
            }
        }

        string path = await OneKeyChangedAsync(null, StripLinks);
        Assert.Equal(new long[] { 2, 5, 8, 11 }, await SequencesAsync(path, new StateChangeQuery { CorrelationId = "corr-1" }));

        // New commits link from 0 (no correlation record yet) and are checked: intact reads, then one of them hidden.
        await using (LiteDbStateStore store = Open(path))
        {
            for (int i = 12; i < 18; i++)
            {
                await store.CommitAsync([new StateWrite(Scope, Key(i % 4), "Note", 1, Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture))) { CorrelationId = "corr-" + (i % 3) }]);
            }

            Assert.Equal([2L, 5, 8, 11, 14, 17], (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "corr-1" })).Select(r => r.Sequence));
            Assert.Equal([1L, 4, 7, 10, 13, 16], (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "corr-0" })).Select(r => r.Sequence));
        }

        // An older record hidden: missed silently, as before the links (the limit this check leaves, shown; the descent can
        // hide more than the one record, never add one).
        string older = _dir.NewDatabaseFile();
        System.IO.File.Copy(path, older);
        LiteDbIndexLoopTests.IndexLinks.ChangeKey(older, Ci("corr-1", 5), Ci("corr-0", 5), CiSlot);
        long[] missed = await SequencesAsync(older, new StateChangeQuery { CorrelationId = "corr-1" });
        Assert.DoesNotContain(5L, missed);
        Assert.Subset(new HashSet<long> { 2, 8, 11, 14, 17 }, missed.ToHashSet());

        // A newer one hidden: the typed error.
        LiteDbIndexLoopTests.IndexLinks.ChangeKey(path, Ci("corr-1", 14), Ci("corr-0", 14), CiSlot);
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await SequencesAsync(path, new StateChangeQuery { CorrelationId = "corr-1" }));
    }
}
