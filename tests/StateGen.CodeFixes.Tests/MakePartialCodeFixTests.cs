using System.Threading.Tasks;

namespace StateGen.CodeFixes.Tests;

/// <summary>The SG0001 code fix: <c>partial</c> on the type and on every containing type that lacks it.</summary>
public sealed class MakePartialCodeFixTests
{
    [Fact]
    public Task Nested_type_inside_non_partial_container_makes_both_partial()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            namespace Sample
            {
                public class Agents
                {
                    [PersistentState]
                    public sealed class {|SG0001:Researcher|}
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """,
            """
            using StateGen;

            namespace Sample
            {
                public partial class Agents
                {
                    [PersistentState]
                    public sealed partial class Researcher
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """);

    [Fact]
    public Task Partial_goes_after_the_existing_modifiers()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            [PersistentState]
            public sealed class {|SG0001:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """,
            """
            using StateGen;

            [PersistentState]
            public sealed partial class Agent
            {
                public string Id { get; set; } = "";
            }
            """);

    [Fact]
    public Task Type_without_modifiers_keeps_its_comment_and_indentation()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            namespace Sample
            {
                // Outer holds agents.
                class Outer
                {
                    /// <summary>The agent.</summary>
                    [PersistentState]
                    class {|SG0001:Agent|}
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """,
            """
            using StateGen;

            namespace Sample
            {
                // Outer holds agents.
                partial class Outer
                {
                    /// <summary>The agent.</summary>
                    [PersistentState]
                    partial class Agent
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """);

    [Fact]
    public Task Type_without_attributes_or_modifiers_keeps_its_leading_comment()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            namespace Sample;

            // Not persisted itself.
            class Outer
            {
                [PersistentState] public class {|SG0001:Agent|} { public string Id { get; set; } = ""; }
            }
            """,
            """
            using StateGen;

            namespace Sample;

            // Not persisted itself.
            partial class Outer
            {
                [PersistentState] public partial class Agent { public string Id { get; set; } = ""; }
            }
            """);

    [Fact]
    public Task Record_becomes_partial_record()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            [PersistentState]
            public record class {|SG0001:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """,
            """
            using StateGen;

            [PersistentState]
            public partial record class Agent
            {
                public string Id { get; set; } = "";
            }
            """);

    [Fact]
    public Task Already_partial_containers_are_left_alone()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            public static partial class Outermost
            {
                internal class Outer
                {
                    [PersistentState]
                    internal partial class {|SG0001:Agent|}
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """,
            """
            using StateGen;

            public static partial class Outermost
            {
                internal partial class Outer
                {
                    [PersistentState]
                    internal partial class Agent
                    {
                        public string Id { get; set; } = "";
                    }
                }
            }
            """);

    [Fact]
    public Task Fix_all_makes_two_types_in_one_container_and_the_container_partial()
        => CodeFixTest.VerifyAsync(
            """
            using StateGen;

            public class Agents
            {
                [PersistentState]
                public class {|SG0001:Planner|}
                {
                    public string Id { get; set; } = "";
                }

                [PersistentState]
                public class {|SG0001:Executor|}
                {
                    public string Id { get; set; } = "";
                }
            }
            """,
            """
            using StateGen;

            public partial class Agents
            {
                [PersistentState]
                public partial class Planner
                {
                    public string Id { get; set; } = "";
                }

                [PersistentState]
                public partial class Executor
                {
                    public string Id { get; set; } = "";
                }
            }
            """);
}
