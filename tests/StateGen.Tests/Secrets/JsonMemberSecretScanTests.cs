using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using StateGen.Secrets;
using StateGen.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Secrets;

/// <summary>A state type whose members are JSON the application builds: a node, an object, an array, an element.</summary>
[PersistentState("json-secret-holder")]
public partial class JsonSecretHolder
{
    public string Id { get; set; } = "";

    public JsonNode? Node { get; set; }

    public JsonObject? Object { get; set; }

    public JsonArray? Array { get; set; }

    public JsonElement Element { get; set; }
}

/// <summary>
/// The secret scan covers the string values inside <see cref="JsonNode"/>, <see cref="JsonObject"/>,
/// <see cref="JsonArray"/> and <see cref="JsonElement"/> members, like every other stored string: redacted (real
/// LiteDB file, reopened), refused under <see cref="SecretScanPolicy.Throw"/>, and everything else in them (names,
/// numbers as written, literals, short and escaped strings) stored as it was.
/// </summary>
public sealed class JsonMemberSecretScanTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (string Anthropic, string Jwt, string Aws, string GitHub) Secrets()
    {
        var all = SecretSamples.All(31).ToList();
        return (all.First(s => s.Kind == SecretKind.AnthropicApiKey).Value, all.First(s => s.Kind == SecretKind.JsonWebToken).Value,
            all.First(s => s.Kind == SecretKind.AwsAccessKeyId).Value, all.First(s => s.Kind == SecretKind.GitHubToken).Value);
    }

    [Fact]
    public async Task Secrets_inside_json_members_are_redacted_in_the_file_and_the_rest_is_kept()
    {
        (string anthropic, string jwt, string aws, string github) = Secrets();
        string path = _dir.File("json.db");
        var holder = new JsonSecretHolder
        {
            Id = "j1",
            Node = JsonNode.Parse($$"""{"tool":"search","args":{"query":"long enough ordinary text","auth":"Bearer {{jwt}}"},"n":1.50,"ok":true,"none":null}"""),
            Object = new JsonObject { ["key"] = anthropic, ["short"] = "tiny", ["escaped \"name\"+"] = "a+b <é> \u2028 long enough to scan" },
            Array = new JsonArray("plain text that is long enough", github, 42, new JsonArray("nested " + aws)),
            Element = JsonDocument.Parse($$"""{"inner":["x","{{aws}} in a list"],"v":-0.0e5,"s":"short"}""").RootElement.Clone(),
        };

        await using (StateManager manager = StateManager.OpenLiteDb(path, new StateManagerOptions { SlowOperationThreshold = null }))
        {
            await holder.SaveStateAsync(manager);
        }

        byte[] file = System.IO.File.ReadAllBytes(path);
        foreach (string secret in new[] { anthropic, jwt, aws, github })
        {
            Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)));
        }

        await using (StateManager reopened = StateManager.OpenLiteDb(path))
        {
            var loaded = new JsonSecretHolder { Id = "j1" };
            Assert.True(await loaded.LoadStateAsync(reopened));

            // Each string that held a secret is its marker, whole; every other part is as it was.
            Assert.True(JsonNode.DeepEquals(
                JsonNode.Parse("""{"tool":"search","args":{"query":"long enough ordinary text","auth":"[redacted:jwt]"},"n":1.50,"ok":true,"none":null}"""),
                loaded.Node));
            Assert.Equal("1.50", loaded.Node!["n"]!.ToJsonString()); // a number's text is kept
            Assert.True(JsonNode.DeepEquals(
                new JsonObject { ["key"] = "[redacted:anthropic-api-key]", ["short"] = "tiny", ["escaped \"name\"+"] = "a+b <é> \u2028 long enough to scan" },
                loaded.Object));
            Assert.True(JsonNode.DeepEquals(
                new JsonArray("plain text that is long enough", "[redacted:github-token]", 42, new JsonArray("[redacted:aws-access-key-id]")),
                loaded.Array));
            Assert.True(JsonElement.DeepEquals(
                JsonDocument.Parse("""{"inner":["x","[redacted:aws-access-key-id]"],"v":-0.0e5,"s":"short"}""").RootElement,
                loaded.Element));
            Assert.Equal("-0.0e5", loaded.Element.GetProperty("v").GetRawText());
        }
    }

    [Theory]
    [InlineData("node")]
    [InlineData("object")]
    [InlineData("array")]
    [InlineData("element")]
    public async Task Under_Throw_a_secret_inside_a_json_member_is_refused_and_nothing_is_stored(string where)
    {
        (string anthropic, _, _, _) = Secrets();
        await using StateManager manager = StateManager.OpenLiteDb(_dir.File(), new StateManagerOptions { SecretScanning = SecretScanPolicy.Throw });
        var holder = new JsonSecretHolder { Id = "j2" };
        switch (where)
        {
            case "node": holder.Node = new JsonObject { ["deep"] = new JsonObject { ["deeper"] = anthropic } }; break;
            case "object": holder.Object = new JsonObject { ["k"] = anthropic }; break;
            case "array": holder.Array = new JsonArray(new JsonArray(anthropic)); break;
            default: holder.Element = JsonDocument.Parse("\"" + anthropic + "\"").RootElement.Clone(); break;
        }

        StateSecretDetectedException ex = await Assert.ThrowsAsync<StateSecretDetectedException>(() => holder.SaveStateAsync(manager).AsTask());
        Assert.Equal(SecretKind.AnthropicApiKey, ex.Kind);
        Assert.DoesNotContain(anthropic, ex.ToString(), StringComparison.Ordinal);
        Assert.Null(await manager.Store.GetAsync("global", "json-secret-holder/j2"));
    }

    [Fact]
    public async Task Json_members_without_a_secret_round_trip_unchanged_in_both_stores()
    {
        foreach (string backend in new[] { Backends.Memory, Backends.LiteDb })
        {
            await using StateManager manager = Backends.CreateManager(backend, _dir, new StateManagerOptions { SecretScanning = SecretScanPolicy.Throw });
            var holder = new JsonSecretHolder
            {
                Id = "j3",
                Node = JsonNode.Parse("""[{"a":[1,2.5e-3,{"b":"\u00e9\ud83d\ude00 quite a long string"}]},"x",true,false,null,-7]"""),
                Object = new JsonObject(),
                Array = new JsonArray(),
                Element = JsonDocument.Parse("\"a standalone string long enough\"").RootElement.Clone(),
            };
            await holder.SaveStateAsync(manager);

            var loaded = new JsonSecretHolder { Id = "j3" };
            Assert.True(await loaded.LoadStateAsync(manager));
            Assert.True(JsonNode.DeepEquals(holder.Node, loaded.Node), backend);
            Assert.Equal(holder.Node!.ToJsonString(), loaded.Node!.ToJsonString());
            Assert.Empty(loaded.Object!);
            Assert.Empty(loaded.Array!);
            Assert.Equal("a standalone string long enough", loaded.Element.GetString());
        }
    }
}
