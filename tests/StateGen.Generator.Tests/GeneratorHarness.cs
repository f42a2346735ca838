using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace StateGen.Generator.Tests;

/// <summary>Runs the real generator over source text with the real compiler, hermetically (net10.0 reference assemblies).</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly ImmutableArray<MetadataReference> References = Net100.References.All
        .Cast<MetadataReference>()
        .Append(MetadataReference.CreateFromFile(typeof(PersistentStateAttribute).Assembly.Location))
        .Append(MetadataReference.CreateFromFile(typeof(Microsoft.Extensions.Logging.ILogger).Assembly.Location))
        .ToImmutableArray();

    /// <summary>Options as strict as a careful consumer's: nullable on, every warning an error.</summary>
    public static CSharpCompilationOptions StrictOptions => new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)
        .WithNullableContextOptions(NullableContextOptions.Enable)
        .WithGeneralDiagnosticOption(ReportDiagnostic.Error)
        .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic>
        {
            // The test sources themselves carry no XML docs; the generated code's docs are still checked (CS1587 etc.).
            ["CS1591"] = ReportDiagnostic.Suppress,

            // The SDK suppresses these two by default: reference unification across framework versions.
            ["CS1701"] = ReportDiagnostic.Suppress,
            ["CS1702"] = ReportDiagnostic.Suppress,
        });

    public static CSharpCompilation CreateCompilation(params string[] sources) => CSharpCompilation.Create(
        "GeneratorTestAssembly",
        sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Source{i}.cs")),
        References,
        StrictOptions);

    public static GeneratorDriver CreateDriver(params AdditionalText[] additionalTexts) => CSharpGeneratorDriver.Create(
        new[] { new StateGenerator().AsSourceGenerator() },
        additionalTexts: additionalTexts,
        parseOptions: ParseOptions,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator; returns the output compilation and the run result.</summary>
    public static (Compilation Output, GeneratorDriverRunResult Result) Run(params string[] sources) => RunWithLock(null, sources);

    /// <summary>Runs the generator with a schema lock file (<c>StateGen.schema.txt</c>) among the additional files.</summary>
    public static (Compilation Output, GeneratorDriverRunResult Result) RunWithLock(string? lockText, params string[] sources)
    {
        CSharpCompilation compilation = CreateCompilation(sources);
        AdditionalText[] texts = lockText is null ? Array.Empty<AdditionalText>() : new AdditionalText[] { new InMemoryText("/project/StateGen.schema.txt", lockText) };
        GeneratorDriver driver = CreateDriver(texts).RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        Assert.Empty(diagnostics);
        return (output, driver.GetRunResult());
    }

    /// <summary>Errors and warnings of a compilation, as readable text (empty when clean).</summary>
    public static string Problems(Compilation compilation) => string.Join(
        Environment.NewLine,
        compilation.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Select(d => d.ToString()));

    /// <summary>Emits the compilation to bytes; fails with the compiler's messages when it does not compile.</summary>
    public static byte[] Emit(Compilation compilation)
    {
        using var stream = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult result = compilation.Emit(stream);
        Assert.True(result.Success, string.Join(Environment.NewLine, result.Diagnostics));
        return stream.ToArray();
    }

    /// <summary>An additional file held in memory.</summary>
    public sealed class InMemoryText : AdditionalText
    {
        private readonly Microsoft.CodeAnalysis.Text.SourceText _text;

        public InMemoryText(string path, string text)
        {
            Path = path;
            _text = Microsoft.CodeAnalysis.Text.SourceText.From(text);
        }

        public override string Path { get; }

        public override Microsoft.CodeAnalysis.Text.SourceText GetText(System.Threading.CancellationToken cancellationToken = default) => _text;
    }
}
