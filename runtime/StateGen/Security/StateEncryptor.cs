using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace StateGen.Security;

/// <summary>
/// Encrypts values into self-describing envelopes with the active key of a <see cref="StateKeyRing"/> and decrypts
/// envelopes with whichever ring key they name. Thread-safe; one instance serves the whole program.
/// </summary>
/// <remarks>
/// <para>
/// Every encryption draws a fresh random 96-bit nonce and counts one use of the key. At
/// <see cref="StateEncryptionOptions.KeyUsageWarningThreshold"/> uses <see cref="KeyUsageWarning"/> is raised and a
/// warning logged; at 2^32 uses the key refuses to encrypt (<see cref="StateKeyUsageLimitException"/>). The counts
/// live in the key ring; an <see cref="Storage.Encryption.EncryptedStateStore"/> over a store that keeps counts makes
/// them durable there (see <see cref="StateKeyRing.GetEncryptionCount"/>).
/// </para>
/// <para>
/// The associated data binds an envelope to its record (see <see cref="StateAssociatedData"/>): decrypting with other
/// associated data fails with <see cref="StateDecryptionFailureReason.AuthenticationFailed"/>. The envelope header is
/// authenticated too.
/// </para>
/// </remarks>
public sealed class StateEncryptor
{
    private const int StackAadLimit = 512;
    private const int NonceBatch = 64;

    [ThreadStatic]
    private static byte[]? t_nonces;

    [ThreadStatic]
    private static int t_nonceOffset;

    private readonly StateKeyRing _ring;
    private readonly ILogger? _logger;
    private readonly long _warningThreshold;
    private readonly long _limit;
    private readonly int _maxPlaintextBytes;
    private readonly ConcurrentDictionary<StateKeyMaterial, byte> _warned = new();

    /// <summary>Creates an encryptor over a key ring. The ring stays owned by the caller.</summary>
    /// <param name="keyRing">The keys.</param>
    /// <param name="options">The algorithm and limits; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Receives the key usage warnings; never key material or data.</param>
    /// <exception cref="PlatformNotSupportedException">The chosen algorithm is not supported on this platform.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public StateEncryptor(StateKeyRing keyRing, StateEncryptionOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(keyRing);
        options ??= new StateEncryptionOptions();
        options.Validate();
        if (!AeadCipher.IsSupported(options.Algorithm))
        {
            throw new PlatformNotSupportedException($"The encryption algorithm {options.Algorithm} is not supported on this platform; use {StateEncryptionAlgorithm.Aes256Gcm}.");
        }

