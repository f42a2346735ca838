using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using StateGen.Storage;

namespace StateGen.Migrations;

/// <summary>
/// Declarations for one registered type: the reverse steps that make downgrades possible.
/// </summary>
public sealed class MigrationTypeOptions
{
    private readonly Dictionary<int, ReverseStep> _downgrades = [];

    internal MigrationTypeOptions()
    {
    }

    internal IReadOnlyDictionary<int, ReverseStep> Downgrades => _downgrades;

    /// <summary>
    /// Declares the reverse of the step into <paramref name="fromVersion"/>: it turns a document of that version into
    /// one of <c>fromVersion - 1</c>. Downgrades run these steps one after another, newest first.
    /// </summary>
    /// <param name="fromVersion">The version the reverse step reads (2 or more).</param>
    /// <param name="transform">Rewrites the document in place or returns a new one. It must not keep the node.</param>
    /// <param name="destructive">True when the step drops data the older version cannot hold; the run then needs <see cref="MigrationRequest.AllowDestructive"/>.</param>
    /// <param name="droppedMembers">The members it drops, for the plan.</param>
    /// <returns>These options, for chaining.</returns>
    public MigrationTypeOptions Downgrade(int fromVersion, Func<JsonObject, JsonObject> transform, bool destructive = false, params string[] droppedMembers)
    {
        ArgumentNullException.ThrowIfNull(transform);
        ArgumentOutOfRangeException.ThrowIfLessThan(fromVersion, 2);
        if (!_downgrades.TryAdd(fromVersion, new ReverseStep(transform, destructive || droppedMembers.Length > 0, droppedMembers)))
        {
            throw new ArgumentException($"A reverse step from version {fromVersion} is already declared.", nameof(fromVersion));
        }

        return this;
    }

    internal sealed record ReverseStep(Func<JsonObject, JsonObject> Transform, bool Destructive, IReadOnlyList<string> DroppedMembers);
}

/// <summary>A registered type, without its CLR type: what the migration manager needs to plan, migrate and validate.</summary>
internal abstract class MigrationTarget
{
    protected MigrationTarget(PersistentStateInfo info, MigrationTypeOptions options)
    {
        Info = info;
        Options = options;
    }

    public PersistentStateInfo Info { get; }

    public MigrationTypeOptions Options { get; }

    public abstract IReadOnlyList<UpgradeStep> UpgradeSteps { get; }

    /// <summary>Checks what a before-migration hook substitutes, as a save would.</summary>
    public abstract StateManager.IValueValidator Validator { get; }

    /// <summary>Runs the generated chain from <paramref name="fromVersion"/> to the current version; null when there is none.</summary>
    public abstract byte[]? Upgrade(int fromVersion, ReadOnlySpan<byte> document);

    /// <summary>Reads <paramref name="entry"/> (already at the current version) into a new instance, as a load would.</summary>
    public abstract void Validate(StateManager manager, StoredEntry entry);

    public MigrationStepPlan PlanStep(int from, int to)
    {
        if (to > from)
        {
            UpgradeStep? step = UpgradeSteps.FirstOrDefault(s => s.FromVersion == from);
            IReadOnlyList<string> dropped = step is null ? [] : step.Removed.OrderBy(n => n, StringComparer.Ordinal).ToArray();

            // A type compiled without its step list still upgrades (UpgradeState); only whether it drops data is unknown.
            bool available = from < Info.SchemaVersion && (step is not null || UpgradeSteps.Count == 0);
            return new MigrationStepPlan(from, to, MigrationDirection.Upgrade, available, dropped.Count > 0, dropped);
        }

        bool declared = Options.Downgrades.TryGetValue(from, out MigrationTypeOptions.ReverseStep? reverse);
        return new MigrationStepPlan(from, to, MigrationDirection.Downgrade, declared, reverse?.Destructive ?? false, reverse?.DroppedMembers ?? []);
    }

