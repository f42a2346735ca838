using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Manager;

/// <summary>State written to a LiteDB file is there after a real restart: the manager is disposed and a new one opens the file.</summary>
public sealed class LiteDbPersistenceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Raw_json_and_generated_state_survive_dispose_and_reopen()
    {
        string path = _dir.File("agent.db");
        JsonElement settings = Backends.Json("""{"model":"gpt","temperature":0.25,"stops":["\n\n",""],"nested":{"ok":true,"n":null}}""");
        AllKinds original = AllKindsSample.Create("agent-1");
        var note = new Note { Id = "n1", Topic = "persisted", Runs = 9, Tags = new() { "x", "y" }, ApiKey = "sk-live-NOT-STORED" };

        StoredEntry storedBefore;
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await manager.SetJsonAsync(StateScope.Global, "settings", settings);
            await manager.SetJsonAsync(StateScope.Agent("a"), "settings", Backends.JsonString("agent a"));
            await original.SaveStateAsync(manager, StateScope.Agent("a"));
            await note.SaveStateAsync(manager);
            await note.SaveStateAsync(manager);
            storedBefore = (await manager.Store.GetAsync("agent/a", "AllKinds/agent-1"))!;
        }

        await using (StateManager reopened = StateManager.OpenLiteDb(path))
        {
            JsonElement? readSettings = await reopened.GetJsonAsync(StateScope.Global, "settings");
            Assert.NotNull(readSettings);
            Assert.True(JsonElement.DeepEquals(settings, readSettings.Value));
            Assert.Equal("agent a", (await reopened.GetJsonAsync(StateScope.Agent("a"), "settings"))!.Value.GetString());

            var loaded = new AllKinds { Id = "agent-1" };
            Assert.True(await loaded.LoadStateAsync(reopened, StateScope.Agent("a")));
            AllKindsSample.AssertEqual(original, loaded);

            var loadedNote = new Note { Id = "n1" };
            Assert.True(await loadedNote.LoadStateAsync(reopened));
            Assert.Equal(("persisted", 9), (loadedNote.Topic, loadedNote.Runs));
            Assert.Equal(new[] { "x", "y" }, loadedNote.Tags);
            Assert.Null(loadedNote.ApiKey);

            StoredEntry storedAfter = (await reopened.Store.GetAsync("agent/a", "AllKinds/agent-1"))!;
            Assert.Equal(storedBefore.Version, storedAfter.Version);
            Assert.Equal(storedBefore.UpdatedAt, storedAfter.UpdatedAt);
            Assert.Equal(storedBefore.TypeName, storedAfter.TypeName);
            Assert.Equal(storedBefore.SchemaVersion, storedAfter.SchemaVersion);
            Assert.Equal(storedBefore.Payload.ToArray(), storedAfter.Payload.ToArray());

            Assert.Equal(new[] { "AllKinds/agent-1", "settings" }, await reopened.ListKeysAsync(StateScope.Agent("a")));
            Assert.Equal(new[] { "Note/n1", "settings" }, await reopened.ListKeysAsync(StateScope.Global));
        }
    }

    [Fact]
    public async Task Versions_continue_after_reopen()
    {
        string path = _dir.File();
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("2"));
        }

        await using StateManager reopened = StateManager.OpenLiteDb(path);

        Assert.Equal(3, (await reopened.SetJsonAsync(StateScope.Global, "k", Backends.Json("3"))).Version);
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await reopened.Store.WriteAsync(new StateWrite("global", "k", "json", 1, Encoding.UTF8.GetBytes("4"), ExpectedVersion: 2)));
    }

    [Fact]
    public async Task Delete_survives_reopen()
    {
        string path = _dir.File();
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await new Note { Id = "gone" }.SaveStateAsync(manager);
            await new Note { Id = "kept" }.SaveStateAsync(manager);
            Assert.True(await new Note { Id = "gone" }.DeleteStateAsync(manager));
        }

        await using StateManager reopened = StateManager.OpenLiteDb(path);

        Assert.False(await new Note { Id = "gone" }.LoadStateAsync(reopened));
        Assert.Equal(new[] { "Note/kept" }, await reopened.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public async Task Sensitive_value_is_not_in_the_database_file_bytes()
    {
        const string Secret = "sk-live-SECRET123-in-file-test";
        string path = _dir.File();
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await new Note { Id = "s", Topic = "visible-topic", ApiKey = Secret }.SaveStateAsync(manager);
        }

        byte[] all = Directory.GetFiles(_dir.Path).SelectMany(File.ReadAllBytes).ToArray();

        Assert.True(Contains(all, Encoding.UTF8.GetBytes("visible-topic")), "the check must see stored text in the file");
        Assert.False(Contains(all, Encoding.UTF8.GetBytes(Secret)));
        Assert.False(Contains(all, Encoding.Unicode.GetBytes(Secret)));
    }

    [Fact]
    public async Task Opening_the_same_file_twice_in_one_process_throws_StateStoreException()
    {
        string path = _dir.File();
        await using StateManager first = StateManager.OpenLiteDb(path);

        var ex = Assert.Throws<StateStoreException>(() => StateManager.OpenLiteDb(path));
        Assert.Throws<StateStoreException>(() => new LiteDbStateStore(Path.Combine(_dir.Path, ".", "state.db")));
        Assert.Throws<StateStoreException>(() => new LiteDbStateStore(Path.Combine(_dir.Path, "sub", "..", "state.db")));

        Assert.Contains(Path.GetFullPath(path), ex.Message, StringComparison.Ordinal);
        await first.SetJsonAsync(StateScope.Global, "still-works", Backends.Json("true"));
        Assert.True(await first.ExistsAsync(StateScope.Global, "still-works"));
    }

    [Fact]
    public async Task File_can_be_opened_again_after_the_first_manager_is_disposed()
    {
        string path = _dir.File();
        StateManager first = StateManager.OpenLiteDb(path);
        await first.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        first.Dispose();

        await using StateManager second = StateManager.OpenLiteDb(path);

        Assert.True(await second.ExistsAsync(StateScope.Global, "k"));
    }

    [Fact]
    public async Task Manager_operations_after_dispose_throw_ObjectDisposedException()
    {
        StateManager manager = StateManager.OpenLiteDb(_dir.File());
        await manager.DisposeAsync();
        await manager.DisposeAsync(); // idempotent

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1")));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await manager.GetJsonAsync(StateScope.Global, "k"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await new Note { Id = "n" }.LoadStateAsync(manager));
    }

    [Fact]
    public async Task Missing_folders_of_the_database_path_are_created()
    {
        string path = Path.Combine(_dir.Path, "a", "b", "c", "state.db");

        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        }

        Assert.True(File.Exists(path));
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
