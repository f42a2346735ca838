namespace StateGen.Security;

/// <summary>The authenticated encryption algorithm of an envelope. The value is the algorithm id written in the envelope.</summary>
public enum StateEncryptionAlgorithm : byte
{
    /// <summary>AES-256 in Galois/Counter Mode with a 128-bit tag (the default).</summary>
    Aes256Gcm = 1,

    /// <summary>ChaCha20-Poly1305 (RFC 8439), where the platform supports it (<c>ChaCha20Poly1305.IsSupported</c>).</summary>
    ChaCha20Poly1305 = 2,
}

/// <summary>Why an envelope could not be decrypted (<see cref="StateDecryptionException.Reason"/>).</summary>
public enum StateDecryptionFailureReason
{
    /// <summary>The bytes are not a well-formed envelope: truncated, garbled, with an invalid key id, or oversized.</summary>
    Malformed = 1,

    /// <summary>The envelope names a key id that is not in the key ring.</summary>
    UnknownKeyId = 2,

    /// <summary>The tag did not verify: wrong key, altered envelope, or associated data of another record.</summary>
    AuthenticationFailed = 3,

    /// <summary>The envelope names an algorithm that is unknown, or not supported on this platform.</summary>
    UnsupportedAlgorithm = 4,

    /// <summary>The envelope has a format version this program does not know.</summary>
    UnsupportedFormat = 5,

    /// <summary>
    /// The stored value is not encrypted at all (plaintext written before encryption was turned on), and the store
    /// does not allow plaintext reads (<c>EncryptedStateStoreOptions.AllowPlaintextReads</c>).
    /// </summary>
    NotEncrypted = 6,
}
