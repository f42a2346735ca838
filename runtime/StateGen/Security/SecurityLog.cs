using Microsoft.Extensions.Logging;

namespace StateGen.Security;

/// <summary>The security log lines. They carry key ids, counts, paths and reasons, never key material or data.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Encryption key {KeyId} has been used for {Count} encryptions (warning threshold {Threshold}, hard limit {Limit}); rotate to a new key")]
    public static partial void KeyUsageWarning(ILogger logger, string keyId, long count, long threshold, long limit);

    [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "Encryption key {KeyId} reached its limit of {Limit} encryptions and no longer encrypts; rotate to a new key")]
    public static partial void KeyUsageLimitReached(ILogger logger, string keyId, long limit);

    [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Decryption failed ({Reason}) for key id {KeyId}")]
    public static partial void DecryptionFailed(ILogger logger, StateDecryptionFailureReason reason, string? keyId);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Key file {Path} can be read by other users (mode {Mode}); restrict it to its owner (chmod 600)")]
    public static partial void KeyFilePermissive(ILogger logger, string path, string mode);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "Wrote key file {Path} with {Count} keys, active key {ActiveKeyId}")]
    public static partial void KeyFileWritten(ILogger logger, string path, int count, string activeKeyId);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "The store {StoreType} keeps no encryption key usage counts: the counts behind the nonce limits live in memory and start at 0 in every process; persist them with StateKeyRing.GetEncryptionCount/SetEncryptionCount, or rotate keys on a schedule")]
    public static partial void KeyUsageNotDurable(ILogger logger, string storeType);
}
