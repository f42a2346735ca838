using StateGen.Generator.Helpers;
using StateGen.Generator.Shape;

namespace StateGen.Generator.Model;

/// <summary>
/// Everything the emitter needs for one <c>[PersistentState]</c> type. Must stay immutable and equatable (strings,
/// primitives, other models, <see cref="EquatableArray{T}"/>): incremental caching compares it by value. No
/// <c>ISymbol</c>, <c>SyntaxNode</c>, <c>Location</c> or <c>Compilation</c> may appear here (a test checks).
/// </summary>
internal sealed record StateTypeSpec
{
    /// <summary>The namespace, or <see langword="null"/> for the global namespace.</summary>
    public required string? Namespace { get; init; }

    /// <summary>Outermost first.</summary>
    public required EquatableArray<ContainingTypeSpec> ContainingTypes { get; init; }

    /// <summary><c>class</c> or <c>record</c>.</summary>
    public required string Keyword { get; init; }

    /// <summary>The name as declared, with type parameters, e.g. <c>Agent&lt;T&gt;</c>.</summary>
    public required string DeclaredName { get; init; }

    public required string HintName { get; init; }

    public required PersistedTypeShape Shape { get; init; }

    /// <summary>The generated upgrade chain from the lock file's older versions; empty when there are none.</summary>
    public EquatableArray<UpgradeStepShape> Upgrades { get; init; } = EquatableArray<UpgradeStepShape>.Empty;

    /// <summary>The hint name of the migrations file: <c>{Namespace}.{Type}.Migrations.g.cs</c>.</summary>
    public string MigrationsHintName => HintName.Substring(0, HintName.Length - ".State.g.cs".Length) + ".Migrations.g.cs";
}

/// <summary>A type that contains the persistent type, to re-open it as <c>partial</c>.</summary>
internal sealed record ContainingTypeSpec(string Keyword, string DeclaredName);
