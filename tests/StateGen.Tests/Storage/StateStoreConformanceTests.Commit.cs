using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>The <see cref="IStateStore.CommitAsync"/> part of the store contract: ordered, all-or-nothing batches.</summary>
public abstract partial class StateStoreConformanceTests
{
    private static StateDelete Delete(string scope, string key, long? expectedVersion = null) => new(scope, key, expectedVersion);

    private static async Task<IReadOnlyList<StateOperationResult>> CommitAsync(IStateStore store, params StateOperation[] operations)
        => await store.CommitAsync(operations);

    private static async Task AssertStoredAsync(IStateStore store, string scope, string key, string payload, long version)
    {
        StoredEntry? entry = await store.GetAsync(scope, key);
        Assert.NotNull(entry);
        Assert.Equal(payload, Backends.Utf8(entry.Payload));
        Assert.Equal(version, entry.Version);
    }

    [Fact]
    public async Task Commit_is_all_or_nothing_when_the_third_of_four_operations_has_a_stale_expected_version()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        StoredEntry a = await store.WriteAsync(Write("global", "a", "a1"));
        await store.WriteAsync(Write("agent/x", "b", "b1"));
        await store.WriteAsync(Write("agent/x", "b", "b2"));
        StoredEntry c = await store.WriteAsync(Write("global", "c", "c1"));
        clock.Advance(TimeSpan.FromMinutes(5));

