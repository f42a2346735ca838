using System;
using System.Linq;
using CsCheck;
using StateGen.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Security;

/// <summary>
/// The envelope parser treats its input as untrusted: random bytes, random bytes behind a valid header, mutated,
/// truncated and extended envelopes give only <see cref="StateDecryptionException"/> (or, for the unchanged envelope,
/// the plaintext), and <see cref="StateEncryptor.TryGetKeyId"/> never throws. 5,000 and 3,000 inputs in CI;
/// <c>STATEGEN_FUZZ_ITERATIONS</c> raises both (the long-run script).
/// </summary>
public sealed class EnvelopeFuzzTests : IDisposable
{
    private readonly StateKeyRing _ring = TestKeys.Ring("fuzz.key_1");
    private readonly StateEncryptor _encryptor;
    private readonly byte[] _envelope;

    public EnvelopeFuzzTests()
    {
        _ring.AddRetiredKey("a", TestKeys.Key(7));
        _encryptor = new StateEncryptor(_ring);
        _envelope = _encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
    }

    public void Dispose() => _ring.Dispose();

    private static readonly Gen<byte[]> RandomBytes = Gen.Byte.Array[0, 120];

    private static readonly Gen<byte[]> RandomBehindHeader = Gen.Select(
        Gen.Byte[0, 3], Gen.Byte[0, 70], Gen.Byte.Array[0, 120],
        (algorithm, keyIdLength, rest) => new byte[] { 0x53, 0x47, 0x45, 1, algorithm, keyIdLength }.Concat(rest).ToArray());

    private static readonly Gen<byte[]> ShortKeyIdEnvelopes = Gen.Select(
        Gen.Byte[1, 2], Gen.Byte.Array[0, 80],
        (algorithm, rest) => new byte[] { 0x53, 0x47, 0x45, 1, algorithm, 1, (byte)'a' }.Concat(rest).ToArray());

    private Gen<byte[]> Mutated => Gen.Select(Gen.Int[0, 1000].Array[1, 4], Gen.Byte[1, 255].Array[4], (positions, masks) =>
    {
        byte[] copy = (byte[])_envelope.Clone();
        for (int i = 0; i < positions.Length; i++)
        {
            copy[positions[i] % copy.Length] ^= masks[i];
        }

        return copy;
    });

    private Gen<byte[]> Resized => Gen.Select(Gen.Int[0, 200], Gen.Byte.Array[0, 16], (length, extra) =>
        length <= _envelope.Length ? _envelope[..length] : _envelope.Concat(extra).ToArray());

    [Fact]
    public void Random_and_mutated_input_gives_only_the_typed_exception()
        => Gen.OneOf(RandomBytes, RandomBehindHeader, ShortKeyIdEnvelopes, Mutated, Resized).Sample(
            input =>
            {
                StateEncryptor.TryGetKeyId(input, out _);
                _encryptor.NeedsReEncryption(input);
                try
                {
                    byte[] plaintext = _encryptor.Decrypt(input, TestKeys.Aad(), "agent/a1", "note/1");
                    Assert.Equal(_envelope, input);
                    Assert.Equal(TestKeys.SecretBytes, plaintext);
                }
                catch (StateDecryptionException e)
                {
                    Assert.True(Enum.IsDefined(e.Reason));
                    Assert.DoesNotContain(TestKeys.Secret, e.Message);
                    Assert.Null(e.InnerException);
                }
            },
            iter: Math.Max(5000, ReliabilityRuns.FuzzIterations));

    [Fact]
    public void TryGetKeyId_reads_only_well_formed_key_ids()
        => Gen.OneOf(RandomBytes, RandomBehindHeader, ShortKeyIdEnvelopes).Sample(
            input =>
            {
                if (StateEncryptor.TryGetKeyId(input, out string? keyId))
                {
                    Assert.True(StateKeyRing.IsValidKeyId(keyId));
                }
            },
            iter: Math.Max(3000, ReliabilityRuns.FuzzIterations));
}
