using System;
using System.Collections.Generic;
using Microsoft.Extensions.Logging;

namespace StateGen.Backups;

/// <summary>How a backup's data file is compressed.</summary>
public enum BackupCompression
{
    /// <summary>Not compressed.</summary>
    None = 0,

    /// <summary>GZip (fastest level): the default, it measured faster than Brotli at a similar ratio for JSON documents (docs/benchmarks.md).</summary>
    GZip = 1,

    /// <summary>Brotli (quality 1, its fastest).</summary>
    Brotli = 2,

    /// <summary>
    /// LZ4 (frame format, fastest level, K4os.Compression.LZ4): several times faster than GZip at a lower ratio; a backup
    /// of a LiteDB store then runs at about the speed of copying its file (docs/benchmarks.md).
    /// </summary>
    Lz4 = 3,
}

/// <summary>Options of a <see cref="BackupManager"/>.</summary>
public sealed class BackupManagerOptions
{
    /// <summary>The folder that holds the backups of one store (created when missing). Required.</summary>
    public string Directory { get; set; } = string.Empty;

    /// <summary>How new backups are compressed. <see cref="BackupCompression.GZip"/> by default.</summary>
    public BackupCompression Compression { get; set; } = BackupCompression.Lz4;

    /// <summary>The clock for backup times and retention; the system clock by default.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// The hooks to run at <see cref="Hooks.StateHookPoint.BeforeBackup"/>, <see cref="Hooks.StateHookPoint.AfterBackup"/>,
    /// <see cref="Hooks.StateHookPoint.BeforeRestore"/> and <see cref="Hooks.StateHookPoint.AfterRestore"/>: usually the
    /// <see cref="StateManager.Hooks"/> of the store's manager. None when <see langword="null"/>.
    /// </summary>
    public Hooks.StateHooks? Hooks { get; set; }

    /// <summary>How long a backup or restore waits for one hook (a hook's own timeout wins). 30 seconds by default.</summary>
    public TimeSpan HookTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where backups and restores are logged; nowhere when <see langword="null"/>.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// Whether a restore reads and checks every entry even of a backup that <see cref="BackupManager.VerifyAsync"/> has
    /// passed. <see langword="false"/> by default: a passed verification is recorded with the SHA-256 of the data file it
    /// read, and a restore that recomputes that hash while decompressing restores the very bytes that were checked, so it
    /// checks only that the database opens at the recorded change-log position. A backup never verified is always
    /// checked in full.
    /// </summary>
    public bool FullCheckOnRestore { get; set; }
}

/// <summary>A backup as listed: what its manifest says.</summary>
public sealed record BackupInfo
{
    /// <summary>The backup's id: its folder name, sortable by creation time (<c>yyyyMMddTHHmmssfffZ-xxxxxxxx</c>).</summary>
    public required string Id { get; init; }

    /// <summary>The backup's folder.</summary>
    public required string Path { get; init; }

    /// <summary>When the backup was made (the manager's clock).</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The store's clock when the snapshot was taken: the backup holds exactly the changes committed up to then.</summary>
    public required DateTimeOffset SnapshotAt { get; init; }

    /// <summary>The change-log sequence of the last change the backup holds (0 when none or when the store keeps no log).</summary>
    public required long ChangeLogPosition { get; init; }

    /// <summary>Whether the store kept a change log (point-in-time recovery needs it).</summary>
    public required bool RecordsChanges { get; init; }

    /// <summary>Whether the documents are encrypted envelopes (the backup of an encrypted store holds no plaintext).</summary>
    public required bool Encrypted { get; init; }

    /// <summary>How many documents the backup holds.</summary>
    public required long DocumentCount { get; init; }

    /// <summary>The size of the backup's files on the disk, in bytes.</summary>
    public required long SizeBytes { get; init; }

    /// <summary>The documents per stable type name and schema version.</summary>
    public required IReadOnlyList<BackupTypeCount> Types { get; init; }

    /// <summary>The compression of the data file.</summary>
    public required BackupCompression Compression { get; init; }

    /// <summary>The label given when the backup was made, if any.</summary>
    public string? Label { get; init; }

    /// <summary>
    /// When <see cref="BackupManager.VerifyAsync"/> last passed this backup as it is now (its data file still has the
    /// length and SHA-256 that verification read); <see langword="null"/> when it never did, or failed since.
    /// </summary>
    public DateTimeOffset? VerifiedAt { get; init; }
}

/// <summary>How many documents of one type and schema version a backup holds.</summary>
/// <param name="TypeName">The stable type name.</param>
/// <param name="SchemaVersion">The schema version.</param>
/// <param name="Count">The number of documents.</param>
public sealed record BackupTypeCount(string TypeName, int SchemaVersion, long Count);

/// <summary>What a backup operation is doing.</summary>
public enum BackupPhase
{
    /// <summary>Reading the store and writing the backup.</summary>
    Writing = 0,

    /// <summary>Checking checksums and documents.</summary>
    Verifying = 1,

    /// <summary>Building the restored database.</summary>
    Restoring = 2,

