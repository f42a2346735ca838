using System.Collections.Generic;
using System.Text.Json.Nodes;

namespace StateGen.Tests.TestTypes;

/// <summary>Members of <see cref="JsonNode"/> types: passed through as JSON, like <c>JsonElement</c>.</summary>
[PersistentState("node-agent")]
public partial class NodeAgent
{
    public string? Id { get; set; }

    public JsonNode? Anything { get; set; }

    public JsonObject? Settings { get; set; }

    public JsonArray? Steps { get; set; }

    public List<JsonNode?> Items { get; set; } = new();

    public Dictionary<string, JsonObject?> ByName { get; set; } = new();
}
