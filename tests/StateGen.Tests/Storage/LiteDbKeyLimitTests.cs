using System;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// Keys a direct caller of the LiteDB store passes (the manager's keys are checked by <see cref="StateKeys"/>): a write
/// whose scope and key the store cannot hold is an <see cref="InvalidStateKeyException"/> before anything is written,
/// and the store goes on; before this, an over-long key reached LiteDB's index inside the transaction and the store took
/// LiteDB's error for damage and closed itself. Both change-log layouts, real files, reopened.
/// </summary>
public sealed class LiteDbKeyLimitTests : IDisposable
{
    private const string Scope = "agent/a1";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDbStateStore Open(string path, bool segmented)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = segmented });

    private static StateWrite Write(string scope, string key, string text = "v")
        => new(scope, key, "Note", 1, Encoding.UTF8.GetBytes("\"" + text + "\""));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_write_whose_scope_and_key_the_store_cannot_hold_is_refused_before_the_writer_and_the_store_goes_on(bool segmented)
    {
        string path = _dir.NewDatabaseFile();
        int room = LiteDbStateStore.MaxIdBytes - Encoding.UTF8.GetByteCount(Scope) - 1;
        string longest = new('k', room);
        using (LiteDbStateStore store = Open(path, segmented))
        {
            // Exactly at the limit: stored, logged and read back.
            await store.WriteAsync(Write(Scope, longest));
            Assert.NotNull(await store.GetAsync(Scope, longest));

            StateWrite[] refused =
            [
                Write(Scope, longest + "k"),                      // one byte over
                Write(Scope, new string('é', 800)),                // 1,600 UTF-8 bytes from 800 characters
                Write(Scope, new string('k', 5000)),
                Write(Scope + "\u001Fb", "c"),                     // the id's separator inside the scope
                Write(Scope, "b\u001Fc"),                          // ... and inside the key
                Write(Scope, "tab\there"),
                Write(Scope, "lone \uD800 surrogate"),
                Write(Scope, ""),
                Write(null!, "k"),
            ];
            foreach (StateWrite write in refused)
            {
                await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await store.WriteAsync(write));
                await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await store.CommitAsync([Write(Scope, "ok-in-batch"), write]));
            }

            // Nothing of the refused batches was written, and the store keeps working (it did not take them for damage).
            Assert.Null(await store.GetAsync(Scope, "ok-in-batch"));
            Assert.Null(await store.GetAsync(Scope, new string('k', 5000))); // a read of a key no record can have
            Assert.False(await store.DeleteAsync(Scope, new string('k', 5000)));
            await store.WriteAsync(Write(Scope, "after", "fine"));
        }

        using LiteDbStateStore reopened = Open(path, segmented);
        Assert.NotNull(await reopened.GetAsync(Scope, longest));
        Assert.NotNull(await reopened.GetAsync(Scope, "after"));
        Assert.Equal(new[] { longest, "after" }, (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Key));
    }

    [Fact]
    public async Task Every_key_the_manager_accepts_fits_the_store()
    {
        // The longest key and the longest scope id StateKeys allows, in the longest built-in scope path.
        string key = new('k', StateKeys.MaxKeyBytes);
        StateScope scope = StateScope.Step("w" + new string('w', StateKeys.MaxScopeIdBytes - 1), "s" + new string('s', StateKeys.MaxScopeIdBytes - 1));
        Assert.True(Encoding.UTF8.GetByteCount(scope.Path) + 1 + StateKeys.MaxKeyBytes <= LiteDbStateStore.MaxIdBytes, $"{scope.Path.Length} + {key.Length}");
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path, segmented: false);
        await store.WriteAsync(Write(scope.Path, key));
        Assert.NotNull(await store.GetAsync(scope.Path, key));
    }
}
