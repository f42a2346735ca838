using System;
using StateGen.Security;

namespace StateGen.Tests.Security;

/// <summary>
/// A key ring has one active key and retired keys for decryption: rotation keeps old records readable, removal needs
/// confirmation and never takes the active key, key ids and sizes are validated, and disposal zeroes the keys.
/// </summary>
public sealed class KeyRingTests
{
    [Fact]
    public void After_rotation_old_envelopes_decrypt_and_new_ones_use_the_new_key()
    {
        using StateKeyRing ring = TestKeys.Ring("2024-01");
        var encryptor = new StateEncryptor(ring);
        byte[] old = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        ring.Rotate("2024-06", TestKeys.Key(2));
        byte[] fresh = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());

        Assert.Equal("2024-06", ring.ActiveKeyId);
        Assert.Equal(new[] { "2024-01", "2024-06" }, ring.KeyIds);
        Assert.Equal(new[] { "2024-01" }, ring.RetiredKeyIds);
        Assert.True(StateEncryptor.TryGetKeyId(old, out string? oldId));
        Assert.True(StateEncryptor.TryGetKeyId(fresh, out string? freshId));
        Assert.Equal(("2024-01", "2024-06"), (oldId, freshId));
        Assert.Equal(TestKeys.SecretBytes, encryptor.Decrypt(old, TestKeys.Aad()));
        Assert.Equal(TestKeys.SecretBytes, encryptor.Decrypt(fresh, TestKeys.Aad()));
        Assert.True(encryptor.NeedsReEncryption(old));
        Assert.False(encryptor.NeedsReEncryption(fresh));
    }

    [Fact]
    public void A_re_encryption_job_moves_records_to_the_active_key_and_then_the_old_key_can_go()
    {
        using StateKeyRing ring = TestKeys.Ring("old");
        var encryptor = new StateEncryptor(ring);
        byte[] record = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        ring.Rotate("new", TestKeys.Key(2));

        byte[] rewritten = encryptor.ReEncrypt(record, TestKeys.Aad());
        Assert.False(encryptor.NeedsReEncryption(rewritten));

        Assert.Throws<InvalidOperationException>(() => ring.RemoveRetiredKey("old", noRecordUsesKey: false));
        Assert.True(ring.Contains("old"));
        Assert.True(ring.RemoveRetiredKey("old", noRecordUsesKey: true));
        Assert.False(ring.Contains("old"));
        Assert.False(ring.RemoveRetiredKey("old", noRecordUsesKey: true));

        Assert.Equal(TestKeys.SecretBytes, encryptor.Decrypt(rewritten, TestKeys.Aad()));
        Assert.Equal(StateDecryptionFailureReason.UnknownKeyId, Assert.Throws<StateDecryptionException>(() => encryptor.Decrypt(record, TestKeys.Aad())).Reason);
    }

    [Fact]
    public void The_active_key_cannot_be_removed()
    {
        using StateKeyRing ring = TestKeys.Ring("k1");
        var e = Assert.Throws<InvalidOperationException>(() => ring.RemoveRetiredKey("k1", noRecordUsesKey: true));
        Assert.Contains("active", e.Message);
    }

    [Fact]
    public void Activate_switches_back_to_a_retired_key()
    {
        using StateKeyRing ring = TestKeys.Ring("k1");
        ring.Rotate("k2", TestKeys.Key(2));
        ring.Activate("k1");

        Assert.Equal("k1", ring.ActiveKeyId);
        Assert.True(StateEncryptor.TryGetKeyId(new StateEncryptor(ring).Encrypt(default, default), out string? id));
        Assert.Equal("k1", id);
        Assert.Throws<ArgumentException>(() => ring.Activate("k3"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/id")]
    [InlineData("colon:id")]
    [InlineData("ümlaut")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123x")]
    public void Invalid_key_ids_are_rejected(string keyId)
    {
        Assert.False(StateKeyRing.IsValidKeyId(keyId));
        Assert.Throws<ArgumentException>(() => new StateKeyRing(keyId, TestKeys.Key(1)));
        using StateKeyRing ring = TestKeys.Ring();
        Assert.Throws<ArgumentException>(() => ring.AddRetiredKey(keyId, TestKeys.Key(2)));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("A.b_c-9")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123")]
    public void Valid_key_ids_are_accepted(string keyId)
    {
        Assert.True(StateKeyRing.IsValidKeyId(keyId));
        using var ring = new StateKeyRing(keyId, TestKeys.Key(1));
        Assert.Equal(keyId, ring.ActiveKeyId);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    public void Keys_must_be_256_bits(int size)
    {
        var e = Assert.Throws<ArgumentException>(() => new StateKeyRing("k", new byte[size]));
        Assert.Contains("32 bytes", e.Message);
    }

    [Fact]
    public void A_duplicate_key_id_is_rejected()
    {
        using StateKeyRing ring = TestKeys.Ring("k1");
        Assert.Throws<ArgumentException>(() => ring.AddRetiredKey("k1", TestKeys.Key(2)));
        Assert.Throws<ArgumentException>(() => ring.Rotate("k1", TestKeys.Key(2)));
        Assert.Equal(new[] { "k1" }, ring.KeyIds);
    }

    [Fact]
    public void The_ring_keeps_its_own_copy_of_a_key()
    {
        byte[] key = TestKeys.Key(1);
        using var ring = new StateKeyRing("k1", key);
        byte[] envelope = new StateEncryptor(ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        Array.Clear(key);

        Assert.Equal(TestKeys.SecretBytes, new StateEncryptor(ring).Decrypt(envelope, TestKeys.Aad()));
    }

    [Fact]
    public void Dispose_zeroes_the_keys_and_the_ring_is_then_unusable()
    {
        var ring = TestKeys.Ring("k1");
        ring.Rotate("k2", TestKeys.Key(2));
        var encryptor = new StateEncryptor(ring);
        byte[] envelope = encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        StateKeyMaterial[] keys = ring.Current.Keys;

        ring.Dispose();
        ring.Dispose();

        Assert.All(keys, k => Assert.True(k.IsDisposed));
        Assert.All(keys, k => Assert.Null(k.Rent(StateEncryptionAlgorithm.Aes256Gcm)));
        Assert.Throws<ObjectDisposedException>(() => encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad()));
        Assert.Throws<ObjectDisposedException>(() => encryptor.Decrypt(envelope, TestKeys.Aad()));
        Assert.Throws<ObjectDisposedException>(() => ring.ActiveKeyId);
    }

    [Fact]
    public void Generated_keys_are_256_bits_and_distinct()
    {
        byte[] a = StateKeyRing.GenerateKey();
        byte[] b = StateKeyRing.GenerateKey();
        Assert.Equal(32, a.Length);
        Assert.NotEqual(a, b);
    }
}
