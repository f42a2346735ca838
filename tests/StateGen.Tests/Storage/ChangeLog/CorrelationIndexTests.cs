using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// The segment log's correlation index keys ids by a hash and keeps a lone record inline: its candidates for an id are
/// exactly that id's records when no other id shares the hash, and a superset when one does, which readers filter (the
/// store's correlation query returns exactly the id's records, before and after a reopen, a prune and a discard).
/// </summary>
public sealed class CorrelationIndexTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A hash under which "a…" ids collide with each other and "b…" ids with each other.</summary>
    private static long FirstLetter(string id) => id[0];

    [Fact]
    public void Records_of_one_id_are_listed_in_order_and_removals_narrow_a_list_back_to_a_single_entry()
    {
        var index = new CorrelationIndex();
        index.Add("run-1", 3);
        index.Add("run-2", 4);
        index.Add("run-1", 7);
        index.Add("run-1", 9);
        Assert.Equal([3L, 7, 9], index.Candidates("run-1"));
        Assert.Equal([4L], index.Candidates("run-2"));
        Assert.Empty(index.Candidates("run-3"));
        Assert.Equal(4, index.Count);

        index.Remove("run-1", 7);
        index.Remove("run-2", 5); // not indexed: nothing
        Assert.Equal([3L, 9], index.Candidates("run-1"));
        index.RemoveAll("run-1", new HashSet<long> { 3 });
        Assert.Equal([9L], index.Candidates("run-1"));
        index.Add("run-1", 12); // a single entry grows into a list again
        Assert.Equal([9L, 12], index.Candidates("run-1"));

        index.RemoveBefore(10);
        Assert.Equal([12L], index.Candidates("run-1"));
        Assert.Empty(index.Candidates("run-2"));
        Assert.Equal(1, index.Count);
        index.Remove("run-1", 12);
        Assert.Empty(index.Candidates("run-1"));
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void Ids_that_share_a_hash_share_their_candidates_and_removing_one_ids_records_leaves_the_others()
    {
        var index = new CorrelationIndex(FirstLetter);
        index.Add("alpha", 1);
        index.Add("beta", 2);
        index.Add("apple", 3);
        index.Add("alpha", 4);
        Assert.Equal([1L, 3, 4], index.Candidates("alpha"));
        Assert.Equal([1L, 3, 4], index.Candidates("apple"));
        Assert.Equal([2L], index.Candidates("bravo")); // shares beta's hash, no record of its own

        index.RemoveAll("alpha", new HashSet<long> { 1, 4 });
        Assert.Equal([3L], index.Candidates("apple"));
        index.RemoveBefore(3);
        Assert.Equal([3L], index.Candidates("apple"));
        Assert.Empty(index.Candidates("beta"));
        Assert.Equal(1, index.Count);
    }

    [Fact]
    public async Task A_correlation_query_returns_exactly_its_ids_records_when_ids_collide_through_reopen_prune_and_discard()
    {
        string path = _dir.NewDatabaseFile();
        var options = new LiteDbStateStoreOptions
        {
            Path = path,
            SegmentChangeLog = true,
            SegmentLogOptions = new() { RollBytes = 2048, CorrelationHash = FirstLetter },
        };
        StateWrite Write(string key, string correlationId, int n)
            => new("agent/a1", key, "Note", 1, Encoding.UTF8.GetBytes($"\"{key}-{n}-{new string('x', 100)}\"")) { CorrelationId = correlationId };

        async Task AssertQueriesAsync(LiteDbStateStore store, Dictionary<string, List<long>> expected)
        {
            foreach (string id in new[] { "alpha", "apple", "avocado", "beta", "banana", "cherry" })
            {
                IReadOnlyList<StateChangeRecord> found = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = id });
                Assert.All(found, r => Assert.Equal(id, r.CorrelationId));
                Assert.Equal(expected.GetValueOrDefault(id) ?? [], found.Select(r => r.Sequence));
            }
        }

        var expected = new Dictionary<string, List<long>>();
        string[] ids = ["alpha", "apple", "beta", "banana", "alpha", "cherry"];
        await using (var store = new LiteDbStateStore(options))
        {
            for (int n = 0; n < 30; n++)
            {
                string id = ids[n % ids.Length];
                long sequence = (await store.CommitAsync([Write($"key-{n % 7}", id, n)]))[0].ChangeSequence;
                (expected.TryGetValue(id, out List<long>? list) ? list : expected[id] = []).Add(sequence);
            }

            await AssertQueriesAsync(store, expected);

            // A batch refused by the log (its second record cannot be held) is discarded with its first record.
            await Assert.ThrowsAsync<StateStoreException>(async () => await store.CommitAsync(
                [Write("key-1", "apple", 99), Write("key-2", "a" + new string('x', 2000), 99)]));
            await AssertQueriesAsync(store, expected);

            // The discarded record's sequence is taken again by the same id: listed once.
            expected["apple"].Add((await store.CommitAsync([Write("key-1", "apple", 100)]))[0].ChangeSequence);
            await AssertQueriesAsync(store, expected);
        }

        await using (var store = new LiteDbStateStore(options))
        {
            await AssertQueriesAsync(store, expected);

            // Keep the newest record of each key: the others become tombstones and leave the index.
            Assert.True(await store.PruneChangesAsync(null, 1) > 0);
            var kept = (await store.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Sequence).ToHashSet();
            foreach (List<long> list in expected.Values)
            {
                list.RemoveAll(s => !kept.Contains(s));
            }

            await AssertQueriesAsync(store, expected);
        }

        await using (var store = new LiteDbStateStore(options))
        {
            await AssertQueriesAsync(store, expected);
        }
    }
}
