namespace StateGen.Generator.Shape;

/// <summary>Metadata names of the runtime's attributes, the one place they are spelled.</summary>
internal static class WellKnownNames
{
    public const string PersistentStateAttribute = "StateGen.PersistentStateAttribute";
    public const string SchemaVersionAttribute = "StateGen.SchemaVersionAttribute";
    public const string StateIdAttribute = "StateGen.StateIdAttribute";
    public const string SensitiveAttribute = "StateGen.SensitiveAttribute";
    public const string StateIgnoreAttribute = "StateGen.StateIgnoreAttribute";
    public const string RenamedFromAttribute = "StateGen.RenamedFromAttribute";
    public const string UpgradeTransformAttribute = "StateGen.UpgradeTransformAttribute";
    public const string StateEnumFallbackAttribute = "StateGen.StateEnumFallbackAttribute";
    public const string JsonPropertyNameAttribute = "System.Text.Json.Serialization.JsonPropertyNameAttribute";
    public const string JsonIgnoreAttribute = "System.Text.Json.Serialization.JsonIgnoreAttribute";
    public const string JsonIncludeAttribute = "System.Text.Json.Serialization.JsonIncludeAttribute";
    public const string JsonExtensionDataAttribute = "System.Text.Json.Serialization.JsonExtensionDataAttribute";
    public const string JsonPolymorphicAttribute = "System.Text.Json.Serialization.JsonPolymorphicAttribute";
    public const string JsonDerivedTypeAttribute = "System.Text.Json.Serialization.JsonDerivedTypeAttribute";
    public const string JsonSerializerContext = "System.Text.Json.Serialization.JsonSerializerContext";
}
