using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0002: a persisted type needs an instance id.</summary>
public sealed class MissingIdTests
{
    [Fact]
    public Task Type_without_id_member_is_reported_at_type_name()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class {|#0:Agent|}
            {
                public string Name { get; set; } = "";
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.MissingId, 0, "The [PersistentState] type 'Agent' has no [StateId] member and no property named 'Id'"));

    [Fact]
    public Task Field_named_Id_does_not_count_as_the_conventional_id()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class {|SG0002:Agent|}
            {
                public string Id = "";
            }
            """);

    [Fact]
    public Task Property_named_Id_is_the_id_by_convention()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
            }
            """);

    [Fact]
    public Task StateId_on_another_member_is_the_id()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                [StateId]
                public Guid AgentKey { get; set; }

                public string Name { get; set; } = "";
            }
            """);

    [Fact]
    public Task Id_inherited_from_a_base_class_is_found()
        => AnalyzerTest.VerifyAsync("""
            public abstract class AgentBase
            {
                public string Id { get; set; } = "";
            }

            [PersistentState]
            public partial class Agent : AgentBase
            {
                public int Turns { get; set; }
            }
            """);
}
