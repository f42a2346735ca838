using System;

namespace StateGen.Security;

/// <summary>Options of a <see cref="StateEncryptor"/>.</summary>
public sealed class StateEncryptionOptions
{
    /// <summary>The default warning threshold: 2^30 encryptions per key.</summary>
    public const long DefaultKeyUsageWarningThreshold = 1L << 30;

    /// <summary>The hard limit of encryptions per key: 2^32, the NIST SP 800-38D bound for random 96-bit nonces.</summary>
    public const long DefaultKeyUsageLimit = 1L << 32;

    /// <summary>The default largest plaintext: 256 MiB.</summary>
    public const int DefaultMaxPlaintextBytes = 256 * 1024 * 1024;

    /// <summary>
    /// The algorithm new envelopes are written with: <see cref="StateEncryptionAlgorithm.Aes256Gcm"/> by default.
    /// Decryption reads either algorithm, whatever this says.
    /// </summary>
    public StateEncryptionAlgorithm Algorithm { get; set; } = StateEncryptionAlgorithm.Aes256Gcm;

    /// <summary>
    /// After this many encryptions under one key, <see cref="StateEncryptor.KeyUsageWarning"/> is raised and a warning
    /// is logged, once per key: time to rotate. 2^30 by default; at most the hard limit of 2^32.
    /// </summary>
    public long KeyUsageWarningThreshold { get; set; } = DefaultKeyUsageWarningThreshold;

    /// <summary>
    /// The largest plaintext that is encrypted, and the largest ciphertext an envelope may carry when it is decrypted
    /// (a larger envelope is <see cref="StateDecryptionFailureReason.Malformed"/>). 256 MiB by default.
    /// </summary>
    public int MaxPlaintextBytes { get; set; } = DefaultMaxPlaintextBytes;

    /// <summary>The hard limit per key; settable here for tests only.</summary>
    internal long KeyUsageLimit { get; set; } = DefaultKeyUsageLimit;

    internal void Validate()
    {
        if (!Enum.IsDefined(Algorithm))
        {
            throw new ArgumentOutOfRangeException(nameof(Algorithm), Algorithm, "Unknown encryption algorithm.");
        }

        if (KeyUsageLimit is < 1 or > DefaultKeyUsageLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(KeyUsageLimit), KeyUsageLimit, $"The key usage limit must be between 1 and {DefaultKeyUsageLimit}.");
        }

        if (KeyUsageWarningThreshold < 1 || KeyUsageWarningThreshold > KeyUsageLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(KeyUsageWarningThreshold), KeyUsageWarningThreshold, $"The key usage warning threshold must be between 1 and the limit of {KeyUsageLimit}.");
        }

        if (MaxPlaintextBytes is < 0 or > int.MaxValue - 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPlaintextBytes), MaxPlaintextBytes, "The largest plaintext must be between 0 and about 2 GiB.");
        }
    }
}

/// <summary>A key has been used for many encryptions (<see cref="StateEncryptor.KeyUsageWarning"/>): rotate it.</summary>
public sealed class StateKeyUsageEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    public StateKeyUsageEventArgs(string keyId, long encryptionCount, long threshold, long limit)
    {
        KeyId = keyId;
        EncryptionCount = encryptionCount;
        Threshold = threshold;
        Limit = limit;
    }

    /// <summary>The key that reached the threshold.</summary>
    public string KeyId { get; }

    /// <summary>How many encryptions the key has done.</summary>
    public long EncryptionCount { get; }

    /// <summary>The configured warning threshold.</summary>
    public long Threshold { get; }

    /// <summary>The hard limit after which the key no longer encrypts.</summary>
    public long Limit { get; }
}