    /// <summary>Replaying change records after the backup (point-in-time recovery).</summary>
    Replaying = 3,

    /// <summary>Done.</summary>
    Completed = 4,

    /// <summary>Copying a LiteDB store's database file into the backup, or out of it on restore: counted in bytes.</summary>
    Copying = 5,
}

/// <summary>Progress of a backup, verification or restore.</summary>
/// <param name="Phase">What is being done.</param>
/// <param name="Processed">Documents (or change records) done so far in this phase; bytes in <see cref="BackupPhase.Copying"/>.</param>
/// <param name="Total">How many there are in this phase, when known.</param>
public readonly record struct BackupProgress(BackupPhase Phase, long Processed, long? Total);

/// <summary>What <see cref="BackupManager.VerifyAsync"/> found.</summary>
/// <param name="BackupId">The backup.</param>
/// <param name="Problems">Everything that did not check out; empty when the backup is valid.</param>
/// <param name="DocumentCount">The documents read.</param>
public sealed record BackupVerification(string BackupId, IReadOnlyList<string> Problems, long DocumentCount)
{
    /// <summary>Whether every checksum, count and document checked out.</summary>
    public bool IsValid => Problems.Count == 0;
}

/// <summary>What a restore did.</summary>
/// <param name="BackupId">The backup restored.</param>
/// <param name="DatabasePath">The database file that now holds the restored state.</param>
/// <param name="SafetyCopyPath">The copy of the database file as it was before the restore; <see langword="null"/> when there was none.</param>
/// <param name="DocumentCount">The documents in the restored store.</param>
/// <param name="ReplayedChanges">The change records replayed after the backup (point-in-time recovery; 0 for a plain restore).</param>
/// <param name="ChangeLogPosition">The change-log position of the restored state.</param>
public sealed record BackupRestoreResult(string BackupId, string DatabasePath, string? SafetyCopyPath, long DocumentCount, long ReplayedChanges, long ChangeLogPosition);

/// <summary>Which backups a cleanup keeps. A backup kept by any rule is kept; with no rule set, every backup is kept.</summary>
public sealed record BackupRetentionPolicy
{
    /// <summary>Keep the newest this many backups.</summary>
    public int KeepLast { get; init; }

    /// <summary>Keep the newest backup of each of the last this many days (UTC calendar days, today included).</summary>
    public int KeepDaily { get; init; }

    /// <summary>Keep the newest backup of each of the last this many weeks (UTC, weeks start on Monday, this week included).</summary>
    public int KeepWeekly { get; init; }

    /// <summary>
    /// Then, while the kept backups take more than this many bytes, give up the oldest kept ones (never the newest valid
    /// one). No cap when <see langword="null"/>.
    /// </summary>
    public long? MaxTotalBytes { get; init; }
}

/// <summary>What a cleanup kept and deleted (or would delete, on a dry run).</summary>
/// <param name="Kept">The backups kept, newest first.</param>
/// <param name="Deleted">The backups deleted (on a dry run: that would be deleted), newest first.</param>
/// <param name="DryRun">Whether nothing was deleted.</param>
public sealed record BackupCleanupResult(IReadOnlyList<BackupInfo> Kept, IReadOnlyList<BackupInfo> Deleted, bool DryRun);

/// <summary>What a <see cref="BackupEvent"/> reports.</summary>
public enum BackupEventKind
{
    /// <summary>A backup is about to be taken (after the before-backup hooks let it).</summary>
    BackupStarting = 0,

    /// <summary>A backup was written and published.</summary>
    BackupCompleted = 1,

    /// <summary>A backup failed or was canceled; nothing of it is listed.</summary>
    BackupFailed = 2,

    /// <summary>A restore (or point-in-time restore) is about to build the restored file.</summary>
    RestoreStarting = 3,

    /// <summary>The restored file replaced the database.</summary>
    RestoreCompleted = 4,

    /// <summary>A restore failed or was canceled; the database is unchanged.</summary>
    RestoreFailed = 5,
}

/// <summary>
/// A backup or restore event (<see cref="BackupManager.EventOccurred"/>). Every event of one operation, and the hook
/// contexts it ran, carry the same correlation id (the ambient one, <see cref="StateCorrelation"/>, or a new one).
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="BackupId">The backup.</param>
/// <param name="ChangeLogPosition">The backup's change-log position (after a restore: the restored database's).</param>
/// <param name="CorrelationId">The operation's correlation id.</param>
/// <param name="Origin"><c>backup</c>, <c>restore</c> or <c>point-in-time</c>.</param>
/// <param name="Timestamp">The manager's clock.</param>
/// <param name="DatabasePath">The database restored (restore events only).</param>
/// <param name="DocumentCount">Documents backed up or restored (completed events; 0 otherwise).</param>
/// <param name="Error">The exception type name of a failure (never its message, which could quote a path or value).</param>
public sealed record BackupEvent(
    BackupEventKind Kind,
    string BackupId,
    long ChangeLogPosition,
    string CorrelationId,
    string Origin,
    DateTimeOffset Timestamp,
    string? DatabasePath = null,
    long DocumentCount = 0,
    string? Error = null);
