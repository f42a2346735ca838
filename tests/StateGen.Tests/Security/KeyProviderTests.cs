using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Security;

/// <summary>
/// Key providers load the same ring from options, environment variables and a key file; bad input is a
/// <see cref="StateKeyConfigurationException"/> that names the source and never echoes a key or the file's content.
/// </summary>
public sealed class KeyProviderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StateKeyOptions TwoKeys() => new()
    {
        ActiveKeyId = "k2",
        Keys = new Dictionary<string, string> { ["k1"] = TestKeys.Base64(1), ["k2"] = TestKeys.Base64(2) },
    };

    /// <summary>Proves a ring holds exactly these keys: each decrypts what a reference ring with that key encrypted.</summary>
    private static void AssertHolds(StateKeyRing ring, string activeKeyId, params (string Id, byte Seed)[] keys)
    {
        Assert.Equal(activeKeyId, ring.ActiveKeyId);
        Assert.Equal(keys.Select(k => k.Id).OrderBy(k => k, StringComparer.Ordinal), ring.KeyIds);
        foreach ((string id, byte seed) in keys)
        {
            using StateKeyRing reference = TestKeys.Ring(id, seed);
            byte[] envelope = new StateEncryptor(reference).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
            Assert.Equal(TestKeys.SecretBytes, new StateEncryptor(ring).Decrypt(envelope, TestKeys.Aad()));
        }
    }

    [Fact]
    public async Task Options_load_into_a_ring()
    {
        using StateKeyRing ring = await new OptionsStateKeyProvider(TwoKeys()).GetKeyRingAsync();
        AssertHolds(ring, "k2", ("k1", 1), ("k2", 2));
    }

    [Fact]
    public async Task One_key_needs_no_active_key_id_but_two_do()
    {
        var one = new StateKeyOptions { Keys = { ["only"] = TestKeys.Base64(1) } };
        using (StateKeyRing ring = await new OptionsStateKeyProvider(one).GetKeyRingAsync())
        {
            Assert.Equal("only", ring.ActiveKeyId);
        }

        StateKeyOptions two = TwoKeys();
        two.ActiveKeyId = null;
        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new OptionsStateKeyProvider(two).GetKeyRingAsync());
        Assert.Contains("no active key id", e.Message);
    }

    public static TheoryData<string, string, string> BadOptions() => new()
    {
        // active key id, key value, expected reason
        { "k1", "%%%not-base64%%%", "not base64" },
        { "k1", Convert.ToBase64String(new byte[16]), "is 16 bytes" },
        { "k1", Convert.ToBase64String(new byte[48]), "not base64 of 32 bytes" },
        { "k1", "", "is empty" },
        { "k9", TestKeys.Base64(1), "not one of the configured key ids (k1)" },
        { "bad id", TestKeys.Base64(1), "active key id is not 1 to 64" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task Bad_options_are_typed_errors_that_never_quote_a_key(string activeKeyId, string value, string expected)
    {
        var options = new StateKeyOptions { ActiveKeyId = activeKeyId, Keys = { ["k1"] = value } };
        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new OptionsStateKeyProvider(options).GetKeyRingAsync());

        Assert.Equal("options", e.KeySource);
        Assert.Contains(expected, e.Message);
        if (value.Length > 0)
        {
            Assert.DoesNotContain(value, e.ToString());
        }
    }

    [Fact]
    public async Task Environment_variables_load_into_a_ring()
    {
        string keysVar = "STATEGEN_TEST_KEYS_" + Guid.NewGuid().ToString("N");
        string activeVar = "STATEGEN_TEST_ACTIVE_" + Guid.NewGuid().ToString("N");
        try
        {
            Environment.SetEnvironmentVariable(keysVar, $" k1:{TestKeys.Base64(1)} ; k2:{TestKeys.Base64(2)};");
            Environment.SetEnvironmentVariable(activeVar, "k2");
            var provider = new EnvironmentStateKeyProvider(keysVar, activeVar);
            using StateKeyRing ring = await provider.GetKeyRingAsync();

            AssertHolds(ring, "k2", ("k1", 1), ("k2", 2));
        }
        finally
        {
            Environment.SetEnvironmentVariable(keysVar, null);
            Environment.SetEnvironmentVariable(activeVar, null);
        }
    }

    [Theory]
    [InlineData(null, "is not set")]
    [InlineData("k1", "no ':'")]
    [InlineData("bad id:AAAA", "entry 1")]
    [InlineData("k1:{K1};k1:{K1}", "more than once")]
    [InlineData("k1:{K1};k2:{K1}", "no active key id")]
    [InlineData("k1:c2VjcmV0", "is 6 bytes")]
    [InlineData("k1:%%%", "not base64 of 32 bytes")]
    public async Task Malformed_environment_variables_are_typed_errors_that_never_quote_a_key(string? value, string expected)
    {
        string keysVar = "STATEGEN_TEST_KEYS_" + Guid.NewGuid().ToString("N");
        value = value?.Replace("{K1}", TestKeys.Base64(1), StringComparison.Ordinal);
        try
        {
            Environment.SetEnvironmentVariable(keysVar, value);
            var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new EnvironmentStateKeyProvider(keysVar, keysVar + "_ACTIVE").GetKeyRingAsync());

            Assert.Contains(expected, e.Message);
            Assert.Contains(keysVar, e.KeySource);
            Assert.DoesNotContain(TestKeys.Base64(1), e.ToString());
            Assert.DoesNotContain("c2VjcmV0", e.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(keysVar, null);
        }
    }

    [Fact]
    public async Task A_key_file_round_trips_and_is_private_to_its_owner()
    {
        string path = _dir.File("keys/state-keys.json");
        await FileStateKeyProvider.WriteAsync(path, TwoKeys());

        using StateKeyRing ring = await new FileStateKeyProvider(path).GetKeyRingAsync();
        AssertHolds(ring, "k2", ("k1", 1), ("k2", 2));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!)); // no temporary file left behind
        string json = await File.ReadAllTextAsync(path);
        Assert.Contains("\"format\": \"stategen-keys/1\"", json);
        Assert.Contains(TestKeys.Base64(2), json); // written as-is, with no \u002B escapes
    }

    [Fact]
    public async Task An_existing_key_file_is_not_overwritten_unless_asked()
    {
        string path = _dir.File("keys.json");
        await FileStateKeyProvider.CreateAsync(path, "first");

        await Assert.ThrowsAsync<IOException>(() => FileStateKeyProvider.CreateAsync(path, "second"));
        using (StateKeyRing ring = await new FileStateKeyProvider(path).GetKeyRingAsync())
        {
            Assert.Equal("first", ring.ActiveKeyId);
        }

        await FileStateKeyProvider.WriteAsync(path, TwoKeys(), overwrite: true);
        using (StateKeyRing ring = await new FileStateKeyProvider(path).GetKeyRingAsync())
        {
            Assert.Equal("k2", ring.ActiveKeyId);
        }
    }

    [Fact]
    public async Task Rotating_a_key_file_keeps_old_keys_and_removal_needs_confirmation()
    {
        string path = _dir.File("keys.json");
        await FileStateKeyProvider.CreateAsync(path, "v1");
        var provider = new FileStateKeyProvider(path);
        byte[] old;
        using (StateKeyRing ring = await provider.GetKeyRingAsync())
        {
            old = new StateEncryptor(ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        }

        await provider.RotateAsync("v2");
        using (StateKeyRing ring = await provider.GetKeyRingAsync())
        {
            Assert.Equal("v2", ring.ActiveKeyId);
            Assert.Equal(new[] { "v1" }, ring.RetiredKeyIds);
            Assert.Equal(TestKeys.SecretBytes, new StateEncryptor(ring).Decrypt(old, TestKeys.Aad()));
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => provider.RemoveRetiredKeyAsync("v1", noRecordUsesKey: false));
        await Assert.ThrowsAsync<InvalidOperationException>(() => provider.RemoveRetiredKeyAsync("v2", noRecordUsesKey: true));
        Assert.True(await provider.RemoveRetiredKeyAsync("v1", noRecordUsesKey: true));
        Assert.False(await provider.RemoveRetiredKeyAsync("v1", noRecordUsesKey: true));
        using (StateKeyRing ring = await provider.GetKeyRingAsync())
        {
            Assert.Equal(new[] { "v2" }, ring.KeyIds);
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    public static TheoryData<string, string> MalformedFiles()
    {
        string k = TestKeys.Base64(1);
        string s = TestKeys.Secret;
        return new()
        {
            { $"{s} not json at all", "not valid JSON" },
            { $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k1\":\"{k}\"", "not valid JSON" },
            { $"[\"{s}\"]", "not a JSON object" },
            { $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"{s} x\":\"{k}\"}}}}", "key entry 1" },
            { $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k1\":\"{s}\"}}}}", "not base64" },
            { $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k1\":42}}}}", "not a JSON string" },
            { $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k1\":\"{k}\",\"k1\":\"{k}\"}}}}", "more than once" },
            { $"{{\"format\":\"{s}\",\"keys\":{{\"k1\":\"{k}\"}}}}", "format is not" },
            { $"{{\"keys\":{{\"k1\":\"{k}\"}}}}", "'format' is missing" },
            { $"{{\"format\":\"stategen-keys/1\"}}", "'keys' is missing" },
            { $"{{\"format\":\"stategen-keys/1\",\"{s}\":1,\"keys\":{{\"k1\":\"{k}\"}}}}", "a property other than" },
            { $"{{\"format\":\"stategen-keys/1\",\"activeKeyId\":\"{s}\",\"keys\":{{\"k1\":\"{k}\"}}}}", "active key id" },
            { $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k1\":\"{k}\"}},\"x\":[[[[[[\"{s}\"]]]]]]}}", "not valid JSON" },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public async Task A_malformed_key_file_is_a_typed_error_that_never_echoes_its_content(string content, string expected)
    {
        string path = _dir.File();
        await File.WriteAllTextAsync(path, content);

        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new FileStateKeyProvider(path).GetKeyRingAsync());

        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.KeySource);
        string all = e.ToString();
        Assert.DoesNotContain(TestKeys.Secret, all);
        Assert.DoesNotContain("PLANTED", all);
        Assert.DoesNotContain(TestKeys.Base64(1), all);
        Assert.Null(e.InnerException);
    }

    [Fact]
    public async Task A_missing_or_oversized_key_file_is_a_typed_error()
    {
        var missing = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new FileStateKeyProvider(_dir.File("none.json")).GetKeyRingAsync());
        Assert.Contains("does not exist", missing.Message);

        string big = _dir.File("big.json");
        await File.WriteAllTextAsync(big, new string(' ', FileStateKeyProvider.MaxFileBytes + 1));
        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new FileStateKeyProvider(big).GetKeyRingAsync());
        Assert.Contains("larger than", e.Message);
    }

    [Fact]
    public async Task A_key_file_readable_by_others_is_logged_as_a_warning()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string path = _dir.File("keys.json");
        await FileStateKeyProvider.WriteAsync(path, TwoKeys());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var log = new CapturingLogger();

        using StateKeyRing ring = await new FileStateKeyProvider(path, log).GetKeyRingAsync();

        string line = Assert.Single(log.Lines);
        Assert.Contains("chmod 600", line);
        Assert.DoesNotContain(TestKeys.Base64(1), line);
    }

    [Fact]
    public async Task Writing_unusable_options_writes_no_file()
    {
        string path = _dir.File("keys.json");
        var options = new StateKeyOptions { ActiveKeyId = "k1", Keys = { ["k1"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(TestKeys.Secret)) } };

        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(() => FileStateKeyProvider.WriteAsync(path, options));
        Assert.False(File.Exists(path));
        Assert.DoesNotContain(TestKeys.Secret, e.ToString());
    }
}