        var ex = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await CommitAsync(
            store,
            Write("global", "a", "a2", expectedVersion: 1),
            Write("global", "new", "n1", expectedVersion: 0),
            Write("agent/x", "b", "stale", expectedVersion: 1),
            Delete("global", "c")));

        Assert.Equal("agent/x", ex.Scope);
        Assert.Equal("b", ex.Key);
        Assert.Equal(1, ex.ExpectedVersion);
        Assert.Equal(2, ex.StoredVersion);

        await AssertStoredAsync(store, "global", "a", "a1", 1);
        await AssertStoredAsync(store, "agent/x", "b", "b2", 2);
        await AssertStoredAsync(store, "global", "c", "c1", 1);
        Assert.Null(await store.GetAsync("global", "new"));
        Assert.Equal(a.UpdatedAt, (await store.GetAsync("global", "a"))!.UpdatedAt);
        Assert.Equal(c.UpdatedAt, (await store.GetAsync("global", "c"))!.UpdatedAt);
        Assert.Equal(new[] { "a", "c" }, await store.ListKeysAsync("global"));

        // The store is still usable, and the failed batch left no trace in the version counters.
        IReadOnlyList<StateOperationResult> retried = await CommitAsync(
            store,
            Write("global", "a", "a2", expectedVersion: 1),
            Write("global", "new", "n1", expectedVersion: 0),
            Write("agent/x", "b", "b3", expectedVersion: 2),
            Delete("global", "c", expectedVersion: 1));
        Assert.Equal(new long?[] { 2, 1, 3, null }, retried.Select(r => r.Stored?.Version));
    }

    [Fact]
    public async Task Commit_applies_a_batch_over_several_scopes_and_keys_and_returns_results_in_order()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        await store.WriteAsync(Write("global", "old", "gone soon"));
        await store.WriteAsync(Write("agent/x", "b", "b1"));
        clock.Advance(TimeSpan.FromSeconds(1));

        IReadOnlyList<StateOperationResult> results = await CommitAsync(
            store,
            new StateWrite("global", "a", "A", 2, Encoding.UTF8.GetBytes("ga")),
            new StateWrite("agent/x", "a", "B", 3, Encoding.UTF8.GetBytes("xa")),
            Write("agent/x", "b", "xb"),
            Delete("global", "old"),
            Write("step/w/s", "k", "sk"));

        Assert.Equal(5, results.Count);
        Assert.Equal(new[] { "global/a", "agent/x/a", "agent/x/b", null, "step/w/s/k" }, results.Select(r => r.Stored is null ? null : r.Stored.Scope + "/" + r.Stored.Key));
        Assert.Equal(new[] { "ga", "xa", "xb", null, "sk" }, results.Select(r => r.Stored is null ? null : Backends.Utf8(r.Stored.Payload)));
        Assert.Equal(new long?[] { 1, 1, 2, null, 1 }, results.Select(r => r.Stored?.Version));
        Assert.Equal(new[] { false, false, true, true, false }, results.Select(r => r.Existed));
        Assert.All(results, r => Assert.Null(r.Previous));
        Assert.All(results.Where(r => r.Stored is not null), r => Assert.Equal(clock.GetUtcNow(), r.Stored!.UpdatedAt));
        Assert.Equal("A", results[0].Stored!.TypeName);
        Assert.Equal(2, results[0].Stored!.SchemaVersion);
        Assert.Equal("B", results[1].Stored!.TypeName);
        Assert.Equal(3, results[1].Stored!.SchemaVersion);

        StoredEntry ga = (await store.GetAsync("global", "a"))!;
        Assert.Equal(("A", 2, 1L, "ga"), (ga.TypeName, ga.SchemaVersion, ga.Version, Backends.Utf8(ga.Payload)));
        StoredEntry xa = (await store.GetAsync("agent/x", "a"))!;
        Assert.Equal(("B", 3, 1L, "xa"), (xa.TypeName, xa.SchemaVersion, xa.Version, Backends.Utf8(xa.Payload)));
        await AssertStoredAsync(store, "agent/x", "b", "xb", 2);
        await AssertStoredAsync(store, "step/w/s", "k", "sk", 1);
        Assert.False(await store.ExistsAsync("global", "old"));
        Assert.Equal(new[] { "a" }, await store.ListKeysAsync("global"));
        Assert.Equal(new[] { "a", "b" }, await store.ListKeysAsync("agent/x"));
    }

    [Fact]
    public async Task Commit_with_the_same_key_twice_lets_the_second_operation_see_the_first()
    {
        IStateStore store = NewStore();

        IReadOnlyList<StateOperationResult> results = await CommitAsync(
            store,
            Write("global", "k", "first", expectedVersion: 0),
            Write("global", "k", "second", expectedVersion: 1));

        Assert.Equal(new long[] { 1, 2 }, results.Select(r => r.Stored!.Version));
        Assert.Equal(new[] { false, true }, results.Select(r => r.Existed));
        await AssertStoredAsync(store, "global", "k", "second", 2);
    }

    [Fact]
    public async Task Commit_of_a_key_created_twice_in_one_batch_fails_on_the_second_and_applies_nothing()
    {
        IStateStore store = NewStore();

        var ex = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await CommitAsync(
            store,
            Write("global", "k", "first", expectedVersion: 0),
            Write("global", "k", "second", expectedVersion: 0)));

        Assert.Equal(0, ex.ExpectedVersion);
        Assert.Equal(1, ex.StoredVersion);
        Assert.False(await store.ExistsAsync("global", "k"));
        Assert.Equal(1, (await store.WriteAsync(Write("global", "k", "later"))).Version);
    }

    [Fact]
    public async Task Commit_of_write_then_delete_of_one_key_leaves_it_absent()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "other", "untouched"));

        IReadOnlyList<StateOperationResult> results = await CommitAsync(
            store,
            Write("global", "k", "short-lived"),
            Delete("global", "k", expectedVersion: 1));

        Assert.Equal(1, results[0].Stored!.Version);
        Assert.False(results[0].Existed);
        Assert.Null(results[1].Stored);
        Assert.True(results[1].Existed);
        Assert.False(await store.ExistsAsync("global", "k"));
        Assert.Equal(new[] { "other" }, await store.ListKeysAsync("global"));
        Assert.Equal(1, (await store.WriteAsync(Write("global", "k", "again"))).Version);
    }

    [Fact]
    public async Task Commit_of_delete_then_write_of_one_key_restarts_its_version_at_1()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));
        await store.WriteAsync(Write("global", "k", "v2"));
        await store.WriteAsync(Write("global", "k", "v3"));

        IReadOnlyList<StateOperationResult> results = await CommitAsync(
            store,
            Delete("global", "k", expectedVersion: 3),
            Write("global", "k", "reborn", expectedVersion: 0));

        Assert.True(results[0].Existed);
        Assert.False(results[1].Existed);
        Assert.Equal(1, results[1].Stored!.Version);
        await AssertStoredAsync(store, "global", "k", "reborn", 1);
    }

    [Fact]
    public async Task Commit_keeps_the_version_rules_across_writes_deletes_and_single_operations()
    {
        IStateStore store = NewStore();

        for (int i = 1; i <= 4; i++)
        {
            IReadOnlyList<StateOperationResult> r = await CommitAsync(store, Write("global", "k", $"c{i}"));
            Assert.Equal(i, r[0].Stored!.Version);
        }

        Assert.Equal(5, (await store.WriteAsync(Write("global", "k", "w5"))).Version);
        Assert.Equal(6, (await CommitAsync(store, Write("global", "k", "c6", expectedVersion: 5)))[0].Stored!.Version);
        await AssertStoredAsync(store, "global", "k", "c6", 6);

        Assert.True((await CommitAsync(store, Delete("global", "k")))[0].Existed);
        Assert.Equal(1, (await CommitAsync(store, Write("global", "k", "fresh")))[0].Stored!.Version);
        Assert.True(await store.DeleteAsync("global", "k"));
        Assert.Equal(1, (await CommitAsync(store, Write("global", "k", "fresh again", expectedVersion: 0)))[0].Stored!.Version);
        Assert.Equal(2, (await store.WriteAsync(Write("global", "k", "w2", expectedVersion: 1))).Version);
    }

    [Fact]
    public async Task Commit_create_with_expected_version_0_fails_when_the_entry_is_present()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("agent/x", "k", "present"));

        var ex = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await CommitAsync(
            store,
            Write("global", "other", "would be new", expectedVersion: 0),
            Write("agent/x", "k", "duplicate", expectedVersion: 0)));

        Assert.Equal(("agent/x", "k", (long?)0, (long?)1), (ex.Scope, ex.Key, ex.ExpectedVersion, ex.StoredVersion));
        await AssertStoredAsync(store, "agent/x", "k", "present", 1);
        Assert.False(await store.ExistsAsync("global", "other"));
    }

    [Fact]
    public async Task Commit_delete_with_a_stale_expected_version_fails_and_keeps_the_entry()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));
        await store.WriteAsync(Write("global", "k", "v2"));
        await store.WriteAsync(Write("global", "j", "j1"));

        var stale = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await CommitAsync(store, Delete("global", "j"), Delete("global", "k", expectedVersion: 1)));
        Assert.Equal(((long?)1, (long?)2), (stale.ExpectedVersion, stale.StoredVersion));
        var zero = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await CommitAsync(store, Delete("global", "k", expectedVersion: 0)));
        Assert.Equal(((long?)0, (long?)2), (zero.ExpectedVersion, zero.StoredVersion));
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await CommitAsync(store, Delete("global", "missing", expectedVersion: 1)));

        await AssertStoredAsync(store, "global", "k", "v2", 2);
        await AssertStoredAsync(store, "global", "j", "j1", 1);

        IReadOnlyList<StateOperationResult> ok = await CommitAsync(store, Delete("global", "k", expectedVersion: 2));
        Assert.True(ok[0].Existed);
        Assert.False(await store.ExistsAsync("global", "k"));
    }

    [Fact]
    public async Task Commit_returns_the_replaced_entry_only_when_asked()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        StoredEntry original = await store.WriteAsync(new StateWrite("global", "k", "Old", 3, Encoding.UTF8.GetBytes("old")));
        await store.WriteAsync(Write("global", "j", "j1"));
        clock.Advance(TimeSpan.FromMinutes(1));

        IReadOnlyList<StateOperationResult> results = await CommitAsync(
            store,
            Write("global", "k", "v2") with { ReturnPrevious = true },
            Write("global", "k", "v3"),
            Delete("global", "k") with { ReturnPrevious = true },
            Write("global", "missing", "m1") with { ReturnPrevious = true },
            Delete("global", "j"),
            Delete("global", "never") with { ReturnPrevious = true });

        StoredEntry previous = Assert.IsType<StoredEntry>(results[0].Previous);
        Assert.Equal(("global", "k", "Old", 3, 1L), (previous.Scope, previous.Key, previous.TypeName, previous.SchemaVersion, previous.Version));
        Assert.Equal("old", Backends.Utf8(previous.Payload));
        Assert.Equal(original.UpdatedAt, previous.UpdatedAt);

        Assert.Null(results[1].Previous);

        // The delete replaced what the second write of the same batch stored.
        StoredEntry deleted = Assert.IsType<StoredEntry>(results[2].Previous);
        Assert.Equal((3L, "v3", clock.GetUtcNow()), (deleted.Version, Backends.Utf8(deleted.Payload), deleted.UpdatedAt));

        Assert.Null(results[3].Previous);
        Assert.False(results[3].Existed);
        Assert.Null(results[4].Previous);
        Assert.True(results[4].Existed);
        Assert.Null(results[5].Previous);
        Assert.False(results[5].Existed);
    }

    [Fact]
    public async Task Commit_reports_whether_each_entry_existed_before_its_operation()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "existing", "v"));
        await store.WriteAsync(Write("global", "doomed", "v"));

        IReadOnlyList<StateOperationResult> results = await CommitAsync(
            store,
            Write("global", "new", "v"),
            Write("global", "existing", "v2"),
            Delete("global", "doomed"),
            Delete("global", "missing"),
            Delete("global", "doomed"),
            Write("global", "new", "v2"));

        Assert.Equal(new[] { false, true, true, false, false, true }, results.Select(r => r.Existed));
        Assert.Equal(new[] { true, true, false, false, false, true }, results.Select(r => r.Stored is not null));
        Assert.Equal(new[] { "existing", "new" }, await store.ListKeysAsync("global"));
    }

    [Fact]
    public async Task Commit_of_an_empty_batch_returns_no_results_and_changes_nothing()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v"));

        IReadOnlyList<StateOperationResult> results = await store.CommitAsync(Array.Empty<StateOperation>());

        Assert.Empty(results);
        await AssertStoredAsync(store, "global", "k", "v", 1);
    }

    [Fact]
    public async Task Commit_of_a_null_list_or_a_null_operation_throws_an_ArgumentException_and_applies_nothing()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));

        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.CommitAsync(null!));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.CommitAsync(new StateOperation[] { Write("global", "k", "v2"), Write("global", "n", "n"), null! }));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.CommitAsync(new StateOperation[] { null!, Delete("global", "k") }));

        await AssertStoredAsync(store, "global", "k", "v1", 1);
        Assert.False(await store.ExistsAsync("global", "n"));
    }

    [Fact]
    public async Task Canceled_commit_applies_nothing()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.CommitAsync(new StateOperation[] { Write("global", "k", "v2"), Write("global", "n", "n") }, cts.Token));

        await AssertStoredAsync(store, "global", "k", "v1", 1);
        Assert.False(await store.ExistsAsync("global", "n"));
    }

    [Fact]
    public async Task Commit_stores_a_copy_of_each_written_buffer()
    {
        IStateStore store = NewStore();
        byte[] first = Encoding.UTF8.GetBytes("\"first\"");
        byte[] second = Encoding.UTF8.GetBytes("\"second\"");

        IReadOnlyList<StateOperationResult> results = await store.CommitAsync(new StateOperation[]
        {
            new StateWrite("global", "a", "json", 1, first),
            new StateWrite("global", "b", "json", 1, second),
        });
        first.AsSpan().Fill((byte)'x');
        second.AsSpan().Fill((byte)'y');

        Assert.Equal("\"first\"", Backends.Utf8((await store.GetAsync("global", "a"))!.Payload));
        Assert.Equal("\"second\"", Backends.Utf8((await store.GetAsync("global", "b"))!.Payload));
        Assert.Equal("\"first\"", Backends.Utf8(results[0].Stored!.Payload));
    }
}
