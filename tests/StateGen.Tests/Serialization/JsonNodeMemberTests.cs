using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Serialization;

/// <summary><see cref="JsonNode"/>, <see cref="JsonObject"/> and <see cref="JsonArray"/> members round-trip as JSON.</summary>
public sealed class JsonNodeMemberTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Stores => new() { Backends.Memory, Backends.LiteDb };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Json_node_members_round_trip_through_a_store(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new NodeAgent
        {
            Id = "n1",
            Anything = JsonNode.Parse("""[1,"two",{"three":3.5},null,true]"""),
            Settings = new JsonObject { ["model"] = "m", ["temperature"] = 0.25, ["nested"] = new JsonObject { ["ok"] = true } },
            Steps = new JsonArray(1, 2, 3),
            Items = { JsonValue.Create("text"), null, new JsonObject { ["k"] = "v" } },
            ByName = { ["a"] = new JsonObject { ["x"] = 1 }, ["none"] = null },
        };
        await agent.SaveStateAsync(manager);

        var loaded = new NodeAgent { Id = "n1", Anything = JsonValue.Create(0) };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal(agent.Anything!.ToJsonString(), loaded.Anything!.ToJsonString());
        Assert.Equal(agent.Settings.ToJsonString(), loaded.Settings!.ToJsonString());
        Assert.Equal("[1,2,3]", loaded.Steps!.ToJsonString());
        Assert.Equal(3, loaded.Items.Count);
        Assert.Equal("\"text\"", loaded.Items[0]!.ToJsonString());
        Assert.Null(loaded.Items[1]);
        Assert.Equal("""{"k":"v"}""", loaded.Items[2]!.ToJsonString());
        Assert.Equal("""{"x":1}""", loaded.ByName["a"]!.ToJsonString());
        Assert.Null(loaded.ByName["none"]);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Null_nodes_are_stored_as_null_and_read_back_as_null(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await new NodeAgent { Id = "n2" }.SaveStateAsync(manager);

        var loaded = new NodeAgent { Id = "n2", Anything = JsonValue.Create(1), Settings = new JsonObject(), Steps = new JsonArray() };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Null(loaded.Anything);
        Assert.Null(loaded.Settings);
        Assert.Null(loaded.Steps);
    }

    [Fact]
    public async Task A_stored_array_where_the_member_is_a_JsonObject_is_a_typed_error_and_the_instance_is_unchanged()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        await manager.Store.WriteAsync(new StateWrite("global", "node-agent/n3", "node-agent", 1, Encoding.UTF8.GetBytes("""{"Id":"n3","Settings":[1,2]}""")));

        var target = new NodeAgent { Id = "n3", Settings = new JsonObject { ["keep"] = true } };
        var error = await Assert.ThrowsAsync<StateSerializationException>(async () => await target.LoadStateAsync(manager));

        Assert.Contains("node-agent/n3", error.Message, StringComparison.Ordinal);
        Assert.Equal("""{"keep":true}""", target.Settings!.ToJsonString());
    }
}
