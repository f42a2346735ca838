using System;
using System.Collections.Generic;
using System.Text.Json;

namespace StateGen.Migrations;

/// <summary>
/// What a custom upgrade hook (<c>static partial void UpgradeFromV1(SchemaUpgrade upgrade)</c>) works with: the stored
/// values of the members the step removed or changed, read with <see cref="Old"/>, and the new values it writes with
/// the <c>Set</c> methods. Members the step copies or renames are already in the new document.
/// </summary>
public sealed class SchemaUpgrade
{
    private readonly Dictionary<string, JsonElement> _old;
    private readonly Action<string, Action<Utf8JsonWriter>> _write;
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);

    internal SchemaUpgrade(string typeName, int fromVersion, Dictionary<string, JsonElement> old, Action<string, Action<Utf8JsonWriter>> write)
    {
        TypeName = typeName;
        FromVersion = fromVersion;
        _old = old;
        _write = write;
    }

    /// <summary>The stable type name.</summary>
    public string TypeName { get; }

    /// <summary>The version of the document the step reads.</summary>
    public int FromVersion { get; }

    /// <summary>The version the step writes.</summary>
    public int ToVersion => FromVersion + 1;

    /// <summary>The member the hook is writing, for error reports.</summary>
    internal string? CurrentMember { get; private set; }

    /// <summary>
    /// The stored value of a member that this step removed or whose format changed, or <see langword="null"/> when the
    /// old document did not have it.
    /// </summary>
    public JsonElement? Old(string name) => _old.TryGetValue(name, out JsonElement value) ? value : null;

    /// <summary>Writes a string member of the new version.</summary>
    public void Set(string name, string? value) => Write(name, w => w.WriteStringValue(value));

    /// <summary>Writes an integer member of the new version.</summary>
    public void Set(string name, long value) => Write(name, w => w.WriteNumberValue(value));

    /// <summary>Writes a floating-point member of the new version.</summary>
    public void Set(string name, double value) => Write(name, w => Serialization.StateJson.WriteDouble(w, value));

    /// <summary>Writes a decimal member of the new version.</summary>
    public void Set(string name, decimal value) => Write(name, w => w.WriteNumberValue(value));

    /// <summary>Writes a Boolean member of the new version.</summary>
    public void Set(string name, bool value) => Write(name, w => w.WriteBooleanValue(value));

    /// <summary>Writes any JSON value (an object, an array, an old value as it was) as a member of the new version.</summary>
    public void Set(string name, JsonElement value) => Write(name, value.WriteTo);

    /// <summary>Writes a member of the new version with a writer of your own, for objects and arrays.</summary>
    public void Set(string name, Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Write(name, write);
    }

    private void Write(string name, Action<Utf8JsonWriter> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_written.Add(name))
        {
            throw new InvalidOperationException($"The upgrade from version {FromVersion} of '{TypeName}' sets member '{name}' twice.");
        }

        CurrentMember = name;
        _write(name, write);
        CurrentMember = null;
    }
}
