using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;
using StateGen.Analyzers;

namespace StateGen.CodeFixes.Tests;

/// <summary>
/// Runs <see cref="PersistentStateAnalyzer"/> and <see cref="MakePartialCodeFixProvider"/> (or another pair) over markup
/// source against the .NET 10 reference assemblies (no download) and the StateGen runtime. The testing library also
/// checks that Fix All in document, project and solution scope produces <c>fixedSource</c>.
/// </summary>
internal static class CodeFixTest
{
    public static Task VerifyAsync(string source, string fixedSource)
        => VerifyAsync<PersistentStateAnalyzer, MakePartialCodeFixProvider>(source, fixedSource);

    /// <summary>Runs <typeparamref name="TAnalyzer"/> and <typeparamref name="TCodeFix"/> instead.</summary>
    public static Task VerifyAsync<TAnalyzer, TCodeFix>(string source, string fixedSource)
        where TAnalyzer : DiagnosticAnalyzer, new()
        where TCodeFix : CodeFixProvider, new()
    {
        var test = new CSharpCodeFixTest<TAnalyzer, TCodeFix, DefaultVerifier>
        {
            TestCode = source,
            FixedCode = fixedSource,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),
        };
        test.TestState.AdditionalReferences.AddRange(Net100.References.All);
        test.TestState.AdditionalReferences.Add(MetadataReference.CreateFromFile(typeof(PersistentStateAttribute).Assembly.Location));
        return test.RunAsync();
    }
}
