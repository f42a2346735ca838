using System;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Manager;

/// <summary>The manager's default size limit and the LiteDB store agree: what the manager accepts, the file stores.</summary>
public sealed class LiteDbLimitsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Value_of_exactly_the_default_MaxValueBytes_is_stored_and_read_back()
    {
        int limit = new StateManagerOptions().MaxValueBytes;
        string path = _dir.File();
        string text = new('v', limit - 2); // a JSON string: the quotes make it exactly the limit

        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            await manager.SetJsonAsync(StateScope.Global, "big", Backends.JsonString(text));
        }

        await using StateManager reopened = StateManager.OpenLiteDb(path);
        StoredEntry entry = (await reopened.Store.GetAsync("global", "big"))!;
        Assert.Equal(limit, entry.Payload.Length);
        Assert.Equal(text, (await reopened.GetJsonAsync(StateScope.Global, "big"))!.Value.GetString());
    }

    [Fact]
    public async Task Value_over_the_default_MaxValueBytes_gives_StateValueTooLargeException()
    {
        int limit = new StateManagerOptions().MaxValueBytes;
        await using StateManager manager = StateManager.OpenLiteDb(_dir.File());

        await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await manager.SetJsonAsync(StateScope.Global, "big", Backends.JsonString(new string('v', limit - 1))));

        Assert.False(await manager.ExistsAsync(StateScope.Global, "big"));
    }

    [Fact]
    public async Task Value_too_large_for_a_LiteDB_document_is_not_reported_as_a_corrupt_file()
    {
        // LiteDB caps one document at about 16 MB; a manager configured above that must not call the file corrupt.
        string path = _dir.File();
        await using StateManager manager = StateManager.OpenLiteDb(path, new StateManagerOptions { MaxValueBytes = 64 * 1024 * 1024 });
        await manager.SetJsonAsync(StateScope.Global, "small", Backends.Json("1"));

        Exception? ex = await Record.ExceptionAsync(async () => await manager.SetJsonAsync(StateScope.Global, "huge", Backends.JsonString(new string('v', 20 * 1024 * 1024))));

        if (ex is not null)
        {
            Assert.IsAssignableFrom<StateGenException>(ex);
            Assert.IsNotType<StateStoreCorruptedException>(ex);
        }

        Assert.Equal(1, (await manager.GetJsonAsync(StateScope.Global, "small"))!.Value.GetInt32());
        await manager.SetJsonAsync(StateScope.Global, "after", Backends.Json("2"));
        Assert.True(await manager.ExistsAsync(StateScope.Global, "after"));
    }
}
