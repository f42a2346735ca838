using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>[JsonExtensionData] is kept on nested plain objects too; a member the generated code cannot set is SG0003.</summary>
public sealed class NestedExtensionDataTests
{
    [Fact]
    public Task Extension_data_on_nested_classes_structs_and_records_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            public sealed class Step
            {
                public string Name { get; set; } = "";
                [System.Text.Json.Serialization.JsonExtensionData] public Dictionary<string, System.Text.Json.JsonElement>? Unknown { get; set; }
            }

            public struct Position
            {
                public int X { get; set; }
                [System.Text.Json.Serialization.JsonExtensionData] public System.Text.Json.Nodes.JsonObject? More { get; set; }
            }

            public sealed record Tag(string Label)
            {
                [System.Text.Json.Serialization.JsonExtensionData] public Dictionary<string, System.Text.Json.JsonElement>? Rest { get; set; }
            }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public List<Step> Steps { get; set; } = new();
                public Position At { get; set; }
                public Tag? Tag { get; set; }
            }
            """);

    [Fact]
    public Task Extension_data_the_generated_code_cannot_set_on_a_nested_class_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class Step
            {
                public string Name { get; set; } = "";
                [System.Text.Json.Serialization.JsonExtensionData] private Dictionary<string, System.Text.Json.JsonElement>? {|#0:Unknown|} { get; set; }
            }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public Step Step { get; set; } = new();
            }
            """,
            AnalyzerTest.At(
                DiagnosticDescriptors.UnsupportedMember,
                0,
                "Member 'Unknown' is a [JsonExtensionData] member but not a settable Dictionary<string, JsonElement> or JsonObject (on a plain object: public or internal, with a public or internal setter)"));
}
