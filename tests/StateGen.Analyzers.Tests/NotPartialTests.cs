using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0001: the type and every type containing it must be partial.</summary>
public sealed class NotPartialTests
{
    [Fact]
    public Task Missing_partial_is_reported_at_type_name()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public class {|SG0001:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """);

    [Fact]
    public Task Message_names_the_type_and_the_declarations_without_partial()
        => AnalyzerTest.VerifyAsync(
            """
            public class Outer
            {
                [PersistentState]
                public sealed class {|#0:Agent|}
                {
                    public string Id { get; set; } = "";
                }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.NotPartial, 0, "The [PersistentState] type 'Agent' and every type that contains it must be declared partial; not partial: 'Outer', 'Agent'"));

    [Fact]
    public Task Partial_type_inside_non_partial_container_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            public partial class Outermost
            {
                public class Outer
                {
                    [PersistentState]
                    public partial class {|#0:Agent|}
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.NotPartial, 0, "The [PersistentState] type 'Agent' and every type that contains it must be declared partial; not partial: 'Outer'"));

    [Fact]
    public Task Non_partial_record_is_reported()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public record {|SG0001:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """);

    [Fact]
    public Task Shape_problems_of_a_non_partial_type_are_reported_too()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public class {|SG0001:{|SG0002:Agent|}|}
            {
                public string Name { get; set; } = "";
            }
            """);

    [Fact]
    public Task Partial_type_in_partial_containers_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            public static partial class Outer
            {
                public partial class Middle
                {
                    [PersistentState]
                    public sealed partial class Agent
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """);

    [Fact]
    public Task Type_in_several_partial_parts_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
            }

            public partial class Agent
            {
                public int Turns { get; set; }
            }
            """);

    [Fact]
    public Task Non_partial_type_without_the_attribute_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            public class Agent
            {
                public object? Anything { get; set; }
            }
            """);
}
