using System;

namespace StateGen.Storage.ChangeLog;

/// <summary>Settings of a <see cref="SegmentLog"/>.</summary>
internal sealed class SegmentLogOptions
{
    /// <summary>
    /// The size at which the active segment is sealed and a new one started (64 MiB by default). A segment holds at least
    /// one record, so a record larger than this makes a segment of its own.
    /// </summary>
    public long RollBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// The largest payload a record may carry (256 MiB by default; the manager's own limit,
    /// <see cref="StateManagerOptions.MaxValueBytes"/>, is 8 MiB by default). Reading refuses longer records before
    /// allocating anything for them.
    /// </summary>
    public int MaxPayloadBytes { get; init; } = 256 * 1024 * 1024;

    /// <summary>Test hook: the hash of the correlation index (<see cref="CorrelationIndex"/>), to force collisions.</summary>
    public Func<string, long>? CorrelationHash { get; init; }

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public void Validate()
    {
        if (RollBytes < SegmentFormat.HeaderSize + SegmentFormat.MinRecordSize)
        {
            throw new ArgumentOutOfRangeException(nameof(RollBytes), RollBytes, "A segment must hold at least a header and one record.");
        }

        if (MaxPayloadBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPayloadBytes), MaxPayloadBytes, "The payload limit cannot be negative.");
        }

        if (SegmentFormat.MaxRecordSize(MaxPayloadBytes) > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPayloadBytes), MaxPayloadBytes, "A record must fit in 2 GiB.");
        }
    }
}
