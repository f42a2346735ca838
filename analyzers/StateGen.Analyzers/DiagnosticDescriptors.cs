using Microsoft.CodeAnalysis;

namespace StateGen.Analyzers;

/// <summary>
/// Every diagnostic StateGen reports. IDs are numbered in blocks by concern: SG0001–SG0099 declaration,
/// SG0100–SG0199 schema and versioning, SG0200–SG0299 sensitive data, SG0300–SG0399 object graphs.
/// Each ID is listed in <c>AnalyzerReleases.Unshipped.md</c> and documented in <c>docs/diagnostics.md</c>.
/// </summary>
internal static class DiagnosticDescriptors
{
    /// <summary>The category of the SG0001–SG0099 block.</summary>
    public const string DeclarationCategory = "StateGen.Declaration";

    public const string NotPartialId = "SG0001";
    public const string MissingIdId = "SG0002";
    public const string UnsupportedMemberId = "SG0003";
    public const string InvalidIdId = "SG0004";
    public const string NotConstructibleId = "SG0005";
    public const string InvalidSchemaVersionId = "SG0006";
    public const string InvalidJsonContextId = "SG0007";
    public const string JsonContextMissingTypeId = "SG0008";

    /// <summary>The category of the SG0100–SG0199 block.</summary>
    public const string SchemaCategory = "StateGen.Schema";

    public const string SchemaChangedId = "SG0100";
    public const string SchemaNotRecordedId = "SG0101";
    public const string SchemaVersionBelowRecordedId = "SG0102";
    public const string LockFileMissingId = "SG0103";
    public const string StaleLockLinesId = "SG0104";
    public const string MalformedLockLineId = "SG0105";
    public const string UpgradeHookMissingId = "SG0106";
    public const string UpgradeVersionMissingId = "SG0107";

    /// <summary>The category of the SG0200–SG0299 block.</summary>
    public const string SensitiveCategory = "StateGen.Sensitive";

    public const string SecretNotSensitiveId = "SG0200";
    public const string InvalidSensitiveOptionsId = "SG0201";

    /// <summary>The category of the SG0300–SG0399 block.</summary>
    public const string ObjectGraphCategory = "StateGen.ObjectGraph";

    public const string PossibleCycleId = "SG0300";

    private const string HelpLinkBase = "https://github.com/stategen/stategen/blob/main/docs/diagnostics.md#";

    /// <summary>{0}: the [PersistentState] type; {1}: the declarations that lack <c>partial</c>, quoted.</summary>
    public static readonly DiagnosticDescriptor NotPartial = new(
        id: NotPartialId,
        title: "[PersistentState] type must be partial",
        messageFormat: "The [PersistentState] type '{0}' and every type that contains it must be declared partial; not partial: {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The generator adds members to the type in another part of a partial declaration, so the type and each of its containing types must be declared 'partial'. The generator skips the type until they are.",
        helpLinkUri: HelpLinkBase + "sg0001");

    /// <summary>{0}: the type; {1}: what is missing.</summary>
    public static readonly DiagnosticDescriptor MissingId = new(
        id: MissingIdId,
        title: "[PersistentState] type has no instance id",
        messageFormat: "The [PersistentState] type '{0}' {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Every stored instance is found by its id. Mark one property or field with [StateId], or declare a property named 'Id'.",
        helpLinkUri: HelpLinkBase + "sg0002");

    /// <summary>{0}: the member; {1}: its type and why it cannot be persisted.</summary>
    public static readonly DiagnosticDescriptor UnsupportedMember = new(
        id: UnsupportedMemberId,
        title: "Member cannot be persisted",
        messageFormat: "Member '{0}' {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The generator writes a reflection-free serializer and supports the member types listed in docs/serialization.md. Other types (third-party types, polymorphic hierarchies, interfaces, abstract classes) can be delegated to a JsonSerializerContext named by [PersistentState(JsonContext = typeof(...))]. Otherwise change the member's type, or exclude the member with [StateIgnore].",
        helpLinkUri: HelpLinkBase + "sg0003");

    /// <summary>{0}: the id member or type; {1}: what is wrong with it.</summary>
    public static readonly DiagnosticDescriptor InvalidId = new(
        id: InvalidIdId,
        title: "Invalid instance id",
        messageFormat: "Invalid instance id: '{0}' {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The instance id is part of the storage key: there must be exactly one, it must be a string, Guid, int or long, and it cannot be [Sensitive].",
        helpLinkUri: HelpLinkBase + "sg0004");

