using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Text;
using System.Threading;

namespace StateGen.Security;

/// <summary>
/// One key of a <see cref="StateKeyRing"/>: the 256-bit master key in a pinned array (so the GC never leaves copies
/// behind), its usage counter, a small pool of cipher instances per algorithm and the derived fingerprint key. Dispose
/// zeroes the key material; ciphers still rented at that moment are disposed when they come back.
/// </summary>
internal sealed class StateKeyMaterial : IDisposable
{
    private static readonly byte[] FingerprintInfo = Encoding.ASCII.GetBytes("StateGen/fingerprint/v1/hmac-sha256");
    private static readonly int MaxPooled = Math.Max(4, Environment.ProcessorCount * 2);

    private readonly object _gate = new();
    private readonly byte[] _key;
    private readonly Stack<AeadCipher> _aesPool = new();
    private readonly Stack<AeadCipher> _chachaPool = new();
    private byte[]? _fingerprintKey;
    private long _encryptions;
    private bool _disposed;

    public StateKeyMaterial(string keyId, ReadOnlySpan<byte> key)
    {
        KeyId = keyId;
        KeyIdAscii = Encoding.ASCII.GetBytes(keyId);
        _key = GC.AllocateArray<byte>(StateKeyRing.KeySizeInBytes, pinned: true);
        key.CopyTo(_key);
    }

    public string KeyId { get; }

    public byte[] KeyIdAscii { get; }

    public long Encryptions => Interlocked.Read(ref _encryptions);

    public bool IsDisposed
    {
        get
        {
            lock (_gate)
            {
                return _disposed;
            }
        }
    }

    /// <summary>Counts one encryption unless the limit is reached; returns the new count, or -1 at the limit.</summary>
    public long TryCountEncryption(long limit)
    {
        long current = Interlocked.Read(ref _encryptions);
        while (true)
        {
            if (current >= limit)
            {
                return -1;
            }

            long seen = Interlocked.CompareExchange(ref _encryptions, current + 1, current);
            if (seen == current)
            {
                return current + 1;
            }

            current = seen;
        }
    }

    /// <summary>Sets the counter (tests, and restoring a count persisted elsewhere).</summary>
    public void SetEncryptions(long count) => Interlocked.Exchange(ref _encryptions, count);

    /// <summary>Raises the counter to at least <paramref name="count"/> (a count restored from a store never lowers it).</summary>
    public void RaiseEncryptionsTo(long count)
    {
        long current = Interlocked.Read(ref _encryptions);
        while (current < count)
        {
            long seen = Interlocked.CompareExchange(ref _encryptions, count, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>Rents a cipher; <see langword="null"/> when this key has been disposed (removed from the ring).</summary>
    public AeadCipher? Rent(StateEncryptionAlgorithm algorithm)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return null;
            }

            Stack<AeadCipher> pool = algorithm == StateEncryptionAlgorithm.Aes256Gcm ? _aesPool : _chachaPool;
            return pool.Count > 0 ? pool.Pop() : AeadCipher.Create(algorithm, _key);
        }
    }

    public void Return(StateEncryptionAlgorithm algorithm, AeadCipher cipher)
    {
        lock (_gate)
        {
            Stack<AeadCipher> pool = algorithm == StateEncryptionAlgorithm.Aes256Gcm ? _aesPool : _chachaPool;
            if (!_disposed && pool.Count < MaxPooled)
            {
                pool.Push(cipher);
                return;
            }
        }

        cipher.Dispose();
    }

    /// <summary>Copies the derived fingerprint key; <see langword="false"/> when this key has been disposed.</summary>
    public bool TryCopyFingerprintKey(Span<byte> destination)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return false;
            }

            if (_fingerprintKey is null)
            {
                byte[] derived = GC.AllocateArray<byte>(StateKeyRing.KeySizeInBytes, pinned: true);
                HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, derived, ReadOnlySpan<byte>.Empty, FingerprintInfo);
                _fingerprintKey = derived;
            }

            _fingerprintKey.CopyTo(destination);
            return true;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            CryptographicOperations.ZeroMemory(_key);
            if (_fingerprintKey is not null)
            {
                CryptographicOperations.ZeroMemory(_fingerprintKey);
            }

            while (_aesPool.Count > 0)
            {
                _aesPool.Pop().Dispose();
            }

            while (_chachaPool.Count > 0)
            {
                _chachaPool.Pop().Dispose();
            }
        }
    }
}
