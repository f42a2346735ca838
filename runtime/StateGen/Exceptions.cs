using System;

namespace StateGen;

/// <summary>
/// Base type of StateGen's errors about stored state. Messages name the scope, key and type involved and never
/// contain a stored value, so they are safe to log.
/// </summary>
public class StateGenException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StateGenException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with an inner exception that carries no stored value in its message.</summary>
    public StateGenException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The scope path involved, when there is one.</summary>
    public string? Scope { get; init; }

    /// <summary>The key involved, when there is one.</summary>
    public string? Key { get; init; }
}

/// <summary>
/// A key or scope id is not valid: null, empty, too long, or with a forbidden character or segment; or a key prefix that
/// no valid key starts with.
/// </summary>
public sealed class InvalidStateKeyException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="paramName">The argument that was rejected.</param>
    /// <param name="reason">Why, ending with a full stop.</param>
    public InvalidStateKeyException(string paramName, string reason)
        : base($"The state {Describe(paramName)} is not valid: {reason}", paramName)
    {
        Reason = reason;
    }

    /// <summary>Why the key was rejected.</summary>
    public string Reason { get; }

    private static string Describe(string paramName) => paramName switch
    {
        "key" => "key",
        "keyPrefix" => "key prefix",
        _ => $"scope id '{paramName}'",
    };
}

/// <summary>A stored document could not be read into the requested type: it is not valid JSON or not of its shape.</summary>
public sealed class StateSerializationException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateSerializationException(string message)
        : base(message)
    {
    }

    /// <summary>The stable type name that was being read.</summary>
    public string? TypeName { get; init; }

    /// <summary>The member the document was wrong at, when the reader could name it (e.g. a duplicate member).</summary>
    public string? Member { get; init; }
}

/// <summary>A stored document belongs to another type than the one asked for.</summary>
public sealed class StateTypeMismatchException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateTypeMismatchException(string scope, string key, string expectedTypeName, string storedTypeName)
        : base($"The state at '{scope}' key '{key}' was stored as type '{storedTypeName}', not '{expectedTypeName}'.")
    {
        Scope = scope;
        Key = key;
        ExpectedTypeName = expectedTypeName;
        StoredTypeName = storedTypeName;
    }

    /// <summary>The stable type name that was asked for.</summary>
    public string ExpectedTypeName { get; }

    /// <summary>The stable type name recorded in the stored document.</summary>
    public string StoredTypeName { get; }
}

/// <summary>A stored document has a schema version this program cannot read.</summary>
public sealed class StateSchemaVersionException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateSchemaVersionException(string scope, string key, string typeName, int storedVersion, int expectedVersion)
        : base(storedVersion > expectedVersion
            ? $"The state at '{scope}' key '{key}' of type '{typeName}' has schema version {storedVersion}, newer than version {expectedVersion} that this program knows. It was written by a newer program; it is left as it is."
            : $"The state at '{scope}' key '{key}' of type '{typeName}' has schema version {storedVersion}, and this program expects version {expectedVersion} but has no upgrade path from version {storedVersion} (the schema lock file does not record it). It is left as it is.")
    {
        Scope = scope;
        Key = key;
        TypeName = typeName;
        StoredVersion = storedVersion;
        ExpectedVersion = expectedVersion;
    }

    /// <summary>The stable type name.</summary>
    public string TypeName { get; }

    /// <summary>The schema version in the stored document.</summary>
    public int StoredVersion { get; }

    /// <summary>The schema version of the type in this program.</summary>
    public int ExpectedVersion { get; }
}

/// <summary>A write expected another stored version than the one found (optimistic concurrency).</summary>
public sealed class StateConcurrencyException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateConcurrencyException(string scope, string key, long? expectedVersion, long? storedVersion)
        : base($"The state at '{scope}' key '{key}' was expected at version {Show(expectedVersion)} but is at version {Show(storedVersion)}.")
    {
        Scope = scope;
        Key = key;
        ExpectedVersion = expectedVersion;
        StoredVersion = storedVersion;
    }

    /// <summary>The version the writer expected (0 for "must not exist yet").</summary>
    public long? ExpectedVersion { get; }

    /// <summary>The version found in the store (<see langword="null"/> when nothing is stored).</summary>
    public long? StoredVersion { get; }

    private static string Show(long? v) => v is null ? "(none)" : v.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A value is larger than the store accepts.</summary>
