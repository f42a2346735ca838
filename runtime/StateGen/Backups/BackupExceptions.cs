using System;
using System.Collections.Generic;

namespace StateGen.Backups;

/// <summary>A backup could not be made, read, restored or deleted. Messages name the backup and paths, never a stored value.</summary>
public class StateBackupException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateBackupException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>The backup involved, when there is one.</summary>
    public string? BackupId { get; init; }
}

/// <summary>A backup failed verification (a checksum, its length, its manifest or a document did not check out); it was not restored.</summary>
public sealed class StateBackupVerificationException : StateBackupException
{
    /// <summary>Creates the exception.</summary>
    public StateBackupVerificationException(string backupId, IReadOnlyList<string> problems)
        : base($"The backup '{backupId}' failed verification and was not used: {string.Join("; ", problems)}")
    {
        BackupId = backupId;
        Problems = problems;
    }

    /// <summary>What was wrong, one line each.</summary>
    public IReadOnlyList<string> Problems { get; }
}

/// <summary>
/// A point-in-time restore asked for a time that the backups and the change log cannot reproduce exactly: before the
/// oldest backup, in the future, or after a backup whose following change records were pruned.
/// </summary>
public sealed class StatePointInTimeUnavailableException : StateBackupException
{
    /// <summary>Creates the exception.</summary>
    public StatePointInTimeUnavailableException(DateTimeOffset requested, DateTimeOffset? windowStart, DateTimeOffset windowEnd, string reason)
        : base(windowStart is DateTimeOffset start
            ? $"The state as of {requested:O} cannot be recovered: {reason} The recoverable window is {start:O} to {windowEnd:O}."
            : $"The state as of {requested:O} cannot be recovered: {reason} No time is recoverable (there is no valid backup).")
    {
        Requested = requested;
        WindowStart = windowStart;
        WindowEnd = windowEnd;
    }

    /// <summary>The time asked for.</summary>
    public DateTimeOffset Requested { get; }

    /// <summary>The earliest recoverable time (the oldest valid backup's snapshot); <see langword="null"/> when there is no valid backup.</summary>
    public DateTimeOffset? WindowStart { get; }

    /// <summary>The latest recoverable time (now).</summary>
    public DateTimeOffset WindowEnd { get; }
}
