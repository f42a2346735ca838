using System;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Serialization;

/// <summary>
/// Members a stored document has and the type does not are kept in its <c>[JsonExtensionData]</c> member and written
/// back on save, so a program does not drop data another program (or version) stored; never a [Sensitive] member's.
/// </summary>
public sealed class ExtensionDataTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Stores => new() { Backends.Memory, Backends.LiteDb };

    private static StateWrite Raw(string key, string typeName, string json) => new("global", key, typeName, 1, Encoding.UTF8.GetBytes(json));

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Unknown_members_survive_a_load_and_save_round_trip(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await manager.Store.WriteAsync(Raw("extensible-agent/e1", "extensible-agent", """{"Id":"e1","Name":"old","Future":{"a":[1,2]},"Flag":true,"ApiKey":"planted-secret-value"}"""));

        var agent = new ExtensibleAgent { Id = "e1" };
        Assert.True(await agent.LoadStateAsync(manager));
        Assert.Equal("old", agent.Name);
        Assert.Null(agent.ApiKey);
        Assert.Equal(new[] { "Flag", "Future" }, agent.Extra!.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("""{"a":[1,2]}""", agent.Extra["Future"].GetRawText());

        agent.Name = "new";
        agent.ApiKey = "in-memory-only";
        await agent.SaveStateAsync(manager);

        string stored = Backends.Utf8((await manager.Store.GetAsync("global", "extensible-agent/e1"))!.Payload);
        using JsonDocument document = JsonDocument.Parse(stored);
        Assert.Equal("new", document.RootElement.GetProperty("Name").GetString());
        Assert.Equal("""{"a":[1,2]}""", document.RootElement.GetProperty("Future").GetRawText());
        Assert.True(document.RootElement.GetProperty("Flag").GetBoolean());
        Assert.DoesNotContain("planted-secret-value", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("in-memory-only", stored, StringComparison.Ordinal);
        Assert.False(document.RootElement.TryGetProperty("ApiKey", out _));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Extension_entries_never_duplicate_or_override_a_persisted_member(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new ExtensibleAgent
        {
            Id = "e2",
            Name = "real",
            Extra = new() { ["Name"] = JsonSerializer.SerializeToElement("shadow"), ["ApiKey"] = JsonSerializer.SerializeToElement("smuggled"), ["Other"] = JsonSerializer.SerializeToElement(5) },
        };
        await agent.SaveStateAsync(manager);

        string stored = Backends.Utf8((await manager.Store.GetAsync("global", "extensible-agent/e2"))!.Payload);
        Assert.Equal("""{"Id":"e2","Name":"real","Other":5}""", stored);

        var loaded = new ExtensibleAgent { Id = "e2", Extra = new() { ["Stale"] = default } };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(new[] { "Other" }, loaded.Extra!.Keys);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_JsonObject_extension_member_keeps_unknown_members_too(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await manager.Store.WriteAsync(Raw("extensible-node-agent/x", "extensible-node-agent", """{"Id":"x","Count":2,"Later":{"deep":[null,"s"]},"N":null}"""));

        var agent = new ExtensibleNodeAgent { Id = "x" };
        Assert.True(await agent.LoadStateAsync(manager));
        Assert.Equal(2, agent.Count);
        Assert.Equal("""{"Later":{"deep":[null,"s"]},"N":null}""", agent.Unknown.ToJsonString());

        agent.Count = 3;
        await agent.SaveStateAsync(manager);
        Assert.Equal("""{"Id":"x","Count":3,"Later":{"deep":[null,"s"]},"N":null}""", Backends.Utf8((await manager.Store.GetAsync("global", "extensible-node-agent/x"))!.Payload));

        await new ExtensibleNodeAgent { Id = "y", Count = 1 }.SaveStateAsync(manager);
        var fresh = new ExtensibleNodeAgent { Id = "y", Unknown = new JsonObject { ["stale"] = 1 } };
        Assert.True(await fresh.LoadStateAsync(manager));
        Assert.Equal("{}", fresh.Unknown.ToJsonString());
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task An_unknown_member_stored_twice_is_a_typed_error_that_does_not_quote_it_and_leaves_the_instance_alone(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await manager.Store.WriteAsync(Raw("extensible-agent/e9", "extensible-agent", """{"Id":"e9","Name":"x","Secret-Ext-7f3":1,"Secret-Ext-7f3":2}"""));
        await manager.Store.WriteAsync(Raw("extensible-node-agent/n9", "extensible-node-agent", """{"Id":"n9","Count":3,"Secret-Ext-7f3":{},"Secret-Ext-7f3":[]}"""));

        var agent = new ExtensibleAgent { Id = "e9", Name = "mine" };
        var error = await Assert.ThrowsAsync<StateSerializationException>(() => agent.LoadStateAsync(manager).AsTask());
        Assert.True(error.Message.Contains("not declared (kept in [JsonExtensionData]) more than once", StringComparison.Ordinal), error.Message);
        Assert.DoesNotContain("Secret-Ext-7f3", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(("mine", (System.Collections.Generic.Dictionary<string, JsonElement>?)null), (agent.Name, agent.Extra));

        var node = new ExtensibleNodeAgent { Id = "n9", Count = 1 };
        var nodeError = await Assert.ThrowsAsync<StateSerializationException>(() => node.LoadStateAsync(manager).AsTask());
        Assert.DoesNotContain("Secret-Ext-7f3", nodeError.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, node.Count);

        // The same unknown name in two different objects is not a duplicate.
        await manager.Store.WriteAsync(Raw("extensible-agent/e9", "extensible-agent", """{"Id":"e9","Name":"x","Outer":{"Same":1},"Same":2}"""));
        Assert.True(await agent.LoadStateAsync(manager));
        Assert.Equal(new[] { "Outer", "Same" }, agent.Extra!.Keys.Order(StringComparer.Ordinal));
    }
}
