using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Caching;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Caching;

/// <summary>
/// The read cache serves what was written, stays within its limits, never keeps a value the store does not hold (after
/// failed writes and races), and counts hits and misses.
/// </summary>
public sealed class CachingStateStoreTests : IDisposable
{
    private const string Scope = "agent/a";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StateWrite Write(string key, string payload, long? expectedVersion = null)
        => new(Scope, key, "json", 1, Encoding.UTF8.GetBytes(payload), expectedVersion);

    private static string Text(StoredEntry? entry) => entry is null ? "<none>" : $"v{entry.Version}:{Backends.Utf8(entry.Payload)}";

    private static async Task AssertSameAsStore(CachingStateStore cache, IStateStore inner, string key)
        => Assert.Equal(Text(await inner.GetAsync(Scope, key)), Text(await cache.GetAsync(Scope, key)));

    [Fact]
    public async Task Returns_what_was_written_and_serves_later_reads_from_memory()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });

        StoredEntry written = await cache.WriteAsync(Write("k", "\"one\""));
        StoredEntry? first = await cache.GetAsync(Scope, "k");
        StoredEntry? second = await cache.GetAsync(Scope, "k");

        Assert.Equal("v1:\"one\"", Text(first));
        Assert.Same(written, first); // the write filled the cache
        Assert.Same(first, second);
        Assert.Equal((2L, 0L), (cache.Hits, cache.Misses));
        Assert.True(await cache.ExistsAsync(Scope, "k"));
        Assert.Equal(new[] { "k" }, await cache.ListKeysAsync(Scope));
    }

    [Fact]
    public async Task Counts_a_miss_for_the_first_read_and_hits_after_it()
    {
        var inner = new MemoryStateStore();
        await inner.WriteAsync(Write("k", "1"));
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });

        Assert.Equal("v1:1", Text(await cache.GetAsync(Scope, "k")));
        Assert.Equal("v1:1", Text(await cache.GetAsync(Scope, "k")));
        Assert.Equal("v1:1", Text(await cache.GetAsync(Scope, "k")));
        Assert.Null(await cache.GetAsync(Scope, "missing"));
        Assert.Null(await cache.GetAsync(Scope, "missing")); // absence is not cached

        Assert.Equal(2, cache.Hits);
        Assert.Equal(3, cache.Misses);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task Evicts_beyond_the_entry_limit_and_still_reads_everything()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 3 });

        for (int i = 0; i < 5; i++)
        {
            await cache.WriteAsync(Write("k" + i, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.Equal(3, cache.Count);
        Assert.Equal(2, cache.Evictions);
        for (int i = 0; i < 5; i++)
        {
            await AssertSameAsStore(cache, inner, "k" + i);
        }

        Assert.True(cache.Count <= 3);
    }

    [Fact]
    public async Task Evicts_beyond_the_byte_limit_and_never_caches_an_entry_larger_than_it()
    {
        var inner = new MemoryStateStore();
        string payload = "\"" + new string('x', 998) + "\""; // 1,000 bytes
        long entryBytes = 1000 + (2 * (Scope.Length + "k0".Length + "json".Length)) + CachingStateStore.EntryOverheadBytes;
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxBytes = (3 * entryBytes) + 10 });

        for (int i = 0; i < 6; i++)
        {
            await cache.WriteAsync(Write("k" + i, payload));
        }

        Assert.Equal(3, cache.Count);
        Assert.Equal(3 * entryBytes, cache.Bytes);
        Assert.Equal(3, cache.Evictions);

        await cache.WriteAsync(Write("big", "\"" + new string('y', 5000) + "\""));
        long missesBefore = cache.Misses;
        Assert.Equal(5002, (await cache.GetAsync(Scope, "big"))!.Payload.Length);
        Assert.Equal(5002, (await cache.GetAsync(Scope, "big"))!.Payload.Length);
        Assert.Equal(missesBefore + 2, cache.Misses);
        Assert.True(cache.Bytes <= (3 * entryBytes) + 10);
    }

    [Fact]
    public async Task An_entry_read_since_the_hand_passed_gets_a_second_chance()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 3 });
        await cache.WriteAsync(Write("a", "1"));
        await cache.WriteAsync(Write("b", "2"));
        await cache.WriteAsync(Write("c", "3"));
        await cache.GetAsync(Scope, "a"); // a is now recently used

        await cache.WriteAsync(Write("d", "4")); // evicts the oldest entry not read since: b

        long misses = cache.Misses;
        await cache.GetAsync(Scope, "a");
        await cache.GetAsync(Scope, "c");
        await cache.GetAsync(Scope, "d");
        Assert.Equal(misses, cache.Misses);
        await cache.GetAsync(Scope, "b");
        Assert.Equal(misses + 1, cache.Misses);
    }

    [Fact]
    public async Task A_version_conflict_leaves_the_cache_as_the_store_is()
    {
        string path = _dir.NewDatabaseFile();
        var inner = new LiteDbStateStore(path);
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("k", "\"first\""));
        await cache.GetAsync(Scope, "k");

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await cache.WriteAsync(Write("k", "\"nope\"", expectedVersion: 7)));
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await cache.CommitAsync([Write("k", "\"nope\"", expectedVersion: 7)]));

        Assert.Equal("v1:\"first\"", Text(await cache.GetAsync(Scope, "k")));
        await AssertSameAsStore(cache, inner, "k");
    }

    [Fact]
    public async Task A_conflict_after_a_change_behind_the_cache_drops_the_stale_entry()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("k", "\"mine\""));
        await inner.WriteAsync(Write("k", "\"theirs\"")); // another writer, not through the cache
        Assert.Equal("v1:\"mine\"", Text(await cache.GetAsync(Scope, "k"))); // the cache cannot know yet

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await cache.WriteAsync(Write("k", "\"mine again\"", expectedVersion: 1)));

        Assert.Equal("v2:\"theirs\"", Text(await cache.GetAsync(Scope, "k")));
    }

    [Fact]
    public async Task A_failed_batch_applies_nothing_and_caches_nothing_stale()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("a", "1"));
        await cache.WriteAsync(Write("b", "1"));

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await cache.CommitAsync([Write("a", "2"), new StateDelete(Scope, "b"), Write("c", "2", expectedVersion: 9)]));

        foreach (string key in new[] { "a", "b", "c" })
        {
            await AssertSameAsStore(cache, inner, key);
        }

        Assert.Equal("v1:1", Text(await cache.GetAsync(Scope, "a")));
    }

    [Fact]
    public async Task A_store_failure_after_the_write_was_applied_drops_the_entry()
    {
        var probe = new ProbeStore(new MemoryStateStore());
        await using CachingStateStore cache = CachingStateStore.Create(probe, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("k", "1"));
        probe.AfterWrite = () => throw new StateStoreException("connection lost after commit");

        await Assert.ThrowsAsync<StateStoreException>(async () => await cache.WriteAsync(Write("k", "2")));
        probe.AfterWrite = null;

        Assert.Equal("v2:2", Text(await cache.GetAsync(Scope, "k")));
        await AssertSameAsStore(cache, probe.Inner, "k");
    }

    [Fact]
    public async Task Batch_results_are_cached_and_the_last_operation_on_a_key_wins()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("gone", "1"));

        await cache.CommitAsync([Write("k", "1"), Write("k", "2"), new StateDelete(Scope, "gone"), Write("other", "3")]);

        Assert.Equal("v2:2", Text(await cache.GetAsync(Scope, "k")));
        Assert.Null(await cache.GetAsync(Scope, "gone"));
        Assert.Equal("v1:3", Text(await cache.GetAsync(Scope, "other")));
        Assert.Equal(2, cache.Hits); // k and other came from the batch; gone was dropped
    }

    [Fact]
    public async Task Delete_drops_the_cached_entry()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("k", "1"));

        Assert.True(await cache.DeleteAsync(Scope, "k"));

        Assert.Null(await cache.GetAsync(Scope, "k"));
        Assert.False(await cache.ExistsAsync(Scope, "k"));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task A_read_that_raced_a_write_does_not_put_the_old_value_back()
    {
        var probe = new ProbeStore(new MemoryStateStore());
        await using CachingStateStore cache = CachingStateStore.Create(probe, new() { MaxEntries = 10 });
        await probe.Inner.WriteAsync(Write("k", "\"old\""));
        var readTaken = new SemaphoreSlim(0);
        var releaseRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        probe.AfterRead = async () =>
        {
            readTaken.Release();
            await releaseRead.Task;
        };

        Task<StoredEntry?> slowRead = cache.GetAsync(Scope, "k").AsTask(); // has read "old" from the store, not yet returned
        Assert.True(await readTaken.WaitAsync(Deadline));
        probe.AfterRead = null;
        await cache.WriteAsync(Write("k", "\"new\""));
        releaseRead.SetResult();

        Assert.Equal("v1:\"old\"", Text(await slowRead));
        Assert.Equal("v2:\"new\"", Text(await cache.GetAsync(Scope, "k")));
        await AssertSameAsStore(cache, probe.Inner, "k");
    }

    [Fact]
    public async Task Overlapping_writes_finishing_out_of_order_leave_no_stale_entry()
    {
        var probe = new ProbeStore(new MemoryStateStore());
        await using CachingStateStore cache = CachingStateStore.Create(probe, new() { MaxEntries = 10 });
        var applied = new SemaphoreSlim(0);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releases = new Queue<TaskCompletionSource>([releaseFirst, releaseSecond]);
        probe.AfterWrite = async () =>
        {
            TaskCompletionSource release;
            lock (releases)
            {
                release = releases.Dequeue();
            }

            applied.Release();
            await release.Task;
        };

        Task<StoredEntry> first = cache.WriteAsync(Write("k", "\"first\"")).AsTask();
        Assert.True(await applied.WaitAsync(Deadline)); // the store holds v1
        Task<StoredEntry> second = cache.WriteAsync(Write("k", "\"second\"")).AsTask();
        Assert.True(await applied.WaitAsync(Deadline)); // the store holds v2
        releaseSecond.SetResult();
        await second;
        releaseFirst.SetResult(); // the older write returns last
        await first;
        probe.AfterWrite = null;

        Assert.Equal("v2:\"second\"", Text(await cache.GetAsync(Scope, "k")));
        await AssertSameAsStore(cache, probe.Inner, "k");
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Concurrent_readers_and_writers_on_shared_keys_end_consistent_with_the_store(string backend)
    {
        IStateStore inner = Backends.CreateStore(backend, _dir);
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 3 });
        string[] keys = ["k0", "k1", "k2", "k3", "k4"];
        using var stop = new CancellationTokenSource();

        async Task Writer(int seed)
        {
            var random = new Random(seed);
            for (int i = 0; i < 300; i++)
            {
                string key = keys[random.Next(keys.Length)];
                switch (random.Next(10))
                {
                    case 0:
                        await cache.DeleteAsync(Scope, key);
                        break;
                    case 1:
                        await cache.CommitAsync([Write(key, $"{seed}.{i}.a"), Write(keys[random.Next(keys.Length)], $"{seed}.{i}.b")]);
                        break;
                    case 2:
                        StoredEntry? seen = await cache.GetAsync(Scope, key);
                        try
                        {
                            await cache.WriteAsync(Write(key, $"{seed}.{i}.c", expectedVersion: seen?.Version ?? 0));
                        }
                        catch (StateConcurrencyException)
                        {
                            // Lost a race with another writer: expected.
                        }

                        break;
                    default:
                        await cache.WriteAsync(Write(key, $"{seed}.{i}"));
                        break;
                }
            }
        }

        async Task Reader()
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (string key in keys)
                {
                    await cache.GetAsync(Scope, key);
                }
            }
        }

        Task[] readers = Enumerable.Range(0, 3).Select(_ => Task.Run(Reader)).ToArray();
        await Task.WhenAll(Enumerable.Range(1, 4).Select(seed => Task.Run(() => Writer(seed))));
        await stop.CancelAsync();
        await Task.WhenAll(readers);

        foreach (string key in keys)
        {
            await AssertSameAsStore(cache, inner, key);
        }

        Assert.True(cache.Count <= 3);
        Assert.True(cache.Hits > 0);
    }

    [Fact]
    public async Task History_passes_through_exactly_when_the_inner_store_keeps_it()
    {
        await using CachingStateStore withHistory = CachingStateStore.Create(new MemoryStateStore(), new() { MaxEntries = 10 });
        await using CachingStateStore withoutHistory = CachingStateStore.Create(new ProbeStore(new MemoryStateStore()), new() { MaxEntries = 10 });

        Assert.IsAssignableFrom<IStateHistoryStore>(withHistory);
        Assert.False(withoutHistory is IStateHistoryStore);

        await withHistory.WriteAsync(Write("k", "1"));
        await withHistory.WriteAsync(Write("k", "2"));
        IReadOnlyList<StateChangeRecord> changes = await ((IStateHistoryStore)withHistory).ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = "k" });
        Assert.Equal(new long[] { 1, 2 }, changes.Select(c => c.Version));
    }

    [Fact]
    public async Task A_manager_over_the_cache_saves_loads_and_survives_reopen()
    {
        string path = _dir.NewDatabaseFile();
        await using (var manager = new StateManager(CachingStateStore.Create(new LiteDbStateStore(path), new() { MaxEntries = 10 })))
        {
            var note = new Note { Id = "n1", Topic = "cached", Runs = 1 };
            await note.SaveStateAsync(manager);
            note.Runs = 2;
            await note.SaveStateAsync(manager); // optimistic concurrency against the version tracked through the cache

            var loaded = new Note { Id = "n1" };
            Assert.True(await loaded.LoadStateAsync(manager));
            Assert.Equal(2, loaded.Runs);
            Assert.True(((CachingStateStore)manager.Store).Hits > 0);
        }

        await using var reopened = new StateManager(new LiteDbStateStore(path));
        var again = new Note { Id = "n1" };
        Assert.True(await again.LoadStateAsync(reopened));
        Assert.Equal(("cached", 2), (again.Topic, again.Runs));
    }

    [Fact]
    public async Task Invalidate_and_Clear_make_the_next_read_go_to_the_store()
    {
        var inner = new MemoryStateStore();
        await using CachingStateStore cache = CachingStateStore.Create(inner, new() { MaxEntries = 10 });
        await cache.WriteAsync(Write("a", "1"));
        await cache.WriteAsync(Write("b", "1"));
        await inner.WriteAsync(Write("a", "2"));
        await inner.WriteAsync(Write("b", "2"));

        cache.Invalidate(Scope, "a");
        Assert.Equal("v2:2", Text(await cache.GetAsync(Scope, "a")));
        Assert.Equal("v1:1", Text(await cache.GetAsync(Scope, "b")));
        cache.Clear();
        Assert.Equal("v2:2", Text(await cache.GetAsync(Scope, "b")));
    }

    [Fact]
    public async Task Disposing_the_cache_disposes_the_inner_store_only_when_it_owns_it()
    {
        var owned = new ProbeStore(new MemoryStateStore());
        var borrowed = new ProbeStore(new MemoryStateStore());

        await CachingStateStore.Create(owned, new() { MaxEntries = 1 }).DisposeAsync();
        CachingStateStore.Create(borrowed, new() { MaxEntries = 1 }, ownsInner: false).Dispose();

        Assert.Equal(1, owned.DisposeCount);
        Assert.Equal(0, borrowed.DisposeCount);
    }

    [Fact]
    public void A_cache_without_limits_is_refused()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => CachingStateStore.Create(new MemoryStateStore(), new()));
        Assert.Contains("MaxEntries or MaxBytes", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CachingStateStore.Create(new MemoryStateStore(), new() { MaxEntries = -1 }));
    }
}
