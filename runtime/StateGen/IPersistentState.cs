using System.ComponentModel;
using System.Text.Json;

namespace StateGen;

/// <summary>
/// Implemented by the source generator for every <see cref="PersistentStateAttribute"/> type. Application code calls
/// the generated <c>SaveStateAsync</c>/<c>LoadStateAsync</c> or <see cref="StateManager"/>'s generic methods
/// instead of these members.
/// </summary>
/// <typeparam name="TSelf">The persistent type itself.</typeparam>
public interface IPersistentState<TSelf>
    where TSelf : IPersistentState<TSelf>
{
    /// <summary>The stable type name and schema version of <typeparamref name="TSelf"/>.</summary>
    static abstract PersistentStateInfo StateInfo { get; }

    /// <summary>
    /// Upgrades a stored document of an older schema version to <see cref="StateInfo"/>'s version through the generated
    /// chain of steps, or returns <see langword="null"/> when no chain starts at <paramref name="fromVersion"/>.
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    static abstract byte[]? UpgradeState(int fromVersion, System.ReadOnlySpan<byte> document);

    /// <summary>
    /// The generated upgrade steps (what each renames, drops and changes), for planning store-wide migrations; empty
    /// when the type has no recorded schema history or was compiled by an older generator.
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    static virtual System.Collections.Generic.IReadOnlyList<Migrations.UpgradeStep> UpgradeSteps => System.Array.Empty<Migrations.UpgradeStep>();

    /// <summary>Creates an instance with its declared initial values, to be filled by <see cref="ReadState"/>.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    static abstract TSelf CreateState();

    /// <summary>The instance id as text (from the <see cref="StateIdAttribute"/> member or <c>Id</c>).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    string? GetStateId();

    /// <summary>Writes the persisted members as one JSON object. <see cref="SensitiveAttribute"/> members are omitted, or written as a marker or a ciphertext (<see cref="Security.SensitiveData"/>).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    void WriteState(Utf8JsonWriter writer);

    /// <summary>
    /// Reads a JSON object (the reader is on its <see cref="JsonTokenType.StartObject"/>) into this instance. Members
    /// absent from the document, and omitted or redacted <see cref="SensitiveAttribute"/> members, keep their current values (encrypted ones are decrypted); unknown
    /// members are skipped. Leaves the reader on the object's <see cref="JsonTokenType.EndObject"/>.
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    void ReadState(ref Utf8JsonReader reader);
}

/// <summary>What the store records about a persistent type.</summary>
/// <param name="TypeName">The stable type name recorded in every stored document.</param>
/// <param name="SchemaVersion">The schema version of the type in this program.</param>
/// <param name="ResetWhenUnreadable">See <see cref="PersistentStateAttribute.ResetWhenUnreadable"/>.</param>
public sealed record PersistentStateInfo(string TypeName, int SchemaVersion, bool ResetWhenUnreadable = false);
