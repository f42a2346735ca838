using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using StateGen.Analyzers;

namespace StateGen.CodeFixes.Tests;

/// <summary>
/// Runs <see cref="PersistentStateAnalyzer"/> and <see cref="MakePartialCodeFixProvider"/> over markup source against
/// the .NET 10 reference assemblies (no download) and the StateGen runtime. The testing library also checks that
/// Fix All in document, project and solution scope produces <c>fixedSource</c>.
/// </summary>
internal static class CodeFixTest
{
    public static Task VerifyAsync(string source, string fixedSource)
    {
        var test = new CSharpCodeFixTest<PersistentStateAnalyzer, MakePartialCodeFixProvider, DefaultVerifier>
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
