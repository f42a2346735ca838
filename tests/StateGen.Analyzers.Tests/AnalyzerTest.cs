using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace StateGen.Analyzers.Tests;

/// <summary>
/// Runs <see cref="PersistentStateAnalyzer"/> (or another analyzer) over markup source against the .NET 10 reference
/// assemblies (no download) and the StateGen runtime, so the attributes resolve. Compiler errors in the source fail the
/// test too.
/// </summary>
internal static class AnalyzerTest
{
    /// <summary>Namespaces every test source can use without spelling them out.</summary>
    public const string Usings = """
        using System;
        using System.Collections.Generic;
        using StateGen;

        """;

    public static Task VerifyAsync(string source, params DiagnosticResult[] expected)
        => VerifyAsync<PersistentStateAnalyzer>(source, expected);

    /// <summary>Runs <typeparamref name="TAnalyzer"/> instead.</summary>
    public static Task VerifyAsync<TAnalyzer>(string source, params DiagnosticResult[] expected)
        where TAnalyzer : DiagnosticAnalyzer, new()
    {
        var test = new CSharpAnalyzerTest<TAnalyzer, DefaultVerifier>
        {
            TestCode = Usings + source,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),
        };
        test.TestState.AdditionalReferences.AddRange(Net100.References.All);
        test.TestState.AdditionalReferences.Add(MetadataReference.CreateFromFile(typeof(PersistentStateAttribute).Assembly.Location));
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    /// <summary>An expected diagnostic at markup location <c>{|#index:...|}</c> with its full message.</summary>
    public static DiagnosticResult At(DiagnosticDescriptor descriptor, int index, string message)
        => new DiagnosticResult(descriptor).WithLocation(index).WithMessage(message);
}
