using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The contract of <see cref="IStateHistoryStore"/>: the change log written in the same atomic step as every committed
/// write and delete, its queries and pruning, and the hook history. A backend joins by deriving from this class and
/// implementing <see cref="CreateStore"/> (and, when its data outlives the store object, <see cref="ReopenAsync"/>).
/// </summary>
public abstract class StateHistoryConformanceTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset Start = new(2025, 3, 4, 5, 6, 7, 891, TimeSpan.Zero);
    private readonly List<IStateStore> _stores = new();

    /// <summary>Creates a new, empty store that takes its timestamps from <paramref name="clock"/>.</summary>
    /// <param name="clock">The store's clock.</param>
    /// <param name="recordChanges">Whether the store keeps a change log.</param>
    protected abstract IStateStore CreateStore(TimeProvider clock, bool recordChanges);

    /// <summary>Whether <see cref="ReopenAsync"/> is supported: the store's data outlives the store object.</summary>
    protected virtual bool SupportsReopen => false;

    /// <summary>Disposes <paramref name="store"/> and opens its data again with the same settings.</summary>
    protected virtual IStateStore Reopen(IStateStore store, TimeProvider clock)
        => throw new NotSupportedException("This store keeps nothing beyond the store object.");

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

    protected IStateStore NewStore(ManualTimeProvider? clock = null, bool recordChanges = true)
    {
        IStateStore store = CreateStore(clock ?? new ManualTimeProvider(Start), recordChanges);
        _stores.Add(store);
        return store;
    }

    /// <summary>Disposes and reopens the store where the backend supports it; otherwise keeps it as it is.</summary>
    protected async Task<IStateStore> ReopenAsync(IStateStore store, TimeProvider clock)
    {
        if (!SupportsReopen)
        {
            return store;
        }

        await store.DisposeAsync();
        IStateStore reopened = Reopen(store, clock);
        _stores.Add(reopened);
        return reopened;
    }

    protected static IStateHistoryStore History(IStateStore store)
        => Assert.IsAssignableFrom<IStateHistoryStore>(store);

    protected static StateWrite Write(string scope, string key, string payload, long? expectedVersion = null, string typeName = "json", int schemaVersion = 1)
        => new(scope, key, typeName, schemaVersion, Encoding.UTF8.GetBytes(payload), expectedVersion);

    protected static async Task<IReadOnlyList<StateChangeRecord>> AllChangesAsync(IStateStore store)
        => await History(store).ReadChangesAsync(new StateChangeQuery());

    private static async Task<long[]> SequencesAsync(IStateStore store, StateChangeQuery query)
        => (await History(store).ReadChangesAsync(query)).Select(r => r.Sequence).ToArray();

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>Every field of <paramref name="actual"/> equals <paramref name="expected"/>, the payload byte for byte.</summary>
    protected static void AssertSameChange(StateChangeRecord expected, StateChangeRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected with { Payload = default }, actual with { Payload = default });
        Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
        Assert.Equal(TimeSpan.Zero, actual.Timestamp.Offset);
    }

    // ---- The change log ----

    [Fact]
    public async Task Each_write_and_delete_records_one_change_with_its_fields()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        Assert.True(History(store).RecordsChanges);
        DateTimeOffset t1 = clock.GetUtcNow();

        IReadOnlyList<StateOperationResult> first = await store.CommitAsync(new StateOperation[]
        {
            new StateWrite("agent/a", "Note/1", "Note", 2, Encoding.UTF8.GetBytes("{\"v\":1}")) { CorrelationId = "corr-1", Origin = "set" },
        });
        clock.Advance(TimeSpan.FromSeconds(3) + TimeSpan.FromTicks(7));
        DateTimeOffset t2 = clock.GetUtcNow();
        await store.WriteAsync(new StateWrite("agent/a", "Note/1", "NoteV3", 3, Encoding.UTF8.GetBytes("{\"v\":2}")));
        clock.Advance(TimeSpan.FromMinutes(1));
        DateTimeOffset t3 = clock.GetUtcNow();
        IReadOnlyList<StateOperationResult> third = await store.CommitAsync(new StateOperation[]
        {
            new StateDelete("agent/a", "Note/1") { CorrelationId = "corr-2", Origin = "delete" },
        });

        IReadOnlyList<StateChangeRecord> log = await AllChangesAsync(store);
        Assert.Equal(3, log.Count);
        var expected = new[]
        {
            new StateChangeRecord(1, "agent/a", "Note/1", StateChangeKind.Write, "Note", 2, 1, t1, Encoding.UTF8.GetBytes("{\"v\":1}"), 0, "corr-1", "set"),
            new StateChangeRecord(2, "agent/a", "Note/1", StateChangeKind.Write, "NoteV3", 3, 2, t2, Encoding.UTF8.GetBytes("{\"v\":2}"), 1, null, null),
            new StateChangeRecord(3, "agent/a", "Note/1", StateChangeKind.Delete, "NoteV3", 3, 2, t3, ReadOnlyMemory<byte>.Empty, 2, "corr-2", "delete"),
        };
        for (int i = 0; i < expected.Length; i++)
        {
            AssertSameChange(expected[i], log[i]);
            AssertSameChange(expected[i], await History(store).ReadChangeAsync(expected[i].Sequence));
        }

        Assert.Equal(1, first[0].ChangeSequence);
        Assert.Equal(3, third[0].ChangeSequence);
        Assert.Null(await History(store).ReadChangeAsync(4));
        Assert.Null(await History(store).ReadChangeAsync(0));
    }

    [Fact]
    public async Task Sequences_increase_by_one_per_change_and_PreviousSequence_links_each_key_to_its_previous_change()
    {
        IStateStore store = NewStore();
        var operations = new List<StateOperation[]>
        {
            new StateOperation[] { Write("global", "a", "1"), Write("agent/x", "a", "1") },
            new StateOperation[] { Write("global", "b", "1") },
            new StateOperation[] { Write("global", "a", "2"), Write("global", "a", "3"), new StateDelete("global", "b") },
            new StateOperation[] { Write("agent/x", "a", "2") },
            new StateOperation[] { Write("global", "b", "again"), new StateDelete("global", "a"), Write("global", "a", "reborn") },
        };
        var results = new List<StateOperationResult>();
        foreach (StateOperation[] batch in operations)
        {
            results.AddRange(await store.CommitAsync(batch));
        }

        IReadOnlyList<StateChangeRecord> log = await AllChangesAsync(store);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), log.Select(r => r.Sequence));
        Assert.Equal(log.Select(r => r.Sequence), results.Select(r => r.ChangeSequence));

        // The model: each record points at the key's previous record, 0 for the first.
        var last = new Dictionary<(string, string), long>();
        foreach (StateChangeRecord record in log)
        {
            last.TryGetValue((record.Scope, record.Key), out long previous);
            Assert.Equal(previous, record.PreviousSequence);
            last[(record.Scope, record.Key)] = record.Sequence;
        }

        Assert.Equal(new long[] { 0, 0, 0, 1, 4, 3, 2, 6, 5, 9 }, log.Select(r => r.PreviousSequence));
        Assert.Equal(new long[] { 1, 1, 1, 2, 3, 1, 2, 1, 3, 1 }, log.Select(r => r.Version));
        Assert.Equal(
            new[] { StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Delete, StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Delete, StateChangeKind.Write },
            log.Select(r => r.Kind));
    }

    [Fact]
    public async Task PreviousSequence_links_through_a_delete_even_after_the_key_is_read_or_the_store_reopened()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        await store.WriteAsync(Write("global", "k", "v1"));
        await store.WriteAsync(Write("global", "j", "v1"));
        Assert.True(await store.DeleteAsync("global", "k"));
        Assert.True(await store.DeleteAsync("global", "j"));

        // A read of the absent key must not make the store forget its last change.
        Assert.Null(await store.GetAsync("global", "k"));
        StateOperationResult rewritten = (await store.CommitAsync(new StateOperation[] { Write("global", "k", "v2") }))[0];
        Assert.Equal(5, rewritten.ChangeSequence);
        Assert.Equal(3, (await History(store).ReadChangeAsync(5))!.PreviousSequence);

        store = await ReopenAsync(store, clock);
        StateOperationResult afterReopen = (await store.CommitAsync(new StateOperation[] { Write("global", "j", "v2") }))[0];
        Assert.Equal(6, afterReopen.ChangeSequence);
        Assert.Equal(4, (await History(store).ReadChangeAsync(6))!.PreviousSequence);
        Assert.Equal(1, afterReopen.Stored!.Version);
    }

    [Fact]
    public async Task Delete_of_a_missing_key_records_nothing()
    {
        IStateStore store = NewStore();

        Assert.False(await store.DeleteAsync("global", "missing"));
        IReadOnlyList<StateOperationResult> results = await store.CommitAsync(new StateOperation[] { new StateDelete("global", "missing"), new StateDelete("agent/x", "missing", ExpectedVersion: 0) });

        Assert.Equal(new long[] { 0, 0 }, results.Select(r => r.ChangeSequence));
        Assert.Empty(await AllChangesAsync(store));

        // No sequence was spent on it either.
        Assert.Equal(1, (await store.CommitAsync(new StateOperation[] { Write("global", "missing", "now") }))[0].ChangeSequence);
        Assert.Equal(0, (await History(store).ReadChangeAsync(1))!.PreviousSequence);
    }

    [Fact]
    public async Task Failed_commit_records_nothing_and_spends_no_sequence()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        await store.WriteAsync(Write("global", "a", "a1"));
        await store.WriteAsync(Write("global", "b", "b1"));
        await store.WriteAsync(Write("global", "b", "b2"));
        await store.WriteAsync(Write("global", "c", "c1"));
        IReadOnlyList<StateChangeRecord> before = await AllChangesAsync(store);
        clock.Advance(TimeSpan.FromMinutes(1));

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.CommitAsync(new StateOperation[]
        {
            Write("global", "a", "a2", expectedVersion: 1) with { CorrelationId = "failed" },
            Write("global", "new", "n", expectedVersion: 0) with { CorrelationId = "failed" },
            Write("global", "b", "stale", expectedVersion: 1) with { CorrelationId = "failed" },
            new StateDelete("global", "c") { CorrelationId = "failed" },
        }));
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("global", "c", "stale", expectedVersion: 0)));

        IReadOnlyList<StateChangeRecord> after = await AllChangesAsync(store);
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
        {
            AssertSameChange(before[i], after[i]);
        }

        Assert.Empty(await History(store).ReadChangesAsync(new StateChangeQuery { CorrelationId = "failed" }));
        Assert.Null(await History(store).ReadChangeAsync(5));
        StateOperationResult next = (await store.CommitAsync(new StateOperation[] { Write("global", "a", "a2", expectedVersion: 1) }))[0];
        Assert.Equal(5, next.ChangeSequence);
        Assert.Equal(1, (await History(store).ReadChangeAsync(5))!.PreviousSequence);
    }

    [Fact]
    public async Task Commit_of_an_empty_batch_records_nothing()
    {
        IStateStore store = NewStore();

        Assert.Empty(await store.CommitAsync(Array.Empty<StateOperation>()));

        Assert.Empty(await AllChangesAsync(store));
        Assert.Equal(1, (await store.CommitAsync(new StateOperation[] { Write("global", "k", "v") }))[0].ChangeSequence);
    }

    [Fact]
    public async Task Correlation_id_and_origin_round_trip_per_operation()
    {
        IStateStore store = NewStore();

        await store.CommitAsync(new StateOperation[]
        {
            Write("global", "a", "1") with { CorrelationId = "run-1/step-2", Origin = "save" },
            Write("global", "b", "1") with { CorrelationId = "日本 😀", Origin = "upgrade" },
            Write("global", "c", "1") with { Origin = "replay" },
            Write("global", "d", "1") with { CorrelationId = string.Empty, Origin = string.Empty },
            new StateDelete("global", "a") { CorrelationId = "run-1/step-3", Origin = "delete" },
        });

        IReadOnlyList<StateChangeRecord> log = await AllChangesAsync(store);
        Assert.Equal(new[] { "run-1/step-2", "日本 😀", null, string.Empty, "run-1/step-3" }, log.Select(r => r.CorrelationId));
        Assert.Equal(new[] { "save", "upgrade", "replay", string.Empty, "delete" }, log.Select(r => r.Origin));
    }

    // ---- Queries ----

    /// <summary>
    /// Six changes one minute apart: 1 global/a c1, 2 agent/x/a c2, 3 global/b c1, 4 global/a (none), 5 agent/x/a delete
    /// c2, 6 global/a c1.
    /// </summary>
    private async Task<(IStateStore Store, DateTimeOffset[] Times)> QueryFixtureAsync()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        StateOperation[] operations =
        {
            Write("global", "a", "ga1") with { CorrelationId = "c1" },
            Write("agent/x", "a", "xa1") with { CorrelationId = "c2" },
            Write("global", "b", "gb1") with { CorrelationId = "c1" },
            Write("global", "a", "ga2"),
            new StateDelete("agent/x", "a") { CorrelationId = "c2" },
            Write("global", "a", "ga3") with { CorrelationId = "c1" },
        };
        var times = new DateTimeOffset[operations.Length + 1];
        for (int i = 0; i < operations.Length; i++)
        {
            times[i + 1] = clock.GetUtcNow();
            await store.CommitAsync(new[] { operations[i] });
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        return (store, times);
    }

    [Fact]
    public async Task ReadChanges_without_conditions_returns_every_record_in_sequence_order()
    {
        var (store, times) = await QueryFixtureAsync();

        IReadOnlyList<StateChangeRecord> log = await AllChangesAsync(store);

        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, log.Select(r => r.Sequence));
        Assert.Equal(times.Skip(1), log.Select(r => r.Timestamp));
        Assert.Equal(new[] { "ga1", "xa1", "gb1", "ga2", string.Empty, "ga3" }, log.Select(r => Text(r.Payload)));
    }

    [Fact]
    public async Task ReadChanges_filters_by_scope_and_by_scope_and_key()
    {
        var (store, _) = await QueryFixtureAsync();

        Assert.Equal(new long[] { 1, 3, 4, 6 }, await SequencesAsync(store, new StateChangeQuery { Scope = "global" }));
        Assert.Equal(new long[] { 2, 5 }, await SequencesAsync(store, new StateChangeQuery { Scope = "agent/x" }));
        Assert.Equal(new long[] { 1, 4, 6 }, await SequencesAsync(store, new StateChangeQuery { Scope = "global", Key = "a" }));
        Assert.Equal(new long[] { 2, 5 }, await SequencesAsync(store, new StateChangeQuery { Scope = "agent/x", Key = "a" }));
        Assert.Equal(new long[] { 3 }, await SequencesAsync(store, new StateChangeQuery { Scope = "global", Key = "b" }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Scope = "agent/x", Key = "b" }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Scope = "agent" }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Scope = "Global" }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Scope = "global", Key = "A" }));
    }

    [Fact]
    public async Task ReadChanges_filters_by_correlation_id()
    {
        var (store, _) = await QueryFixtureAsync();

        Assert.Equal(new long[] { 1, 3, 6 }, await SequencesAsync(store, new StateChangeQuery { CorrelationId = "c1" }));
        Assert.Equal(new long[] { 2, 5 }, await SequencesAsync(store, new StateChangeQuery { CorrelationId = "c2" }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { CorrelationId = "C1" }));
        Assert.Equal(new long[] { 1, 6 }, await SequencesAsync(store, new StateChangeQuery { CorrelationId = "c1", Scope = "global", Key = "a" }));
        Assert.Equal(new long[] { 3, 6 }, await SequencesAsync(store, new StateChangeQuery { CorrelationId = "c1", Scope = "global", AfterSequence = 1 }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { CorrelationId = "c2", Scope = "global" }));
    }

    [Fact]
    public async Task ReadChanges_filters_by_after_sequence()
    {
        var (store, _) = await QueryFixtureAsync();

        Assert.Equal(new long[] { 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery { AfterSequence = 3 }));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery { AfterSequence = 0 }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { AfterSequence = 6 }));
        Assert.Equal(new long[] { 4, 6 }, await SequencesAsync(store, new StateChangeQuery { Scope = "global", Key = "a", AfterSequence = 1 }));
        Assert.Equal(new long[] { 5 }, await SequencesAsync(store, new StateChangeQuery { Scope = "agent/x", AfterSequence = 2 }));
    }

    [Fact]
    public async Task ReadChanges_filters_by_since_and_until_inclusively()
    {
        var (store, t) = await QueryFixtureAsync();

        Assert.Equal(new long[] { 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery { Since = t[3] }));
        Assert.Equal(new long[] { 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery { Since = t[3] + TimeSpan.FromTicks(1) }));
        Assert.Equal(new long[] { 1, 2, 3 }, await SequencesAsync(store, new StateChangeQuery { Until = t[3] }));
        Assert.Equal(new long[] { 1, 2 }, await SequencesAsync(store, new StateChangeQuery { Until = t[3] - TimeSpan.FromTicks(1) }));
        Assert.Equal(new long[] { 2, 3, 4 }, await SequencesAsync(store, new StateChangeQuery { Since = t[2], Until = t[4] }));
        Assert.Equal(new long[] { 4 }, await SequencesAsync(store, new StateChangeQuery { Scope = "global", Key = "a", Since = t[2], Until = t[5] }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Until = t[1] - TimeSpan.FromTicks(1) }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Since = t[6] + TimeSpan.FromTicks(1) }));

        // The same instant in another offset selects the same records.
        Assert.Equal(new long[] { 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery { Since = t[3].ToOffset(TimeSpan.FromHours(-7)) }));
    }

    [Fact]
    public async Task ReadChanges_limit_returns_the_first_records_in_sequence_order()
    {
        var (store, _) = await QueryFixtureAsync();

        Assert.Equal(new long[] { 1, 2 }, await SequencesAsync(store, new StateChangeQuery { Limit = 2 }));
        Assert.Equal(new long[] { 1, 3 }, await SequencesAsync(store, new StateChangeQuery { Scope = "global", Limit = 2 }));
        Assert.Equal(new long[] { 3, 4 }, await SequencesAsync(store, new StateChangeQuery { AfterSequence = 2, Limit = 2 }));
        Assert.Equal(new long[] { 6 }, await SequencesAsync(store, new StateChangeQuery { CorrelationId = "c1", AfterSequence = 3, Limit = 1 }));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery { Limit = 6 }));
        Assert.Empty(await SequencesAsync(store, new StateChangeQuery { Limit = 0 }));
    }

    // ---- Pruning ----

    [Fact]
    public async Task PruneChanges_older_than_removes_exactly_the_records_before_that_time()
    {
        var (store, t) = await QueryFixtureAsync();

        Assert.Equal(2, await History(store).PruneChangesAsync(t[3], null));

        Assert.Equal(new long[] { 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery()));
        Assert.Null(await History(store).ReadChangeAsync(1));
        Assert.Null(await History(store).ReadChangeAsync(2));
        Assert.NotNull(await History(store).ReadChangeAsync(3));
        Assert.Equal(0, await History(store).PruneChangesAsync(t[3], null));

        // Everything is older now, but the records of current values (global/b: 3, global/a: 6) are always kept.
        Assert.Equal(2, await History(store).PruneChangesAsync(t[6] + TimeSpan.FromTicks(1), null));
        Assert.Equal(new long[] { 3, 6 }, await SequencesAsync(store, new StateChangeQuery()));
    }

    [Fact]
    public async Task PruneChanges_keep_per_key_keeps_the_newest_records_of_each_key()
    {
        var (store, _) = await QueryFixtureAsync();

        Assert.Equal(1, await History(store).PruneChangesAsync(null, 2));
        Assert.Equal(new long[] { 2, 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery()));

        Assert.Equal(2, await History(store).PruneChangesAsync(null, 1));
        Assert.Equal(new long[] { 3, 5, 6 }, await SequencesAsync(store, new StateChangeQuery()));

        // Keeping none still keeps the records of current values (3 and 6); the deleted key's record 5 goes.
        Assert.Equal(1, await History(store).PruneChangesAsync(null, 0));
        Assert.Equal(new long[] { 3, 6 }, await SequencesAsync(store, new StateChangeQuery()));
    }

    [Fact]
    public async Task PruneChanges_with_both_conditions_removes_records_matching_either_and_none_without_conditions()
    {
        var (store, t) = await QueryFixtureAsync();

        Assert.Equal(0, await History(store).PruneChangesAsync(null, null));
        Assert.Equal(6, (await AllChangesAsync(store)).Count);

        // Older than t[3]: 1, 2. All but the newest 2 of each key: 1 (global/a has 1, 4, 6).
        Assert.Equal(2, await History(store).PruneChangesAsync(t[3], 2));
        Assert.Equal(new long[] { 3, 4, 5, 6 }, await SequencesAsync(store, new StateChangeQuery()));

        // Older than t[4]: 3, but it holds global/b's current value, so it stays. All but the newest 1 of each key: 4.
        Assert.Equal(1, await History(store).PruneChangesAsync(t[4], 1));
        Assert.Equal(new long[] { 3, 5, 6 }, await SequencesAsync(store, new StateChangeQuery()));
    }

    [Fact]
    public async Task Pruning_keeps_current_values_and_later_changes_chain_on()
    {
        var (store, _) = await QueryFixtureAsync();

        await History(store).PruneChangesAsync(null, 0);

        Assert.Equal("ga3", Text((await store.GetAsync("global", "a"))!.Payload));
        Assert.Equal(3, (await store.GetAsync("global", "a"))!.Version);
        StateOperationResult next = (await store.CommitAsync(new StateOperation[] { Write("global", "a", "ga4", expectedVersion: 3) }))[0];
        Assert.Equal(7, next.ChangeSequence);
        Assert.Equal(4, next.Stored!.Version);
        StateChangeRecord record = (await History(store).ReadChangeAsync(7))!;
        Assert.Equal(4, record.Version);
        Assert.Equal(6, record.PreviousSequence);
    }

    [Fact]
    public async Task Sequences_are_never_reused_after_pruning_everything()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock);
        await store.CommitAsync(new StateOperation[] { Write("global", "a", "1"), Write("global", "b", "1"), new StateDelete("global", "b") });

        // Everything but the record of a's current value goes.
        Assert.Equal(2, await History(store).PruneChangesAsync(null, 0));
        Assert.Equal(new long[] { 1 }, await SequencesAsync(store, new StateChangeQuery()));
        store = await ReopenAsync(store, clock);

        IReadOnlyList<StateOperationResult> fourth = await store.CommitAsync(new StateOperation[] { Write("global", "c", "1"), new StateDelete("global", "c") });
        Assert.Equal(new long[] { 4, 5 }, fourth.Select(r => r.ChangeSequence));

        // The newest records (4, 5) go: the next sequence must still not reuse them, also after a reopen.
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(2, await History(store).PruneChangesAsync(clock.GetUtcNow(), null));
        store = await ReopenAsync(store, clock);
        Assert.Equal(new long[] { 1 }, await SequencesAsync(store, new StateChangeQuery()));

        IReadOnlyList<StateOperationResult> next = await store.CommitAsync(new StateOperation[] { Write("global", "a", "2"), Write("global", "d", "1") });
        Assert.Equal(new long[] { 6, 7 }, next.Select(r => r.ChangeSequence));
        Assert.Equal(new long[] { 1, 6, 7 }, await SequencesAsync(store, new StateChangeQuery()));
        Assert.Equal(2, next[0].Stored!.Version);
    }

    // ---- Change recording off ----

    [Fact]
    public async Task A_store_with_change_recording_off_records_nothing_while_writes_still_work()
    {
        var clock = new ManualTimeProvider(Start);
        IStateStore store = NewStore(clock, recordChanges: false);
        Assert.False(History(store).RecordsChanges);

        StoredEntry first = await store.WriteAsync(Write("global", "a", "1"));
        IReadOnlyList<StateOperationResult> results = await store.CommitAsync(new StateOperation[]
        {
            Write("global", "a", "2", expectedVersion: 1) with { CorrelationId = "c", Origin = "save" },
            Write("global", "b", "1"),
            new StateDelete("global", "b") { ReturnPrevious = true },
        });
        Assert.True(await store.DeleteAsync("global", "a"));
        StoredEntry again = await store.WriteAsync(Write("global", "a", "3", expectedVersion: 0));

        Assert.Equal(1, first.Version);
        Assert.Equal(new long?[] { 2, 1, null }, results.Select(r => r.Stored?.Version));
        Assert.Equal(new long[] { 0, 0, 0 }, results.Select(r => r.ChangeSequence));
        Assert.Equal("1", Text(results[2].Previous!.Payload));
        Assert.Equal(1, again.Version);
        Assert.Equal("3", Text((await store.GetAsync("global", "a"))!.Payload));

        Assert.Empty(await AllChangesAsync(store));
        Assert.Empty(await History(store).ReadChangesAsync(new StateChangeQuery { Scope = "global", Key = "a" }));
        Assert.Empty(await History(store).ReadChangesAsync(new StateChangeQuery { CorrelationId = "c" }));
        Assert.Null(await History(store).ReadChangeAsync(1));
        Assert.Equal(0, await History(store).PruneChangesAsync(clock.GetUtcNow().AddYears(1), 0));
    }

    // ---- Hook history ----

    private static HookExecutionRecord Hook(string hookId, string scope, string key, string? correlationId, DateTimeOffset timestamp, string outcome = "Continued")
        => new(0, hookId, "BeforeChange", scope, key, "Note", outcome, null, TimeSpan.FromMilliseconds(3), timestamp, correlationId, Encoding.UTF8.GetBytes("\"old\""), Encoding.UTF8.GetBytes("\"new\""), ReadOnlyMemory<byte>.Empty);

    private static async Task<string[]> HookKeysAsync(IStateStore store, HookExecutionQuery query)
        => (await History(store).ReadHookExecutionsAsync(query)).Select(r => r.Key).ToArray();

    [Fact]
    public async Task Hook_executions_get_increasing_ids_in_append_order_and_round_trip_every_field()
    {
        IStateStore store = NewStore();
        var random = new Random(42);
        byte[] oldValue = new byte[1000];
        byte[] newValue = new byte[257];
        random.NextBytes(oldValue);
        random.NextBytes(newValue);
        var full = new HookExecutionRecord(
            12345, "audit", "AfterChange", "agent/x", "Note/1", null, "Failed", "InvalidOperationException", TimeSpan.FromTicks(98765), Start.AddTicks(3), "corr",
            oldValue, newValue, new byte[] { 0, 255, 0 });

        await History(store).AppendHookExecutionsAsync(new[] { Hook("h1", "global", "k1", "c1", Start), full });
        await History(store).AppendHookExecutionsAsync(Array.Empty<HookExecutionRecord>());
        await History(store).AppendHookExecutionsAsync(new[] { Hook("h2", "global", "k3", null, Start) });

        IReadOnlyList<HookExecutionRecord> all = await History(store).ReadHookExecutionsAsync(new HookExecutionQuery());
        Assert.Equal(new[] { "k1", "Note/1", "k3" }, all.Select(r => r.Key));
        Assert.True(all[0].Id < all[1].Id && all[1].Id < all[2].Id, $"ids {all[0].Id}, {all[1].Id}, {all[2].Id} do not increase");

        HookExecutionRecord read = all[1];
        Assert.Equal(
            full with { Id = 0, OldValue = default, NewValue = default, ResultValue = default },
            read with { Id = 0, OldValue = default, NewValue = default, ResultValue = default });
        Assert.Equal(oldValue, read.OldValue.ToArray());
        Assert.Equal(newValue, read.NewValue.ToArray());
        Assert.Equal(new byte[] { 0, 255, 0 }, read.ResultValue.ToArray());
        Assert.Equal("\"old\"", Text(all[0].OldValue));
        Assert.Empty(all[0].ResultValue.ToArray());
        Assert.Null(all[2].CorrelationId);

        // The store keeps its own copy of the values.
        oldValue.AsSpan().Clear();
        Assert.NotEqual(0, (await History(store).ReadHookExecutionsAsync(new HookExecutionQuery { HookId = "audit" }))[0].OldValue.ToArray().Sum(b => (int)b));
    }

    [Fact]
    public async Task Hook_executions_are_read_a_page_at_a_time_after_the_last_id_read()
    {
        IStateStore store = NewStore();
        for (int i = 0; i < 25; i++)
        {
            await History(store).AppendHookExecutionsAsync(new[] { Hook(i % 2 == 0 ? "even" : "odd", "global", "k" + i, i % 3 == 0 ? "c3" : null, Start) });
        }

        async Task<List<string>> PagesAsync(HookExecutionQuery query)
        {
            var keys = new List<string>();
            long after = 0;
            while (true)
            {
                IReadOnlyList<HookExecutionRecord> page = await History(store).ReadHookExecutionsAsync(query with { AfterId = after, Limit = 4 });
                Assert.True(page.Count <= 4);
                keys.AddRange(page.Select(r => r.Key));
                if (page.Count < 4)
                {
                    return keys;
                }

                after = page[^1].Id;
            }
        }

        Assert.Equal(Enumerable.Range(0, 25).Select(i => "k" + i), await PagesAsync(new HookExecutionQuery()));
        Assert.Equal(Enumerable.Range(0, 25).Where(i => i % 2 == 0).Select(i => "k" + i), await PagesAsync(new HookExecutionQuery { HookId = "even" }));
        Assert.Equal(Enumerable.Range(0, 25).Where(i => i % 3 == 0).Select(i => "k" + i), await PagesAsync(new HookExecutionQuery { CorrelationId = "c3" }));
    }

    [Fact]
    public async Task Hook_executions_are_read_by_correlation_hook_scope_and_key_in_append_order()
    {
        IStateStore store = NewStore();
        await History(store).AppendHookExecutionsAsync(new[]
        {
            Hook("h1", "global", "a", "c1", Start),
            Hook("h2", "agent/x", "a", "c1", Start),
            Hook("h1", "agent/x", "b", "c2", Start),
        });
        await History(store).AppendHookExecutionsAsync(new[]
        {
            Hook("h2", "global", "b", null, Start),
            Hook("h1", "global", "c", "c1", Start),
        });

        Assert.Equal(new[] { "a", "a", "b", "b", "c" }, await HookKeysAsync(store, new HookExecutionQuery()));
        Assert.Equal(new[] { "global/a", "agent/x/a", "global/c" }, (await History(store).ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "c1" })).Select(r => r.Scope + "/" + r.Key));
        Assert.Equal(new[] { "b" }, await HookKeysAsync(store, new HookExecutionQuery { CorrelationId = "c2" }));
        Assert.Equal(new[] { "a", "b", "c" }, await HookKeysAsync(store, new HookExecutionQuery { HookId = "h1" }));
        Assert.Equal(new[] { "a", "b", "c" }, await HookKeysAsync(store, new HookExecutionQuery { Scope = "global" }));
        Assert.Equal(new[] { "a" }, await HookKeysAsync(store, new HookExecutionQuery { Scope = "agent/x", Key = "a" }));
        Assert.Equal(new[] { "a", "c" }, await HookKeysAsync(store, new HookExecutionQuery { CorrelationId = "c1", HookId = "h1", Scope = "global" }));
        Assert.Equal(new[] { "b" }, await HookKeysAsync(store, new HookExecutionQuery { CorrelationId = "c2", HookId = "h1", Scope = "agent/x", Key = "b" }));
        Assert.Equal(new[] { "a", "a" }, await HookKeysAsync(store, new HookExecutionQuery { Limit = 2 }));
        Assert.Equal(new[] { "a", "c" }, await HookKeysAsync(store, new HookExecutionQuery { HookId = "h1", Scope = "global" }));
        Assert.Empty(await HookKeysAsync(store, new HookExecutionQuery { HookId = "h3" }));
        Assert.Empty(await HookKeysAsync(store, new HookExecutionQuery { Scope = "agent/x", Key = "c" }));
    }

    [Fact]
    public async Task Hook_executions_are_pruned_by_age_and_by_keep_newest()
    {
        IStateStore store = NewStore();
        await History(store).AppendHookExecutionsAsync(Enumerable.Range(1, 6)
            .Select(i => Hook("h", "global", "k" + i.ToString(CultureInfo.InvariantCulture), null, Start.AddMinutes(i)))
            .ToArray());

        Assert.Equal(0, await History(store).PruneHookExecutionsAsync(null, null));
        Assert.Equal(2, await History(store).PruneHookExecutionsAsync(Start.AddMinutes(3), null));
        Assert.Equal(new[] { "k3", "k4", "k5", "k6" }, await HookKeysAsync(store, new HookExecutionQuery()));

        Assert.Equal(1, await History(store).PruneHookExecutionsAsync(null, 3));
        Assert.Equal(new[] { "k4", "k5", "k6" }, await HookKeysAsync(store, new HookExecutionQuery()));

        Assert.Equal(0, await History(store).PruneHookExecutionsAsync(null, 5));
        Assert.Equal(1, await History(store).PruneHookExecutionsAsync(Start.AddMinutes(5), 2));
        Assert.Equal(new[] { "k5", "k6" }, await HookKeysAsync(store, new HookExecutionQuery()));

        long lastId = (await History(store).ReadHookExecutionsAsync(new HookExecutionQuery())).Max(r => r.Id);
        Assert.Equal(2, await History(store).PruneHookExecutionsAsync(null, 0));
        Assert.Empty(await HookKeysAsync(store, new HookExecutionQuery()));

        // Ids keep increasing after the newest records were pruned.
        await History(store).AppendHookExecutionsAsync(new[] { Hook("h", "global", "k7", null, Start) });
        Assert.True((await History(store).ReadHookExecutionsAsync(new HookExecutionQuery())).Single().Id > lastId);
    }

    [Fact]
    public async Task Hook_execution_pruning_with_both_conditions_removes_records_matching_either()
    {
        // Hooks finish out of order, so append order and timestamps may disagree: "newest" is append order, and a
        // record goes when it is older than the limit or not among the newest kept.
        IStateStore store = NewStore();
        int[] minutes = { 10, 1, 10, 2, 10 };
        await History(store).AppendHookExecutionsAsync(minutes
            .Select((m, i) => Hook("h", "global", "k" + (i + 1).ToString(CultureInfo.InvariantCulture), null, Start.AddMinutes(m)))
            .ToArray());

        Assert.Equal(3, await History(store).PruneHookExecutionsAsync(Start.AddMinutes(5), 3));

        Assert.Equal(new[] { "k3", "k5" }, await HookKeysAsync(store, new HookExecutionQuery()));
    }

    // ---- Concurrency ----

    [Fact]
    public async Task Concurrent_two_key_commits_with_retries_lose_nothing_and_log_two_gapless_records_per_commit()
    {
        IStateStore store = NewStore();
        const int Tasks = 16;
        const int CommitsPerTask = 50;
        int successful = 0;
        var sequencesByCommit = new System.Collections.Concurrent.ConcurrentBag<(long First, long Second)>();

        async Task RunAsync(int task)
        {
            string first = task % 2 == 0 ? "a" : "b";
            string second = task % 2 == 0 ? "b" : "a";
            for (int done = 0; done < CommitsPerTask;)
            {
                StoredEntry? x = await store.GetAsync("shared", first);
                StoredEntry? y = await store.GetAsync("shared", second);
                try
                {
                    IReadOnlyList<StateOperationResult> results = await store.CommitAsync(new StateOperation[]
                    {
                        Write("shared", first, $"{task}:{done}", expectedVersion: x?.Version ?? 0) with { CorrelationId = $"t{task}" },
                        Write("shared", second, $"{task}:{done}", expectedVersion: y?.Version ?? 0) with { CorrelationId = $"t{task}" },
                    });
                    sequencesByCommit.Add((results[0].ChangeSequence, results[1].ChangeSequence));
                    Interlocked.Increment(ref successful);
                    done++;
                }
                catch (StateConcurrencyException)
                {
                    // Another task committed first: read again and retry.
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(() => RunAsync(t))));

        Assert.Equal(Tasks * CommitsPerTask, successful);
        StoredEntry a = (await store.GetAsync("shared", "a"))!;
        StoredEntry b = (await store.GetAsync("shared", "b"))!;
        Assert.Equal(successful, a.Version);
        Assert.Equal(successful, b.Version);
        Assert.Equal(Text(a.Payload), Text(b.Payload));

        // Each commit's two records are adjacent, and together they cover 1..2n without a gap.
        Assert.All(sequencesByCommit, s => Assert.Equal(s.First + 1, s.Second));
        Assert.Equal(
            Enumerable.Range(1, 2 * successful).Select(i => (long)i),
            sequencesByCommit.SelectMany(s => new[] { s.First, s.Second }).Order());

        IReadOnlyList<StateChangeRecord> log = await AllChangesAsync(store);
        Assert.Equal(2 * successful, log.Count);
        Assert.Equal(Enumerable.Range(1, 2 * successful).Select(i => (long)i), log.Select(r => r.Sequence));
        foreach (string key in new[] { "a", "b" })
        {
            StateChangeRecord[] ofKey = log.Where(r => r.Key == key).ToArray();
            Assert.Equal(Enumerable.Range(1, successful).Select(i => (long)i), ofKey.Select(r => r.Version));
            Assert.Equal(new[] { 0L }.Concat(ofKey.Select(r => r.Sequence).SkipLast(1)), ofKey.Select(r => r.PreviousSequence));
        }

        for (int i = 0; i < log.Count; i += 2)
        {
            Assert.Equal(log[i].CorrelationId, log[i + 1].CorrelationId);
            Assert.Equal(Text(log[i].Payload), Text(log[i + 1].Payload));
            Assert.NotEqual(log[i].Key, log[i + 1].Key);
        }
    }
}