    /// <summary>{0}: the type; {1}: why it cannot be created.</summary>
    public static readonly DiagnosticDescriptor NotConstructible = new(
        id: NotConstructibleId,
        title: "[PersistentState] type must be a non-abstract class with a parameterless constructor",
        messageFormat: "The [PersistentState] type '{0}' {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Loading creates instances without reflection, so the type must be a concrete class or record class with a parameterless constructor (it may be private).",
        helpLinkUri: HelpLinkBase + "sg0005");

    /// <summary>{0}: the type; {1}: the rule.</summary>
    public static readonly DiagnosticDescriptor InvalidSchemaVersion = new(
        id: InvalidSchemaVersionId,
        title: "Invalid schema version",
        messageFormat: "The [SchemaVersion] of '{0}' {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Schema versions start at 1 (the version of a type without [SchemaVersion]) and only grow.",
        helpLinkUri: HelpLinkBase + "sg0006");

    /// <summary>{0}: the [PersistentState] type; {1}: the type it names and what a context must be.</summary>
    public static readonly DiagnosticDescriptor InvalidJsonContext = new(
        id: InvalidJsonContextId,
        title: "JsonContext is not a JsonSerializerContext",
        messageFormat: "The [PersistentState] type '{0}' {1}",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Member types the generator does not write itself are delegated to the JsonSerializerContext named by [PersistentState(JsonContext = typeof(...))]: a non-abstract class derived from System.Text.Json.Serialization.JsonSerializerContext, usually a partial class that the System.Text.Json source generator completes, with [JsonSerializable(typeof(T))] for each delegated type.",
        helpLinkUri: HelpLinkBase + "sg0007");

    /// <summary>{0}: the [PersistentState] type; {1}: the context; {2}: the delegated type; {3}: the members that hold it.</summary>
    public static readonly DiagnosticDescriptor JsonContextMissingType = new(
        id: JsonContextMissingTypeId,
        title: "JsonContext does not know a delegated member type",
        messageFormat: "The JsonContext '{1}' of '{0}' has no metadata for '{2}' ({3}): saving or loading it throws StateSerializationException; add [JsonSerializable(typeof({2}))] to the context",
        category: DeclarationCategory,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A member type the generator does not write itself is delegated to the JsonSerializerContext named on [PersistentState]. The System.Text.Json generator gives the context one JsonTypeInfo<T> property per type it knows (the [JsonSerializable] types and every type reached from them); a delegated type without one fails at run time. Checked only for source-generated contexts.",
        helpLinkUri: HelpLinkBase + "sg0008");

    /// <summary>{0}: the type; {1}: the recorded version; {2}: what changed; {3}: the next version.</summary>
    public static readonly DiagnosticDescriptor SchemaChanged = new(
        id: SchemaChangedId,
        title: "Persisted shape changed without a schema version bump",
        messageFormat: "The schema of '{0}' changed since version {1} was recorded ({2}): bump [SchemaVersion] to {3}",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Documents stored by the recorded version would be read with the new shape. Bump [SchemaVersion] and record the new shape (the code fix does both), so stored documents upgrade through a generated step.",
        helpLinkUri: HelpLinkBase + "sg0100");

    /// <summary>{0}: the type; {1}: the version; {2}: the lock file name.</summary>
    public static readonly DiagnosticDescriptor SchemaNotRecorded = new(
        id: SchemaNotRecordedId,
        title: "Schema version is not recorded in the lock file",
        messageFormat: "Schema version {1} of '{0}' is not recorded in {2}",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Info,
        isEnabledByDefault: true,
        description: "Record the shape (the code fix does it) so later changes are caught and old documents can be upgraded.",
        helpLinkUri: HelpLinkBase + "sg0101");

    /// <summary>{0}: the type; {1}: the declared version; {2}: the highest recorded version; {3}: the lock file name.</summary>
    public static readonly DiagnosticDescriptor SchemaVersionBelowRecorded = new(
        id: SchemaVersionBelowRecordedId,
        title: "Schema version is lower than a recorded version",
        messageFormat: "'{0}' declares schema version {1}, lower than version {2} recorded in {3}",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Schema versions only grow: documents of the recorded version may already be stored, and this program could not read them.",
        helpLinkUri: HelpLinkBase + "sg0102");

