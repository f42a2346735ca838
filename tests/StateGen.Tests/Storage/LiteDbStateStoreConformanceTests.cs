using System;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>The LiteDB store, on a real file in a unique temporary folder, passes the shared store contract.</summary>
public sealed class LiteDbStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock });

    protected override void Cleanup() => _dir.Dispose();

    [Fact]
    public async Task Commit_with_an_oversized_payload_throws_StateValueTooLargeException_and_applies_nothing()
    {
        IStateStore store = NewStore();
        await store.WriteAsync(Write("global", "k", "v1"));

        var ex = await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await store.CommitAsync(new StateOperation[]
        {
            Write("global", "k", "v2", expectedVersion: 1),
            new StateDelete("global", "k"),
            new StateWrite("agent/x", "big", "blob", 1, new byte[LiteDbStateStore.MaxPayloadBytes + 1]),
            Write("global", "after", "a"),
        }));

        Assert.Equal(("agent/x", "big", LiteDbStateStore.MaxPayloadBytes + 1L, (long)LiteDbStateStore.MaxPayloadBytes), (ex.Scope, ex.Key, ex.Size, ex.Limit));
        StoredEntry entry = (await store.GetAsync("global", "k"))!;
        Assert.Equal(1, entry.Version);
        Assert.Equal("v1", Encoding.UTF8.GetString(entry.Payload.Span));
        Assert.False(await store.ExistsAsync("agent/x", "big"));
        Assert.False(await store.ExistsAsync("global", "after"));
        Assert.Equal(2, (await store.WriteAsync(Write("global", "k", "v2", expectedVersion: 1))).Version);
    }
}