        _ring = keyRing;
        _logger = logger;
        Algorithm = options.Algorithm;
        _warningThreshold = options.KeyUsageWarningThreshold;
        _limit = options.KeyUsageLimit;
        _maxPlaintextBytes = options.MaxPlaintextBytes;
    }

    /// <summary>
    /// Raised once per key and encryptor, on the first encryption whose count is at or past
    /// <see cref="StateEncryptionOptions.KeyUsageWarningThreshold"/>, after that encryption succeeded. With counts that a
    /// store keeps durable, a key past the threshold warns again once in each new process. Handlers run on the
    /// encrypting thread and should be quick.
    /// </summary>
    public event EventHandler<StateKeyUsageEventArgs>? KeyUsageWarning;

    /// <summary>The algorithm new envelopes are written with.</summary>
    public StateEncryptionAlgorithm Algorithm { get; }

    /// <summary>The key ring.</summary>
    public StateKeyRing KeyRing => _ring;

    /// <summary>The logger given at construction, if any.</summary>
    internal ILogger? Logger => _logger;

    /// <summary>Whether an algorithm is supported on this platform (ChaCha20-Poly1305 is not everywhere).</summary>
    public static bool IsSupported(StateEncryptionAlgorithm algorithm) => AeadCipher.IsSupported(algorithm);

    /// <summary>Whether the bytes start like an envelope (they may still be malformed); plain JSON never does.</summary>
    public static bool LooksLikeEnvelope(ReadOnlySpan<byte> data) => StateEnvelope.HasMagic(data);

    /// <summary>
    /// Reads the key id an envelope names, without decrypting it: a re-encryption job uses it to find the records of
    /// a retired key. <see langword="false"/> for anything that is not a well-formed envelope.
    /// </summary>
    public static bool TryGetKeyId(ReadOnlySpan<byte> envelope, [NotNullWhen(true)] out string? keyId)
    {
        if (StateEnvelope.TryParse(envelope, int.MaxValue, out StateEnvelope.Parsed parsed, out _, out _))
        {
            keyId = Encoding.ASCII.GetString(envelope[parsed.KeyId]);
            return true;
        }

        keyId = null;
        return false;
    }

    /// <summary>Encrypts a value with the active key.</summary>
    /// <param name="plaintext">The value.</param>
    /// <param name="associatedData">
    /// What the envelope belongs to (see <see cref="StateAssociatedData"/>); the same bytes are needed to decrypt.
    /// </param>
    /// <returns>The envelope.</returns>
    /// <exception cref="StateKeyUsageLimitException">The active key reached its limit of encryptions: rotate.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The plaintext is larger than <see cref="StateEncryptionOptions.MaxPlaintextBytes"/>.</exception>
    /// <exception cref="ObjectDisposedException">The key ring has been disposed.</exception>
    public byte[] Encrypt(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (plaintext.Length > _maxPlaintextBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(plaintext), $"The value is {plaintext.Length} bytes, more than the limit of {_maxPlaintextBytes} bytes for encryption.");
        }

        while (true)
        {
            StateKeyMaterial key = _ring.Current.Active;
            AeadCipher? cipher = key.Rent(Algorithm);
            if (cipher is null)
            {
                // The key was removed (after a rotation) or the ring disposed since the snapshot was read.
                ObjectDisposedException.ThrowIf(_ring.IsDisposed, _ring);
                continue;
            }

            long count;
            byte[] envelope;
            try
            {
                // A store that keeps counts durable raises the key's count to what it persisted before the first
                // count here, and covers each count with a durable reservation before the nonce is drawn.
                StateKeyUsageLedger[] ledgers = _ring.UsageLedgers;
                foreach (StateKeyUsageLedger ledger in ledgers)
                {
                    ledger.Enter(key);
                }

                count = key.TryCountEncryption(_limit);
                if (count < 0)
                {
                    if (_logger is not null)
                    {
                        SecurityLog.KeyUsageLimitReached(_logger, key.KeyId, _limit);
                    }

                    throw new StateKeyUsageLimitException(key.KeyId, _limit);
                }

                foreach (StateKeyUsageLedger ledger in ledgers)
                {
                    ledger.Cover(key, count);
                }

                envelope = Seal(cipher, key.KeyIdAscii, plaintext, associatedData);
            }
            finally
            {
                key.Return(Algorithm, cipher);
            }

            // ">=" rather than "==": a count restored from a store can start past the threshold.
            if (count >= _warningThreshold && _warned.TryAdd(key, 0))
            {
                WarnUsage(key.KeyId, count);
            }

            return envelope;
        }
    }

    /// <summary>Decrypts an envelope with the ring key it names.</summary>
    /// <param name="envelope">The envelope, treated as untrusted.</param>
    /// <param name="associatedData">The associated data it was encrypted with.</param>
    /// <returns>The value.</returns>
    /// <exception cref="StateDecryptionException">The envelope is malformed, names an unknown key or algorithm, or does not authenticate.</exception>
    /// <exception cref="ObjectDisposedException">The key ring has been disposed.</exception>
    public byte[] Decrypt(ReadOnlySpan<byte> envelope, ReadOnlySpan<byte> associatedData) => Decrypt(envelope, associatedData, null, null);

    /// <summary>Decrypts an envelope; a failure names the record's scope and key.</summary>
    /// <param name="envelope">The envelope, treated as untrusted.</param>
    /// <param name="associatedData">The associated data it was encrypted with.</param>
    /// <param name="scope">The record's scope, for error messages only.</param>
    /// <param name="key">The record's key, for error messages only.</param>
    /// <returns>The value.</returns>
    /// <exception cref="StateDecryptionException">The envelope is malformed, names an unknown key or algorithm, or does not authenticate.</exception>
    /// <exception cref="ObjectDisposedException">The key ring has been disposed.</exception>
    public byte[] Decrypt(ReadOnlySpan<byte> envelope, ReadOnlySpan<byte> associatedData, string? scope, string? key)
    {
        if (!StateEnvelope.TryParse(envelope, _maxPlaintextBytes, out StateEnvelope.Parsed parsed, out StateDecryptionFailureReason failure, out string? detail))
        {
            throw Fail(failure, null, scope, key, detail);
        }

        ReadOnlySpan<byte> keyIdAscii = envelope[parsed.KeyId];
        StateKeyMaterial? material = _ring.Current.Find(keyIdAscii);
        if (material is null)
        {
            throw Fail(StateDecryptionFailureReason.UnknownKeyId, Encoding.ASCII.GetString(keyIdAscii), scope, key, null);
        }

        if (!AeadCipher.IsSupported(parsed.Algorithm))
        {
            throw Fail(StateDecryptionFailureReason.UnsupportedAlgorithm, material.KeyId, scope, key, $"{parsed.Algorithm} is not supported on this platform.");
        }

        AeadCipher? cipher = material.Rent(parsed.Algorithm);
        if (cipher is null)
        {
            ObjectDisposedException.ThrowIf(_ring.IsDisposed, _ring);
            throw Fail(StateDecryptionFailureReason.UnknownKeyId, material.KeyId, scope, key, "The key was removed from the ring.");
        }

        byte[] plaintext = parsed.CiphertextLength == 0 ? Array.Empty<byte>() : new byte[parsed.CiphertextLength];
        byte[]? rented = null;
        int aadLength = parsed.HeaderSize + associatedData.Length;
        Span<byte> aad = aadLength <= StackAadLimit
            ? stackalloc byte[StackAadLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(aadLength));
        try
        {
            aad = aad.Slice(0, aadLength);
            envelope.Slice(0, parsed.HeaderSize).CopyTo(aad);
            associatedData.CopyTo(aad.Slice(parsed.HeaderSize));
            cipher.Decrypt(envelope[parsed.Nonce], envelope[parsed.Ciphertext], envelope[parsed.Tag], plaintext, aad);
            return plaintext;
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw Fail(StateDecryptionFailureReason.AuthenticationFailed, material.KeyId, scope, key, null);
        }
        finally
        {
            material.Return(parsed.Algorithm, cipher);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Whether an envelope is encrypted with a key other than the active key (so a re-encryption job should rewrite
    /// it). <see langword="false"/> for anything that is not a well-formed envelope.
    /// </summary>
    public bool NeedsReEncryption(ReadOnlySpan<byte> envelope)
        => StateEnvelope.TryParse(envelope, int.MaxValue, out StateEnvelope.Parsed parsed, out _, out _)
           && !envelope[parsed.KeyId].SequenceEqual(_ring.Current.Active.KeyIdAscii);

    /// <summary>
    /// Decrypts an envelope and encrypts the value again with the active key and this encryptor's algorithm, for a
    /// re-encryption job after a rotation. The intermediate plaintext is zeroed.
    /// </summary>
    /// <exception cref="StateDecryptionException">The envelope could not be decrypted.</exception>
    /// <exception cref="StateKeyUsageLimitException">The active key reached its limit of encryptions.</exception>
    public byte[] ReEncrypt(ReadOnlySpan<byte> envelope, ReadOnlySpan<byte> associatedData)
    {
        byte[] plaintext = Decrypt(envelope, associatedData);
        try
        {
            return Encrypt(plaintext, associatedData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private byte[] Seal(AeadCipher cipher, byte[] keyIdAscii, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        int headerSize = StateEnvelope.HeaderSize(keyIdAscii.Length);
        byte[] envelope = new byte[StateEnvelope.EnvelopeSize(keyIdAscii.Length, plaintext.Length)];
        Span<byte> span = envelope;
        StateEnvelope.WriteHeader(span, Algorithm, keyIdAscii);
        Span<byte> nonce = span.Slice(headerSize - StateEnvelope.NonceSize, StateEnvelope.NonceSize);
        NextNonce(nonce);

        byte[]? rented = null;
        int aadLength = headerSize + associatedData.Length;
        Span<byte> aad = aadLength <= StackAadLimit
            ? stackalloc byte[StackAadLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(aadLength));
        try
        {
            aad = aad.Slice(0, aadLength);
            span.Slice(0, headerSize).CopyTo(aad);
            associatedData.CopyTo(aad.Slice(headerSize));
            cipher.Encrypt(nonce, plaintext, span.Slice(headerSize, plaintext.Length), span.Slice(headerSize + plaintext.Length), aad);
            return envelope;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Writes a fresh random nonce. Random bytes are drawn 64 nonces at a time into a per-thread buffer (nonces are
    /// public, so the buffer holds nothing secret), which saves a call into the system generator per encryption.
    /// </summary>
    private static void NextNonce(Span<byte> nonce)
    {
        byte[]? buffer = t_nonces;
        if (buffer is null)
        {
            t_nonces = buffer = new byte[NonceBatch * StateEnvelope.NonceSize];
            t_nonceOffset = buffer.Length;
        }

        if (t_nonceOffset >= buffer.Length)
        {
            RandomNumberGenerator.Fill(buffer);
            t_nonceOffset = 0;
        }

        Span<byte> next = buffer.AsSpan(t_nonceOffset, StateEnvelope.NonceSize);
        next.CopyTo(nonce);
        next.Clear(); // each nonce is handed out once
        t_nonceOffset += StateEnvelope.NonceSize;
    }

    private void WarnUsage(string keyId, long count)
    {
        if (_logger is not null)
        {
            SecurityLog.KeyUsageWarning(_logger, keyId, count, _warningThreshold, _limit);
        }

        KeyUsageWarning?.Invoke(this, new StateKeyUsageEventArgs(keyId, count, _warningThreshold, _limit));
    }

    private StateDecryptionException Fail(StateDecryptionFailureReason reason, string? keyId, string? scope, string? key, string? detail)
    {
        if (_logger is not null)
        {
            SecurityLog.DecryptionFailed(_logger, reason, keyId);
        }

        return new StateDecryptionException(reason, keyId, scope, key, detail);
    }
}
