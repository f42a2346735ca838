using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace StateGen.Security;

/// <summary>
/// Keyed fingerprints of sensitive values, to tell whether a redacted value changed without storing it: HMAC-SHA256
/// under a key derived from a ring key with HKDF (its own purpose label, so the fingerprint key is never an encryption
/// key), truncated to 128 bits and written as 22 base64url characters. Thread-safe.
/// </summary>
/// <remarks>
/// The context (for example the member path) is part of the MAC input, so one value gives unrelated fingerprints in two
/// members. Fingerprints made with a retired key still match through <see cref="Matches(string, string, ReadOnlySpan{byte})"/>
/// until that key leaves the ring.
/// </remarks>
public sealed class StateFingerprinter
{
    /// <summary>The fingerprint size before encoding: 16 bytes.</summary>
    public const int FingerprintBytes = 16;

    /// <summary>The length of a fingerprint string: 22 base64url characters, no padding.</summary>
    public const int FingerprintLength = 22;

    private const int StackLimit = 512;
    private readonly StateKeyRing _ring;

    /// <summary>Creates a fingerprinter over a key ring. The ring stays owned by the caller.</summary>
    public StateFingerprinter(StateKeyRing keyRing)
    {
        ArgumentNullException.ThrowIfNull(keyRing);
        _ring = keyRing;
    }

    /// <summary>The fingerprint of a value under the active key.</summary>
    /// <param name="context">What the value is, e.g. <c>Agent.ApiKey</c>; the same context is needed to match.</param>
    /// <param name="value">The value.</param>
    public string Compute(string context, ReadOnlySpan<byte> value)
    {
        Span<byte> mac = stackalloc byte[FingerprintBytes];
        Mac(_ring.Current.Active, context, value, mac);
        return Base64Url(mac);
    }

    /// <summary>The fingerprint of a string (as UTF-8) under the active key.</summary>
    /// <param name="context">What the value is; the same context is needed to match.</param>
    /// <param name="value">The value.</param>
    public string Compute(string context, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return WithUtf8(value, context, static (self, context, bytes) => self.Compute(context, bytes));
    }

    /// <summary>
    /// Whether a fingerprint is that of this value under any key of the ring (active or retired), compared in fixed
    /// time. A malformed fingerprint does not match.
    /// </summary>
    public bool Matches(string fingerprint, string context, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        if (fingerprint.Length != FingerprintLength)
        {
            return false;
        }

        // Compare the canonical text, so a fingerprint with other padding or trailing bits never matches.
        ReadOnlySpan<byte> expected = MemoryMarshal.AsBytes(fingerprint.AsSpan());
        Span<byte> mac = stackalloc byte[FingerprintBytes];
        Span<char> text = stackalloc char[FingerprintLength];
        foreach (StateKeyMaterial key in _ring.Current.Keys)
        {
            if (key.IsDisposed)
            {
                continue;
            }

            Mac(key, context, value, mac);
            Base64Url(mac, text);
            if (CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(text), expected))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a fingerprint is that of this string (as UTF-8) under any key of the ring.</summary>
    public bool Matches(string fingerprint, string context, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return WithUtf8(value, context, (self, context, bytes) => self.Matches(fingerprint, context, bytes));
    }

    private delegate T Utf8Func<T>(StateFingerprinter self, string context, ReadOnlySpan<byte> bytes);

    private T WithUtf8<T>(string value, string context, Utf8Func<T> func)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(value.Length));
        try
        {
            int written = Encoding.UTF8.GetBytes(value, buffer);
            return func(this, context, buffer.AsSpan(0, written));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Mac(StateKeyMaterial key, string context, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(context);
        Span<byte> derived = stackalloc byte[StateKeyRing.KeySizeInBytes];
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        if (!key.TryCopyFingerprintKey(derived))
        {
            throw new ObjectDisposedException(nameof(StateKeyRing), $"The key '{key.KeyId}' was removed from the key ring.");
        }

        int contextBytes = Encoding.UTF8.GetByteCount(context);
        int length = 4 + contextBytes + value.Length;
        byte[]? rented = null;
        Span<byte> message = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            message = message.Slice(0, length);
            BinaryPrimitives.WriteInt32BigEndian(message, contextBytes);
            Encoding.UTF8.GetBytes(context, message.Slice(4));
            value.CopyTo(message.Slice(4 + contextBytes));
            HMACSHA256.HashData(derived, message, full);
            full.Slice(0, FingerprintBytes).CopyTo(destination);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
            CryptographicOperations.ZeroMemory(message);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes)
    {
        Span<char> text = stackalloc char[FingerprintLength];
        Base64Url(bytes, text);
        return new string(text);
    }

    private static void Base64Url(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        Span<char> chars = stackalloc char[24];
        Convert.TryToBase64Chars(bytes, chars, out _);
        for (int i = 0; i < FingerprintLength; i++)
        {
            destination[i] = chars[i] switch { '+' => '-', '/' => '_', char c => c };
        }
    }
}
