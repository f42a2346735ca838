using System;

namespace StateGen;

/// <summary>
/// Marks a <c>partial</c> class or record whose state StateGen persists. The source generator emits
/// <c>SaveStateAsync</c>, <c>LoadStateAsync</c>, <c>DeleteStateAsync</c> and a reflection-free serializer for it.
/// </summary>
/// <remarks>
/// The stored documents are identified by <see cref="TypeName"/>, never by the CLR or assembly name, so renaming the
/// class, its namespace or its assembly does not orphan state that is already stored.
/// </remarks>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class PersistentStateAttribute : Attribute
{
    /// <summary>Persists the type under its simple CLR name (e.g. <c>ResearchAgent</c>).</summary>
    public PersistentStateAttribute()
    {
    }

    /// <summary>Persists the type under a stable name that survives renames of the CLR type.</summary>
    /// <param name="typeName">The stable type name recorded in every stored document.</param>
    public PersistentStateAttribute(string typeName) => TypeName = typeName;

    /// <summary>The stable type name, or <see langword="null"/> for the simple CLR name.</summary>
    public string? TypeName { get; }

    /// <summary>
    /// When <see langword="true"/>, a stored document that cannot be read (malformed, a newer or unknown schema
    /// version, a failing upgrade) is logged as discarded and the load returns <see langword="false"/>, leaving the
    /// instance with its initial values, instead of throwing. Off by default: unreadable state is a loud error.
    /// </summary>
    public bool ResetWhenUnreadable { get; set; }

    /// <summary>
    /// A <see cref="System.Text.Json.Serialization.JsonSerializerContext"/> (source-generated, with
    /// <c>[JsonSerializable(typeof(T))]</c> for each type it must handle) that serializes the member types StateGen
    /// cannot write itself: third-party types, polymorphic hierarchies (<c>[JsonPolymorphic]</c>/<c>[JsonDerivedType]</c>),
    /// interfaces and abstract classes. The generated code asks the context's <c>Default</c> instance for the type's
    /// <c>JsonTypeInfo&lt;T&gt;</c>: no reflection, trimming- and AOT-safe. Applies to this type's members and to the plain
    /// objects reached from them. See docs/serialization.md.
    /// </summary>
    public Type? JsonContext { get; set; }
}

/// <summary>The schema version of a <see cref="PersistentStateAttribute"/> type. Defaults to 1 when absent.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class SchemaVersionAttribute : Attribute
{
    /// <summary>Declares the schema version.</summary>
    /// <param name="version">The version, 1 or higher.</param>
    public SchemaVersionAttribute(int version) => Version = version;

    /// <summary>The declared schema version.</summary>
    public int Version { get; }
}

/// <summary>
/// Marks the member that identifies an instance. Without it, a property named <c>Id</c> is used.
/// The id must be a <see cref="string"/>, <see cref="Guid"/>, <see cref="int"/> or <see cref="long"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false, AllowMultiple = false)]
public sealed class StateIdAttribute : Attribute
{
}

/// <summary>How a <see cref="SensitiveAttribute">[Sensitive]</see> member is stored. See docs/sensitive-data.md.</summary>
public enum SensitiveMode
{
    /// <summary>Never stored: the member is left out of the document, and loading leaves the in-memory value as it is.</summary>
    Omit = 0,

    /// <summary>
    /// Stored as a marker (<c>"[redacted:sensitive]"</c>, or <c>null</c> for a null value), optionally with a keyed
    /// fingerprint (<see cref="SensitiveAttribute.Fingerprint"/>) that tells whether the value changed without storing
    /// it. Loading leaves the in-memory value as it is.
    /// </summary>
    Redact = 1,

    /// <summary>
    /// Stored encrypted (AES-256-GCM by default) with the active key of the manager's
    /// <see cref="StateManagerOptions.SensitiveKeyRing"/>, bound to the type, member, scope and key; loading decrypts
    /// it. A manager without a key ring refuses to save or load the type (a typed error, never plaintext).
    /// </summary>
    Encrypt = 2,
}

