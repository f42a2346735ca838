using System;

namespace StateGen.Security;

/// <summary>
/// The binary envelope of an encrypted value (format version 1). All lengths are fixed or prefixed, so the parser
/// never trusts anything it has not bounds-checked:
/// <code>
/// offset    size  field
/// 0         3     magic "SGE" (0x53 0x47 0x45)
/// 3         1     format version (1)
/// 4         1     algorithm id (<see cref="StateEncryptionAlgorithm"/>)
/// 5         1     key id length n (1..64)
/// 6         n     key id, ASCII [A-Za-z0-9._-]
/// 6+n       12    nonce
/// 18+n      L     ciphertext (L = plaintext length)
/// 18+n+L    16    tag
/// </code>
/// The header (bytes 0 to 18+n) is authenticated together with the caller's associated data.
/// </summary>
internal static class StateEnvelope
{
    public const byte Magic0 = 0x53; // 'S'
    public const byte Magic1 = 0x47; // 'G'
    public const byte Magic2 = 0x45; // 'E'
    public const byte FormatVersion = 1;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int FixedHeaderSize = 6; // magic, version, algorithm, key id length
    public const int MinSize = FixedHeaderSize + 1 + NonceSize + TagSize;

    /// <summary>The size of the header (everything before the ciphertext) for a key id of this many bytes.</summary>
    public static int HeaderSize(int keyIdLength) => FixedHeaderSize + keyIdLength + NonceSize;

    public static int EnvelopeSize(int keyIdLength, int plaintextLength) => HeaderSize(keyIdLength) + plaintextLength + TagSize;

    /// <summary>Whether the bytes start with the envelope magic (they may still be malformed).</summary>
    public static bool HasMagic(ReadOnlySpan<byte> data)
        => data.Length >= 3 && data[0] == Magic0 && data[1] == Magic1 && data[2] == Magic2;

    /// <summary>Writes the header for a key id; the nonce bytes are left for the caller to fill.</summary>
    public static void WriteHeader(Span<byte> destination, StateEncryptionAlgorithm algorithm, ReadOnlySpan<byte> keyIdAscii)
    {
        destination[0] = Magic0;
        destination[1] = Magic1;
        destination[2] = Magic2;
        destination[3] = FormatVersion;
        destination[4] = (byte)algorithm;
        destination[5] = (byte)keyIdAscii.Length;
        keyIdAscii.CopyTo(destination.Slice(FixedHeaderSize));
    }

    /// <summary>
    /// Parses an untrusted envelope without throwing. On failure <paramref name="failure"/> and
    /// <paramref name="detail"/> (a constant text with no data in it) say why.
    /// </summary>
    public static bool TryParse(
        ReadOnlySpan<byte> envelope,
        long maxPlaintextBytes,
        out Parsed parsed,
        out StateDecryptionFailureReason failure,
        out string? detail)
    {
        parsed = default;
        failure = StateDecryptionFailureReason.Malformed;
        if (!HasMagic(envelope))
        {
            detail = "It does not start with the envelope marker.";
            return false;
        }

        if (envelope.Length < FixedHeaderSize)
        {
            detail = "It is shorter than the envelope header.";
            return false;
        }

        if (envelope[3] != FormatVersion)
        {
            failure = StateDecryptionFailureReason.UnsupportedFormat;
            detail = null;
            return false;
        }

        byte algorithm = envelope[4];
        if (algorithm is not ((byte)StateEncryptionAlgorithm.Aes256Gcm or (byte)StateEncryptionAlgorithm.ChaCha20Poly1305))
        {
            failure = StateDecryptionFailureReason.UnsupportedAlgorithm;
            detail = null;
            return false;
        }

        int keyIdLength = envelope[5];
        if (keyIdLength is < 1 or > StateKeyRing.MaxKeyIdLength)
        {
            detail = "Its key id length is out of range.";
            return false;
        }

        int headerSize = HeaderSize(keyIdLength);
        if (envelope.Length < headerSize + TagSize)
        {
            detail = "It is truncated.";
            return false;
        }

        ReadOnlySpan<byte> keyId = envelope.Slice(FixedHeaderSize, keyIdLength);
        if (!StateKeyRing.IsValidKeyId(keyId))
        {
            detail = "Its key id contains characters outside [A-Za-z0-9._-].";
            return false;
        }

        int ciphertextLength = envelope.Length - headerSize - TagSize;
        if (ciphertextLength > maxPlaintextBytes)
        {
            detail = "It is larger than the configured limit.";
            return false;
        }

        parsed = new Parsed((StateEncryptionAlgorithm)algorithm, keyIdLength, ciphertextLength);
        detail = null;
        return true;
    }

    /// <summary>The positions of a parsed envelope's fields.</summary>
    public readonly struct Parsed
    {
        public Parsed(StateEncryptionAlgorithm algorithm, int keyIdLength, int ciphertextLength)
        {
            Algorithm = algorithm;
            KeyIdLength = keyIdLength;
            CiphertextLength = ciphertextLength;
        }

        public StateEncryptionAlgorithm Algorithm { get; }

        public int KeyIdLength { get; }

        public int CiphertextLength { get; }

        public int HeaderSize => StateEnvelope.HeaderSize(KeyIdLength);

        public Range KeyId => new(FixedHeaderSize, FixedHeaderSize + KeyIdLength);

        public Range Nonce => new(FixedHeaderSize + KeyIdLength, HeaderSize);

        public Range Ciphertext => new(HeaderSize, HeaderSize + CiphertextLength);

        public Range Tag => new(HeaderSize + CiphertextLength, HeaderSize + CiphertextLength + TagSize);
    }
}
