using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using StateGen.Generator.Shape;

namespace StateGen.Analyzers;

/// <summary>
/// The extracted shape of each <c>[PersistentState]</c> type, once per compilation, shared by the analyzers that need it
/// (declaration checks, the schema lock, sensitive data): extraction walks the whole reachable type graph.
/// </summary>
internal static class ShapeCache
{
    private static readonly ConditionalWeakTable<Compilation, ConcurrentDictionary<INamedTypeSymbol, ShapeResult>> Cache = new();

    public static ShapeResult Get(Compilation compilation, INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        ConcurrentDictionary<INamedTypeSymbol, ShapeResult> shapes = Cache.GetValue(
            compilation,
            static _ => new ConcurrentDictionary<INamedTypeSymbol, ShapeResult>(SymbolEqualityComparer.Default));
        if (shapes.TryGetValue(type, out ShapeResult? cached))
        {
            return cached;
        }

        // Not stored when cancelled part-way: Extract throws before returning.
        ShapeResult result = ShapeExtractor.Extract(type, cancellationToken);
        return shapes.GetOrAdd(type, result);
    }
}
