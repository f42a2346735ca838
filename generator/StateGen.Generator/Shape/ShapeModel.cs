using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using StateGen.Generator.Helpers;

namespace StateGen.Generator.Shape;

// The persisted shape of a type: ONE model, compiled into the generator and the analyzers (source-shared), so what
// the generator emits and what the analyzers check can never disagree. Every record here must stay immutable and
// equatable (strings, primitives, other shapes, EquatableArray): the generator's incremental caching depends on it.

/// <summary>How a member type is written and read.</summary>
internal enum ShapeKind
{
    String,
    Boolean,
    Char,
    Byte,
    SByte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Single,
    Double,
    Decimal,
    DateTime,
    DateTimeOffset,
    Guid,
    TimeSpan,
    ByteArray,
    DateOnly,
    TimeOnly,
    Uri,
    Version,
    JsonElement,
    JsonNode,
    Enum,
    Nullable,
    Array,
    List,
    Set,
    Dictionary,
    Object,
    PersistentState,

    /// <summary>A type StateGen does not write itself, written and read by the <c>JsonSerializerContext</c> named on the attribute.</summary>
    Delegated,
}

/// <summary>The shape of a member type. <see cref="FullName"/> is <c>global::</c>-qualified.</summary>
internal sealed record TypeShape
{
    public required ShapeKind Kind { get; init; }

    public required string FullName { get; init; }

    public required bool IsValueType { get; init; }

    /// <summary>The inner type of a nullable value, the element of a sequence, the value of a dictionary.</summary>
    public TypeShape? Element { get; init; }

    /// <summary>For a dictionary: the key type (<see langword="null"/> for string keys).</summary>
    public TypeShape? Key { get; init; }

    /// <summary>True when the declared type is an interface (e.g. <c>IList&lt;T&gt;</c>) filled with a concrete type.</summary>
    public bool IsInterface { get; init; }

    /// <summary>For <see cref="ShapeKind.PersistentState"/>: the nested type's stable name.</summary>
    public string? StateName { get; init; }

    /// <summary>
    /// For a list, set or dictionary: which collection type is built on read. The JSON (and the lock line) is the same
    /// for every flavor of a kind.
    /// </summary>
    public CollectionFlavor Flavor { get; init; }
}

/// <summary>The collection type a list, set or dictionary is read into, beyond the mutable ones (and their interfaces).</summary>
internal enum CollectionFlavor
{
    /// <summary><c>List&lt;T&gt;</c>, <c>HashSet&lt;T&gt;</c>, <c>Dictionary&lt;K, V&gt;</c> (or an array) and their interfaces.</summary>
    Mutable,

    /// <summary><c>ImmutableArray&lt;T&gt;</c>, a struct: its <c>default</c> is written as null and read back from null.</summary>
    ImmutableArray,

    /// <summary><c>ImmutableList&lt;T&gt;</c> or <c>IImmutableList&lt;T&gt;</c>.</summary>
    ImmutableList,

    /// <summary><c>ImmutableHashSet&lt;T&gt;</c> or <c>IImmutableSet&lt;T&gt;</c>.</summary>
    ImmutableHashSet,

    /// <summary><c>ImmutableDictionary&lt;K, V&gt;</c> or <c>IImmutableDictionary&lt;K, V&gt;</c>.</summary>
    ImmutableDictionary,

    /// <summary><c>Queue&lt;T&gt;</c>: stored in dequeue order, enqueued in that order on read.</summary>
    Queue,

    /// <summary><c>Stack&lt;T&gt;</c>: stored top first (its enumeration order), pushed back so that pops come in the same order.</summary>
    Stack,

    /// <summary><c>ImmutableSortedSet&lt;T&gt;</c>: read through its builder (default comparer).</summary>
    ImmutableSortedSet,

    /// <summary><c>ImmutableSortedDictionary&lt;K, V&gt;</c>: read through its builder (default comparer).</summary>
    ImmutableSortedDictionary,

    /// <summary><c>ImmutableQueue&lt;T&gt;</c> or <c>IImmutableQueue&lt;T&gt;</c>: stored in dequeue order.</summary>
    ImmutableQueue,

    /// <summary><c>ImmutableStack&lt;T&gt;</c> or <c>IImmutableStack&lt;T&gt;</c>: stored top first, like <see cref="Stack"/>.</summary>
    ImmutableStack,

    /// <summary><c>SortedDictionary&lt;K, V&gt;</c>, <c>SortedList&lt;K, V&gt;</c>: no <c>TryAdd</c>, so a duplicate key is found with <c>ContainsKey</c>.</summary>
    SortedDictionary,

    /// <summary><c>LinkedList&lt;T&gt;</c>: filled with <c>AddLast</c>.</summary>
    LinkedList,
}

/// <summary>How generated code reads a member's value.</summary>
internal enum MemberAccess
{
    /// <summary><c>value.Member</c>.</summary>
    Direct,

    /// <summary>A non-public getter, called through an <c>UnsafeAccessor</c> (<c>get_Member</c>).</summary>
    Getter,

