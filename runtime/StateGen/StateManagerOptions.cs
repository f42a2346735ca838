namespace StateGen;

/// <summary>Options of a <see cref="StateManager"/>.</summary>
public sealed class StateManagerOptions
{
    /// <summary>The largest stored document, in bytes. 8 MiB by default.</summary>
    public int MaxValueBytes { get; set; } = 8 * 1024 * 1024;
}
