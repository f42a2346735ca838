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
        description: "The generator writes a reflection-free serializer and supports only the member types listed in docs/diagnostics.md. Change the member's type, or exclude the member with [StateIgnore].",
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
}