public sealed class StateValueTooLargeException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateValueTooLargeException(string scope, string key, long size, long limit)
        : base($"The state at '{scope}' key '{key}' is {size} bytes, more than the limit of {limit} bytes.")
    {
        Scope = scope;
        Key = key;
        Size = size;
        Limit = limit;
    }

    /// <summary>The size of the rejected value in bytes.</summary>
    public long Size { get; }

    /// <summary>The limit in bytes.</summary>
    public long Limit { get; }
}

/// <summary>The store failed: an I/O error, or a file that is corrupt or not a state database.</summary>
public class StateStoreException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateStoreException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The store's file is corrupt, truncated or not a StateGen database. Nothing was written to it.</summary>
public sealed class StateStoreCorruptedException : StateStoreException
{
    /// <summary>Creates the exception.</summary>
    public StateStoreCorruptedException(string path, Exception? innerException = null)
        : this(path, null, innerException)
    {
    }

    /// <summary>Creates the exception, saying what failed (never quoting stored bytes).</summary>
    public StateStoreCorruptedException(string path, string? failure, Exception? innerException = null)
        : base($"The state database '{path}' is corrupt, truncated or not a StateGen database ({failure ?? DescribeInner(innerException)}); it was not changed. Restore it from a backup, move it aside, or read what is intact with LiteDbStateStore.Salvage.", innerException)
    {
        FilePath = path;
        Failure = failure ?? DescribeInner(innerException);
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    /// <summary>What failed: the check or the kind of error met, e.g. "a document in 'state' failed its checksum".</summary>
    public string Failure { get; }

    // LiteDB's messages can quote stored bytes (a key read from a damaged page), so only the error's type is named.
    private static string DescribeInner(Exception? inner)
        => inner is null ? "not a LiteDB v5 file, or its header is damaged" : $"LiteDB failed reading it: {inner.GetType().Name}";
}

/// <summary>
/// A schema upgrade step failed while loading: a custom upgrade hook threw, or the document did not have the shape the
/// step expected. Nothing was written back; the stored document is unchanged.
/// </summary>
public sealed class StateMigrationException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateMigrationException(string message)
        : base(message)
    {
    }

    /// <summary>The stable type name.</summary>
    public string? TypeName { get; init; }

    /// <summary>The version the failing step upgrades from.</summary>
    public int FromVersion { get; init; }

    /// <summary>The member the step was working on, when known.</summary>
    public string? Member { get; init; }

    /// <summary>The transformer or hook that failed, when known.</summary>
    public string? Transformer { get; init; }
}

/// <summary>
/// The object graph being saved contains a reference cycle. <see cref="Path"/> names it, e.g.
/// <c>Agent.Root.Children[3].Parent</c>; mark the back-reference <see cref="StateIgnoreAttribute"/> if it is one.
/// Nothing was written.
/// </summary>
public sealed class StateCycleException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateCycleException(string path)
        : base($"The object graph contains a reference cycle at {path}: the same instance is reached again. Mark the back-reference [StateIgnore] or break the cycle; nothing was written.")
    {
        Path = path;
    }

    /// <summary>Creates the exception for a state at a scope and key.</summary>
    public StateCycleException(string scope, string key, string path)
        : base($"The state at '{scope}' key '{key}' could not be written: the object graph contains a reference cycle at {path}. Mark the back-reference [StateIgnore] or break the cycle; nothing was written.")
    {
        Scope = scope;
        Key = key;
        Path = path;
    }

    /// <summary>The path from the state type to the repeated instance.</summary>
    public string Path { get; }
}

// ---- Encryption (StateGen.Security) ----
// Messages name key ids, scopes, keys, file paths and variable names, never key material, plaintext or ciphertext.

