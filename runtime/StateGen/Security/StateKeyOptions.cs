using System;
using System.Collections.Generic;
using System.Security.Cryptography;

namespace StateGen.Security;

/// <summary>
/// Keys as plain options: key ids mapped to base64 256-bit keys, and the id of the active key. Used by
/// <see cref="OptionsStateKeyProvider"/> and as the content of a key file (<see cref="FileStateKeyProvider"/>).
/// </summary>
public sealed class StateKeyOptions
{
    /// <summary>The id of the key that encrypts. May be left empty when there is exactly one key.</summary>
    public string? ActiveKeyId { get; set; }

    /// <summary>Key ids mapped to base64-encoded 32-byte keys.</summary>
    public IDictionary<string, string> Keys { get; set; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Adds a new random key, and makes it active when <paramref name="activate"/> is set (a rotation).</summary>
    /// <returns>This instance.</returns>
    /// <exception cref="ArgumentException">The key id is not valid or already present.</exception>
    public StateKeyOptions AddGeneratedKey(string keyId, bool activate = true)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        if (!StateKeyRing.IsValidKeyId(keyId))
        {
            throw new ArgumentException($"A key id must be 1 to {StateKeyRing.MaxKeyIdLength} characters of [A-Za-z0-9._-].", nameof(keyId));
        }

        if (Keys.ContainsKey(keyId))
        {
            throw new ArgumentException($"The key id '{keyId}' is already present.", nameof(keyId));
        }

        byte[] key = StateKeyRing.GenerateKey();
        try
        {
            Keys.Add(keyId, Convert.ToBase64String(key));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        if (activate)
        {
            ActiveKeyId = keyId;
        }

        return this;
    }

    /// <summary>
    /// Removes a retired key. Records still encrypted with it could never be decrypted again, so the caller confirms
    /// that none is left.
    /// </summary>
    /// <returns><see langword="false"/> when the key is not present.</returns>
    /// <exception cref="InvalidOperationException">The key is the active key, or the removal was not confirmed.</exception>
    public bool RemoveRetiredKey(string keyId, bool noRecordUsesKey)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        if (!noRecordUsesKey)
        {
            throw new InvalidOperationException($"The key '{StateKeyRing.Shown(keyId)}' was not removed: records encrypted with it could no longer be decrypted. Re-encrypt them with the active key, then pass noRecordUsesKey: true.");
        }

        if (string.Equals(keyId, ActiveKeyId, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The key '{StateKeyRing.Shown(keyId)}' is the active key and cannot be removed; rotate to a new key first.");
        }

        return Keys.Remove(keyId);
    }

    /// <summary>Validates the options and builds a ring; errors name <paramref name="source"/> and key ids, never keys.</summary>
    internal StateKeyRing ToKeyRing(string source)
    {
        if (Keys is null || Keys.Count == 0)
        {
            throw new StateKeyConfigurationException(source, "no key is configured.");
        }

        string? activeId = ActiveKeyId;
        if (string.IsNullOrEmpty(activeId))
        {
            if (Keys.Count != 1)
            {
                throw new StateKeyConfigurationException(source, $"there are {Keys.Count} keys but no active key id.");
            }

            foreach (string id in Keys.Keys)
            {
                activeId = id;
            }
        }

        if (!StateKeyRing.IsValidKeyId(activeId))
        {
            throw new StateKeyConfigurationException(source, $"the active key id is not 1 to {StateKeyRing.MaxKeyIdLength} characters of [A-Za-z0-9._-].");
        }

        if (!Keys.TryGetValue(activeId!, out string? activeValue))
        {
            // The wrong id is not quoted: it may be a key pasted into the wrong field.
            var ids = new List<string>(Keys.Keys);
            ids.Sort(StringComparer.Ordinal);
            throw new StateKeyConfigurationException(source, $"the active key id is not one of the configured key ids ({string.Join(", ", ids.ConvertAll(StateKeyRing.Shown))}).");
        }

        Span<byte> key = stackalloc byte[StateKeyRing.KeySizeInBytes];
        StateKeyRing? ring = null;
        try
        {
            Decode(source, activeId!, activeValue, key);
            ring = new StateKeyRing(activeId!, key);
            foreach (KeyValuePair<string, string> entry in Keys)
            {
                if (string.Equals(entry.Key, activeId, StringComparison.Ordinal))
                {
                    continue;
                }

                if (!StateKeyRing.IsValidKeyId(entry.Key))
                {
                    throw new StateKeyConfigurationException(source, $"a key id is not 1 to {StateKeyRing.MaxKeyIdLength} characters of [A-Za-z0-9._-].");
                }

                Decode(source, entry.Key, entry.Value, key);
                ring.AddRetiredKey(entry.Key, key);
            }

            StateKeyRing result = ring;
            ring = null;
            return result;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            ring?.Dispose();
        }
    }

    /// <summary>Decodes one base64 key into exactly 32 bytes; errors name the key id only.</summary>
    internal static void Decode(string source, string keyId, string? base64, Span<byte> destination)
    {
        Span<byte> buffer = stackalloc byte[StateKeyRing.KeySizeInBytes + 3];
        try
        {
            if (string.IsNullOrWhiteSpace(base64))
            {
                throw new StateKeyConfigurationException(source, $"the key '{keyId}' is empty.", keyId);
            }

            if (!Convert.TryFromBase64String(base64.Trim(), buffer, out int written))
            {
                // Too long also fails here: the buffer only fits a little more than one key.
                throw new StateKeyConfigurationException(source, $"the key '{keyId}' is not base64 of {StateKeyRing.KeySizeInBytes} bytes.", keyId);
            }

            if (written != StateKeyRing.KeySizeInBytes)
            {
                throw new StateKeyConfigurationException(source, $"the key '{keyId}' is {written} bytes; keys must be {StateKeyRing.KeySizeInBytes} bytes (256 bits).", keyId);
            }

            buffer.Slice(0, StateKeyRing.KeySizeInBytes).CopyTo(destination);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }
}

/// <summary>Keys from plain options (<see cref="StateKeyOptions"/>), for example bound from configuration by the caller.</summary>
public sealed class OptionsStateKeyProvider : IStateKeyProvider
{
    private readonly StateKeyOptions _options;

    /// <summary>Creates the provider.</summary>
    public OptionsStateKeyProvider(StateKeyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <inheritdoc/>
    public System.Threading.Tasks.ValueTask<StateKeyRing> GetKeyRingAsync(System.Threading.CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(_options.ToKeyRing("options"));
    }
}
