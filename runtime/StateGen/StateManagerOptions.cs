namespace StateGen;

/// <summary>Options of a <see cref="StateManager"/>.</summary>
public sealed class StateManagerOptions
{
    /// <summary>The largest stored document, in bytes. 8 MiB by default.</summary>
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

    /// <summary>
    /// What a save does with a stored string that has the shape of a well-known secret (API keys, access tokens, JWTs,
    /// PEM private keys): <see cref="SecretScanPolicy.RedactAndWarn"/> by default (a marker is stored instead and a
    /// warning names the member), <see cref="SecretScanPolicy.Throw"/>, or <see cref="SecretScanPolicy.Off"/>.
    /// <see cref="SensitiveAttribute">[Sensitive]</see> members are never stored, so never scanned.
    /// </summary>
    public SecretScanPolicy SecretScanning { get; set; } = SecretScanPolicy.RedactAndWarn;
}
