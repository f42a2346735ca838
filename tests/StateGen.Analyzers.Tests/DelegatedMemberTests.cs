using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>
/// Member types the generator does not write itself are delegated to the JsonSerializerContext named by
/// <c>[PersistentState(JsonContext = ...)]</c>; without one, SG0003 names the way out; a JsonContext that is not a
/// context is SG0007.
/// </summary>
public sealed class DelegatedMemberTests
{
    private const string Context = """
        public sealed class AgentJsonContext : System.Text.Json.Serialization.JsonSerializerContext
        {
            public AgentJsonContext() : base(null) { }
            public static AgentJsonContext Default { get; } = new();
            protected override System.Text.Json.JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override System.Text.Json.Serialization.Metadata.JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        [System.Text.Json.Serialization.JsonDerivedType(typeof(Dog), "dog")]
        public class Animal { public string Name { get; set; } = ""; }
        public sealed class Dog : Animal { public bool Good { get; set; } }
        public interface IToy { }

        """;

    [Fact]
    public Task Types_the_generator_cannot_write_report_nothing_when_a_JsonContext_is_named()
        => AnalyzerTest.VerifyAsync(Context + """
            public sealed class Keeper
            {
                public IToy? Toy { get; set; }
            }

            [PersistentState(JsonContext = typeof(AgentJsonContext))]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public Animal? Pet { get; set; }
                public List<Animal> Pets { get; set; } = new();
                public object? Scratch { get; set; }
                public LinkedList<string> Chores { get; set; } = new();
                public Dictionary<double, string> Scores { get; set; } = new();
                [Sensitive(SensitiveMode.Encrypt)] public IToy? Secret { get; set; }
                public Keeper Keeper { get; set; } = new();
            }
            """);

    [Fact]
    public Task Polymorphic_member_without_a_JsonContext_is_reported_with_the_way_out()
        => AnalyzerTest.VerifyAsync(
            Context + """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public List<Animal> {|#0:Pets|} { get; set; } = new();
            }
            """,
            AnalyzerTest.At(
                DiagnosticDescriptors.UnsupportedMember,
                0,
                "Member 'Pets' of type 'Animal' cannot be persisted: it is polymorphic ([JsonPolymorphic]/[JsonDerivedType]), which the generated serializer does not write. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof(Animal))], named on the attribute of 'Agent': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Member_of_a_nested_plain_class_names_the_persistent_type_to_put_the_context_on()
        => AnalyzerTest.VerifyAsync(
            Context + """
            public sealed class Keeper
            {
                public IToy? {|#0:Toy|} { get; set; }
            }

            [PersistentState]
            public partial class Zoo
            {
                public string Id { get; set; } = "";
                public Keeper Keeper { get; set; } = new();
            }
            """,
            AnalyzerTest.At(
                DiagnosticDescriptors.UnsupportedMember,
                0,
                "Member 'Toy' of type 'IToy?' cannot be persisted: interfaces and abstract classes are not written by the generated serializer. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof(IToy))], named on the attribute of 'Zoo': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]"));

    [Fact]
    public Task Delegates_are_not_delegated_and_are_reported_even_with_a_JsonContext()
        => AnalyzerTest.VerifyAsync(
            Context + """
            [PersistentState(JsonContext = typeof(AgentJsonContext))]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public Action? {|#0:OnChange|} { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.UnsupportedMember, 0, "Member 'OnChange' of type 'System.Action?' cannot be persisted: delegates and static classes cannot be persisted; exclude the member with [StateIgnore]"));

    // What the System.Text.Json generator adds to a context: one JsonTypeInfo<T> property per type it knows.
    private const string GeneratedLikeContext = """
        public sealed class DogsOnlyContext : System.Text.Json.Serialization.JsonSerializerContext
        {
            public DogsOnlyContext() : base(null) { }
            public static DogsOnlyContext Default { get; } = new();
            public System.Text.Json.Serialization.Metadata.JsonTypeInfo<Dog> Dog => null!;
            public System.Text.Json.Serialization.Metadata.JsonTypeInfo<List<Animal>> ListAnimal => null!;
            protected override System.Text.Json.JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override System.Text.Json.Serialization.Metadata.JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        """;

    [Fact]
    public Task Delegated_type_a_generated_context_has_no_metadata_for_is_a_warning_naming_members_and_fix()
        => AnalyzerTest.VerifyAsync(
            Context + GeneratedLikeContext + """
            public sealed class Keeper
            {
                public Animal? Favorite { get; set; }
            }

            [PersistentState(JsonContext = typeof(DogsOnlyContext))]
            public partial class {|#0:Zoo|}
            {
                public string Id { get; set; } = "";
                public Dog? Rex { get; set; }
                public List<Animal> Pets { get; set; } = new();
                public Keeper Keeper { get; set; } = new();
            }
            """,
            AnalyzerTest.At(
                DiagnosticDescriptors.JsonContextMissingType,
                0,
                "The JsonContext 'DogsOnlyContext' of 'Zoo' has no metadata for 'Animal' (members 'Pets[]', 'Keeper.Favorite'): saving or loading it throws StateSerializationException; add [JsonSerializable(typeof(Animal))] to the context"));

    [Fact]
    public Task JsonContext_that_is_not_a_JsonSerializerContext_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class AgentOptions { }

            [PersistentState(JsonContext = typeof(AgentOptions))]
            public partial class {|#0:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """,
            AnalyzerTest.At(
                DiagnosticDescriptors.InvalidJsonContext,
                0,
                "The [PersistentState] type 'Agent' names 'AgentOptions' as its JsonContext, which is not a non-abstract class derived from System.Text.Json.Serialization.JsonSerializerContext; declare 'partial class AgentOptions : JsonSerializerContext' with [JsonSerializable(typeof(T))] for each type it must serialize"));

    [Fact]
    public Task Abstract_JsonContext_is_reported()
        => AnalyzerTest.VerifyAsync("""
            public abstract class BaseContext : System.Text.Json.Serialization.JsonSerializerContext
            {
                protected BaseContext() : base(null) { }
            }

            [PersistentState(JsonContext = typeof(BaseContext))]
            public partial class {|SG0007:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """);
}
