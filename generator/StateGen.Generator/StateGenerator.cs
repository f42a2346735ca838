using System;
using System.IO;
using Microsoft.CodeAnalysis;
using StateGen.Generator.Model;
using StateGen.Generator.Shape;

namespace StateGen.Generator;

/// <summary>
/// Emits, for each <c>partial</c> type marked <c>[PersistentState]</c>, a reflection-free System.Text.Json
/// serializer and <c>SaveStateAsync</c>/<c>LoadStateAsync</c>/<c>DeleteStateAsync</c>. Types the generator cannot
/// handle are skipped; the analyzers in the same package report why.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class StateGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<StateTypeSpec?> types = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                WellKnownNames.PersistentStateAttribute,
                predicate: static (node, _) => Parser.IsCandidate(node),
                transform: static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.PersistentTypes);

        IncrementalValuesProvider<StateTypeSpec> generatable = types
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.GeneratableTypes);

        // The schema lock file: the history the upgrade chains are generated from.
        IncrementalValueProvider<string> lockName = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) => options.GlobalOptions.TryGetValue(SchemaLock.FileNameOption, out string? name) && !string.IsNullOrWhiteSpace(name)
                ? Path.GetFileName(name.Trim())
                : SchemaLock.DefaultFileName);
        IncrementalValueProvider<LockFile> lockFile = context.AdditionalTextsProvider
            .Combine(lockName)
            .Where(static pair => string.Equals(Path.GetFileName(pair.Left.Path), pair.Right, StringComparison.OrdinalIgnoreCase))
            .Select(static (pair, ct) => SchemaLock.Parse(pair.Left.GetText(ct)?.ToString() ?? string.Empty))
            .Collect()
            .Select(static (files, _) => files.IsEmpty ? LockFile.Empty : files[0])
            .WithTrackingName(TrackingNames.LockFile);

        IncrementalValuesProvider<StateTypeSpec> withUpgrades = generatable
            .Combine(lockFile)
            .Select(static (pair, _) => pair.Left with { Upgrades = UpgradePlanner.Plan(pair.Left.Shape, pair.Right).Steps })
            .WithTrackingName(TrackingNames.TypesWithUpgrades);

        context.RegisterSourceOutput(withUpgrades, static (spc, spec) =>
        {
            spc.AddSource(spec.HintName, Emitter.Emit(spec));
            if (spec.Upgrades.Count > 0)
            {
                spc.AddSource(spec.MigrationsHintName, Emitter.EmitMigrations(spec));
            }
        });
    }
}