    /// <summary>A non-public field, reached by reference through an <c>UnsafeAccessor</c> (read and assigned through it).</summary>
    Field,
}

/// <summary>How a member is stored: <see cref="None"/> plainly, else by its <c>[Sensitive]</c> mode (the runtime's <c>SensitiveMode</c> + 1).</summary>
internal enum SensitiveKind
{
    None,
    Omit,
    Redact,
    Encrypt,
}

/// <summary>A persisted member of a type.</summary>
internal sealed record MemberShape
{
    public required string Name { get; init; }

    public required string JsonName { get; init; }

    public required TypeShape Type { get; init; }

    /// <summary>How the member is stored: plainly, or by its <c>[Sensitive]</c> mode.</summary>
    public required SensitiveKind Sensitive { get; init; }

    /// <summary><c>[Sensitive(SensitiveMode.Redact, Fingerprint = true)]</c>: the marker carries a keyed fingerprint.</summary>
    public bool Fingerprint { get; init; }

    /// <summary>Any <c>[Sensitive]</c> mode: never written or scanned as plain JSON.</summary>
    public bool IsSensitive => Sensitive != SensitiveKind.None;

    /// <summary>Whether the writer walks the member's value (plain, encrypted, or fingerprinted): it needs its type's helpers.</summary>
    public bool WritesValue => Sensitive is SensitiveKind.None or SensitiveKind.Encrypt || (Sensitive == SensitiveKind.Redact && Fingerprint);

    /// <summary>Whether a load reads the member from the document (plain or encrypted); omitted and redacted ones keep their value.</summary>
    public bool IsRead => Sensitive is SensitiveKind.None or SensitiveKind.Encrypt;

    /// <summary>
    /// An <c>init</c>-only property, or a <c>[JsonInclude]</c> property of a plain object whose setter is not public or
    /// internal: generated readers assign it through an <c>UnsafeAccessor</c> to its setter.
    /// </summary>
    public bool IsInitOnly { get; init; }

    /// <summary>
    /// How generated code outside the member's type reaches a <c>[JsonInclude]</c> member that is not public or internal
    /// (on plain objects; the persistent type's own code reaches its members directly): through an <c>UnsafeAccessor</c>.
    /// </summary>
    public MemberAccess Access { get; init; }

    /// <summary>The <c>global::</c> name of the type that declares the member, when <see cref="Access"/> needs accessors.</summary>
    public string? DeclaringType { get; init; }

    /// <summary>
    /// A get-only auto-property of a mutable collection type (<c>List&lt;T&gt; X { get; } = new();</c>): generated readers
    /// clear the instance it returns and add the stored items to it.
    /// </summary>
    public bool IsFilledInPlace { get; init; }

    /// <summary>The member's earlier stored names (<c>[RenamedFrom]</c>), oldest first.</summary>
    public EquatableArray<RenameShape> Renames { get; init; } = EquatableArray<RenameShape>.Empty;

    /// <summary>The member's declared upgrade transforms (<c>[UpgradeTransform]</c>).</summary>
    public EquatableArray<TransformShape> Transforms { get; init; } = EquatableArray<TransformShape>.Empty;
}

/// <summary>
/// <c>[UpgradeTransform(Transformer, Arguments..., From = ..., Version = ...)]</c>, with version 0 resolved to the type's
/// version.
/// </summary>
internal sealed record TransformShape(string Transformer, EquatableArray<string> Arguments, string? From, int Version);

/// <summary>
/// <c>[RenamedFrom(OldName, Version = v)]</c>: the member was stored as <see cref="OldName"/> before version
/// <see cref="Version"/> (already resolved: never 0).
/// </summary>
internal sealed record RenameShape(string OldName, int Version);

/// <summary>A plain class or struct reached from a persisted type, written as a nested JSON object.</summary>
internal sealed record ObjectShape
{
    public required string FullName { get; init; }

    public required bool IsValueType { get; init; }

    /// <summary>The type has <c>required</c> members: generated readers construct it through an <c>UnsafeAccessor</c>.</summary>
    public bool HasRequiredMembers { get; init; }

    /// <summary>
    /// Without a parameterless constructor: the members (CLR names) passed, in order, to the constructor whose
    /// parameters match them (a positional record's). Empty when <c>new T()</c> is used.
    /// </summary>
    public EquatableArray<string> ConstructorParameters { get; init; } = EquatableArray<string>.Empty;

    public required EquatableArray<MemberShape> Members { get; init; }

    /// <summary>
    /// The type can reach itself through its members, so an instance graph can contain a reference cycle: generated
    /// writers guard it. <see langword="null"/> for types proved acyclic (no guard, no cost); else the loop, e.g.
    /// <c>Node.Children[] → Node</c>.
    /// </summary>
    public string? Cycle { get; init; }

    /// <summary>The type's <c>[JsonExtensionData]</c> member, when it declares one: unknown stored members are kept in it.</summary>
    public ExtensionDataShape? ExtensionData { get; init; }
}

/// <summary>A named constant of an enum. <see cref="Value"/> is the constant as C# literal text.</summary>
internal sealed record EnumMemberShape(string Name, string Value);

