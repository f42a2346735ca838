using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Security;

namespace StateGen.Tests.Security;

/// <summary>
/// Nonces are fresh for every encryption, and each key's usage is counted: a warning at the threshold (event and
/// log), a hard stop at the limit that names the key, and a rotation that lets encryption go on.
/// </summary>
public sealed class NonceAndUsageTests : IDisposable
{
    private readonly StateKeyRing _ring = TestKeys.Ring("k1");

    public void Dispose() => _ring.Dispose();

    [Fact]
    public void A_million_encryptions_under_one_key_repeat_no_nonce()
    {
        var encryptor = new StateEncryptor(_ring);
        const int Count = 1_000_000;
        var nonces = new HashSet<(ulong, uint)>(Count);
        int nonceOffset = 6 + "k1".Length;
        for (int i = 0; i < Count; i++)
        {
            byte[] envelope = encryptor.Encrypt(ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty);
            ulong high = BitConverter.ToUInt64(envelope, nonceOffset);
            uint low = BitConverter.ToUInt32(envelope, nonceOffset + 8);
            if (!nonces.Add((high, low)))
            {
                Assert.Fail($"The nonce of encryption {i} repeats an earlier one.");
            }
        }

        Assert.Equal(Count, nonces.Count);
        Assert.Equal(Count, _ring.GetEncryptionCount("k1"));
    }

    [Fact]
    public void The_usage_warning_fires_once_at_the_threshold_and_the_hard_stop_at_the_limit()
    {
        var log = new CapturingLogger();
        var options = new StateEncryptionOptions { KeyUsageWarningThreshold = 3, KeyUsageLimit = 5 };
        var encryptor = new StateEncryptor(_ring, options, log);
        var warnings = new List<StateKeyUsageEventArgs>();
        encryptor.KeyUsageWarning += (_, e) => warnings.Add(e);

        for (int i = 1; i <= 5; i++)
        {
            encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
            Assert.Equal(i >= 3 ? 1 : 0, warnings.Count);
        }

        StateKeyUsageEventArgs warning = Assert.Single(warnings);
        Assert.Equal(("k1", 3L, 3L, 5L), (warning.KeyId, warning.EncryptionCount, warning.Threshold, warning.Limit));
        Assert.Contains(log.Lines, l => l.Contains("k1", StringComparison.Ordinal) && l.Contains("rotate", StringComparison.Ordinal));

        var e = Assert.Throws<StateKeyUsageLimitException>(() => encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()));
        Assert.Equal("k1", e.KeyId);
        Assert.Equal(5, e.Limit);
        Assert.Contains("'k1'", e.Message);
        Assert.Equal(5, _ring.GetEncryptionCount("k1"));
        Assert.Throws<StateKeyUsageLimitException>(() => encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()));

        // Decryption is not limited, and a rotation lets encryption go on.
        byte[] old = new StateEncryptor(_ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        Assert.Equal(TestKeys.SecretBytes, encryptor.Decrypt(old, TestKeys.Aad()));
    }

    [Fact]
    public void Rotation_lifts_the_hard_stop()
    {
        var encryptor = new StateEncryptor(_ring, new StateEncryptionOptions { KeyUsageWarningThreshold = 1, KeyUsageLimit = 1 });
        byte[] first = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        Assert.Throws<StateKeyUsageLimitException>(() => encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()));

        _ring.Rotate("k2", TestKeys.Key(2));
        byte[] second = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        Assert.True(StateEncryptor.TryGetKeyId(second, out string? keyId));
        Assert.Equal("k2", keyId);
        Assert.Equal(TestKeys.SecretBytes, encryptor.Decrypt(first, TestKeys.Aad()));
    }

    [Fact]
    public void A_restored_usage_count_counts_towards_the_limits()
    {
        var encryptor = new StateEncryptor(_ring, new StateEncryptionOptions { KeyUsageWarningThreshold = 10, KeyUsageLimit = 11 });
        int warnings = 0;
        encryptor.KeyUsageWarning += (_, _) => warnings++;
        _ring.SetEncryptionCount("k1", 9);

        encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        Assert.Equal(1, warnings);
        Assert.Throws<StateKeyUsageLimitException>(() => encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()));
    }

    [Fact]
    public void Limits_out_of_range_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new StateEncryptor(_ring, new StateEncryptionOptions { KeyUsageWarningThreshold = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StateEncryptor(_ring, new StateEncryptionOptions { KeyUsageWarningThreshold = (1L << 32) + 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StateEncryptor(_ring, new StateEncryptionOptions { KeyUsageLimit = (1L << 32) + 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = (StateEncryptionAlgorithm)9 }));
        Assert.Equal(1L << 30, new StateEncryptionOptions().KeyUsageWarningThreshold);
        Assert.Equal(1L << 32, new StateEncryptionOptions().KeyUsageLimit);
    }

    [Fact]
    public async Task Concurrent_encryption_decryption_and_rotation_stay_consistent()
    {
        var encryptor = new StateEncryptor(_ring);
        var chacha = new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = StateEncryptionAlgorithm.ChaCha20Poly1305 });
        Task rotations = Task.Run(() =>
        {
            for (int i = 2; i < 40; i++)
            {
                _ring.Rotate($"k{i}", TestKeys.Key((byte)i));
            }
        });

        Task[] workers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                byte[] plaintext = BitConverter.GetBytes(i * 31 + w);
                byte[] aad = TestKeys.Aad($"note/{w}/{i}");
                StateEncryptor e = (i & 1) == 0 ? encryptor : chacha;
                Assert.Equal(plaintext, encryptor.Decrypt(e.Encrypt(plaintext, aad), aad));
            }
        })).ToArray();

        await Task.WhenAll(workers.Append(rotations));
        Assert.Equal("k39", _ring.ActiveKeyId);
        Assert.Equal(2000 * 4, _ring.KeyIds.Sum(id => _ring.GetEncryptionCount(id)));
    }
}
