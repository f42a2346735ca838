using System.Linq;
using Microsoft.CodeAnalysis;

namespace StateGen.Generator.Tests;

/// <summary>The generated code of representative types, compared with committed baselines.</summary>
public sealed class GoldenFileTests
{
    [Theory]
    [InlineData(nameof(TestSources.Agent))]
    [InlineData(nameof(TestSources.NestedGeneric))]
    [InlineData(nameof(TestSources.GlobalNamespace))]
    [InlineData(nameof(TestSources.Records))]
    [InlineData(nameof(TestSources.Sensitive))]
    [InlineData(nameof(TestSources.Delegated))]
    [InlineData(nameof(TestSources.NestedExtensionData))]
    [InlineData(nameof(TestSources.Collections))]
    [InlineData(nameof(TestSources.Cycles))]
    public void Generated_code_matches_baseline_and_compiles_warning_free(string sourceName)
    {
        string source = (string)typeof(TestSources).GetField(sourceName)!.GetValue(null)!;
        (Compilation output, GeneratorDriverRunResult result) = GeneratorHarness.Run(source);

        Assert.NotEmpty(result.GeneratedTrees);
        foreach (GeneratedSourceResult generated in result.Results.Single().GeneratedSources)
        {
            Snapshot.Match(sourceName, generated.HintName, generated.SourceText.ToString());
        }

        // Nullable on and every warning an error, as in a strict consumer project.
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));
    }

    [Fact]
    public void Types_proved_acyclic_get_no_cycle_tracking_and_recursive_types_are_guarded()
    {
        const string tree = """
            using System.Collections.Generic;
            using StateGen;
            public sealed class Node { public string Name { get; set; } = ""; public List<Node> Children { get; set; } = new(); }
            public sealed class Leaf { public string Name { get; set; } = ""; }
            [PersistentState] public partial class Tree { public string Id { get; set; } = ""; public Node Root { get; set; } = new(); public Leaf Leaf { get; set; } = new(); }
            """;
        (Compilation output, GeneratorDriverRunResult result) = GeneratorHarness.Run(TestSources.Agent, TestSources.NestedGeneric, TestSources.GlobalNamespace, TestSources.Records, tree);

        foreach (GeneratedSourceResult generated in result.Results.Single().GeneratedSources)
        {
            string code = generated.SourceText.ToString();
            bool guarded = code.Contains("CycleGuard", System.StringComparison.Ordinal);
            Assert.Equal(generated.HintName == "Tree.State.g.cs", guarded);
        }

        string treeCode = result.Results.Single().GeneratedSources.Single(s => s.HintName == "Tree.State.g.cs").SourceText.ToString();
        Assert.Contains("Can reach itself (Node.Children[] → Node)", treeCode, System.StringComparison.Ordinal);
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));
    }

    [Fact]
    public void Persistent_types_on_a_loop_are_guarded_and_acyclic_ones_are_not()
    {
        (Compilation output, GeneratorDriverRunResult result) = GeneratorHarness.Run(TestSources.Cycles);
        var code = result.Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

        Assert.Contains("Can reach itself (Chain.Next → Chain)", code["Agents.Cycles.Chain.State.g.cs"], System.StringComparison.Ordinal);
        Assert.Contains("Can reach itself (Crew.Seats[] → Seat.Job → Job.Owner → Crew)", code["Agents.Cycles.Crew.State.g.cs"], System.StringComparison.Ordinal);
        Assert.Contains("Can reach itself (Job.Owner → Crew.Seats[] → Seat.Job → Job)", code["Agents.Cycles.Job.State.g.cs"], System.StringComparison.Ordinal);
        Assert.Contains("Leads to a type that can reach itself", code["Agents.Cycles.Holder.State.g.cs"], System.StringComparison.Ordinal);
        Assert.DoesNotContain("CycleGuard", code["Agents.Cycles.Note.State.g.cs"], System.StringComparison.Ordinal);
        Assert.DoesNotContain("CycleGuard", code["Agents.Cycles.Notebook.State.g.cs"], System.StringComparison.Ordinal);

        // Holder's Note member leads nowhere: no path segment is set before it, only before Head.
        Assert.Contains("CycleGuard.At(\".Head\")", code["Agents.Cycles.Holder.State.g.cs"], System.StringComparison.Ordinal);
        Assert.DoesNotContain("CycleGuard.At(\".Note\")", code["Agents.Cycles.Holder.State.g.cs"], System.StringComparison.Ordinal);
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));
    }

    [Fact]
    public void Hint_names_are_unique_and_follow_namespace_type_feature_pattern()
    {
        (_, GeneratorDriverRunResult result) = GeneratorHarness.Run(TestSources.Agent, TestSources.NestedGeneric, TestSources.GlobalNamespace);

        string[] hints = result.Results.Single().GeneratedSources.Select(s => s.HintName).OrderBy(h => h, System.StringComparer.Ordinal).ToArray();
        Assert.Equal(
            new[] { "Agents.ResearchAgent.State.g.cs", "Agents.Workflows.Outer`1.StepState.State.g.cs", "Everything.State.g.cs", "Memory.State.g.cs" },
            hints);
    }

    [Fact]
    public void Types_that_are_not_partial_or_have_problems_are_skipped_so_only_analyzers_report()
    {
        const string source = """
            using StateGen;
            [PersistentState] public class NotPartial { public string Id { get; set; } = ""; }
            [PersistentState] public partial class NoId { public string Name { get; set; } = ""; }
            [PersistentState] public partial class BadMember { public string Id { get; set; } = ""; public object Anything { get; set; } = new(); }
            public class Container { [PersistentState] public partial class Inner { public string Id { get; set; } = ""; } }
            """;
        (Compilation output, GeneratorDriverRunResult result) = GeneratorHarness.Run(source);

        Assert.Empty(result.GeneratedTrees);
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));
    }
}