    /// <summary>
    /// Brings a document from the entry's version to <paramref name="toVersion"/> and checks the result:
    /// an upgraded document must read into the current type; a downgraded one must upgrade back and read.
    /// </summary>
    public byte[] Migrate(StateManager manager, StoredEntry entry, int toVersion)
    {
        if (toVersion == Info.SchemaVersion)
        {
            byte[] upgraded = entry.SchemaVersion == Info.SchemaVersion
                ? entry.Payload.ToArray()
                : Upgrade(entry.SchemaVersion, entry.Payload.Span)
                  ?? throw new StateSchemaVersionException(entry.Scope, entry.Key, Info.TypeName, entry.SchemaVersion, Info.SchemaVersion);
            Validate(manager, entry with { SchemaVersion = Info.SchemaVersion, Payload = upgraded });
            return upgraded;
        }

        if (toVersion > entry.SchemaVersion)
        {
            throw new StateMigrationException($"Type '{Info.TypeName}' can only be upgraded to its current version {Info.SchemaVersion}, not to {toVersion}.") { TypeName = Info.TypeName, FromVersion = entry.SchemaVersion };
        }

        byte[] document = entry.Payload.ToArray();
        for (int version = entry.SchemaVersion; version > toVersion; version--)
        {
            if (!Options.Downgrades.TryGetValue(version, out MigrationTypeOptions.ReverseStep? reverse))
            {
                throw new StateMigrationException($"Type '{Info.TypeName}' declares no reverse step from version {version}.") { TypeName = Info.TypeName, FromVersion = version };
            }

            document = RunReverse(reverse, version, document);
        }

        // The program that comes back must still read what the downgrade wrote.
        if (toVersion < Info.SchemaVersion)
        {
            byte[] again = Upgrade(toVersion, document)
                ?? throw new StateSchemaVersionException(entry.Scope, entry.Key, Info.TypeName, toVersion, Info.SchemaVersion);
            Validate(manager, entry with { SchemaVersion = Info.SchemaVersion, Payload = again });
        }

        return document;
    }

    private byte[] RunReverse(MigrationTypeOptions.ReverseStep reverse, int version, byte[] document)
    {
        JsonObject input;
        try
        {
            input = JsonNode.Parse(document, documentOptions: new JsonDocumentOptions { MaxDepth = Serialization.StateJson.MaxDepth }) as JsonObject
                ?? throw new StateMigrationException($"A stored '{Info.TypeName}' document of version {version} is not a JSON object.") { TypeName = Info.TypeName, FromVersion = version };
        }
        catch (JsonException)
        {
            throw new StateMigrationException($"A stored '{Info.TypeName}' document of version {version} is not valid JSON.") { TypeName = Info.TypeName, FromVersion = version };
        }

        JsonObject output;
        try
        {
            output = reverse.Transform(input) ?? throw new InvalidOperationException("The reverse step returned null.");
        }
        catch (Exception ex) when (ex is not StateGenException and not OutOfMemoryException)
        {
            // The message is the user's and may quote the value: name the exception type only.
            throw new StateMigrationException($"The reverse step of '{Info.TypeName}' from version {version} failed ({ex.GetType().Name}).") { TypeName = Info.TypeName, FromVersion = version, Transformer = "downgrade" };
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(document.Length + 64);
        using (var writer = new Utf8JsonWriter(buffer, Serialization.StateJson.WriterOptionsFor(Serialization.StateJson.MaxDepth)))
        {
            output.WriteTo(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>A registered <typeparamref name="T"/>.</summary>
internal sealed class MigrationTarget<T> : MigrationTarget
    where T : IPersistentState<T>
{
    public MigrationTarget(MigrationTypeOptions options)
        : base(T.StateInfo, options)
    {
    }

    public override IReadOnlyList<UpgradeStep> UpgradeSteps => T.UpgradeSteps;

    public override StateManager.IValueValidator Validator => StateManager.ValidatorFor<T>();

    public override byte[]? Upgrade(int fromVersion, ReadOnlySpan<byte> document) => T.UpgradeState(fromVersion, document);

    public override void Validate(StateManager manager, StoredEntry entry) => manager.ValidateDocument<T>(entry);
}
