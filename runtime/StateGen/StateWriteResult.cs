namespace StateGen;

/// <summary>What a write or delete did.</summary>
public enum StateWriteStatus
{
    /// <summary>The value was written.</summary>
    Written = 0,

    /// <summary>The value was deleted.</summary>
    Deleted = 1,

    /// <summary>A delete found nothing stored.</summary>
    NotFound = 2,

    /// <summary>A hook canceled the operation; nothing was written or deleted.</summary>
    Canceled = 3,
}

/// <summary>The outcome of a write or delete through a <see cref="StateManager"/>.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Version">The version written; for a delete, the version deleted; 0 when nothing was written or deleted.</param>
/// <param name="CorrelationId">The correlation id the change was recorded with.</param>
/// <param name="CanceledBy">The id of the hook that canceled the operation.</param>
/// <param name="CancelReason">The reason the hook gave.</param>
public readonly record struct StateWriteResult(StateWriteStatus Status, long Version, string CorrelationId, string? CanceledBy = null, string? CancelReason = null)
{
    /// <summary>Whether a hook canceled the operation.</summary>
    public bool IsCanceled => Status == StateWriteStatus.Canceled;
}

/// <summary>Per-call options of a write or delete.</summary>
public sealed record StateWriteOptions
{
    /// <summary>
    /// The version that must be stored for the operation to proceed (0: nothing may be stored); otherwise a
    /// <see cref="StateConcurrencyException"/>. Overrides the version a generated type remembers from its last load or save.
    /// </summary>
    public long? ExpectedVersion { get; init; }

    /// <summary>
    /// Write whatever is stored, ignoring the version the instance remembers (last writer wins). Has no effect when
    /// <see cref="ExpectedVersion"/> is set.
    /// </summary>
    public bool Overwrite { get; init; }

    /// <summary>Write whatever is stored (last writer wins).</summary>
    public static StateWriteOptions LastWriterWins { get; } = new() { Overwrite = true };
}
