using System;
using System.Security.Cryptography;
using System.Text;

namespace StateGen.Security;

/// <summary>
/// One AES-GCM or ChaCha20-Poly1305 instance keyed with a subkey derived for that algorithm. Not thread-safe: a
/// <see cref="StateKeyMaterial"/> pools them and hands each to one caller at a time.
/// </summary>
internal sealed class AeadCipher : IDisposable
{
    private static readonly byte[] AesInfo = Encoding.ASCII.GetBytes("StateGen/envelope/v1/aes-256-gcm");
    private static readonly byte[] ChaChaInfo = Encoding.ASCII.GetBytes("StateGen/envelope/v1/chacha20-poly1305");

    private readonly AesGcm? _aes;
    private readonly ChaCha20Poly1305? _chacha;

    private AeadCipher(AesGcm aes) => _aes = aes;

    private AeadCipher(ChaCha20Poly1305 chacha) => _chacha = chacha;

    public static bool IsSupported(StateEncryptionAlgorithm algorithm) => algorithm switch
    {
        StateEncryptionAlgorithm.Aes256Gcm => AesGcm.IsSupported,
        StateEncryptionAlgorithm.ChaCha20Poly1305 => ChaCha20Poly1305.IsSupported,
        _ => false,
    };

    /// <summary>
    /// Creates a cipher for a master key. Each algorithm gets its own HKDF-SHA256 subkey, so one ring key is never
    /// used directly by two algorithms.
    /// </summary>
    public static AeadCipher Create(StateEncryptionAlgorithm algorithm, ReadOnlySpan<byte> masterKey)
    {
        Span<byte> subkey = stackalloc byte[StateKeyRing.KeySizeInBytes];
        try
        {
            HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, subkey, ReadOnlySpan<byte>.Empty, algorithm == StateEncryptionAlgorithm.Aes256Gcm ? AesInfo : ChaChaInfo);
            return algorithm switch
            {
                StateEncryptionAlgorithm.Aes256Gcm => new AeadCipher(new AesGcm(subkey, StateEnvelope.TagSize)),
                StateEncryptionAlgorithm.ChaCha20Poly1305 => new AeadCipher(new ChaCha20Poly1305(subkey)),
                _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
            };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subkey);
        }
    }

    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (_aes is not null)
        {
            _aes.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
        else
        {
            _chacha!.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
    }

    /// <exception cref="CryptographicException">The tag did not verify.</exception>
    public void Decrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (_aes is not null)
        {
            _aes.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
        }
        else
        {
            _chacha!.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
        }
    }

    public void Dispose()
    {
        _aes?.Dispose();
        _chacha?.Dispose();
    }
}
