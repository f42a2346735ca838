using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;
using StateGen.Hosting;
using StateGen.Storage;
using StateGen.Storage.Memory;
using StateGen.Tests.Caching;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Hosting;

/// <summary>
/// The auto-saver saves on every tick of a fake clock and on dispose, one save at a time, and records a failed save
/// without stopping. Waits use a generous deadline only so that a broken saver fails instead of hanging.
/// </summary>
public sealed class StateAutoSaverTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Dispose();

    /// <summary>Counts finished saves (succeeded or failed) so a test can wait for the next one.</summary>
    private static SemaphoreSlim Finished<T>(StateAutoSaver<T> saver)
        where T : IPersistentState<T>
    {
        var finished = new SemaphoreSlim(0);
        saver.Saved += (_, _) => finished.Release();
        saver.SaveFailed += (_, _) => finished.Release();
        return finished;
    }

    private static async Task<Note> LoadAsync(StateManager manager, string id)
    {
        var note = new Note { Id = id };
        Assert.True(await note.LoadStateAsync(manager));
        return note;
    }

    [Fact]
    public async Task Saves_on_every_interval_tick_to_a_real_file()
    {
        string path = _dir.File("auto.db");
        var note = new Note { Id = "n1", Runs = 1 };
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await using StateAutoSaver<Note> saver = manager.AutoSave(note, StateScope.Global, Interval, _clock);
            SemaphoreSlim finished = Finished(saver);

            _clock.Advance(Interval);
            Assert.True(await finished.WaitAsync(Deadline));
            Assert.Equal(1, (await LoadAsync(manager, "n1")).Runs);
            Assert.Equal((1L, _clock.GetUtcNow()), (saver.SaveCount, saver.LastSavedAt!.Value));

            note.Runs = 2;
            _clock.Advance(TimeSpan.FromSeconds(9));
            _clock.Advance(TimeSpan.FromSeconds(1));
            Assert.True(await finished.WaitAsync(Deadline));
            Assert.Equal(2, (await LoadAsync(manager, "n1")).Runs);
            Assert.Equal((2L, 0L, _clock.GetUtcNow()), (saver.SaveCount, saver.FailureCount, saver.LastSavedAt!.Value));
            Assert.Null(saver.LastError);
        }

        await using StateManager reopened = StateManager.OpenLiteDb(path);
        Assert.Equal(2, (await LoadAsync(reopened, "n1")).Runs);
    }

    [Fact]
    public async Task Saves_on_dispose_without_any_tick()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var note = new Note { Id = "n1", Topic = "at exit" };
        StateAutoSaver<Note> saver = manager.AutoSave(note, StateScope.Agent("a"), TimeSpan.FromHours(1), _clock);

        await saver.DisposeAsync();
        await saver.DisposeAsync(); // a second dispose does nothing

        Assert.Equal(1, saver.SaveCount);
        var loaded = new Note { Id = "n1" };
        Assert.True(await loaded.LoadStateAsync(manager, StateScope.Agent("a")));
        Assert.Equal("at exit", loaded.Topic);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await saver.SaveNowAsync());
    }

    [Fact]
    public async Task A_failed_save_is_recorded_and_raised_and_later_saves_go_on()
    {
        var probe = new ProbeStore(new MemoryStateStore());
        await using var manager = new StateManager(probe);
        var note = new Note { Id = "n1", Runs = 1 };
        await using StateAutoSaver<Note> saver = manager.AutoSave(note, StateScope.Global, Interval, _clock);

        // Subscribed before Finished's handler, which lets the test go on: the handlers run in order, so this one has run by then.
        StateAutoSaveFailedEventArgs? reported = null;
        saver.SaveFailed += (_, e) => reported = e;
        SemaphoreSlim finished = Finished(saver);
        saver.SaveFailed += (_, _) => throw new InvalidOperationException("a subscriber's bug must not stop the saver");
        probe.BeforeWrite = () => throw new StateStoreException("disk full");

        _clock.Advance(Interval);
        Assert.True(await finished.WaitAsync(Deadline));
        Assert.Equal("disk full", Assert.IsType<StateStoreException>(saver.LastError).Message);
        Assert.Same(saver.LastError, reported!.Error);
        Assert.Equal((0L, 1L, 1L), (saver.SaveCount, saver.FailureCount, reported.FailureCount));
        Assert.Null(saver.LastSavedAt);

        probe.BeforeWrite = null;
        _clock.Advance(Interval);
        Assert.True(await finished.WaitAsync(Deadline));
        Assert.Null(saver.LastError);
        Assert.Equal((1L, 1L), (saver.SaveCount, saver.FailureCount));
        Assert.Equal(1, (await LoadAsync(manager, "n1")).Runs);
    }

    [Fact]
    public async Task A_conflict_surfaces_as_LastError_until_the_state_is_reloaded()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var note = new Note { Id = "n1", Runs = 1 };
        await using var saver = new StateAutoSaver<Note>(manager, note, StateScope.Global, new StateAutoSaveOptions { Interval = Interval, TimeProvider = _clock });
        await saver.SaveNowAsync();

        // Another instance (another agent, another process) writes the same entry.
        await manager.SaveAsync(new Note { Id = "n1", Runs = 50 }, StateScope.Global, StateWriteOptions.LastWriterWins);

        note.Runs = 2;
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await saver.SaveNowAsync());
        Assert.IsType<StateConcurrencyException>(saver.LastError);
        Assert.Equal(50, (await LoadAsync(manager, "n1")).Runs); // the other writer's change is not overwritten

        Assert.True(await note.LoadStateAsync(manager)); // resolve: take the stored state (and its version)
        note.Runs++;
        await saver.SaveNowAsync();
        Assert.Null(saver.LastError);
        Assert.Equal(51, (await LoadAsync(manager, "n1")).Runs);
    }

    [Fact]
    public async Task LastWriterWins_saves_over_a_conflicting_change()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var note = new Note { Id = "n1", Runs = 1 };
        await using var saver = new StateAutoSaver<Note>(manager, note, StateScope.Global, new StateAutoSaveOptions
        {
            Interval = Interval,
            TimeProvider = _clock,
            WriteOptions = StateWriteOptions.LastWriterWins,
        });
        await saver.SaveNowAsync();
        await manager.SaveAsync(new Note { Id = "n1", Runs = 50 }, StateScope.Global, StateWriteOptions.LastWriterWins);

        note.Runs = 2;
        await saver.SaveNowAsync();

        Assert.Equal(2, (await LoadAsync(manager, "n1")).Runs);
    }

    [Fact]
    public async Task Never_runs_two_saves_at_once_and_dispose_waits_for_the_one_in_progress()
    {
        var probe = new ProbeStore(new MemoryStateStore());
        await using var manager = new StateManager(probe);
        var note = new Note { Id = "n1", Runs = 1 };
        StateAutoSaver<Note> saver = manager.AutoSave(note, StateScope.Global, Interval, _clock);
        var entered = new SemaphoreSlim(0);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        probe.BeforeWrite = async () =>
        {
            entered.Release();
            await release.Task;
        };

        _clock.Advance(Interval);
        Assert.True(await entered.WaitAsync(Deadline)); // the interval save is in the store, held there
        Task manual = saver.SaveNowAsync().AsTask();
        _clock.Advance(Interval); // a tick while saving
        Task disposing = saver.DisposeAsync().AsTask();
        Assert.False(manual.IsCompleted);
        Assert.False(disposing.IsCompleted);
        Assert.Equal(1, probe.MaxConcurrentWrites);

        release.SetResult();
        await manual.WaitAsync(Deadline);
        await disposing.WaitAsync(Deadline);

        Assert.Equal(1, probe.MaxConcurrentWrites);
        Assert.Equal(probe.WriteCount, saver.SaveCount);
        Assert.True(saver.SaveCount >= 3); // the held interval save, the manual one and the final one
        Assert.Null(saver.LastError);
    }

    [Fact]
    public void An_instance_without_an_id_or_a_bad_interval_is_refused_at_once()
    {
        using var manager = new StateManager(new MemoryStateStore());

        Assert.Throws<InvalidStateKeyException>(() => manager.AutoSave(new Note { Id = null }, StateScope.Global, Interval, _clock));
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.AutoSave(new Note { Id = "n1" }, StateScope.Global, TimeSpan.Zero, _clock));
    }
}
