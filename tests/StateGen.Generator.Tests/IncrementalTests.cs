using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using StateGen.Generator.Helpers;
using StateGen.Generator.Model;

namespace StateGen.Generator.Tests;

/// <summary>The pipeline caches: equal inputs give equal models and no regeneration.</summary>
public sealed class IncrementalTests
{
    private static readonly string[] TrackedSteps = typeof(TrackingNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToArray();

    [Fact]
    public void Every_tracked_step_is_cached_when_the_compilation_is_cloned()
    {
        RunTwiceAndAssertCached(GeneratorHarness.CreateCompilation(TestSources.Agent, TestSources.NestedGeneric));
    }

    [Fact]
    public void An_unrelated_edit_does_not_regenerate()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(TestSources.Agent);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        AssertUnrelatedEditIsCached(driver, compilation, "Agents");
    }

    [Fact]
    public void A_real_shape_change_regenerates_that_type()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(TestSources.Agent);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);

        SyntaxTree oldTree = compilation.SyntaxTrees.Single();
        SyntaxTree newTree = oldTree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            TestSources.Agent.Replace("public string Topic { get; set; } = \"\";", "public string Topic { get; set; } = \"\"; public int Budget { get; set; }", StringComparison.Ordinal)));
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree));
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        IncrementalGeneratorRunStep step = Assert.Single(result.TrackedSteps[TrackingNames.GeneratableTypes]);
        Assert.Equal(IncrementalStepRunReason.Modified, Assert.Single(step.Outputs).Reason);
        Assert.Contains("\"Budget\"u8", result.GeneratedSources.Single().SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_tracked_step_is_cached_for_sensitive_modes_and_a_mode_change_regenerates()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(TestSources.Sensitive);
        (GeneratorDriver driver, _) = RunTwiceAndAssertCached(compilation);

        SyntaxTree oldTree = compilation.SyntaxTrees.Single();
        SyntaxTree newTree = oldTree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(TestSources.Sensitive.Replace(
            "[Sensitive] public string SessionToken", "[Sensitive(SensitiveMode.Encrypt)] public string SessionToken", StringComparison.Ordinal)));
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree));
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        IncrementalGeneratorRunStep step = Assert.Single(result.TrackedSteps[TrackingNames.GeneratableTypes]);
        Assert.Equal(IncrementalStepRunReason.Modified, Assert.Single(step.Outputs).Reason);
        Assert.Contains("WriteEncrypted<string>(writer, this.SessionToken", result.GeneratedSources.Single().SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_tracked_step_is_cached_for_delegated_members_and_nested_extension_data_and_a_context_change_regenerates()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(TestSources.Delegated, TestSources.NestedExtensionData);
        (GeneratorDriver driver, _) = RunTwiceAndAssertCached(compilation);

        driver = AssertUnrelatedEditIsCached(driver, compilation, "Zoo");

        // Naming another context changes the zoo's model only.
        SyntaxTree oldTree = compilation.SyntaxTrees.First();
        SyntaxTree newTree = oldTree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(TestSources.Delegated
            .Replace("JsonContext = typeof(ZooJsonContext)", "JsonContext = typeof(OtherJsonContext)", StringComparison.Ordinal)
            .Replace("public sealed class ZooJsonContext", "public sealed class OtherJsonContext : ZooJsonContextBase { public static new OtherJsonContext Default { get; } = new(); }\npublic class ZooJsonContextBase", StringComparison.Ordinal)
            .Replace("public ZooJsonContext() : base(null) { }", "public ZooJsonContextBase() : base(null) { }", StringComparison.Ordinal)
            .Replace("public static ZooJsonContext Default { get; } = new();", "public static ZooJsonContextBase Default { get; } = new();", StringComparison.Ordinal)));
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree));
        GeneratorRunResult edited = driver.GetRunResult().Results.Single();

        var reasons = edited.TrackedSteps[TrackingNames.GeneratableTypes].SelectMany(s => s.Outputs).Select(o => (((StateTypeSpec)o.Value).Shape.StableName, o.Reason)).ToList();
        Assert.Contains(("zoo", IncrementalStepRunReason.Modified), reasons);
        Assert.Contains(("extensible", IncrementalStepRunReason.Cached), reasons);
        Assert.Contains("global::Zoo.OtherJsonContext.Default.GetTypeInfo", edited.GeneratedSources.Single(s => s.HintName == "Zoo.ZooAgent.State.g.cs").SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_tracked_step_is_cached_with_a_lock_file_and_a_lock_edit_regenerates_only_its_type()
    {
        const string other = """
            using StateGen;
            namespace Agents;
            [PersistentState("other")] public partial class Other { public string Id { get; set; } = ""; }
            """;
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(MigrationTests.PlannerV3, other);
        var lockV3 = new GeneratorHarness.InMemoryText("/p/StateGen.schema.txt", MigrationTests.LockV3);
        GeneratorDriver driver = GeneratorHarness.CreateDriver(lockV3).RunGenerators(compilation);
        GeneratorRunResult first = driver.GetRunResult().Results.Single();
        driver = driver.RunGenerators(compilation.Clone());
        AssertStepsAreTrackedAndCached(first, driver.GetRunResult().Results.Single());

        // Dropping the version 1 history changes the planner's chain; the other type is untouched.
        string withoutV1 = string.Join("\n", MigrationTests.LockV3.Split('\n').Where(l => !l.StartsWith("planner | 1 |", StringComparison.Ordinal)));
        driver = driver.ReplaceAdditionalText(lockV3, new GeneratorHarness.InMemoryText("/p/StateGen.schema.txt", withoutV1)).RunGenerators(compilation);
        GeneratorRunResult edited = driver.GetRunResult().Results.Single();

        var reasons = edited.TrackedSteps[TrackingNames.TypesWithUpgrades].SelectMany(s => s.Outputs).Select(o => (((StateTypeSpec)o.Value).Shape.StableName, o.Reason)).ToList();
        Assert.Contains(("planner", IncrementalStepRunReason.Modified), reasons);
        Assert.Contains(("other", IncrementalStepRunReason.Unchanged), reasons);
    }

    [Fact]
    public void Every_tracked_step_is_cached_for_cycles_and_a_back_reference_in_another_file_guards_the_holder()
    {
        const string crew = """
            using System.Collections.Generic;
            using StateGen;
            namespace Ships;
            public sealed class Seat { public Job? Job { get; set; } }
            [PersistentState("crew")] public partial class Crew { public string Id { get; set; } = ""; public List<Seat> Seats { get; set; } = new(); }
            """;
        const string job = """
            using StateGen;
            namespace Ships;
            [PersistentState("job")] public partial class Job { public string Id { get; set; } = ""; public string Title { get; set; } = ""; }
            """;
        const string note = """
            using StateGen;
            namespace Ships;
            [PersistentState("note")] public partial class Note { public string Id { get; set; } = ""; public Note? Previous { get; set; } }
            """;
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(crew, job, note);
        (GeneratorDriver driver, GeneratorRunResult first) = RunTwiceAndAssertCached(compilation);
        Assert.DoesNotContain("CycleGuard", first.GeneratedSources.Single(s => s.HintName == "Ships.Crew.State.g.cs").SourceText.ToString(), StringComparison.Ordinal);

        // The job (another file) gains a back-reference to the crew: the crew, whose own file did not change, is now
        // on a loop and its model and code change with it.
        SyntaxTree oldTree = compilation.SyntaxTrees.ElementAt(1);
        SyntaxTree newTree = oldTree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(job.Replace(
            "public string Title { get; set; } = \"\";", "public string Title { get; set; } = \"\"; public Crew? Owner { get; set; }", StringComparison.Ordinal)));
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree));
        GeneratorRunResult edited = driver.GetRunResult().Results.Single();

        var reasons = edited.TrackedSteps[TrackingNames.GeneratableTypes].SelectMany(s => s.Outputs).Select(o => (((StateTypeSpec)o.Value).Shape.StableName, o.Reason)).ToList();
        Assert.Contains(("crew", IncrementalStepRunReason.Modified), reasons);
        Assert.Contains(("note", IncrementalStepRunReason.Cached), reasons);
        Assert.Contains("Can reach itself (Crew.Seats[] → Seat.Job → Job.Owner → Crew)", edited.GeneratedSources.Single(s => s.HintName == "Ships.Crew.State.g.cs").SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Models_hold_no_symbols_syntax_locations_or_compilations()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(TestSources.Agent, TestSources.NestedGeneric, TestSources.GlobalNamespace, TestSources.Delegated, TestSources.NestedExtensionData);
        GeneratorRunResult result = GeneratorHarness.CreateDriver().RunGenerators(compilation).GetRunResult().Results.Single();

        int checkedValues = 0;
        foreach (string name in TrackedSteps)
        {
            foreach (IncrementalGeneratorRunStep step in result.TrackedSteps[name])
            {
                foreach ((object value, IncrementalStepRunReason _) in step.Outputs)
                {
                    AssertNoBannedObjects(value, new HashSet<object>(ReferenceEqualityComparer.Instance), $"{name} output");
                    checkedValues++;
                }
            }
        }

        Assert.True(checkedValues >= 4, $"Expected the tracked steps to produce models for 4 types, saw {checkedValues}.");
        AssertTypeIsValueEquatable(typeof(StateTypeSpec), new HashSet<Type>());
    }

    /// <summary>Runs the generator, then again on a clone of the compilation, and asserts every step was cached.</summary>
    private static (GeneratorDriver Driver, GeneratorRunResult First) RunTwiceAndAssertCached(CSharpCompilation compilation)
    {
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        GeneratorRunResult first = driver.GetRunResult().Results.Single();
        driver = driver.RunGenerators(compilation.Clone());
        AssertStepsAreTrackedAndCached(first, driver.GetRunResult().Results.Single());
        return (driver, first);
    }

    /// <summary>Adds an unrelated type to <paramref name="compilation"/>: every step stays cached and the output is the same.</summary>
    private static GeneratorDriver AssertUnrelatedEditIsCached(GeneratorDriver driver, CSharpCompilation compilation, string ns)
    {
        GeneratorRunResult first = driver.GetRunResult().Results.Single();
        CSharpCompilation edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            $"namespace {ns}; public static class Unrelated {{ public static int Answer() => 42; }}",
            GeneratorHarness.ParseOptions));
        driver = driver.RunGenerators(edited);
        GeneratorRunResult second = driver.GetRunResult().Results.Single();

        AssertStepsAreTrackedAndCached(first, second);
        Assert.Equal(
            first.GeneratedSources.Select(s => s.SourceText.ToString()),
            second.GeneratedSources.Select(s => s.SourceText.ToString()));
        return driver;
    }

    private static void AssertStepsAreTrackedAndCached(GeneratorRunResult first, GeneratorRunResult second)
    {
        foreach (string name in TrackedSteps)
        {
            Assert.True(first.TrackedSteps.ContainsKey(name), $"Step {name} is not tracked.");
            Assert.True(second.TrackedSteps.ContainsKey(name), $"Step {name} is not tracked on the second run.");
            foreach (IncrementalGeneratorRunStep step in second.TrackedSteps[name])
            {
                foreach ((object _, IncrementalStepRunReason reason) in step.Outputs)
                {
                    Assert.True(
                        reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                        $"Step {name} output was {reason} on the second run.");
                }
            }
        }

        foreach ((object _, IncrementalStepRunReason reason) in second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs))
        {
            Assert.Equal(IncrementalStepRunReason.Cached, reason);
        }
    }

    private static void AssertNoBannedObjects(object? value, HashSet<object> seen, string path)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !seen.Add(value))
        {
            return;
        }

        Assert.False(value is ISymbol or SyntaxNode or Location or Compilation or SemanticModel or SyntaxTree, $"{path} holds a {value.GetType().Name}.");
        if (value is IEnumerable items)
        {
            int i = 0;
            foreach (object? item in items)
            {
                AssertNoBannedObjects(item, seen, $"{path}[{i++}]");
            }

            return;
        }

        foreach (PropertyInfo property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0)
            {
                AssertNoBannedObjects(property.GetValue(value), seen, $"{path}.{property.Name}");
            }
        }
    }

    /// <summary>Every member type of a model compares by value: strings, primitives, enums, EquatableArray of models, records.</summary>
    private static void AssertTypeIsValueEquatable(Type type, HashSet<Type> seen)
    {
        Type checkedType = Nullable.GetUnderlyingType(type) ?? type;
        if (!seen.Add(checkedType) || checkedType == typeof(string) || checkedType.IsPrimitive || checkedType.IsEnum)
        {
            return;
        }

        if (checkedType.IsGenericType && checkedType.GetGenericTypeDefinition() == typeof(EquatableArray<>))
        {
            AssertTypeIsValueEquatable(checkedType.GetGenericArguments()[0], seen);
            return;
        }

        Assert.False(checkedType.IsArray || typeof(IEnumerable).IsAssignableFrom(checkedType), $"{checkedType.Name} compares by reference; wrap it in EquatableArray.");
        bool isRecord = checkedType.GetMethod("<Clone>$") is not null || checkedType.GetProperty("EqualityContract", BindingFlags.NonPublic | BindingFlags.Instance) is not null
            || (checkedType.IsValueType && typeof(IEquatable<>).MakeGenericType(checkedType).IsAssignableFrom(checkedType));
        Assert.True(isRecord, $"{checkedType.Name} is not a record or equatable struct.");
        foreach (PropertyInfo property in checkedType.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            AssertTypeIsValueEquatable(property.PropertyType, seen);
        }
    }
}
