using System;
using Microsoft.Extensions.Logging;

namespace StateGen.Diagnostics;

/// <summary>Log lines of backups and restores (60-69). Ids, counts, sizes and paths; never a stored value.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "Created backup {BackupId}: {Documents} documents, {Bytes} bytes, change-log position {Position}")]
    public static partial void BackupCreated(ILogger logger, string backupId, long documents, long bytes, long position);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Backup {BackupId} was not made: {Error}")]
    public static partial void BackupFailed(ILogger logger, string backupId, string error);

    [LoggerMessage(EventId = 62, Level = LogLevel.Warning, Message = "Backup {BackupId} failed verification: {Problems}")]
    public static partial void BackupInvalid(ILogger logger, string backupId, string problems);

    [LoggerMessage(EventId = 63, Level = LogLevel.Information, Message = "Restored {DatabasePath} from backup {BackupId}: {Documents} documents, {Replayed} changes replayed; the previous file is kept at {SafetyCopy}")]
    public static partial void Restored(ILogger logger, string databasePath, string backupId, long documents, long replayed, string safetyCopy);

    [LoggerMessage(EventId = 64, Level = LogLevel.Information, Message = "Deleted backup {BackupId}")]
    public static partial void BackupDeleted(ILogger logger, string backupId);

    [LoggerMessage(EventId = 65, Level = LogLevel.Information, Message = "Backup cleanup (dry run: {DryRun}) keeps {Kept} backups and deletes {Deleted}")]
    public static partial void BackupCleanup(ILogger logger, bool dryRun, int kept, int deleted);

    [LoggerMessage(EventId = 66, Level = LogLevel.Warning, Message = "Hook {HookId} at {Point} {Outcome} for backup {BackupId} ({Error}); the operation continues (LogAndContinue)")]
    public static partial void BackupHookFailedContinuing(ILogger logger, string hookId, string point, string outcome, string backupId, string error);

    [LoggerMessage(EventId = 67, Level = LogLevel.Warning, Message = "A handler of backup event {Kind} for backup {BackupId} threw {Error}; the operation continues")]
    public static partial void BackupEventHandlerFailed(ILogger logger, string kind, string backupId, string error);

    [LoggerMessage(EventId = 68, Level = LogLevel.Information, Message = "Restoring backup {BackupId}: its data file has the hash a verification at {VerifiedAt} read in full, so its entries are not read again")]
    public static partial void RestoreTrustsVerification(ILogger logger, string backupId, DateTimeOffset verifiedAt);
}
