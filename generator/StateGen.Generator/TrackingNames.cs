namespace StateGen.Generator;

/// <summary>Names of the tracked pipeline steps; the cacheability tests assert on them.</summary>
internal static class TrackingNames
{
    public const string PersistentTypes = nameof(PersistentTypes);
    public const string GeneratableTypes = nameof(GeneratableTypes);
    public const string LockFile = nameof(LockFile);
    public const string TypesWithUpgrades = nameof(TypesWithUpgrades);
}
