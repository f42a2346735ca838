using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0300: a persisted type graph that can contain a reference cycle is reported with the loop.</summary>
public sealed class PossibleCycleTests
{
    [Fact]
    public Task Self_reaching_type_is_reported_with_its_loop()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class Node
            {
                public List<Node> Children { get; set; } = new();
            }

            [PersistentState]
            public partial class {|#0:Planner|}
            {
                public string Id { get; set; } = "";
                public Node Root { get; set; } = new();
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Planner' can hold a reference cycle (Node.Children[] → Node): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"));

    [Fact]
    public Task Mutually_recursive_types_are_reported_for_each()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class A { public B? Next { get; set; } }
            public sealed class B { public Dictionary<string, A> Back { get; set; } = new(); }

            [PersistentState]
            public partial class {|#0:Graph|}
            {
                public string Id { get; set; } = "";
                public A? Start { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Graph' can hold a reference cycle (A.Next → B.Back{} → A): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"),
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Graph' can hold a reference cycle (B.Back{} → A.Next → B): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"));

    [Fact]
    public Task A_persistent_type_that_holds_itself_is_reported_with_its_loop()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class {|#0:Chain|}
            {
                public string Id { get; set; } = "";
                public Chain? Next { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Chain' can hold a reference cycle (Chain.Next → Chain): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"));

    [Fact]
    public Task Persistent_types_that_hold_each_other_are_each_reported_from_their_side()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class Seat { public Job? Job { get; set; } }

            [PersistentState]
            public partial class {|#0:Crew|}
            {
                public string Id { get; set; } = "";
                public List<Seat> Seats { get; set; } = new();
            }

            [PersistentState]
            public partial class {|#1:Job|}
            {
                public string Id { get; set; } = "";
                public Crew? Owner { get; set; }
            }

            [PersistentState]
            public partial class Note
            {
                public string Id { get; set; } = "";
                [StateIgnore] public Note? Previous { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Crew' can hold a reference cycle (Crew.Seats[] → Seat.Job → Job.Owner → Crew): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"),
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Crew' can hold a reference cycle (Seat.Job → Job.Owner → Crew.Seats[] → Seat): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"),
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 1, "'Job' can hold a reference cycle (Job.Owner → Crew.Seats[] → Seat.Job → Job): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"));

    [Fact]
    public Task Acyclic_graphs_and_ignored_back_references_report_nothing()
        => AnalyzerTest.VerifyAsync(
            """
            public sealed class Leaf { public string Name { get; set; } = ""; }
            public sealed class Branch { public List<Leaf> Leaves { get; set; } = new(); [StateIgnore] public Branch? Parent { get; set; } }

            [PersistentState]
            public partial class Tree
            {
                public string Id { get; set; } = "";
                public Branch Trunk { get; set; } = new();
                public List<Branch> Others { get; set; } = new();
            }
            """);
}