/// <summary>An enum reached from a persisted type, written by name.</summary>
internal sealed record EnumShape
{
    public required string FullName { get; init; }

    public required string Name { get; init; }

    public required bool IsUnsigned { get; init; }

    public required EquatableArray<EnumMemberShape> Members { get; init; }

    /// <summary>The member marked <c>[StateEnumFallback]</c>: what an unknown stored name loads as (else a typed error).</summary>
    public string? Fallback { get; init; }

    /// <summary><c>[Flags]</c>: a stored list of names (<c>"Read, Write"</c>, System.Text.Json's form) is read too.</summary>
    public bool IsFlags { get; init; }
}

/// <summary>How the instance id is turned into text.</summary>
internal enum IdKind
{
    String,
    Guid,
    Int32,
    Int64,
}

/// <summary>The whole persisted shape of a <c>[PersistentState]</c> type.</summary>
internal sealed record PersistedTypeShape
{
    /// <summary>The stable type name recorded in stored documents.</summary>
    public required string StableName { get; init; }

    public required int SchemaVersion { get; init; }

    /// <summary><c>[PersistentState(ResetWhenUnreadable = true)]</c>.</summary>
    public bool ResetWhenUnreadable { get; init; }

    /// <summary>The type has <c>required</c> members: <c>CreateState</c> constructs it through an <c>UnsafeAccessor</c>.</summary>
    public bool HasRequiredMembers { get; init; }

    /// <summary>The versions n whose upgrade hook <c>UpgradeFromV{n}</c> the user implemented (others are not called).</summary>
    public EquatableArray<int> ImplementedHooks { get; init; } = EquatableArray<int>.Empty;

    public required string FullName { get; init; }

    /// <summary>
    /// The <c>[JsonExtensionData]</c> member, when the type declares one: stored members this program does not know are
    /// kept in it on load and written back on save, so an older program does not drop a newer program's data.
    /// </summary>
    public ExtensionDataShape? ExtensionData { get; init; }

    /// <summary>
    /// <c>[PersistentState(JsonContext = typeof(...))]</c>: the <c>global::</c> name of the <c>JsonSerializerContext</c> that
    /// <see cref="ShapeKind.Delegated"/> member types are delegated to; <see langword="null"/> when none is named.
    /// </summary>
    public string? JsonContext { get; init; }

    public required string IdMemberName { get; init; }

    public required IdKind IdKind { get; init; }

    public required EquatableArray<MemberShape> Members { get; init; }

    /// <summary>Plain objects reachable from the members, sorted by full name.</summary>
    public required EquatableArray<ObjectShape> Objects { get; init; }

    /// <summary>Enums reachable from the members, sorted by full name.</summary>
    public required EquatableArray<EnumShape> Enums { get; init; }

    /// <summary>
    /// The type can reach itself through its members, directly or through other <c>[PersistentState]</c> types (e.g.
    /// <c>ChainAgent.Next → ChainAgent</c>): its writer enters the cycle guard. <see langword="null"/> when it cannot.
    /// </summary>
    public string? Cycle { get; init; }

    /// <summary>
    /// The <c>[PersistentState]</c> types of the graph (this one included) whose writers enter the cycle guard: those
    /// that can reach a type that can reach itself. Sorted; empty for the usual acyclic graph.
    /// </summary>
    public EquatableArray<string> GuardedStates { get; init; } = EquatableArray<string>.Empty;
}

/// <summary>Why a type's shape cannot be generated. Reported by the analyzers; the generator skips the type.</summary>
internal enum ShapeProblemKind
{
    NotConstructible,
    MissingId,
    InvalidId,
    UnsupportedMember,
    InvalidSchemaVersion,
    InvalidJsonContext,
}

/// <summary>
/// A problem found while extracting a shape. Holds a symbol for the analyzers' location: it never enters a
/// generator model.
/// </summary>
internal sealed class ShapeProblem
{
    public ShapeProblem(ShapeProblemKind kind, ISymbol? symbol, string subject, string detail)
    {
        Kind = kind;
        Symbol = symbol;
        Subject = subject;
        Detail = detail;
    }

    public ShapeProblemKind Kind { get; }

    /// <summary>The member or type to point at.</summary>
    public ISymbol? Symbol { get; }

    /// <summary>The member or type name the message names.</summary>
    public string Subject { get; }

    /// <summary>The rest of the message: the type and the reason.</summary>
    public string Detail { get; }
}

/// <summary>The outcome of <see cref="ShapeExtractor.Extract"/>: a shape when there are no problems.</summary>
internal sealed class ShapeResult
{
    public ShapeResult(PersistedTypeShape? shape, ImmutableArray<ShapeProblem> problems)
    {
        Shape = shape;
        Problems = problems;
    }

    public PersistedTypeShape? Shape { get; }

    public ImmutableArray<ShapeProblem> Problems { get; }
}

/// <summary>A <c>[JsonExtensionData]</c> member: its name and whether it is a <c>JsonObject</c> (else a <c>Dictionary&lt;string, JsonElement&gt;</c>).</summary>
internal sealed record ExtensionDataShape(string Name, bool IsJsonObject);
