using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.History;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.History;

/// <summary>Timeline, point-in-time reads, fork and replay, read from the store's change log.</summary>
public sealed class TimelineTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Stores => new() { Backends.Memory, Backends.LiteDb };

    private StateManager Create(string backend, ManualTimeProvider clock, string? path = null) => backend switch
    {
        Backends.Memory => new StateManager(new MemoryStateStore(clock)),
        _ => new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path ?? _dir.NewDatabaseFile(), TimeProvider = clock })),
    };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Timeline_of_three_changes_is_reconstructed_in_order_with_old_and_new_values(string backend)
    {
        var clock = new ManualTimeProvider(Start);
        await using StateManager manager = Create(backend, clock);
        StateScope scope = StateScope.Agent("a1");

        await manager.SetJsonAsync(scope, "key1", Backends.Json("""{"v":1}"""));
        clock.Advance(TimeSpan.FromSeconds(1));
        await manager.SetJsonAsync(scope, "key2", Backends.Json("""{"v":2}"""));
        clock.Advance(TimeSpan.FromSeconds(1));
        await manager.SetJsonAsync(scope, "key1", Backends.Json("""{"v":3,"w":true}"""));

        IReadOnlyList<StateChangeEvent> timeline = await manager.GetTimelineAsync(new StateTimelineQuery { Scope = scope });

        Assert.Equal(new[] { "key1", "key2", "key1" }, timeline.Select(e => e.Key));
        Assert.Equal(new[] { Start, Start.AddSeconds(1), Start.AddSeconds(2) }, timeline.Select(e => e.Timestamp));
        Assert.Equal(new long[] { 1, 1, 2 }, timeline.Select(e => e.Version));
        Assert.True(timeline.Select(e => e.ChangeSequence).SequenceEqual(timeline.Select(e => e.ChangeSequence).Order()));
        Assert.Null(timeline[0].OldValue);
        Assert.Equal("""{"v":1}""", timeline[0].NewValue!.Value.GetRawText());
        Assert.Null(timeline[1].OldValue);
        Assert.Equal("""{"v":1}""", timeline[2].OldValue!.Value.GetRawText());
        Assert.Equal("""{"v":3,"w":true}""", timeline[2].NewValue!.Value.GetRawText());
        Assert.Equal(new[] { "v", "w" }, timeline[2].ChangedMembers);
        Assert.Equal(1, timeline[2].PreviousVersion);

        IReadOnlyList<StateChangeEvent> ofKey1 = await manager.GetTimelineAsync(new StateTimelineQuery { Scope = scope, Key = "key1" });
        Assert.Equal(new long[] { 1, 2 }, ofKey1.Select(e => e.Version));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_delete_event_carries_the_stores_commit_time_the_same_as_the_timeline(string backend)
    {
        var clock = new ManualTimeProvider(Start.AddYears(-3)); // far from the wall clock, so a stand-in would show
        await using StateManager manager = Create(backend, clock);
        StateScope scope = StateScope.Agent("a1");
        using StateEventSubscription events = manager.Events.Subscribe();
        await manager.SetJsonAsync(scope, "key1", Backends.Json("""{"v":1}"""));
        clock.Advance(TimeSpan.FromMinutes(5));
        await manager.DeleteAsync(scope, "key1");
        await manager.CreateBatch().SetJson(scope, "key2", Backends.Json("1")).CommitAsync();
        clock.Advance(TimeSpan.FromMinutes(5));
        await manager.CreateBatch().Delete(scope, "key2").CommitAsync();

        var published = new List<StateChangeEvent>();
        while (events.Reader.TryRead(out StateChangeEvent? e))
        {
            published.Add(e);
        }

        IReadOnlyList<StateChangeEvent> timeline = await manager.GetTimelineAsync(new StateTimelineQuery { Scope = scope });
        Assert.Equal(timeline.Select(e => (e.Kind, e.Key, e.Timestamp)), published.Select(e => (e.Kind, e.Key, e.Timestamp)));
        Assert.Equal(Start.AddYears(-3).AddMinutes(5), published[1].Timestamp);
        Assert.Equal(Start.AddYears(-3).AddMinutes(10), published[3].Timestamp);
    }

    [Fact]
    public async Task Timeline_and_point_in_time_reads_survive_a_restart()
    {
        var clock = new ManualTimeProvider(Start);
        string path = _dir.File("history.db");
        string correlation;
        await using (StateManager manager = Create(Backends.LiteDb, clock, path))
        {
            using (StateCorrelation.Begin())
            {
                correlation = StateCorrelation.CurrentId!;
                await new Note { Id = "n", Runs = 1 }.SaveStateAsync(manager);
                clock.Advance(TimeSpan.FromMinutes(1));
                await new Note { Id = "n", Runs = 2 }.SaveStateAsync(manager);
            }
        }

        await using StateManager reopened = Create(Backends.LiteDb, clock, path);
        IReadOnlyList<StateChangeEvent> timeline = await reopened.GetTimelineAsync(new StateTimelineQuery { CorrelationId = correlation });
        Assert.Equal(2, timeline.Count);
        Assert.All(timeline, e => Assert.Equal(correlation, e.CorrelationId));
        Assert.All(timeline, e => Assert.Equal("save", e.Origin));

        Note? atStart = await reopened.GetAsOfAsync<Note>(StateScope.Global, "Note/n", Start.AddSeconds(30));
        Assert.Equal(1, atStart!.Runs);
        Note? later = await reopened.GetAsOfAsync<Note>(StateScope.Global, "Note/n", Start.AddMinutes(5));
        Assert.Equal(2, later!.Runs);
        Assert.Null(await reopened.GetAsOfAsync<Note>(StateScope.Global, "Note/n", Start.AddTicks(-1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Point_in_time_reads_equal_the_recorded_state_at_ten_random_times(string backend)
    {
        var clock = new ManualTimeProvider(Start);
        await using StateManager manager = Create(backend, clock);
        var random = new Random(1234);
        string[] keys = ["a", "b", "c", "d"];
        var current = new Dictionary<string, string?>();
        var snapshots = new List<(DateTimeOffset Time, Dictionary<string, string?> State)>();
        for (int i = 0; i < 60; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(random.Next(1, 30)));
            string key = keys[random.Next(keys.Length)];
            if (random.Next(5) == 0)
            {
                await manager.DeleteAsync(StateScope.Global, key);
                current[key] = null;
            }
            else
            {
                string json = $$"""{"i":{{i}},"r":{{random.Next()}}}""";
                await manager.SetJsonAsync(StateScope.Global, key, Backends.Json(json));
                current[key] = json;
            }

            snapshots.Add((clock.GetUtcNow(), new Dictionary<string, string?>(current)));
        }

        for (int probe = 0; probe < 10; probe++)
        {
            var (time, expected) = snapshots[random.Next(snapshots.Count)];
            DateTimeOffset at = time.AddMilliseconds(random.Next(0, 999)); // between this change and the next (>= 1 s apart)
            foreach (string key in keys)
            {
                JsonElement? value = await manager.GetJsonAsOfAsync(StateScope.Global, key, at);
                expected.TryGetValue(key, out string? json);
                Assert.Equal(json, value?.GetRawText());
            }
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Fork_copies_a_scope_as_of_a_time_and_leaves_the_source_and_its_history_alone(string backend)
    {
        var clock = new ManualTimeProvider(Start);
        await using StateManager manager = Create(backend, clock);
        StateScope source = StateScope.Agent("main");
        await manager.SetJsonAsync(source, "plan", Backends.Json("\"v1\""));
        await new Note { Id = "n", Runs = 1 }.SaveStateAsync(manager, source);
        clock.Advance(TimeSpan.FromMinutes(1));
        DateTimeOffset forkPoint = clock.GetUtcNow();
        clock.Advance(TimeSpan.FromMinutes(1));
        await manager.SetJsonAsync(source, "plan", Backends.Json("\"v2\""));
        await manager.SetJsonAsync(source, "added-later", Backends.Json("1"));
        await manager.DeleteAsync(source, "Note/n");
        long changesBefore = (await manager.GetTimelineAsync(new StateTimelineQuery { Scope = source })).Count;

        int copied = await manager.ForkAsync(source, StateScope.Agent("fork"), forkPoint);

        Assert.Equal(2, copied);
        Assert.Equal(new[] { "Note/n", "plan" }, await manager.ListKeysAsync(StateScope.Agent("fork")));
        Assert.Equal("\"v1\"", (await manager.GetJsonAsync(StateScope.Agent("fork"), "plan"))!.Value.GetRawText());
        Assert.Equal(1, (await manager.GetAsync<Note>(StateScope.Agent("fork"), "Note/n"))!.Runs);
        Assert.Equal("\"v2\"", (await manager.GetJsonAsync(source, "plan"))!.Value.GetRawText());
        Assert.Equal(new[] { "added-later", "plan" }, await manager.ListKeysAsync(source));
        Assert.Equal(changesBefore, (await manager.GetTimelineAsync(new StateTimelineQuery { Scope = source })).Count);

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await manager.ForkAsync(source, StateScope.Agent("fork"), forkPoint));
        Assert.Equal(3, await manager.ForkAsync(source, StateScope.Agent("now")) + 1); // current values: added-later, plan
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Replay_of_a_correlation_id_reproduces_the_same_final_state_in_an_empty_manager(string backend)
    {
        var clock = new ManualTimeProvider(Start);
        await using StateManager source = Create(backend, clock);
        await source.SetJsonAsync(StateScope.Global, "outside", Backends.Json("0")); // not part of the step
        string step;
        using (StateCorrelation.Begin("step-7"))
        {
            step = StateCorrelation.CurrentId!;
            await source.SetJsonAsync(StateScope.Agent("a"), "k1", Backends.Json("1"));
            await source.SetJsonAsync(StateScope.Agent("a"), "k2", Backends.Json("2"));
            await source.SetJsonAsync(StateScope.Agent("a"), "k1", Backends.Json("3"));
            await new Note { Id = "n", Topic = "replayed" }.SaveStateAsync(source, StateScope.Agent("a"));
            await source.DeleteAsync(StateScope.Agent("a"), "k2");
        }

        await using StateManager target = Create(backend, new ManualTimeProvider(Start));
        StateReplayResult dry = await source.ReplayAsync(step, target, dryRun: true);
        Assert.Equal(5, dry.Steps.Count);
        Assert.Equal(0, dry.Failed);
        Assert.Empty(await target.ListKeysAsync(StateScope.Agent("a")));

        StateReplayResult applied = await source.ReplayAsync(step, target, dryRun: false);
        Assert.Equal(0, applied.Failed);
        Assert.Equal(StateReplayOutcome.Applied, applied.Steps[0].Outcome);

        Assert.Equal(await source.ListKeysAsync(StateScope.Agent("a")), await target.ListKeysAsync(StateScope.Agent("a")));
        foreach (string key in await source.ListKeysAsync(StateScope.Agent("a")))
        {
            Assert.Equal((await source.GetJsonAsync(StateScope.Agent("a"), key))!.Value.GetRawText(), (await target.GetJsonAsync(StateScope.Agent("a"), key))!.Value.GetRawText());
        }

        Assert.Null(await target.GetJsonAsync(StateScope.Global, "outside"));
        Assert.Equal("replayed", (await target.GetAsync<Note>(StateScope.Agent("a"), "Note/n"))!.Topic);
        IReadOnlyList<StateChangeEvent> replayedTimeline = await target.GetTimelineAsync(new StateTimelineQuery { CorrelationId = step });
        Assert.Equal(5, replayedTimeline.Count);
        Assert.All(replayedTimeline, e => Assert.Equal("replay", e.Origin));

        StateReplayResult again = await source.ReplayAsync(step, target, dryRun: true);
        Assert.Equal(StateReplayOutcome.Unchanged, again.Steps[^1].Outcome); // k2 is already absent
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Pruned_history_gives_a_typed_error_that_names_the_kept_window(string backend)
    {
        var clock = new ManualTimeProvider(Start);
        await using StateManager manager = Create(backend, clock);
        for (int i = 0; i < 5; i++)
        {
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        StateHistoryPruneResult pruned = await manager.PruneHistoryAsync(new StateHistoryRetention { MaxChangesPerKey = 2 });
        Assert.Equal(3, pruned.ChangesRemoved);

        var error = await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await manager.GetJsonAsOfAsync(StateScope.Global, "k", Start.AddSeconds(30)));
        Assert.Equal(Start.AddMinutes(3), error.EarliestAvailable);
        Assert.Equal("4", (await manager.GetJsonAsOfAsync(StateScope.Global, "k", Start.AddMinutes(10)))!.Value.GetRawText());
        Assert.Equal("3", (await manager.GetJsonAsOfAsync(StateScope.Global, "k", Start.AddMinutes(3).AddSeconds(1)))!.Value.GetRawText());
    }

    [Fact]
    public async Task A_store_without_a_change_log_gives_a_typed_error_for_history_reads()
    {
        await using var manager = new StateManager(new MemoryStateStore(recordChanges: false));
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));

        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await manager.GetTimelineAsync(new StateTimelineQuery()));
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await manager.GetJsonAsOfAsync(StateScope.Global, "k", DateTimeOffset.UtcNow));
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await manager.ReplayAsync("x", manager, dryRun: true));
    }

    [Fact]
    public async Task A_key_that_exists_without_kept_history_is_unknown_at_past_times()
    {
        string path = _dir.File("nolog.db");
        await using (var plain = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, RecordChanges = false })))
        {
            await plain.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        }

        await using var logged = new StateManager(new LiteDbStateStore(path));
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await logged.GetJsonAsOfAsync(StateScope.Global, "k", DateTimeOffset.UtcNow));
        Assert.Null(await logged.GetJsonAsOfAsync(StateScope.Global, "never-written", DateTimeOffset.UtcNow));
    }
}
