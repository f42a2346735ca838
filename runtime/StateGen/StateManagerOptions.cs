using System;

namespace StateGen;

/// <summary>Options of a <see cref="StateManager"/>.</summary>
public sealed class StateManagerOptions
{
    /// <summary>
    /// The largest document a save may store, in bytes (8 MiB by default): a larger one is a
    /// <see cref="StateValueTooLargeException"/> and nothing is stored. Loads are not limited by it, so lowering the
    /// limit never makes values stored under a higher one unreadable.
    /// </summary>
    public int MaxValueBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// The deepest nesting of objects and arrays a stored document may have, on save and on load: deeper data, or a
    /// hostile document nested thousands deep, is a typed error, never a stack overflow. 64 by default, at most
    /// <see cref="Serialization.StateJson.MaxDepth"/>.
    /// </summary>
    public int MaxDepth { get; set; } = 64;

    /// <summary>
    /// When <see langword="true"/>, a document upgraded from an older schema version on load is written back in the new
    /// version (lazy upgrade), unless it changed in the meantime. Off by default: loading never writes.
    /// </summary>
    public bool WriteBackUpgrades { get; set; }

    /// <summary>How long an operation waits for a hook that sets no timeout of its own. 10 seconds by default.</summary>
    public TimeSpan HookTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether hook executions are persisted in the store's hook history (when the store keeps one,
    /// <see cref="Storage.IStateHistoryStore"/>). On by default.
    /// </summary>
    public bool RecordHookHistory { get; set; } = true;

    /// <summary>
    /// Operations slower than this log a warning (with the operation, scope, key and time; never a value).
    /// 1 second by default; <see langword="null"/> turns the warning off.
    /// </summary>
    public TimeSpan? SlowOperationThreshold { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// What a save does with a stored string that has the shape of a well-known secret (API keys, access tokens, JWTs,
    /// PEM private keys): <see cref="SecretScanPolicy.RedactAndWarn"/> by default (a marker is stored instead and a
    /// warning names the member), <see cref="SecretScanPolicy.Throw"/>, or <see cref="SecretScanPolicy.Off"/>.
    /// <see cref="SensitiveAttribute">[Sensitive]</see> members are never scanned (they are omitted, a marker or a ciphertext).
    /// </summary>
    public SecretScanPolicy SecretScanning { get; set; } = SecretScanPolicy.RedactAndWarn;

    /// <summary>
    /// The keys of <see cref="SensitiveMode.Encrypt"/> members and of <see cref="SensitiveMode.Redact"/> fingerprints:
    /// new values are encrypted with the active key, values of retired keys still decrypt. Owned by the caller (dispose
    /// it after the manager). <see langword="null"/> by default: a manager directly over an
    /// <see cref="Storage.Encryption.EncryptedStateStore"/> (<see cref="StateManager.OpenLiteDbAsync"/>) then uses that
    /// store's encryptor, and any other manager refuses to save or load a type with such members
    /// (<see cref="StateKeyConfigurationException"/>).
    /// </summary>
    public Security.StateKeyRing? SensitiveKeyRing { get; set; }

    /// <summary>The algorithm and limits of <see cref="SensitiveKeyRing"/>'s encryptions (AES-256-GCM by default, or ChaCha20-Poly1305).</summary>
    public Security.StateEncryptionOptions? SensitiveEncryption { get; set; }

    internal void Validate()
    {
        if (MaxValueBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxValueBytes), "MaxValueBytes must be positive.");
        }

        if (MaxDepth is < 1 or > Serialization.StateJson.MaxDepth)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDepth), $"MaxDepth must be between 1 and {Serialization.StateJson.MaxDepth}.");
        }

        if (HookTimeout <= TimeSpan.Zero && HookTimeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(HookTimeout), "HookTimeout must be positive (or infinite).");
        }
    }
}
