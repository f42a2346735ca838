using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0003: a member whose type the generated serializer cannot write, named with its type.</summary>
public sealed class UnsupportedMemberTests
{
    [Fact]
    public Task Object_member_is_reported_with_member_and_type()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public object? {|#0:Scratch|} { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member 'Scratch' of type 'object?' cannot be persisted: this framework type is not supported. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof(object))], named on the attribute of 'Agent': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Private_opted_in_member_of_a_generic_plain_type_is_reported_and_a_non_generic_ones_is_not()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class Box<T>
            {
                [System.Text.Json.Serialization.JsonInclude] private int {|#0:_count|};
                public T? Item { get; set; }
            }

            public sealed class Crate
            {
                [System.Text.Json.Serialization.JsonInclude] private int _count;
                [System.Text.Json.Serialization.JsonInclude] public string Label { get; private set; } = "";
                public int Count => _count;
            }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public Box<string> Box { get; set; } = new();
                public Crate Crate { get; set; } = new();
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member '_count' is a [JsonInclude] member of the generic type 'Box' that is not public or internal (or has such a getter or setter); UnsafeAccessor cannot reach it on .NET 8. Make it internal or public, or exclude it with [StateIgnore]"));

    [Fact]
    public Task Multi_dimensional_array_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public int[,] {|#0:Grid|} = new int[0, 0];
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member 'Grid' of type 'int[*,*]' cannot be persisted: multi-dimensional arrays are not supported; use an array of arrays or a list, or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Dictionary_with_non_string_keys_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public Dictionary<double, string> {|#0:Notes|} { get; set; } = new();
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member 'Notes' of type 'System.Collections.Generic.Dictionary<double, string>' cannot be persisted: dictionary keys must be string, int, long, Guid or an enum. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof(System.Collections.Generic.Dictionary<double, string>))], named on the attribute of 'Agent': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Interface_member_is_reported_with_its_full_type_name()
        => AnalyzerTest.VerifyAsync(
            """
            namespace Sample
            {
                public interface IMemory
                {
                }

                [PersistentState]
                public partial class Agent
                {
                    public string Id { get; set; } = "";

                    public IMemory? {|#0:Memory|} { get; set; }
                }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member 'Memory' of type 'Sample.IMemory?' cannot be persisted: interfaces and abstract classes are not written by the generated serializer. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof(Sample.IMemory))], named on the attribute of 'Agent': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Init_only_and_required_members_are_supported_and_report_nothing()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed record Turn
            {
                public required string Role { get; init; }
            }

            [PersistentState]
            public partial record Agent
            {
                public required string Id { get; init; }

                public string Model { get; init; } = "";

                public List<Turn> Turns { get; init; } = new();
            }
            """);

    [Fact]
    public Task Unsupported_element_type_of_a_list_is_reported_at_the_list_member()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public List<object> {|#0:Items|} { get; set; } = new();
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member 'Items' of type 'object' cannot be persisted: this framework type is not supported. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof(object))], named on the attribute of 'Agent': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Unsupported_member_of_a_nested_plain_class_is_reported_at_that_member()
        => AnalyzerTest.VerifyAsync("""
            public sealed class Memory
            {
                public Action? {|SG0003:OnChange|} { get; set; }
            }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public Memory Memory { get; set; } = new();
            }
            """);

    [Fact]
    public Task Every_unsupported_member_is_reported()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public object? {|SG0003:First|} { get; set; }

                public int[,]? {|SG0003:Second|} { get; set; }
            }
            """);

    [Fact]
    public Task Unsupported_member_marked_StateIgnore_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                [StateIgnore]
                public object? Scratch { get; set; }

                [StateIgnore]
                public string Model { get; init; } = "";
            }
            """);

    [Fact]
    public Task Computed_get_only_non_collection_and_private_members_are_not_state_and_report_nothing()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                private object? _lock = new();

                public string Id { get; set; } = "";

                public object Computed => _lock ?? this;

                public object Snapshot { get; } = new();

                public List<object> ComputedList => new();

                public IReadOnlyList<object> ReadOnlyView { get; } = new List<object>();
            }
            """);

    [Fact]
    public Task Get_only_mutable_collection_is_state_and_its_element_type_is_checked()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                public List<object> {|SG0003:Items|} { get; } = new();

                public Dictionary<string, object> {|SG0003:Bag|} { get; } = new();
            }
            """);
}
