using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>Types the generator can handle report nothing at all.</summary>
public sealed class ValidTypeTests
{
    [Fact]
    public Task Type_using_every_supported_member_kind_reports_nothing_but_its_possible_cycle()
        => AnalyzerTest.VerifyAsync(
            """
            namespace Sample
            {
                public enum Role { User, Assistant }

                public sealed class ChatTurn
                {
                    public Role Role { get; set; }

                    public string Text { get; set; } = "";

                    public ChatTurn? Previous { get; set; }
                }

                public struct Budget
                {
                    public decimal Limit;

                    public decimal Spent;
                }

                [PersistentState]
                public partial class Helper
                {
                    public Guid Id { get; set; }
                }

                [PersistentState("research-agent")]
                [SchemaVersion(3)]
                public sealed partial class {|#0:Agent|}
                {
                    [StateId]
                    public string Name { get; set; } = "";

                    public bool Active { get; set; }
                    public char Initial { get; set; }
                    public byte B { get; set; }
                    public sbyte Sb { get; set; }
                    public short S { get; set; }
                    public ushort Us { get; set; }
                    public int I { get; set; }
                    public uint Ui { get; set; }
                    public long L { get; set; }
                    public ulong Ul { get; set; }
                    public float F { get; set; }
                    public double D { get; set; }
                    public decimal M { get; set; }
                    public DateTime Created { get; set; }
                    public DateTimeOffset Updated { get; set; }
                    public Guid Correlation { get; set; }
                    public TimeSpan Elapsed { get; set; }
                    public int? MaybeCount { get; set; }
                    public byte[] Blob { get; set; } = Array.Empty<byte>();
                    public string[] Tags { get; set; } = Array.Empty<string>();
                    public int[][] Jagged { get; set; } = Array.Empty<int[]>();
                    public List<ChatTurn> History { get; set; } = new();
                    public IReadOnlyList<string> Notes { get; set; } = new List<string>();
                    public Dictionary<string, int> Counters { get; set; } = new();
                    public IDictionary<string, Budget> Budgets { get; set; } = new Dictionary<string, Budget>();
                    public List<string> Log { get; } = new();
                    public System.Collections.Immutable.ImmutableArray<int> Frozen { get; set; }
                    public System.Collections.Immutable.IImmutableList<string> Lines { get; set; } = System.Collections.Immutable.ImmutableList<string>.Empty;
                    public System.Collections.Immutable.ImmutableHashSet<Guid> Seen { get; set; } = System.Collections.Immutable.ImmutableHashSet<Guid>.Empty;
                    public System.Collections.Immutable.IImmutableDictionary<int, Budget> ByYear { get; set; } = System.Collections.Immutable.ImmutableDictionary<int, Budget>.Empty;
                    public Budget Budget;
                    public Helper? Helper { get; set; }

                    [Sensitive]
                    public string ApiKey { get; set; } = "";
                }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.PossibleCycle, 0, "'Agent' can hold a reference cycle (ChatTurn.Previous → ChatTurn): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one"));

    [Fact]
    public Task Nested_partial_record_in_partial_class_reports_nothing()
        => AnalyzerTest.VerifyAsync("""
            public static partial class Agents
            {
                [PersistentState]
                public partial record Planner
                {
                    public long Id { get; set; }

                    public List<string> Steps { get; set; } = new();
                }
            }
            """);
}
