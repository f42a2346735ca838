using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The contract of <see cref="IStateStore"/>, which every backend must pass (the pattern of Orleans'
/// Persistence.TestKit and Dapr's state conformance tests). A backend joins by deriving from this class and
/// implementing <see cref="CreateStore"/>.
/// </summary>
public abstract partial class StateStoreConformanceTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset Start = new(2025, 3, 4, 5, 6, 7, 891, TimeSpan.Zero);
    private readonly List<IStateStore> _stores = new();

    /// <summary>Creates a new, empty store that takes its timestamps from <paramref name="clock"/>.</summary>
    protected abstract IStateStore CreateStore(TimeProvider clock);

    /// <summary>Releases what the backend holds beyond its stores (files, folders).</summary>
    protected virtual void Cleanup()
    {
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (IStateStore store in _stores)
        {
            await store.DisposeAsync();
        }

        Cleanup();
    }

    protected IStateStore NewStore(ManualTimeProvider? clock = null)
    {
        IStateStore store = CreateStore(clock ?? new ManualTimeProvider(Start));
        _stores.Add(store);
        return store;
    }

    protected static StateWrite Write(string scope, string key, string payload, long? expectedVersion = null, string typeName = "json", int schemaVersion = 1)
        => new(scope, key, typeName, schemaVersion, Encoding.UTF8.GetBytes(payload), expectedVersion);

    [Fact]
    public async Task Get_of_missing_entry_returns_null()
    {
        IStateStore store = NewStore();

        Assert.Null(await store.GetAsync("global", "missing"));
        Assert.False(await store.ExistsAsync("global", "missing"));
    }

    [Fact]
    public async Task Write_then_get_returns_same_scope_key_type_schema_and_bytes()
    {
        IStateStore store = NewStore();
        byte[] payload = Encoding.UTF8.GetBytes("{\"a\":[1,2,3],\"b\":\"héllo 😀\"}");

        StoredEntry written = await store.WriteAsync(new StateWrite("agent/a", "Note/1", "Note", 4, payload));
        StoredEntry? read = await store.GetAsync("agent/a", "Note/1");

        Assert.NotNull(read);
        foreach (StoredEntry entry in new[] { written, read })
        {
            Assert.Equal("agent/a", entry.Scope);
            Assert.Equal("Note/1", entry.Key);
            Assert.Equal("Note", entry.TypeName);
            Assert.Equal(4, entry.SchemaVersion);
            Assert.Equal(payload, entry.Payload.ToArray());
        }

        Assert.Equal(written.Version, read.Version);
        Assert.Equal(written.UpdatedAt, read.UpdatedAt);
    }

    [Fact]
    public async Task Payload_bytes_are_kept_exactly_even_when_not_json()
    {
        IStateStore store = NewStore();
        var random = new Random(1234);
        byte[] binary = new byte[300_000];
        random.NextBytes(binary);

        await store.WriteAsync(new StateWrite("global", "binary", "blob", 1, binary));
        await store.WriteAsync(new StateWrite("global", "empty", "blob", 1, Array.Empty<byte>()));

        Assert.Equal(binary, (await store.GetAsync("global", "binary"))!.Payload.ToArray());
        Assert.Empty((await store.GetAsync("global", "empty"))!.Payload.ToArray());
    }

    [Fact]
    public async Task Stored_payload_is_a_copy_of_the_written_buffer()
    {
        IStateStore store = NewStore();
        byte[] buffer = Encoding.UTF8.GetBytes("\"original\"");

        await store.WriteAsync(new StateWrite("global", "k", "json", 1, buffer));
        buffer.AsSpan().Fill((byte)'x');

        Assert.Equal("\"original\"", Backends.Utf8((await store.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task First_write_stores_version_1()
    {
        IStateStore store = NewStore();

        StoredEntry written = await store.WriteAsync(Write("global", "k", "1"));

        Assert.Equal(1, written.Version);
        Assert.Equal(1, (await store.GetAsync("global", "k"))!.Version);
    }

    [Fact]
    public async Task Each_write_increments_version_by_exactly_one()
    {
        IStateStore store = NewStore();

        for (int i = 1; i <= 12; i++)
        {
            StoredEntry written = await store.WriteAsync(Write("global", "k", i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.Equal(i, written.Version);
            Assert.Equal(i, (await store.GetAsync("global", "k"))!.Version);
        }

        Assert.Equal("12", Backends.Utf8((await store.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task Versions_are_counted_per_entry()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "a", "1"));
        await store.WriteAsync(Write("global", "a", "2"));
        await store.WriteAsync(Write("global", "a", "3"));

        Assert.Equal(1, (await store.WriteAsync(Write("global", "b", "1"))).Version);
        Assert.Equal(1, (await store.WriteAsync(Write("agent/x", "a", "1"))).Version);
        Assert.Equal(3, (await store.GetAsync("global", "a"))!.Version);
    }

    [Fact]
    public async Task Overwrite_replaces_type_name_and_schema_version()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "{}", typeName: "A", schemaVersion: 1));

        await store.WriteAsync(Write("global", "k", "[]", typeName: "B", schemaVersion: 2));

        StoredEntry entry = (await store.GetAsync("global", "k"))!;
        Assert.Equal("B", entry.TypeName);
        Assert.Equal(2, entry.SchemaVersion);
        Assert.Equal("[]", Backends.Utf8(entry.Payload));
        Assert.Equal(2, entry.Version);
    }

    [Fact]
    public async Task Expected_version_0_on_missing_entry_succeeds()
    {
        IStateStore store = NewStore();

        StoredEntry written = await store.WriteAsync(Write("global", "k", "1", expectedVersion: 0));

        Assert.Equal(1, written.Version);
        Assert.Equal("1", Backends.Utf8((await store.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task Expected_version_0_on_existing_entry_throws_StateConcurrencyException_and_keeps_the_entry()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "first"));

        var ex = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("global", "k", "second", expectedVersion: 0)));

        Assert.Equal(0, ex.ExpectedVersion);
        Assert.Equal(1, ex.StoredVersion);
        Assert.Equal("global", ex.Scope);
        Assert.Equal("k", ex.Key);
        StoredEntry entry = (await store.GetAsync("global", "k"))!;
        Assert.Equal(1, entry.Version);
        Assert.Equal("first", Backends.Utf8(entry.Payload));
    }

    [Fact]
    public async Task Stale_expected_version_throws_and_keeps_the_entry()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));
        await store.WriteAsync(Write("global", "k", "v2"));
        await store.WriteAsync(Write("global", "k", "v3"));

        var ex = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("global", "k", "stale", expectedVersion: 2)));

        Assert.Equal(2, ex.ExpectedVersion);
        Assert.Equal(3, ex.StoredVersion);
        StoredEntry entry = (await store.GetAsync("global", "k"))!;
        Assert.Equal(3, entry.Version);
        Assert.Equal("v3", Backends.Utf8(entry.Payload));
    }

    [Fact]
    public async Task Expected_version_ahead_of_stored_version_throws()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("global", "k", "ahead", expectedVersion: 2)));

        Assert.Equal(1, (await store.GetAsync("global", "k"))!.Version);
    }

    [Fact]
    public async Task Expected_version_on_missing_entry_throws_and_stores_nothing()
    {
        IStateStore store = NewStore();

        var ex = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("global", "k", "v", expectedVersion: 1)));

        Assert.Null(ex.StoredVersion);
        Assert.False(await store.ExistsAsync("global", "k"));
    }

    [Fact]
    public async Task Correct_expected_version_succeeds_and_increments()
    {
        IStateStore store = NewStore();
        StoredEntry first = await store.WriteAsync(Write("global", "k", "v1", expectedVersion: 0));

        StoredEntry second = await store.WriteAsync(Write("global", "k", "v2", expectedVersion: first.Version));
        StoredEntry third = await store.WriteAsync(Write("global", "k", "v3", expectedVersion: second.Version));

        Assert.Equal(2, second.Version);
        Assert.Equal(3, third.Version);
        Assert.Equal("v3", Backends.Utf8((await store.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task Delete_returns_true_then_false_and_the_entry_is_gone()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v"));

        Assert.True(await store.DeleteAsync("global", "k"));
        Assert.False(await store.DeleteAsync("global", "k"));

        Assert.Null(await store.GetAsync("global", "k"));
        Assert.False(await store.ExistsAsync("global", "k"));
        Assert.Empty(await store.ListKeysAsync("global"));
    }

    [Fact]
    public async Task Delete_of_missing_entry_returns_false()
    {
        IStateStore store = NewStore();

        Assert.False(await store.DeleteAsync("global", "never-written"));
    }

    [Fact]
    public async Task Delete_removes_only_its_own_entry()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "global"));
        await store.WriteAsync(Write("agent/a", "k", "agent"));
        await store.WriteAsync(Write("global", "k2", "other key"));

        Assert.True(await store.DeleteAsync("global", "k"));

        Assert.True(await store.ExistsAsync("agent/a", "k"));
        Assert.True(await store.ExistsAsync("global", "k2"));
    }

    [Fact]
    public async Task Expected_version_0_after_delete_succeeds()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));
        await store.DeleteAsync("global", "k");

        await store.WriteAsync(Write("global", "k", "again", expectedVersion: 0));

        Assert.Equal("again", Backends.Utf8((await store.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task Exists_reflects_writes_and_deletes()
    {
        IStateStore store = NewStore();
        Assert.False(await store.ExistsAsync("global", "k"));

        await store.WriteAsync(Write("global", "k", "v"));
        Assert.True(await store.ExistsAsync("global", "k"));
        Assert.False(await store.ExistsAsync("agent/a", "k"));

        await store.DeleteAsync("global", "k");
        Assert.False(await store.ExistsAsync("global", "k"));
    }

    [Fact]
    public async Task ListKeysAsync_returns_keys_in_ordinal_order()
    {
        IStateStore store = NewStore();
        string[] keys = { "b", "B", "a", "a/b", "a-b", "a.b", "Z", "z", "é", "e\u0301", "_", "10", "9", "Note/2", "Note/10", "日本", "😀" };
        foreach (string key in keys)
        {
            await store.WriteAsync(Write("global", key, "v"));
        }

        IReadOnlyList<string> listed = await store.ListKeysAsync("global");

        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), listed);
    }

    [Fact]
    public async Task ListKeysAsync_is_scope_isolated()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("agent/a", "k1", "v"));
        await store.WriteAsync(Write("agent/a", "k2", "v"));
        await store.WriteAsync(Write("agent/ab", "k3", "v"));
        await store.WriteAsync(Write("agent/A", "k4", "v"));
        await store.WriteAsync(Write("step/agent/a", "k5", "v"));
        await store.WriteAsync(Write("global", "k6", "v"));

        Assert.Equal(new[] { "k1", "k2" }, await store.ListKeysAsync("agent/a"));
        Assert.Equal(new[] { "k3" }, await store.ListKeysAsync("agent/ab"));
        Assert.Equal(new[] { "k4" }, await store.ListKeysAsync("agent/A"));
        Assert.Equal(new[] { "k6" }, await store.ListKeysAsync("global"));
        Assert.Empty(await store.ListKeysAsync("agent"));
        Assert.Empty(await store.ListKeysAsync("agent/b"));
    }

    [Fact]
    public async Task Keys_that_differ_only_by_case_are_different_entries()
    {
        IStateStore store = NewStore();

        StoredEntry lower = await store.WriteAsync(Write("global", "key", "lower"));
        StoredEntry title = await store.WriteAsync(Write("global", "Key", "title"));
        StoredEntry upper = await store.WriteAsync(Write("global", "KEY", "upper"));

        Assert.Equal(new long[] { 1, 1, 1 }, new[] { lower.Version, title.Version, upper.Version });
        Assert.Equal("lower", Backends.Utf8((await store.GetAsync("global", "key"))!.Payload));
        Assert.Equal("title", Backends.Utf8((await store.GetAsync("global", "Key"))!.Payload));
        Assert.Equal("upper", Backends.Utf8((await store.GetAsync("global", "KEY"))!.Payload));
        Assert.Equal(3, (await store.ListKeysAsync("global")).Count);

        Assert.True(await store.DeleteAsync("global", "Key"));
        Assert.True(await store.ExistsAsync("global", "key"));
        Assert.True(await store.ExistsAsync("global", "KEY"));
    }

    [Fact]
    public async Task Scopes_that_differ_only_by_case_are_different_entries()
    {
        IStateStore store = NewStore();

        await store.WriteAsync(Write("agent/bob", "k", "lower"));
        await store.WriteAsync(Write("agent/Bob", "k", "title"));

        Assert.Equal("lower", Backends.Utf8((await store.GetAsync("agent/bob", "k"))!.Payload));
        Assert.Equal("title", Backends.Utf8((await store.GetAsync("agent/Bob", "k"))!.Payload));
    }

    [Fact]
    public async Task Keys_are_compared_ordinally_without_normalizing()
    {
        // Normalization is the manager's job; a store must not merge two spellings on its own.
        IStateStore store = NewStore();

        await store.WriteAsync(Write("global", "caf\u00E9", "composed"));
        await store.WriteAsync(Write("global", "cafe\u0301", "decomposed"));

        Assert.Equal("composed", Backends.Utf8((await store.GetAsync("global", "caf\u00E9"))!.Payload));
        Assert.Equal("decomposed", Backends.Utf8((await store.GetAsync("global", "cafe\u0301"))!.Payload));
    }

    [Theory]
    [InlineData("agent/a", "b/c", "agent/a/b", "c")]
    [InlineData("agent/ab", "c", "agent/a", "bc")]
    [InlineData("global", "agent/a", "global/agent", "a")]
    [InlineData("step/w/s", "k", "step/w", "s/k")]
    [InlineData("custom/x", "y", "custom", "x/y")]
    public async Task Scope_key_pairs_that_concatenate_alike_do_not_collide(string scope1, string key1, string scope2, string key2)
    {
        IStateStore store = NewStore();

        await store.WriteAsync(Write(scope1, key1, "first"));
        StoredEntry second = await store.WriteAsync(Write(scope2, key2, "second"));

        Assert.Equal(1, second.Version);
        Assert.Equal("first", Backends.Utf8((await store.GetAsync(scope1, key1))!.Payload));
        Assert.Equal("second", Backends.Utf8((await store.GetAsync(scope2, key2))!.Payload));
        Assert.Equal(new[] { key1 }, await store.ListKeysAsync(scope1));
        Assert.Equal(new[] { key2 }, await store.ListKeysAsync(scope2));
    }

    [Fact]
    public async Task UpdatedAt_is_utc_and_taken_from_the_injected_clock()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero).AddTicks(1234567));
        IStateStore store = NewStore(clock);

        StoredEntry written = await store.WriteAsync(Write("global", "k", "v"));
        StoredEntry read = (await store.GetAsync("global", "k"))!;

        Assert.Equal(TimeSpan.Zero, written.UpdatedAt.Offset);
        Assert.Equal(TimeSpan.Zero, read.UpdatedAt.Offset);
        Assert.Equal(clock.GetUtcNow().UtcTicks, written.UpdatedAt.UtcTicks);
        Assert.Equal(clock.GetUtcNow().UtcTicks, read.UpdatedAt.UtcTicks);
    }

    [Fact]
    public async Task UpdatedAt_moves_forward_with_every_write()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        var seen = new List<DateTimeOffset>();

        for (int i = 0; i < 5; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(1) + TimeSpan.FromTicks(i));
            await store.WriteAsync(Write("global", "k", "v"));
            StoredEntry entry = (await store.GetAsync("global", "k"))!;
            Assert.Equal(clock.GetUtcNow(), entry.UpdatedAt);
            seen.Add(entry.UpdatedAt);
        }

        Assert.Equal(seen.OrderBy(t => t), seen);
        Assert.Equal(seen.Count, seen.Distinct().Count());
    }

    [Fact]
    public async Task Failed_conditional_write_keeps_UpdatedAt()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        StoredEntry first = await store.WriteAsync(Write("global", "k", "v"));
        clock.Advance(TimeSpan.FromHours(1));

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("global", "k", "v2", expectedVersion: 0)));

        Assert.Equal(first.UpdatedAt, (await store.GetAsync("global", "k"))!.UpdatedAt);
    }

    [Fact]
    public async Task Canceled_write_stores_nothing()
    {
        IStateStore store = NewStore();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.WriteAsync(Write("global", "k", "v"), cts.Token));

        Assert.False(await store.ExistsAsync("global", "k"));
    }

    [Fact]
    public async Task Compare_and_swap_from_8_tasks_loses_no_increment()
    {
        IStateStore store = NewStore();
        const int Tasks = 8;
        const int IncrementsPerTask = 15;

        async Task IncrementAsync()
        {
            for (int done = 0; done < IncrementsPerTask;)
            {
                StoredEntry? current = await store.GetAsync("global", "counter");
                int value = current is null ? 0 : int.Parse(Backends.Utf8(current.Payload), System.Globalization.CultureInfo.InvariantCulture);
                try
                {
                    await store.WriteAsync(Write("global", "counter", (value + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), expectedVersion: current?.Version ?? 0));
                    done++;
                }
                catch (StateConcurrencyException)
                {
                    // Another task won this round: read again and retry.
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(_ => Task.Run(IncrementAsync)));

        StoredEntry final = (await store.GetAsync("global", "counter"))!;
        Assert.Equal(Tasks * IncrementsPerTask, final.Version);
        Assert.Equal((Tasks * IncrementsPerTask).ToString(System.Globalization.CultureInfo.InvariantCulture), Backends.Utf8(final.Payload));
    }

    [Fact]
    public async Task Unconditional_writes_to_one_key_from_8_tasks_get_distinct_consecutive_versions()
    {
        IStateStore store = NewStore();
        const int Tasks = 8;
        const int WritesPerTask = 25;

        long[][] versions = await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            var mine = new long[WritesPerTask];
            for (int i = 0; i < WritesPerTask; i++)
            {
                mine[i] = (await store.WriteAsync(Write("global", "shared", $"{t}:{i}"))).Version;
            }

            return mine;
        })));

        Assert.Equal(Enumerable.Range(1, Tasks * WritesPerTask).Select(v => (long)v), versions.SelectMany(v => v).Order());
        Assert.Equal(Tasks * WritesPerTask, (await store.GetAsync("global", "shared"))!.Version);
    }
}
