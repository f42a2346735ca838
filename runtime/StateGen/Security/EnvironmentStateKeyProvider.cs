using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Security;

/// <summary>
/// Keys from environment variables: <c>STATEGEN_KEYS="id1:base64;id2:base64"</c> and <c>STATEGEN_ACTIVE_KEY=id2</c>
/// (the names are configurable). The active key variable may be left unset when there is exactly one key.
/// </summary>
public sealed class EnvironmentStateKeyProvider : IStateKeyProvider
{
    /// <summary>The default name of the variable that holds the keys.</summary>
    public const string DefaultKeysVariable = "STATEGEN_KEYS";

    /// <summary>The default name of the variable that holds the active key id.</summary>
    public const string DefaultActiveKeyVariable = "STATEGEN_ACTIVE_KEY";

    /// <summary>Creates the provider.</summary>
    /// <param name="keysVariable">The variable with <c>id:base64</c> entries separated by <c>;</c>.</param>
    /// <param name="activeKeyVariable">The variable with the active key id.</param>
    public EnvironmentStateKeyProvider(string keysVariable = DefaultKeysVariable, string activeKeyVariable = DefaultActiveKeyVariable)
    {
        ArgumentException.ThrowIfNullOrEmpty(keysVariable);
        ArgumentException.ThrowIfNullOrEmpty(activeKeyVariable);
        KeysVariable = keysVariable;
        ActiveKeyVariable = activeKeyVariable;
    }

    /// <summary>The variable that holds the keys.</summary>
    public string KeysVariable { get; }

    /// <summary>The variable that holds the active key id.</summary>
    public string ActiveKeyVariable { get; }

    /// <inheritdoc/>
    public ValueTask<StateKeyRing> GetKeyRingAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string source = $"environment variable '{KeysVariable}'";
        string? keys = Environment.GetEnvironmentVariable(KeysVariable);
        if (string.IsNullOrWhiteSpace(keys))
        {
            throw new StateKeyConfigurationException(source, "it is not set.");
        }

        var options = new StateKeyOptions
        {
            ActiveKeyId = Environment.GetEnvironmentVariable(ActiveKeyVariable)?.Trim(),
            Keys = Parse(source, keys),
        };
        return new(options.ToKeyRing(source));
    }

    private static Dictionary<string, string> Parse(string source, string value)
    {
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        int entry = 0;
        foreach (string raw in value.Split(';'))
        {
            entry++;
            string item = raw.Trim();
            if (item.Length == 0)
            {
                continue;
            }

            int colon = item.IndexOf(':');
            if (colon < 0)
            {
                throw new StateKeyConfigurationException(source, $"entry {entry} has no ':' between key id and key.");
            }

            string id = item.Substring(0, colon).Trim();
            if (!StateKeyRing.IsValidKeyId(id))
            {
                throw new StateKeyConfigurationException(source, $"entry {entry} has a key id that is not 1 to {StateKeyRing.MaxKeyIdLength} characters of [A-Za-z0-9._-].");
            }

            if (!keys.TryAdd(id, item.Substring(colon + 1).Trim()))
            {
                throw new StateKeyConfigurationException(source, $"the key id '{id}' appears more than once.", id);
            }
        }

        return keys;
    }
}
