using System;
using System.Threading.Tasks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Serialization;

/// <summary>Private members of the persistent type opted in with <c>[JsonInclude]</c> are stored and restored.</summary>
public sealed class PrivateMemberTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Opted_in_private_members_round_trip_and_others_stay_out(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new PrivateStateAgent { Id = "p" };
        agent.Step("one");
        agent.Step("two");
        await agent.SaveStateAsync(manager);

        string stored = Backends.Utf8((await manager.Store.GetAsync("global", "private-state-agent/p"))!.Payload);
        Assert.Equal("""{"_counter":2,"Secretless":"two","Id":"p"}""", stored);

        var loaded = new PrivateStateAgent { Id = "p" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(2, loaded.Counter);
        Assert.Equal("two", loaded.Label);
        Assert.Equal("untouched", loaded.NotState);
    }
}
