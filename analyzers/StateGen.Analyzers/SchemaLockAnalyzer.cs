using System;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using StateGen.Generator.Shape;

namespace StateGen.Analyzers;

/// <summary>
/// Checks every <c>[PersistentState]</c> type against the schema lock file (SG0100–SG0105), the way
/// PublicApiAnalyzers checks <c>PublicAPI.Shipped.txt</c>: a shape change without a version bump is a warning, and the
/// lock file's own problems are reported inside it.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SchemaLockAnalyzer : DiagnosticAnalyzer
{
    /// <summary>Diagnostic property: the stable type name.</summary>
    public const string StableNameProperty = "StableName";

    /// <summary>Parses each version of the lock file text once, however many compilations see it.</summary>
    private static readonly SourceTextValueProvider<LockFile> LockFileProvider = new(static text => SchemaLock.Parse(text.ToString()));

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.SchemaChanged,
        DiagnosticDescriptors.SchemaNotRecorded,
        DiagnosticDescriptors.SchemaVersionBelowRecorded,
        DiagnosticDescriptors.LockFileMissing,
        DiagnosticDescriptors.StaleLockLines,
        DiagnosticDescriptors.MalformedLockLine,
        DiagnosticDescriptors.UpgradeHookMissing,
        DiagnosticDescriptors.UpgradeVersionMissing);

    /// <summary>The lock file's name: the <c>StateGenSchemaFile</c> MSBuild property, or the default.</summary>
    internal static string LockFileName(AnalyzerOptions options)
        => options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue(SchemaLock.FileNameOption, out string? name) && !string.IsNullOrWhiteSpace(name)
            ? Path.GetFileName(name.Trim())
            : SchemaLock.DefaultFileName;

    /// <summary>The lock file among the additional files, if the project has one.</summary>
    internal static AdditionalText? FindLockFile(AnalyzerOptions options)
    {
        string name = LockFileName(options);
        return options.AdditionalFiles.FirstOrDefault(f => string.Equals(Path.GetFileName(f.Path), name, StringComparison.OrdinalIgnoreCase));
    }

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            INamedTypeSymbol? attribute = start.Compilation.GetTypeByMetadataName(WellKnownNames.PersistentStateAttribute);
            if (attribute is null)
            {
                return;
            }

            string fileName = LockFileName(start.Options);
            AdditionalText? lockText = FindLockFile(start.Options);
            SourceText? text = lockText?.GetText(start.CancellationToken);
            LockFile lockFile = text is null
                ? LockFile.Empty
                : start.TryGetValue(text, LockFileProvider, out LockFile? parsed) ? parsed : SchemaLock.Parse(text.ToString());

            var typesSeen = new ConcurrentDictionary<string, Location>(StringComparer.Ordinal);
            start.RegisterSymbolAction(
                symbolContext => AnalyzeType(symbolContext, attribute, lockText is null ? null : lockFile, fileName, typesSeen),
                SymbolKind.NamedType);
            start.RegisterCompilationEndAction(end =>
            {
                if (lockText is null || text is null)
                {
                    // One diagnostic for the project, at the first type by stable name.
                    if (!typesSeen.IsEmpty)
                    {
                        Location first = typesSeen.OrderBy(p => p.Key, StringComparer.Ordinal).First().Value;
                        end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.LockFileMissing, first, fileName));
                    }

                    return;
                }

                foreach (LockFileError error in lockFile.Errors)
                {
                    end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.MalformedLockLine, LineLocation(lockText.Path, text, error.LineNumber), error.Message));
                }

                foreach (var stale in lockFile.Positions.Where(p => !typesSeen.ContainsKey(p.Line.TypeName)).GroupBy(p => p.Line.TypeName))
                {
                    (int lineNumber, LockLine _) = stale.First();
                    end.ReportDiagnostic(Diagnostic.Create(
                        DiagnosticDescriptors.StaleLockLines,
                        LineLocation(lockText.Path, text, lineNumber),
                        ImmutableDictionary<string, string?>.Empty.Add(StableNameProperty, stale.Key),
                        stale.Key));
                }
            });
        });
    }

    private static void AnalyzeType(SymbolAnalysisContext context, INamedTypeSymbol attribute, LockFile? lockFile, string fileName, ConcurrentDictionary<string, Location> typesSeen)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        if (!type.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute)))
        {
            return;
        }

        ShapeResult result = ShapeCache.Get(context.Compilation, type, context.CancellationToken);
        Location location = type.Locations.FirstOrDefault() ?? Location.None;
        string stableName = ShapeExtractor.GetStableName(type);
        typesSeen.TryAdd(stableName, location);
        if (result.Shape is not PersistedTypeShape shape || lockFile is null)
        {
            return; // declaration problems are PersistentStateAnalyzer's to report
        }

        ImmutableDictionary<string, string?> properties = ImmutableDictionary<string, string?>.Empty.Add(StableNameProperty, stableName);
        ImmutableArray<int> versions = lockFile.VersionsOf(stableName);
        if (!versions.IsEmpty && shape.SchemaVersion < versions[versions.Length - 1])
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.SchemaVersionBelowRecorded, location, properties, type.Name, shape.SchemaVersion, versions[versions.Length - 1], fileName));
            return;
        }

        ImmutableArray<LockLine> recorded = lockFile.For(stableName, shape.SchemaVersion);
        if (recorded.IsEmpty)
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.SchemaNotRecorded, location, properties, type.Name, shape.SchemaVersion, fileName));
            return;
        }

        ShapeDiff diff = SchemaLock.Diff(recorded, SchemaLock.LinesFor(shape));
        if (!diff.IsEmpty)
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.SchemaChanged, location, properties, type.Name, shape.SchemaVersion, diff.Describe(), shape.SchemaVersion + 1));
            return; // the chain is planned against the recorded shape: fix the shape first
        }

        // The upgrade chain must have no gaps: every step that needs code has it, every version is recorded.
        UpgradePlan plan = UpgradePlanner.Plan(shape, lockFile);
        foreach (UpgradeGap gap in plan.Gaps)
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.UpgradeVersionMissing, location, properties, type.Name, gap.MissingVersion, fileName));
        }

        foreach (UpgradeStepShape step in plan.Steps)
        {
            if (step.Changed.Count > 0 && !HasImplementedHook(type, step.FromVersion))
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.UpgradeHookMissing, location, properties, type.Name, step.FromVersion, step.FromVersion + 1, step.ChangeSummary));
            }
        }
    }

    /// <summary>Whether <c>UpgradeFromV{n}</c> has a body written by the user (the generator declares it).</summary>
    private static bool HasImplementedHook(INamedTypeSymbol type, int fromVersion)
        => type.GetMembers("UpgradeFromV" + fromVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .OfType<IMethodSymbol>()
            .Any(m => m.PartialImplementationPart is not null || (m.PartialDefinitionPart is null && !m.IsPartialDefinition));

    private static Location LineLocation(string path, SourceText text, int lineNumber)
    {
        TextLine line = text.Lines[Math.Min(lineNumber, text.Lines.Count - 1)];
        return Location.Create(path, line.Span, text.Lines.GetLinePositionSpan(line.Span));
    }
}
