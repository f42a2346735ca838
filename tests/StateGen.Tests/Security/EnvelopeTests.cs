using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using StateGen.Security;

namespace StateGen.Tests.Security;

/// <summary>
/// The envelope round-trips under both algorithms, has the documented layout, and every way of damaging it (a flipped
/// bit anywhere, other associated data, another key) is a typed <see cref="StateDecryptionException"/>.
/// </summary>
public sealed class EnvelopeTests : IDisposable
{
    private readonly StateKeyRing _ring = TestKeys.Ring("key-1");

    public void Dispose() => _ring.Dispose();

    public static TheoryData<StateEncryptionAlgorithm> Algorithms()
    {
        var data = new TheoryData<StateEncryptionAlgorithm> { StateEncryptionAlgorithm.Aes256Gcm };
        if (StateEncryptor.IsSupported(StateEncryptionAlgorithm.ChaCha20Poly1305))
        {
            data.Add(StateEncryptionAlgorithm.ChaCha20Poly1305);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Values_of_any_size_round_trip(StateEncryptionAlgorithm algorithm)
    {
        var encryptor = new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = algorithm });
        foreach (int size in new[] { 0, 1, 15, 16, 17, 1000, 100_000 })
        {
            byte[] plaintext = Enumerable.Range(0, size).Select(i => (byte)(i * 7)).ToArray();
            byte[] envelope = encryptor.Encrypt(plaintext, TestKeys.Aad());

            Assert.Equal(plaintext, encryptor.Decrypt(envelope, TestKeys.Aad()));
            Assert.Equal(18 + "key-1".Length + size + 16, envelope.Length);
        }
    }

    [Fact]
    public void ChaCha20_Poly1305_is_on_this_platform_so_both_algorithms_are_tested()
        => Assert.True(StateEncryptor.IsSupported(StateEncryptionAlgorithm.ChaCha20Poly1305));

