using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Manager;

/// <summary>
/// With the change log on, a LiteDB entry keeps its document only in its change record; with it off, in the entry.
/// A file written either way reads back either way, across real reopens.
/// </summary>
public sealed class LiteDbChangeLogModeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StateManager Open(string path, bool recordChanges)
        => new(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, RecordChanges = recordChanges }));

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Values_written_with_the_change_log_on_or_off_read_back_after_reopening_the_other_way(bool firstOn, bool thenOn)
    {
        string path = _dir.File("modes.db");
        await using (StateManager first = Open(path, firstOn))
        {
            await new Note { Id = "n", Topic = "first", Runs = 1 }.SaveStateAsync(first);
            await first.SetJsonAsync(StateScope.Agent("a"), "k", Backends.Json("""{"v":1}"""));
        }

        await using (StateManager second = Open(path, thenOn))
        {
            Assert.Equal("first", (await second.GetAsync<Note>(StateScope.Global, "Note/n"))!.Topic);
            Assert.Equal("""{"v":1}""", (await second.GetJsonAsync(StateScope.Agent("a"), "k"))!.Value.GetRawText());
            Assert.Equal(2, (await second.SetJsonAsync(StateScope.Agent("a"), "k", Backends.Json("""{"v":2}"""))).Version);
            IReadOnlyList<StoredEntry> all = await second.Store.ScanAsync(null, 10);
            Assert.Equal(2, all.Count);
        }

        await using StateManager third = Open(path, firstOn);
        Assert.Equal("""{"v":2}""", (await third.GetJsonAsync(StateScope.Agent("a"), "k"))!.Value.GetRawText());
        Assert.Equal(1, (await third.GetAsync<Note>(StateScope.Global, "Note/n"))!.Runs);
    }

    [Fact]
    public async Task Pruning_all_history_keeps_every_current_value_readable_after_reopen()
    {
        string path = _dir.File("pruned.db");
        await using (StateManager manager = Open(path, recordChanges: true))
        {
            for (int i = 0; i < 5; i++)
            {
                await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            await manager.SetJsonAsync(StateScope.Global, "gone", Backends.Json("0"));
            await manager.DeleteAsync(StateScope.Global, "gone");
            var pruned = await manager.PruneHistoryAsync(new StateGen.History.StateHistoryRetention { MaxChangesPerKey = 0, MaxChangeAge = TimeSpan.Zero });
            Assert.Equal(6, pruned.ChangesRemoved);
        }

        await using StateManager reopened = Open(path, recordChanges: true);
        Assert.Equal("4", (await reopened.GetJsonAsync(StateScope.Global, "k"))!.Value.GetRawText());
        Assert.Null(await reopened.GetJsonAsync(StateScope.Global, "gone"));
    }
}