/// <summary>
/// An encrypted envelope could not be decrypted. <see cref="Reason"/> says why; the message names the key id (when the
/// envelope carries a readable one) and the scope and key (when the caller supplied them), never a byte of the envelope.
/// </summary>
public sealed class StateDecryptionException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="reason">Why decryption failed.</param>
    /// <param name="keyId">The key id named by the envelope, when it could be read.</param>
    /// <param name="scope">The scope of the record, when the caller supplied it.</param>
    /// <param name="key">The key of the record, when the caller supplied it.</param>
    /// <param name="detail">A short explanation with no data in it, ending with a full stop.</param>
    public StateDecryptionException(
        Security.StateDecryptionFailureReason reason,
        string? keyId = null,
        string? scope = null,
        string? key = null,
        string? detail = null)
        : base(Format(reason, keyId, scope, key, detail))
    {
        Reason = reason;
        KeyId = keyId;
        Scope = scope;
        Key = key;
    }

    /// <summary>Why decryption failed.</summary>
    public Security.StateDecryptionFailureReason Reason { get; }

    /// <summary>The key id named by the envelope, when it could be read.</summary>
    public string? KeyId { get; }

    private static string Format(Security.StateDecryptionFailureReason reason, string? keyId, string? scope, string? key, string? detail)
    {
        string what = scope is null && key is null
            ? "The encrypted value"
            : $"The encrypted state at '{scope ?? "(unknown scope)"}' key '{key ?? "(unknown key)"}'";
        string keyPart = keyId is null ? "" : $" (key id '{keyId}')";
        string why = reason switch
        {
            Security.StateDecryptionFailureReason.Malformed => "it is not a well-formed StateGen envelope (truncated, garbled or oversized).",
            Security.StateDecryptionFailureReason.UnknownKeyId => "its key id is not in the key ring. Add the retired key to the ring to read it.",
            Security.StateDecryptionFailureReason.AuthenticationFailed => "authentication failed: the key is wrong, the envelope was altered, or it belongs to another record (associated data mismatch).",
            Security.StateDecryptionFailureReason.UnsupportedAlgorithm => "its algorithm is unknown or not supported on this platform.",
            Security.StateDecryptionFailureReason.UnsupportedFormat => "its envelope format version is not known to this program.",
            Security.StateDecryptionFailureReason.NotEncrypted => "it is stored in plaintext, not encrypted. Open the store with AllowPlaintextReads to read it and run the re-encryption job to encrypt it.",
            _ => "it failed for an unknown reason.",
        };
        return detail is null
            ? $"{what}{keyPart} could not be decrypted: {why}"
            : $"{what}{keyPart} could not be decrypted: {why} {detail}";
    }
}

/// <summary>
/// Encryption keys could not be loaded: a key file, environment variable or options entry is missing, malformed, or
/// names an invalid key id or a key of the wrong size. The message names the source and the key id, never the key or
/// the content of the source.
/// </summary>
public sealed class StateKeyConfigurationException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="keySource">Where the keys came from: a file path, an environment variable name, a configuration section, or "options".</param>
    /// <param name="reason">What is wrong, with no key material or source content in it, ending with a full stop.</param>
    /// <param name="keyId">The key id involved, when there is a valid one.</param>
    /// <param name="innerException">An inner exception whose message carries no key material.</param>
    public StateKeyConfigurationException(string keySource, string reason, string? keyId = null, Exception? innerException = null)
        : base($"The encryption keys from {keySource} are not usable: {reason}", innerException)
    {
        KeySource = keySource;
        KeyId = keyId;
    }

    /// <summary>Where the keys came from: a file path, an environment variable name, a configuration section, or "options".</summary>
    public string KeySource { get; }

    /// <summary>The key id involved, when there is a valid one.</summary>
    public string? KeyId { get; }
}

/// <summary>
/// A key has been used for as many encryptions as random 96-bit nonces allow (2^32 by default). Nothing was encrypted;
/// rotate to a new active key (<c>StateKeyRing.Rotate</c>) and re-encrypt the records that use the old one.
/// </summary>
public sealed class StateKeyUsageLimitException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateKeyUsageLimitException(string keyId, long limit)
        : base($"The encryption key '{keyId}' has reached its limit of {limit.ToString(System.Globalization.CultureInfo.InvariantCulture)} encryptions; nothing was encrypted. Rotate to a new active key and re-encrypt the records that use '{keyId}'.")
    {
        KeyId = keyId;
        Limit = limit;
    }

    /// <summary>The key that reached its limit.</summary>
    public string KeyId { get; }

    /// <summary>The number of encryptions allowed per key.</summary>
    public long Limit { get; }
}
