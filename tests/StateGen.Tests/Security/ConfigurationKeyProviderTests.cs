using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using StateGen.Security;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Security;

/// <summary>
/// <see cref="ConfigurationStateKeyProvider"/>: keys from an <see cref="IConfiguration"/> section; a reload is seen by
/// the next ring; bad settings are a <see cref="StateKeyConfigurationException"/> naming the configuration path and
/// never quoting a key.
/// </summary>
public sealed class ConfigurationKeyProviderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static IConfigurationRoot Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private static Dictionary<string, string?> TwoKeys() => new()
    {
        ["StateGen:Keys:ActiveKeyId"] = "k2",
        ["StateGen:Keys:Keys:k1"] = TestKeys.Base64(1),
        ["StateGen:Keys:Keys:k2"] = TestKeys.Base64(2),
    };

    [Fact]
    public async Task A_ring_loads_the_active_key_encrypts_and_older_keys_still_decrypt()
    {
        byte[] old;
        using (StateKeyRing k1 = TestKeys.Ring("k1", 1))
        {
            old = new StateEncryptor(k1).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        }

        using StateKeyRing ring = await new ConfigurationStateKeyProvider(Config(TwoKeys())).GetKeyRingAsync();
        Assert.Equal("k2", ring.ActiveKeyId);
        Assert.Equal(new[] { "k1", "k2" }, ring.KeyIds);
        Assert.Equal(TestKeys.SecretBytes, new StateEncryptor(ring).Decrypt(old, TestKeys.Aad()));

        byte[] fresh = new StateEncryptor(ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        using StateKeyRing k2 = TestKeys.Ring("k2", 2); // only the active key's holder can read what the ring encrypts now
        Assert.Equal(TestKeys.SecretBytes, new StateEncryptor(k2).Decrypt(fresh, TestKeys.Aad()));
    }

    [Fact]
    public async Task A_section_passed_directly_and_one_key_without_an_active_id_load()
    {
        IConfigurationRoot config = Config(new() { ["Secrets:State:Keys:only"] = TestKeys.Base64(3) });
        var provider = new ConfigurationStateKeyProvider(config.GetSection("Secrets:State"), sectionPath: "");
        Assert.Equal("Secrets:State", provider.SectionPath);
        using StateKeyRing ring = await provider.GetKeyRingAsync();
        Assert.Equal("only", ring.ActiveKeyId);
    }

    [Fact]
    public async Task A_configuration_reload_rotates_the_next_ring()
    {
        IConfigurationRoot config = Config(new() { ["StateGen:Keys:ActiveKeyId"] = "v1", ["StateGen:Keys:Keys:v1"] = TestKeys.Base64(1) });
        var provider = new ConfigurationStateKeyProvider(config);
        byte[] old;
        using (StateKeyRing ring = await provider.GetKeyRingAsync())
        {
            old = new StateEncryptor(ring).Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        }

        // What a secret store's reload does: the new key arrives and becomes active; the old one stays to decrypt.
        config["StateGen:Keys:Keys:v2"] = TestKeys.Base64(2);
        config["StateGen:Keys:ActiveKeyId"] = "v2";
        config.Reload();

        using StateKeyRing rotated = await provider.GetKeyRingAsync();
        Assert.Equal("v2", rotated.ActiveKeyId);
        Assert.Equal(new[] { "v1" }, rotated.RetiredKeyIds);
        Assert.Equal(TestKeys.SecretBytes, new StateEncryptor(rotated).Decrypt(old, TestKeys.Aad()));
    }

    public static TheoryData<string, string?, string?, string> BadSettings() => new()
    {
        // setting, value, key that must not appear, expected text
        { "", null, null, "is missing or empty" },
        { "StateGen:Keys:ActiveKeyId", TestKeys.Base64(1), TestKeys.Base64(1), "no key is configured" },
        { "StateGen:Keys:Keys:k1", TestKeys.Base64(1), TestKeys.Base64(1), "no active key id" },
        { "StateGen:Keys:ActiveKeyId", "k9", TestKeys.Base64(1), "not one of the configured key ids (k1, k2)" },
        { "StateGen:Keys:Keys:k2", "%%not-base64-K2-material%%", "%%not-base64-K2-material%%", "the key 'k2' is not base64 of 32 bytes" },
        { "StateGen:Keys:Keys:k2", Convert.ToBase64String(Encoding.ASCII.GetBytes("sixteen-byte-key")), Convert.ToBase64String(Encoding.ASCII.GetBytes("sixteen-byte-key")), "the key 'k2' is 16 bytes" },
        { "StateGen:Keys:Keys:k2", "", null, "the key 'k2' is empty" },
        { "StateGen:Keys:Active", "k1", TestKeys.Base64(1), "'StateGen:Keys:Active' is not a key setting" },
        { "StateGen:Keys:Keys", TestKeys.Base64(2), TestKeys.Base64(2), "'StateGen:Keys:Keys' must be a section" },
        { "StateGen:Keys:" + TestKeys.Base64(3), "x", TestKeys.Base64(3), "a setting under 'StateGen:Keys' is not a key setting" }, // a key pasted as a name
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task Bad_settings_are_typed_errors_naming_the_path_and_never_a_key(string setting, string? value, string? secret, string expected)
    {
        Dictionary<string, string?> values = setting switch
        {
            "" => new() { ["Other:Setting"] = "x" },
            "StateGen:Keys:ActiveKeyId" when value == TestKeys.Base64(1) => new() { ["StateGen:Keys:ActiveKeyId"] = value }, // a key pasted as the id, no keys
            "StateGen:Keys:Keys:k1" => new() { ["StateGen:Keys:Keys:k1"] = value, ["StateGen:Keys:Keys:k2"] = TestKeys.Base64(2) },
            "StateGen:Keys:Active" => new() { ["StateGen:Keys:Active"] = value, ["StateGen:Keys:Keys:k1"] = TestKeys.Base64(1) },
            "StateGen:Keys:Keys" => new() { ["StateGen:Keys:Keys"] = value, ["StateGen:Keys:ActiveKeyId"] = "k2" },
            _ => Merge(TwoKeys(), setting, value),
        };

        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new ConfigurationStateKeyProvider(Config(values)).GetKeyRingAsync());

        Assert.Equal("configuration section 'StateGen:Keys'", e.KeySource);
        Assert.Contains("StateGen:Keys", e.Message);
        Assert.Contains(expected, e.Message);
        if (secret is not null)
        {
            Assert.DoesNotContain(secret, e.ToString());
        }

        Assert.DoesNotContain(TestKeys.Base64(1), e.ToString());
        Assert.DoesNotContain(TestKeys.Base64(2), e.ToString());
    }

    private static Dictionary<string, string?> Merge(Dictionary<string, string?> values, string setting, string? value)
    {
        values[setting] = value;
        return values;
    }

    [Fact]
    public async Task An_encrypted_store_opened_with_configuration_keys_reads_back_after_reopen()
    {
        string path = _dir.File("configured.db");
        IConfigurationRoot config = Config(TwoKeys());
        string marker = "plain-marker-" + Guid.NewGuid().ToString("N");

        await using (StateManager manager = await StateManager.OpenLiteDbAsync(path, new ConfigurationStateKeyProvider(config)))
        {
            await new Note { Id = "n", Topic = marker, Runs = 3 }.SaveStateAsync(manager);
        }

        Assert.DoesNotContain(marker, Encoding.Latin1.GetString(await File.ReadAllBytesAsync(path)), StringComparison.Ordinal);

        await using (StateManager reopened = await StateManager.OpenLiteDbAsync(path, new ConfigurationStateKeyProvider(Config(TwoKeys()))))
        {
            var note = new Note { Id = "n" };
            Assert.True(await note.LoadStateAsync(reopened));
            Assert.Equal(marker, note.Topic);
            Assert.Equal(3, note.Runs);
        }

        IConfigurationRoot other = Config(new() { ["StateGen:Keys:Keys:k2"] = TestKeys.Base64(9) });
        await using StateManager wrong = await StateManager.OpenLiteDbAsync(path, new ConfigurationStateKeyProvider(other));
        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await new Note { Id = "n" }.LoadStateAsync(wrong));
        Assert.Equal("k2", error.KeyId);
        Assert.DoesNotContain(marker, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddStateGen_takes_keys_from_the_same_section_and_encrypts_sensitive_members()
    {
        Dictionary<string, string?> values = TwoKeys();
        values["StateGen:DatabasePath"] = _dir.File("hosted.db");
        IConfigurationRoot config = Config(values);
        var services = new ServiceCollection();
        services.AddStateGen(config.GetSection("StateGen")).UseKeysFromConfiguration(config); // "Keys" is not a binding error
        await using ServiceProvider provider = services.BuildServiceProvider();

        Assert.IsType<ConfigurationStateKeyProvider>(provider.GetRequiredService<IStateKeyProvider>());
        Assert.Equal("k2", provider.GetRequiredService<StateKeyRing>().ActiveKeyId);
        StateManager manager = provider.GetRequiredService<StateManager>();
        await new EncryptHookAgent { Id = "e", Secret = TestKeys.Secret }.SaveStateAsync(manager);
        var loaded = new EncryptHookAgent { Id = "e" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(TestKeys.Secret, loaded.Secret);
        Assert.DoesNotContain(TestKeys.Secret, Backends.Utf8((await manager.Store.GetAsync("global", "encrypt-agent/e"))!.Payload), StringComparison.Ordinal);
    }

    [Fact]
    public void AddStateGen_with_bad_configuration_keys_fails_when_the_ring_is_resolved_without_quoting_a_key()
    {
        IConfigurationRoot config = Config(new() { ["StateGen:Keys:Keys:k1"] = "%%bad-material%%" });
        var services = new ServiceCollection();
        services.AddStateGen(config.GetSection("StateGen")).UseKeysFromConfiguration(config);
        using ServiceProvider provider = services.BuildServiceProvider();

        var e = Assert.Throws<StateKeyConfigurationException>(() => provider.GetRequiredService<StateKeyRing>());
        Assert.Contains("StateGen:Keys", e.Message);
        Assert.DoesNotContain("%%bad-material%%", e.ToString());
    }
}
