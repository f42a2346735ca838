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

/// <summary>A type that keeps members it does not know (<c>[JsonExtensionData]</c>, a dictionary of elements).</summary>
[PersistentState("extensible-agent")]
public partial class ExtensibleAgent
{
    public string? Id { get; set; }

    public string? Name { get; set; }

    [Sensitive]
    public string? ApiKey { get; set; }

    [System.Text.Json.Serialization.JsonExtensionData]
    public Dictionary<string, System.Text.Json.JsonElement>? Extra { get; set; }
}

/// <summary>The same with a <see cref="JsonObject"/> as the extension data.</summary>
[PersistentState("extensible-node-agent")]
public partial class ExtensibleNodeAgent
{
    public string? Id { get; set; }

    public int Count { get; set; }

    [System.Text.Json.Serialization.JsonExtensionData]
    public JsonObject Unknown { get; set; } = new();
}

/// <summary>Private state opted in with <c>[JsonInclude]</c>; private members without it stay out.</summary>
[PersistentState("private-state-agent")]
public partial class PrivateStateAgent
{
    [System.Text.Json.Serialization.JsonInclude]
    private int _counter;

    [System.Text.Json.Serialization.JsonInclude]
    private string Secretless { get; set; } = "initial";

    private string _notState = "untouched";

    public string? Id { get; set; }

    public int Counter => _counter;

    public string Label => Secretless;

    public string NotState => _notState;

    public void Step(string label)
    {
        _counter++;
        Secretless = label;
        _notState = "changed";
    }
}
