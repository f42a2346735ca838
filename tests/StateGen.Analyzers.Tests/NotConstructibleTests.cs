using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0005: loading must be able to create the type.</summary>
public sealed class NotConstructibleTests
{
    [Fact]
    public Task Abstract_type_is_reported_at_type_name()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public abstract partial class {|#0:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.NotConstructible, 0, "The [PersistentState] type 'Agent' is not a non-abstract class or record class"));

    [Fact]
    public Task Type_without_parameterless_constructor_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class {|#0:Agent|}
            {
                public Agent(string id) => Id = id;

                public string Id { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.NotConstructible, 0, "The [PersistentState] type 'Agent' has no parameterless constructor"));

    [Fact]
    public Task Positional_record_reports_its_missing_parameterless_constructor()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial record {|SG0005:Agent|}(string Id, int Turns);
            """);

    [Fact]
    public Task Private_parameterless_constructor_is_enough()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public sealed partial class Agent
            {
                private Agent()
                {
                }

                public Agent(string id) => Id = id;

                public string Id { get; set; } = "";
            }
            """);

    [Fact]
    public Task Record_class_with_settable_members_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public sealed partial record class Agent
            {
                public string Id { get; set; } = "";

                public int Turns { get; set; }
            }
            """);
}
