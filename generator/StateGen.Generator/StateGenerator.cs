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

        context.RegisterSourceOutput(generatable, static (spc, spec) => spc.AddSource(spec.HintName, Emitter.Emit(spec)));
    }
}
