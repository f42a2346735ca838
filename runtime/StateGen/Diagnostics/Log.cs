using Microsoft.Extensions.Logging;

namespace StateGen.Diagnostics;

/// <summary>
/// The manager's log lines. They carry scope, key, type and sizes, never a stored value.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Saved state {Scope}/{Key} as {TypeName} v{SchemaVersion}, version {Version}, {Bytes} bytes")]
    public static partial void Saved(ILogger logger, string scope, string key, string typeName, int schemaVersion, long version, int bytes);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Loaded state {Scope}/{Key} as {TypeName}, version {Version}")]
    public static partial void Loaded(ILogger logger, string scope, string key, string typeName, long version);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Deleted state {Scope}/{Key}: {Deleted}")]
    public static partial void Deleted(ILogger logger, string scope, string key, bool deleted);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Could not read state {Scope}/{Key} as {TypeName}: {Reason}")]
    public static partial void ReadFailed(ILogger logger, string scope, string key, string typeName, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Discarded unreadable state {Scope}/{Key} of {TypeName} (stored schema version {StoredVersion}): {Error}; the type resets to its initial values (ResetWhenUnreadable)")]
    public static partial void Discarded(ILogger logger, string scope, string key, string typeName, int storedVersion, string error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Wrote back state {Scope}/{Key} of {TypeName} upgraded from schema version {FromVersion} to {ToVersion}")]
    public static partial void WroteBackUpgrade(ILogger logger, string scope, string key, string typeName, int fromVersion, int toVersion);

    // 20-29: secret scanning (docs/secret-scanning.md). Never the value: only where it was and what it looked like.
    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Redacted a string that looks like a {SecretKind} in state {Scope}/{Key} of {TypeName} at member {MemberPath}: the stored document holds a marker instead (SecretScanPolicy.RedactAndWarn); mark the member [Sensitive] if it is meant to hold a secret")]
    public static partial void SecretRedacted(ILogger logger, string scope, string key, string typeName, string memberPath, string secretKind);
}
