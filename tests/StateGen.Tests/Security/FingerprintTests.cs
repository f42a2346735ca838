using System;
using System.Text;
using StateGen.Security;

namespace StateGen.Tests.Security;

/// <summary>Keyed fingerprints are short, stable per key and context, differ per key and context, and survive a rotation.</summary>
public sealed class FingerprintTests
{
    [Fact]
    public void A_fingerprint_is_22_base64url_characters_and_stable()
    {
        using StateKeyRing ring = TestKeys.Ring();
        var fingerprinter = new StateFingerprinter(ring);
        string a = fingerprinter.Compute("Agent.ApiKey", TestKeys.Secret);

        Assert.Equal(22, a.Length);
        Assert.Matches("^[A-Za-z0-9_-]{22}$", a);
        Assert.Equal(a, fingerprinter.Compute("Agent.ApiKey", TestKeys.SecretBytes));
        Assert.DoesNotContain(TestKeys.Secret, a);
    }

    [Fact]
    public void Fingerprints_differ_per_value_context_and_key()
    {
        using StateKeyRing one = TestKeys.Ring(seed: 1);
        using StateKeyRing two = TestKeys.Ring(seed: 2);
        var f1 = new StateFingerprinter(one);
        string a = f1.Compute("Agent.ApiKey", "v1");

        Assert.NotEqual(a, f1.Compute("Agent.ApiKey", "v2"));
        Assert.NotEqual(a, f1.Compute("Agent.Token", "v1"));
        Assert.NotEqual(a, new StateFingerprinter(two).Compute("Agent.ApiKey", "v1"));

        // The context is length-prefixed: moving bytes between context and value changes the fingerprint.
        Assert.NotEqual(f1.Compute("ab", "c"), f1.Compute("a", "bc"));
    }

    [Fact]
    public void The_fingerprint_key_is_derived_not_the_raw_key()
    {
        using StateKeyRing ring = TestKeys.Ring();
        byte[] raw = System.Security.Cryptography.HMACSHA256.HashData(TestKeys.Key(1), Encoding.UTF8.GetBytes("x"));
        Assert.NotEqual(Convert.ToBase64String(raw).Substring(0, 22), new StateFingerprinter(ring).Compute(string.Empty, "x"));
    }

    [Fact]
    public void Fingerprints_of_a_retired_key_still_match_until_it_is_removed()
    {
        using StateKeyRing ring = TestKeys.Ring("k1");
        var fingerprinter = new StateFingerprinter(ring);
        string before = fingerprinter.Compute("m", "value");

        ring.Rotate("k2", TestKeys.Key(2));
        Assert.NotEqual(before, fingerprinter.Compute("m", "value"));
        Assert.True(fingerprinter.Matches(before, "m", "value"));
        Assert.False(fingerprinter.Matches(before, "m", "other"));
        Assert.False(fingerprinter.Matches(before, "n", "value"));

        ring.RemoveRetiredKey("k1", noRecordUsesKey: true);
        Assert.False(fingerprinter.Matches(before, "m", "value"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("short")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA==")]
    public void Malformed_fingerprints_do_not_match(string fingerprint)
    {
        using StateKeyRing ring = TestKeys.Ring();
        Assert.False(new StateFingerprinter(ring).Matches(fingerprint, "m", "value"));
    }
}