    [Fact]
    public void Either_algorithm_decrypts_whatever_the_encryptor_writes_with()
    {
        var aes = new StateEncryptor(_ring);
        var chacha = new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = StateEncryptionAlgorithm.ChaCha20Poly1305 });

        Assert.Equal(TestKeys.SecretBytes, aes.Decrypt(chacha.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()), TestKeys.Aad()));
        Assert.Equal(TestKeys.SecretBytes, chacha.Decrypt(aes.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()), TestKeys.Aad()));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void The_header_has_the_documented_layout(StateEncryptionAlgorithm algorithm)
    {
        var encryptor = new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = algorithm });
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        Assert.Equal("SGE"u8.ToArray(), envelope[..3]);
        Assert.Equal(1, envelope[3]);
        Assert.Equal((byte)algorithm, envelope[4]);
        Assert.Equal(5, envelope[5]);
        Assert.Equal("key-1", Encoding.ASCII.GetString(envelope, 6, 5));
        Assert.True(StateEncryptor.TryGetKeyId(envelope, out string? keyId));
        Assert.Equal("key-1", keyId);
        Assert.True(StateEncryptor.LooksLikeEnvelope(envelope));
        Assert.False(StateEncryptor.LooksLikeEnvelope("{\"a\":1}"u8));
    }

    [Fact]
    public void Two_encryptions_of_the_same_value_differ()
    {
        var encryptor = new StateEncryptor(_ring);
        Assert.NotEqual(encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()), encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Every_flipped_bit_of_an_envelope_is_rejected_with_a_typed_reason(StateEncryptionAlgorithm algorithm)
    {
        var encryptor = new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = algorithm });
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        int keyIdEnd = 6 + 5;

        for (int position = 0; position < envelope.Length; position++)
        {
            foreach (byte mask in new byte[] { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF })
            {
                byte[] tampered = (byte[])envelope.Clone();
                tampered[position] ^= mask;

                var e = Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(tampered, TestKeys.Aad()));
                StateDecryptionFailureReason[] expected = position switch
                {
                    < 3 => [StateDecryptionFailureReason.Malformed],
                    3 => [StateDecryptionFailureReason.UnsupportedFormat],
                    // 0x01 <-> 0x02 is the other known algorithm, which then fails to authenticate.
                    4 => [StateDecryptionFailureReason.UnsupportedAlgorithm, StateDecryptionFailureReason.AuthenticationFailed],
                    // A changed key id length or key id names another (unknown) key or is not a key id at all.
                    _ when position < keyIdEnd => [StateDecryptionFailureReason.Malformed, StateDecryptionFailureReason.UnknownKeyId],
                    _ => [StateDecryptionFailureReason.AuthenticationFailed],
                };
                Assert.Contains(e.Reason, expected);
                AssertSafe(e);
            }
        }
    }

    [Fact]
    public void Truncated_and_extended_envelopes_are_rejected()
    {
        var encryptor = new StateEncryptor(_ring);
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        for (int length = 0; length < envelope.Length; length++)
        {
            var e = Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(envelope.AsSpan(0, length), TestKeys.Aad()));
            Assert.Contains(e.Reason, new[] { StateDecryptionFailureReason.Malformed, StateDecryptionFailureReason.AuthenticationFailed });
            AssertSafe(e);
        }

        byte[] extended = envelope.Concat(new byte[] { 0 }).ToArray();
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(extended, TestKeys.Aad())).Reason);
    }

    [Fact]
    public void An_envelope_moved_to_another_record_does_not_decrypt()
    {
        var encryptor = new StateEncryptor(_ring);
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, StateAssociatedData.ForDocument("agent/a1", "note/1", "Note", 1));

        foreach (byte[] other in new[]
                 {
                     StateAssociatedData.ForDocument("agent/a2", "note/1", "Note", 1),
                     StateAssociatedData.ForDocument("agent/a1", "note/2", "Note", 1),
                     StateAssociatedData.ForDocument("agent/a1", "note/1", "Memo", 1),
                     StateAssociatedData.ForDocument("agent/a1", "note/1", "Note", 2),
                     StateAssociatedData.ForMember("Note", "Body", "agent/a1", "note/1"),
                     Array.Empty<byte>(),
                 })
        {
            var e = Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(envelope, other, "agent/a2", "note/1"));
            Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, e.Reason);
            Assert.Equal("key-1", e.KeyId);
            Assert.Equal("agent/a2", e.Scope);
            Assert.Contains("'agent/a2' key 'note/1'", e.Message);
            Assert.Contains("'key-1'", e.Message);
        }
    }

    [Fact]
    public void Long_associated_data_round_trips_and_is_checked()
    {
        var encryptor = new StateEncryptor(_ring);
        byte[] aad = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, aad);

        Assert.Equal(TestKeys.SecretBytes, encryptor.Decrypt(envelope, aad));
        aad[4999] ^= 1;
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(envelope, aad)).Reason);
    }

    [Fact]
    public void The_same_key_id_with_other_key_bytes_fails_authentication()
    {
        byte[] envelope = new StateEncryptor(_ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        using StateKeyRing impostor = TestKeys.Ring("key-1", seed: 2);

        var e = Assert.Throws<StateDecryptionException>(() => new StateEncryptor(impostor).Decrypt(envelope, TestKeys.Aad()));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, e.Reason);
        AssertSafe(e);
    }

    [Fact]
    public void A_key_id_missing_from_the_ring_is_UnknownKeyId_and_named()
    {
        byte[] envelope = new StateEncryptor(_ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        using StateKeyRing other = TestKeys.Ring("key-2", seed: 1);

        var e = Assert.Throws<StateDecryptionException>(() => new StateEncryptor(other).Decrypt(envelope, TestKeys.Aad(), "agent/a1", "note/1"));
        Assert.Equal(StateDecryptionFailureReason.UnknownKeyId, e.Reason);
        Assert.Equal("key-1", e.KeyId);
        Assert.Contains("'key-1'", e.Message);
        Assert.Contains("note/1", e.Message);
    }

    [Fact]
    public void An_unknown_format_version_or_algorithm_is_named_as_such()
    {
        var encryptor = new StateEncryptor(_ring);
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        byte[] v2 = (byte[])envelope.Clone();
        v2[3] = 2;
        Assert.Equal(StateDecryptionFailureReason.UnsupportedFormat, Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(v2, TestKeys.Aad())).Reason);

        byte[] alg9 = (byte[])envelope.Clone();
        alg9[4] = 9;
        Assert.Equal(StateDecryptionFailureReason.UnsupportedAlgorithm, Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(alg9, TestKeys.Aad())).Reason);

        // The header is authenticated and each algorithm has its own subkey: relabelling the algorithm fails.
        byte[] relabelled = (byte[])envelope.Clone();
        relabelled[4] = (byte)StateEncryptionAlgorithm.ChaCha20Poly1305;
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(relabelled, TestKeys.Aad())).Reason);
    }

    [Fact]
    public void Envelopes_larger_than_the_limit_are_Malformed_and_plaintexts_larger_than_it_are_refused()
    {
        var small = new StateEncryptor(_ring, new StateEncryptionOptions { MaxPlaintextBytes = 100 });
        byte[] big = new StateEncryptor(_ring).Encrypt(new byte[101], TestKeys.Aad());

        Assert.Equal(StateDecryptionFailureReason.Malformed, Assert.Throws<StateDecryptionException>(() => small.Decrypt(big, TestKeys.Aad())).Reason);
        Assert.Throws<ArgumentOutOfRangeException>(() => small.Encrypt(new byte[101], TestKeys.Aad()));
        Assert.Equal(100, small.Decrypt(small.Encrypt(new byte[100], TestKeys.Aad()), TestKeys.Aad()).Length);
    }

    [Fact]
    public void A_planted_secret_never_appears_in_the_envelope_or_in_any_error()
    {
        var encryptor = new StateEncryptor(_ring);
        byte[] plaintext = Encoding.UTF8.GetBytes($"{{\"ApiKey\":\"{TestKeys.Secret}\",\"Again\":\"{TestKeys.Secret}\"}}");
        byte[] envelope = encryptor.Encrypt(plaintext, TestKeys.Aad());
        Assert.False(TestKeys.Contains(envelope, TestKeys.SecretBytes));
        Assert.False(TestKeys.Contains(envelope, "sk-live"u8));

        var errors = new List<Exception>();
        for (int i = 0; i < envelope.Length; i++)
        {
            byte[] tampered = (byte[])envelope.Clone();
            tampered[i] ^= 0x55;
            errors.Add(Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(tampered, TestKeys.Aad(), "agent/a1", "note/1")));
        }

        errors.Add(Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(plaintext, TestKeys.Aad())));
        errors.Add(Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(TestKeys.SecretBytes, TestKeys.Aad())));
        Assert.All(errors, AssertSafe);
        Assert.All(errors, e => Assert.DoesNotContain(Convert.ToBase64String(TestKeys.Key(1)), e.ToString()));
    }

    [Fact]
    public void A_secret_shaped_key_id_in_a_forged_envelope_is_not_echoed()
    {
        // The key id field of a forged envelope holds bytes that are not a key id: the message must not quote them.
        byte[] forged = [.. "SGE"u8, 1, 1, (byte)TestKeys.SecretBytes.Length, .. TestKeys.SecretBytes.Select(b => b == (byte)'-' ? (byte)'!' : b), .. new byte[28]];
        var e = Assert.Throws<StateDecryptionException>(() => new StateEncryptor(_ring).Decrypt(forged, TestKeys.Aad()));
        Assert.Equal(StateDecryptionFailureReason.Malformed, e.Reason);
        Assert.Null(e.KeyId);
        Assert.DoesNotContain("PLANTED", e.ToString());
    }

    internal static void AssertSafe(Exception e)
    {
        string text = e.ToString();
        Assert.DoesNotContain(TestKeys.Secret, text);
        Assert.DoesNotContain("PLANTED", text);
        Assert.Null(e.InnerException);
    }
}
