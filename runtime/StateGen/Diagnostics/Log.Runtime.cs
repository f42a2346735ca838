using Microsoft.Extensions.Logging;

namespace StateGen.Diagnostics;

/// <summary>Log lines of hooks, events, history and slow operations. Never a stored value or a hook's message.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 30, Level = LogLevel.Warning, Message = "Hook {HookId} at {Point} {Outcome} for state {Scope}/{Key} ({Error}); the operation continues (LogAndContinue)")]
    public static partial void HookFailedContinuing(ILogger logger, string hookId, string point, string outcome, string scope, string key, string error);

    [LoggerMessage(EventId = 31, Level = LogLevel.Warning, Message = "Hook {HookId} at {Point} {Outcome} for state {Scope}/{Key} ({Error}); the operation fails")]
    public static partial void HookFailed(ILogger logger, string hookId, string point, string outcome, string scope, string key, string error);

    [LoggerMessage(EventId = 32, Level = LogLevel.Information, Message = "Hook {HookId} at {Point} canceled the operation on state {Scope}/{Key}")]
    public static partial void HookCanceled(ILogger logger, string hookId, string point, string scope, string key);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning, Message = "Hook {HookId} at {Point} returned {Decision}, which that point ignores")]
    public static partial void HookDecisionIgnored(ILogger logger, string hookId, string point, string decision);

    [LoggerMessage(EventId = 34, Level = LogLevel.Warning, Message = "Could not record hook history for state {Scope}/{Key}: {Error}")]
    public static partial void HookHistoryFailed(ILogger logger, string scope, string key, string error);

    [LoggerMessage(EventId = 35, Level = LogLevel.Warning, Message = "Slow StateGen {Operation} of state {Scope}/{Key}: {ElapsedMs} ms (threshold {ThresholdMs} ms)")]
    public static partial void SlowOperation(ILogger logger, string operation, string scope, string key, long elapsedMs, long thresholdMs);

    [LoggerMessage(EventId = 36, Level = LogLevel.Debug, Message = "Committed a batch of {Count} operations")]
    public static partial void BatchCommitted(ILogger logger, int count);

    [LoggerMessage(EventId = 37, Level = LogLevel.Warning, Message = "Version conflict on state {Scope}/{Key}: expected {Expected}, stored {Stored}")]
    public static partial void Conflict(ILogger logger, string scope, string key, long expected, long stored);

    [LoggerMessage(EventId = 38, Level = LogLevel.Warning, Message = "The store lost the change records {FromSequence} to {ToSequence} (a crash kept the values they wrote, not the records): timelines, point-in-time reads, fork and replay have no history there; the unreadable bytes are kept in {PreservedBytes}")]
    public static partial void HistoryGap(ILogger logger, long fromSequence, long toSequence, string preservedBytes);

    [LoggerMessage(EventId = 39, Level = LogLevel.Warning, Message = "The change log of {Path} was not converted to segment files as UpgradeChangeLog asked; the file works in its own layout: {Reason}")]
    public static partial void ChangeLogNotConverted(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "Migration {CorrelationId} started: {Documents} document(s) of {Types} type(s), backup {BackupId}")]
    public static partial void MigrationStarted(ILogger logger, long documents, int types, string correlationId, string backupId);

    [LoggerMessage(EventId = 71, Level = LogLevel.Information, Message = "Migration {CorrelationId} completed: {Documents} document(s) in {ElapsedMs} ms")]
    public static partial void MigrationCompleted(ILogger logger, long documents, long elapsedMs, string correlationId);

    [LoggerMessage(EventId = 72, Level = LogLevel.Error, Message = "Migration failed at state {Scope}/{Key} ({TypeName}): {Reason}; rolling back {Written} written document(s)")]
    public static partial void MigrationFailed(ILogger logger, string scope, string key, string typeName, string reason, long written);

    [LoggerMessage(EventId = 73, Level = LogLevel.Warning, Message = "Migration {CorrelationId} rolled back {RolledBack} document(s); {NotRolledBack} could not be put back")]
    public static partial void MigrationRolledBack(ILogger logger, long rolledBack, int notRolledBack, string correlationId);
}
