using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using StateGen.Generator.Shape;

namespace StateGen.Analyzers;

/// <summary>
/// Reports why a <c>[PersistentState]</c> type cannot be generated (SG0001–SG0007), and delegated member types its JsonContext does not know (SG0008). The generator skips such types
/// silently, so this analyzer is the only voice. It runs the same <see cref="ShapeExtractor"/> the generator runs,
/// so the two never disagree about what is persistable.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PersistentStateAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.NotPartial,
        DiagnosticDescriptors.MissingId,
        DiagnosticDescriptors.UnsupportedMember,
        DiagnosticDescriptors.InvalidId,
        DiagnosticDescriptors.NotConstructible,
        DiagnosticDescriptors.InvalidSchemaVersion,
        DiagnosticDescriptors.InvalidJsonContext,
        DiagnosticDescriptors.JsonContextMissingType,
        DiagnosticDescriptors.PossibleCycle);

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
                return; // the runtime is not referenced: nothing can be marked
            }

            start.RegisterSymbolAction(symbolContext => AnalyzeType(symbolContext, attribute), SymbolKind.NamedType);
        });
    }

    private static void AnalyzeType(SymbolAnalysisContext context, INamedTypeSymbol attribute)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        if (!type.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute)))
        {
            return;
        }

        Location typeLocation = type.Locations.FirstOrDefault() ?? Location.None;

        List<string> notPartial = FindNonPartialDeclarations(type, context.CancellationToken);
        if (notPartial.Count > 0)
        {
            context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.NotPartial,
                typeLocation,
                type.Name,
                string.Join(", ", notPartial.Select(name => "'" + name + "'"))));
        }

        // Shape problems are reported even for a non-partial type, so every fix needed is visible at once.
        ShapeResult result = ShapeCache.Get(context.Compilation, type, context.CancellationToken);
        foreach (ShapeProblem problem in result.Problems)
        {
            Location location = problem.Symbol?.Locations.FirstOrDefault(l => l.IsInSource) ?? typeLocation;
            context.ReportDiagnostic(Diagnostic.Create(Descriptor(problem.Kind), location, problem.Subject, problem.Detail));
        }

        // The type itself can be on a loop: it holds itself, or another [PersistentState] type that leads back to it.
        if (result.Shape?.Cycle is { } loop)
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.PossibleCycle, typeLocation, type.Name, loop));
        }

        foreach (ObjectShape recursive in result.Shape?.Objects.Where(o => o.Cycle is not null && !o.IsValueType) ?? Enumerable.Empty<ObjectShape>())
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.PossibleCycle, typeLocation, type.Name, recursive.Cycle));
        }

        if (result.Shape is { JsonContext: not null } shape)
        {
            ReportTypesTheContextDoesNotKnow(context, type, attribute, shape, typeLocation);
        }
    }

    /// <summary>
    /// SG0008: the System.Text.Json generator gives a context one <c>JsonTypeInfo&lt;T&gt;</c> property per type it knows
    /// (the <c>[JsonSerializable]</c> types and everything reached from them). A context without any is hand-written or
    /// not generated yet: not checked.
    /// </summary>
    private static void ReportTypesTheContextDoesNotKnow(SymbolAnalysisContext context, INamedTypeSymbol type, INamedTypeSymbol attribute, PersistedTypeShape shape, Location typeLocation)
    {
        INamedTypeSymbol? jsonContext = type.GetAttributes()
            .FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute))?
            .NamedArguments.FirstOrDefault(a => a.Key == "JsonContext").Value.Value as INamedTypeSymbol;
        if (jsonContext is null)
        {
            return;
        }

        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (IPropertySymbol property in jsonContext.GetMembers().OfType<IPropertySymbol>())
        {
            if (property.Type is INamedTypeSymbol { IsGenericType: true } info
                && info.OriginalDefinition.ToDisplayString() == "System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>")
            {
                known.Add(info.TypeArguments[0].WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat));
            }
        }

        if (known.Count == 0)
        {
            return;
        }

        foreach ((string fullName, IReadOnlyList<string> paths) in Delegation.TypesOf(shape))
        {
            if (!known.Contains(fullName))
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.JsonContextMissingType,
                    typeLocation,
                    type.Name,
                    jsonContext.Name,
                    Delegation.Plain(fullName),
                    Delegation.DescribePaths(paths)));
            }
        }
    }

    /// <summary>
    /// The names of the type's declarations, and of the declarations that enclose them, that lack <c>partial</c>,
    /// outermost first. Looks at syntax, as the generator's predicate does: the enclosing declaration of this part is
    /// the one the generated part must match.
    /// </summary>
    private static List<string> FindNonPartialDeclarations(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        var seen = new HashSet<SyntaxNode>();
        foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
        {
            for (SyntaxNode? node = reference.GetSyntax(cancellationToken); node is not null; node = node.Parent)
            {
                if (node is TypeDeclarationSyntax declaration
                    && !declaration.Modifiers.Any(SyntaxKind.PartialKeyword)
                    && seen.Add(declaration))
                {
                    names.Insert(0, declaration.Identifier.ValueText);
                }
            }
        }

        return names.Distinct().ToList();
    }

    private static DiagnosticDescriptor Descriptor(ShapeProblemKind kind) => kind switch
    {
        ShapeProblemKind.MissingId => DiagnosticDescriptors.MissingId,
        ShapeProblemKind.UnsupportedMember => DiagnosticDescriptors.UnsupportedMember,
        ShapeProblemKind.InvalidId => DiagnosticDescriptors.InvalidId,
        ShapeProblemKind.NotConstructible => DiagnosticDescriptors.NotConstructible,
        ShapeProblemKind.InvalidSchemaVersion => DiagnosticDescriptors.InvalidSchemaVersion,
        ShapeProblemKind.InvalidJsonContext => DiagnosticDescriptors.InvalidJsonContext,
        _ => throw new System.ArgumentOutOfRangeException(nameof(kind), kind, "Unknown shape problem kind."),
    };
}