    /// <summary>{0}: the lock file name.</summary>
    public static readonly DiagnosticDescriptor LockFileMissing = new(
        id: LockFileMissingId,
        title: "No schema lock file",
        messageFormat: "No schema lock file '{0}': shape changes of [PersistentState] types are not checked",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Info,
        isEnabledByDefault: true,
        description: "Add the lock file to the project as an AdditionalFiles item (the StateGen package does it when the file exists; the code fix creates it).",
        helpLinkUri: HelpLinkBase + "sg0103",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>{0}: the stable type name.</summary>
    public static readonly DiagnosticDescriptor StaleLockLines = new(
        id: StaleLockLinesId,
        title: "Lock file records a type that no longer exists",
        messageFormat: "The lock file records '{0}', which is not a [PersistentState] type of this project",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Remove the lines of a type that was deleted, or restore its stable name if it was renamed (renaming a stable name orphans stored state).",
        helpLinkUri: HelpLinkBase + "sg0104",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>{0}: what is wrong with the line.</summary>
    public static readonly DiagnosticDescriptor MalformedLockLine = new(
        id: MalformedLockLineId,
        title: "Malformed or duplicate lock file line",
        messageFormat: "Schema lock line is not valid: {0}",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Each line is 'type | version | path | format | sensitive'; each type, version and path appears once.",
        helpLinkUri: HelpLinkBase + "sg0105",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>{0}: the type; {1}: the version the step reads; {2}: the next version; {3}: what changed.</summary>
    public static readonly DiagnosticDescriptor UpgradeHookMissing = new(
        id: UpgradeHookMissingId,
        title: "Upgrade step needs code that is not written",
        messageFormat: "The upgrade of '{0}' from version {1} to {2} needs code ({3}): implement 'static partial void UpgradeFromV{1}(SchemaUpgrade upgrade)'",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "A member's stored format changed between two recorded versions. The generated step copies, renames and drops members by itself, but only your code can convert the old value: without it, documents of the old version would load with that member lost.",
        helpLinkUri: HelpLinkBase + "sg0106");

    /// <summary>{0}: the type; {1}: the missing version; {2}: the lock file name.</summary>
    public static readonly DiagnosticDescriptor UpgradeVersionMissing = new(
        id: UpgradeVersionMissingId,
        title: "Upgrade chain has a gap in the lock file",
        messageFormat: "Schema version {1} of '{0}' is missing from {2}, so documents of the versions before it cannot be upgraded",
        category: SchemaCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Each upgrade step is generated from two consecutive recorded shapes. Restore the missing version's lines from source control.",
        helpLinkUri: HelpLinkBase + "sg0107");

    /// <summary>{0}: the member; {1}: the type that declares it; {2}: the secret word its name ends with.</summary>
    public static readonly DiagnosticDescriptor SecretNotSensitive = new(
        id: SecretNotSensitiveId,
        title: "Persisted member looks like a secret but is not [Sensitive]",
        messageFormat: "Member '{0}' of '{1}' looks like a secret ({2}) but is not [Sensitive]: it would be stored in plain text",
        category: SensitiveCategory,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A persisted string or byte array whose name ends with a secret word (ApiKey, Token, Secret, Password, ConnectionString, Credentials, ...) is written to the store as it is. Mark it [Sensitive] (the code fix does it) so it is never stored in plain text, or suppress the warning if the value is not a secret.",
        helpLinkUri: HelpLinkBase + "sg0200");

    /// <summary>{0}: the member; {1}: the type that declares it; {2}: what is wrong.</summary>
    public static readonly DiagnosticDescriptor InvalidSensitiveOptions = new(
        id: InvalidSensitiveOptionsId,
        title: "Invalid [Sensitive] options",
        messageFormat: "The [Sensitive] options of member '{0}' of '{1}' are invalid: {2}",
        category: SensitiveCategory,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Fingerprint is a property of SensitiveMode.Redact only (an omitted member has nothing stored to compare, an encrypted one can be decrypted), and the mode must be one of Omit, Redact or Encrypt (an undefined value would be treated as Omit).",
        helpLinkUri: HelpLinkBase + "sg0201");

    /// <summary>{0}: the state type; {1}: the loop, e.g. <c>Node.Children[] → Node</c>.</summary>
    public static readonly DiagnosticDescriptor PossibleCycle = new(
        id: PossibleCycleId,
        title: "Persisted type graph can contain a reference cycle",
        messageFormat: "'{0}' can hold a reference cycle ({1}): saving a graph with a cycle fails with StateCycleException; mark a back-reference [StateIgnore] if it is one",
        category: ObjectGraphCategory,
        defaultSeverity: DiagnosticSeverity.Info,
        isEnabledByDefault: true,
        description: "Types that cannot reach themselves are proved acyclic at compile time and get no runtime tracking. A type that can reach itself (a tree, a linked list, a parent back-reference) gets a cheap runtime guard; trees are fine, but a back-reference to a parent makes every saved graph cyclic.",
        helpLinkUri: HelpLinkBase + "sg0300");
}
