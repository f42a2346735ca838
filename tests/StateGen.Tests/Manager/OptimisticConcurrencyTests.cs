using System;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Manager;

/// <summary>
/// Versions and optimistic concurrency: every write changes the version, a stale expected version fails with both
/// versions in the error, and generated types remember the version they loaded (the Orleans ETag model).
/// </summary>
public sealed class OptimisticConcurrencyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Stores => new() { Backends.Memory, Backends.LiteDb };

    [Fact]
    public async Task Thirty_two_tasks_times_1000_increments_with_retry_on_conflict_count_exactly_32000()
    {
        const int Tasks = 32;
        const int Increments = 1000;
        await using StateManager manager = StateManager.OpenLiteDb(_dir.File("counter.db"));
        int conflicts = 0;

        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(_ => Task.Run(async () =>
        {
            var counter = new Note { Id = "counter" };
            await counter.LoadStateAsync(manager);
            for (int i = 0; i < Increments; i++)
            {
                while (true)
                {
                    counter.Runs++;
                    try
                    {
                        await counter.SaveStateAsync(manager);
                        break;
                    }
                    catch (StateConcurrencyException)
                    {
                        System.Threading.Interlocked.Increment(ref conflicts);
                        await counter.LoadStateAsync(manager); // take the winner's value and try again
                    }
                }
            }
        })));

        var final = new Note { Id = "counter" };
        Assert.True(await final.LoadStateAsync(manager));
        Assert.Equal(7 + (Tasks * Increments), final.Runs); // Runs starts at 7 (its initializer)
        Assert.Equal(Tasks * Increments, manager.GetTrackedVersion(final, StateScope.Global));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Version_changes_on_every_write_and_a_stale_expected_version_fails_with_both_versions(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        long[] versions = new long[5];
        for (int i = 0; i < versions.Length; i++)
        {
            versions[i] = (await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))).Version;
        }

        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, versions);

        var error = await Assert.ThrowsAsync<StateConcurrencyException>(async () =>
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("99"), new StateWriteOptions { ExpectedVersion = 3 }));
        Assert.Equal(3, error.ExpectedVersion);
        Assert.Equal(5, error.StoredVersion);
        Assert.Equal("4", (await manager.GetJsonAsync(StateScope.Global, "k"))!.Value.GetRawText());

        Assert.Equal(6, (await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("6"), new StateWriteOptions { ExpectedVersion = 5 })).Version);
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("0"), new StateWriteOptions { ExpectedVersion = 0 }));
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await manager.DeleteAsync(StateScope.Global, "k", new StateWriteOptions { ExpectedVersion = 2 }));
        Assert.Equal(StateWriteStatus.Deleted, (await manager.DeleteAsync(StateScope.Global, "k", new StateWriteOptions { ExpectedVersion = 6 })).Status);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_loaded_instance_saves_only_over_the_version_it_loaded(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await new Note { Id = "a", Topic = "v1" }.SaveStateAsync(manager);

        var mine = new Note { Id = "a" };
        var theirs = new Note { Id = "a" };
        await mine.LoadStateAsync(manager);
        await theirs.LoadStateAsync(manager);
        Assert.Equal(1, manager.GetTrackedVersion(mine, StateScope.Global));

        theirs.Topic = "theirs";
        Assert.Equal(2, (await theirs.SaveStateAsync(manager)).Version);
        Assert.Equal(2, manager.GetTrackedVersion(theirs, StateScope.Global));

        mine.Topic = "mine";
        var error = await Assert.ThrowsAsync<StateConcurrencyException>(async () => await mine.SaveStateAsync(manager));
        Assert.Equal(1, error.ExpectedVersion);
        Assert.Equal(2, error.StoredVersion);
        Assert.Equal("theirs", (await manager.GetAsync<Note>(StateScope.Global, "Note/a"))!.Topic);

        // Told to overwrite, it wins; and from then on it tracks the new version.
        Assert.Equal(3, (await manager.SaveAsync(mine, StateScope.Global, StateWriteOptions.LastWriterWins)).Version);
        mine.Topic = "mine again";
        Assert.Equal(4, (await mine.SaveStateAsync(manager)).Version);

        // A fresh instance that was never loaded writes over whatever is stored.
        Assert.Equal(5, (await new Note { Id = "a", Topic = "fresh" }.SaveStateAsync(manager)).Version);

        // The tracked version is per scope and key: the same instance in another scope is a different record.
        Assert.Null(manager.GetTrackedVersion(mine, StateScope.Agent("x")));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Loading_nothing_then_saving_after_someone_else_created_it_is_a_conflict(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var mine = new Note { Id = "new" };
        Assert.False(await mine.LoadStateAsync(manager));
        Assert.Equal(0, manager.GetTrackedVersion(mine, StateScope.Global));

        await new Note { Id = "new", Topic = "first" }.SaveStateAsync(manager);

        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await mine.SaveStateAsync(manager));
        Assert.True(await mine.DeleteStateAsync(manager) || true);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Deleting_through_an_instance_resets_its_tracked_version(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var note = new Note { Id = "d" };
        await note.SaveStateAsync(manager);
        Assert.True(await note.DeleteStateAsync(manager));
        Assert.Equal(0, manager.GetTrackedVersion(note, StateScope.Global));
        Assert.Equal(1, (await note.SaveStateAsync(manager)).Version);
    }
}
