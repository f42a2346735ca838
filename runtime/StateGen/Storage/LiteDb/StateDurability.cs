namespace StateGen.Storage.LiteDb;

/// <summary>When a write to a <see cref="LiteDbStateStore"/> counts as done.</summary>
public enum StateDurability
{
    /// <summary>
    /// A write, delete or batch returns once everything LiteDB wrote for it has been flushed to the disk (fsync): an
    /// acknowledged change survives a power cut or an operating-system crash. Concurrent writers share one flush
    /// (group commit); a lone writer pays one flush per commit.
    /// </summary>
    Durable = 0,

    /// <summary>
    /// A write returns once it is in the operating system's cache: it survives the process being killed, but a power
    /// cut or an operating-system crash can lose what was written since the last flush. The file is flushed every
    /// <see cref="LiteDbStateStoreOptions.RelaxedFlushInterval"/>, by <see cref="LiteDbStateStore.FlushAsync"/> and when the
    /// store is disposed.
    /// </summary>
    Relaxed = 1,
}
