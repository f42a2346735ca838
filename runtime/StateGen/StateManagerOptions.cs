namespace StateGen;

/// <summary>Options of a <see cref="StateManager"/>.</summary>
public sealed class StateManagerOptions
{
    /// <summary>The largest stored document, in bytes. 8 MiB by default.</summary>
    public int MaxValueBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// When <see langword="true"/>, a document upgraded from an older schema version on load is written back in the new
    /// version (lazy upgrade), unless it changed in the meantime. Off by default: loading never writes.
    /// </summary>
    public bool WriteBackUpgrades { get; set; }
}
