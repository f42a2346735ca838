using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace StateGen.Generator.Tests;

/// <summary>Which get-only properties are state: auto-properties of mutable collection types, also on a base type in another assembly.</summary>
public sealed class GetOnlyCollectionTests
{
    [Fact]
    public void Get_only_collection_of_a_base_type_from_another_assembly_is_filled_in_place_and_computed_ones_are_not_state()
    {
        const string library = """
            using System.Collections.Generic;
            namespace Lib;
            public class AgentBase
            {
                public List<string> Log { get; } = new();
                public List<string> Computed => new();
                public IReadOnlyList<string> View { get; } = new List<string>();
            }
            """;
        const string consumer = """
            using StateGen;
            [PersistentState] public partial class Agent : Lib.AgentBase { public string Id { get; set; } = ""; }
            """;
        MetadataReference libraryReference = MetadataReference.CreateFromImage(GeneratorHarness.Emit(GeneratorHarness.CreateCompilation(library)));
        Compilation compilation = GeneratorHarness.CreateCompilation(consumer).AddReferences(libraryReference);

        GeneratorHarness.CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);

        Assert.Empty(diagnostics);
        string code = output.SyntaxTrees.Last().ToString();
        Assert.Contains("StateJson.Fill(this.Log, ", code, System.StringComparison.Ordinal);
        Assert.DoesNotContain("Computed", code, System.StringComparison.Ordinal);
        Assert.DoesNotContain("View", code, System.StringComparison.Ordinal);
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));
    }
}