/// <summary>
/// Marks a member that must never be stored in plain text (API keys, tokens, passwords). By default
/// (<see cref="SensitiveMode.Omit"/>) it is left out of the stored document, and loading leaves the in-memory value as
/// it is; <see cref="SensitiveMode.Redact"/> stores a marker and <see cref="SensitiveMode.Encrypt"/> the encrypted value.
/// Stored documents are what change events, hooks, hook history and the timeline see, so they never see the value.
/// </summary>
/// <remarks>Changing a member's mode changes its stored form: it is a schema change (bump <see cref="SchemaVersionAttribute"/>).</remarks>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false, AllowMultiple = false)]
public sealed class SensitiveAttribute : Attribute
{
    /// <summary>Marks the member <see cref="SensitiveMode.Omit"/>: never stored.</summary>
    public SensitiveAttribute()
    {
    }

    /// <summary>Marks the member with a storage mode.</summary>
    /// <param name="mode">How the member is stored.</param>
    public SensitiveAttribute(SensitiveMode mode) => Mode = mode;

    /// <summary>How the member is stored.</summary>
    public SensitiveMode Mode { get; }

    /// <summary>
    /// With <see cref="SensitiveMode.Redact"/>: the marker carries a keyed HMAC-SHA256 fingerprint of the value
    /// (<c>"[redacted:sensitive:{fingerprint}]"</c>) made with the manager's
    /// <see cref="StateManagerOptions.SensitiveKeyRing"/>, so "did it change?" is answerable without the secret. Not
    /// allowed with the other modes (SG0201).
    /// </summary>
    public bool Fingerprint { get; set; }
}

/// <summary>Excludes a member from the persisted state.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false, AllowMultiple = false)]
public sealed class StateIgnoreAttribute : Attribute
{
}

/// <summary>
/// Says that a member had another stored name before a schema version. The generated upgrade step moves the stored
/// value to the new name; without it, a rename reads as "one member removed, one added".
/// </summary>
/// <remarks>
/// <c>[RenamedFrom("topic")]</c> on <c>Subject</c> in a type at <c>[SchemaVersion(3)]</c> means: up to version 2 the
/// member was stored as <c>topic</c>. For older renames name the version that introduced the new name:
/// <c>[RenamedFrom("title", Version = 2)]</c>. A member may carry several, one per rename.
/// </remarks>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false, AllowMultiple = true)]
public sealed class RenamedFromAttribute : Attribute
{
    /// <summary>Declares the previous name.</summary>
    /// <param name="oldName">The member's stored name before <see cref="Version"/>.</param>
    public RenamedFromAttribute(string oldName) => OldName = oldName;

    /// <summary>The member's stored name before <see cref="Version"/>.</summary>
    public string OldName { get; }

    /// <summary>The schema version that introduced the newer name; 0 (the default) means the type's current version.</summary>
    public int Version { get; set; }
}

/// <summary>
/// Declares how a schema upgrade step computes this member from the old document with a named transformer, instead
/// of custom code: <c>[UpgradeTransform("normalize_score", "0", "100")]</c> turns a stored 0–100 score into 0–1.
/// Built-in transformers are listed in <see cref="Migrations.StateTransformers"/>; register your own there.
/// </summary>
/// <remarks>
/// The transformer reads the old value of <see cref="From"/> (default: this member's own stored name in the old
/// version) and writes this member's new value. <see cref="Version"/> is the schema version the step upgrades to;
/// 0 (the default) means the type's current version.
/// </remarks>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false, AllowMultiple = true)]
public sealed class UpgradeTransformAttribute : Attribute
{
    /// <summary>Declares the transform.</summary>
    /// <param name="transformer">The registered transformer name, e.g. <c>normalize_score</c>.</param>
    /// <param name="arguments">The transformer's parameters, as text.</param>
    public UpgradeTransformAttribute(string transformer, params string[] arguments)
    {
        Transformer = transformer;
        Arguments = arguments ?? Array.Empty<string>();
    }

    /// <summary>The registered transformer name.</summary>
    public string Transformer { get; }

    /// <summary>The transformer's parameters.</summary>
    public string[] Arguments { get; }

    /// <summary>The member of the old version to read; default: this member's own stored name in the old version.</summary>
    public string? From { get; set; }

    /// <summary>The schema version whose step applies the transform; 0 means the type's current version.</summary>
    public int Version { get; set; }
}

/// <summary>
/// Marks the enum member that a stored name this program does not know loads as (for example a value added by a newer
/// program). Without it, an unknown name is a <see cref="StateSerializationException"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Field, Inherited = false, AllowMultiple = false)]
public sealed class StateEnumFallbackAttribute : Attribute
{
}
