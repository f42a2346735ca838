using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using StateGen.Secrets;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Encryption;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Security;

/// <summary>
/// [Sensitive] Omit, Redact and Encrypt through a real manager: the stored form of each, round trips, fingerprints,
/// restarts of a LiteDB file, key rotation, and the typed errors of a missing key, a wrong key, tampering and a
/// ciphertext moved to another record or member.
/// </summary>
public sealed class SensitiveModeTests : IDisposable
{
    private const string Password = "hunter2-PLANTED-password";
    private const string Connection = "Server=db;Password=PLANTED-connection-secret";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Vault Full(string id = "v1") => new()
    {
        Id = id,
        Topic = "research",
        SessionToken = "session-PLANTED-token",
        Note = "note-PLANTED-text",
        ApiKey = TestKeys.Secret,
        Scopes = new() { "scope-PLANTED-read" },
        ConnectionString = Connection,
        BackupConnectionString = "backup-PLANTED-connection",
        PrivateKey = Encoding.UTF8.GetBytes("private-PLANTED-key"),
        Headers = new() { ["Authorization"] = "Bearer PLANTED-header" },
        Budget = 1234567,
        Login = new VaultCredentials { User = "ada", Password = Password, Hint = "hint-PLANTED" },
    };

    private static readonly string[] Planted =
    {
        "session-PLANTED-token", "note-PLANTED-text", TestKeys.Secret, "scope-PLANTED-read", Connection, "backup-PLANTED-connection",
        "private-PLANTED-key", Convert.ToBase64String(Encoding.UTF8.GetBytes("private-PLANTED-key")), "Bearer PLANTED-header", "1234567", Password, "hint-PLANTED",
    };

    /// <summary>A manager over a memory store that encrypts and fingerprints with <paramref name="ring"/>.</summary>
    private static StateManager Keyed(StateKeyRing ring) => new(new MemoryStateStore(), new StateManagerOptions { SensitiveKeyRing = ring });

    private static async Task<JsonObject> StoredAsync(StateManager manager, string id = "v1", string scope = "global")
    {
        StoredEntry entry = (await manager.Store.GetAsync(scope, "vault/" + id))!;
        return JsonNode.Parse(entry.Payload.Span)!.AsObject();
    }

    private static async Task WriteRawAsync(StateManager manager, string id, JsonObject document, string scope = "global")
        => await manager.Store.WriteAsync(new StateWrite(scope, "vault/" + id, "vault", 1, Encoding.UTF8.GetBytes(document.ToJsonString())));

    [Fact]
    public async Task Each_mode_has_its_stored_form_and_only_Encrypt_members_load_back()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await Full().SaveStateAsync(manager);

        JsonObject stored = await StoredAsync(manager);
        string text = stored.ToJsonString();
        foreach (string planted in Planted)
        {
            Assert.DoesNotContain(planted, text, StringComparison.Ordinal);
        }

        Assert.False(stored.ContainsKey("SessionToken")); // Omit: absent
        Assert.Equal(SensitiveData.Marker, (string?)stored["Note"]); // Redact: the marker
        Assert.True(SensitiveData.TryGetFingerprint((string?)stored["ApiKey"], out _)); // Redact + fingerprint
        Assert.True(SensitiveData.TryGetFingerprint((string?)stored["Scopes"], out _));
        foreach (string encrypted in new[] { "ConnectionString", "BackupConnectionString", "PrivateKey", "Headers", "Budget" })
        {
            byte[] envelope = Convert.FromBase64String((string)stored[encrypted]!);
            Assert.True(StateEncryptor.TryGetKeyId(envelope, out string? keyId), encrypted);
            Assert.Equal("k1", keyId);
        }

        Assert.Equal("ada", (string?)stored["Login"]!["User"]);
        Assert.Equal(SensitiveData.Marker, (string?)stored["Login"]!["Hint"]);
        Assert.True(StateEncryptor.TryGetKeyId(Convert.FromBase64String((string)stored["Login"]!["Password"]!), out _));

        // A fresh instance: Encrypt members come back, Omit and Redact ones keep the in-memory value.
        var loaded = new Vault { Id = "v1", SessionToken = "mine", Note = "my note", ApiKey = "my key" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(("mine", "my note", "my key"), (loaded.SessionToken, loaded.Note, loaded.ApiKey));
        Assert.Null(loaded.Scopes);
        Assert.Equal(Connection, loaded.ConnectionString);
        Assert.Equal("backup-PLANTED-connection", loaded.BackupConnectionString);
        Assert.Equal("private-PLANTED-key", Encoding.UTF8.GetString(loaded.PrivateKey!));
        Assert.Equal("Bearer PLANTED-header", loaded.Headers!["Authorization"]);
        Assert.Equal(1234567, loaded.Budget);
        Assert.Equal(("ada", Password, null), (loaded.Login!.User, loaded.Login.Password, loaded.Login.Hint));
    }

    [Fact]
    public async Task Null_values_round_trip_encrypted_and_redact_to_null()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await new Vault { Id = "v1" }.SaveStateAsync(manager);

        JsonObject stored = await StoredAsync(manager);
        Assert.Null(stored["Note"]);
        Assert.Null(stored["ApiKey"]);
        Assert.NotNull(stored["ConnectionString"]); // a ciphertext of null: whether the secret is set is not visible

        var loaded = new Vault { Id = "v1", ConnectionString = "stale", Budget = 5 };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Null(loaded.ConnectionString);
        Assert.Null(loaded.Budget);
    }

    [Fact]
    public async Task A_fingerprint_tells_whether_a_redacted_value_changed_without_the_value()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { SensitiveKeyRing = ring, SecretScanning = SecretScanPolicy.Throw });
        Vault vault = Full();
        await vault.SaveStateAsync(manager);
        Assert.True(SensitiveData.TryGetFingerprint((string?)(await StoredAsync(manager))["ApiKey"], out string? first));

        await vault.SaveStateAsync(manager);
        Assert.True(SensitiveData.TryGetFingerprint((string?)(await StoredAsync(manager))["ApiKey"], out string? same));
        vault.ApiKey = TestKeys.Secret + "-rotated";
        await vault.SaveStateAsync(manager);
        Assert.True(SensitiveData.TryGetFingerprint((string?)(await StoredAsync(manager))["ApiKey"], out string? changed));

        Assert.Equal(first, same);
        Assert.NotEqual(first, changed);
        var fingerprinter = new StateFingerprinter(ring);
        string context = SensitiveData.FingerprintContext("vault", "ApiKey");
        Assert.True(fingerprinter.Matches(first!, context, TestKeys.Secret));
        Assert.False(fingerprinter.Matches(first!, context, "something else"));
        Assert.True(fingerprinter.Matches(changed!, context, vault.ApiKey));

        // Keyed: another key ring gives another fingerprint of the same value.
        using StateKeyRing other = TestKeys.Ring("k1", seed: 9);
        Assert.False(new StateFingerprinter(other).Matches(first!, context, TestKeys.Secret));
    }

    [Fact]
    public async Task Encrypted_members_survive_a_restart_and_a_key_rotation_of_a_LiteDB_file()
    {
        string path = _dir.File("vault.db");
        using (StateKeyRing ring = TestKeys.Ring("k1", 1))
        await using (var manager = new StateManager(new LiteDbStateStore(path), new StateManagerOptions { SensitiveKeyRing = ring }))
        {
            await Full().SaveStateAsync(manager);
            await Full("v2").SaveStateAsync(manager);
        }

        byte[] file = await File.ReadAllBytesAsync(path);
        foreach (string planted in Planted)
        {
            Assert.True(file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(planted)) < 0, planted);
        }

        // Reopen with a rotated ring: k2 active, k1 retired. Old values decrypt; new writes use k2.
        using (var rotated = new StateKeyRing("k1", TestKeys.Key(1)))
        {
            rotated.Rotate("k2", TestKeys.Key(2));
            await using var manager = new StateManager(new LiteDbStateStore(path), new StateManagerOptions { SensitiveKeyRing = rotated });
            var loaded = new Vault { Id = "v1" };
            Assert.True(await loaded.LoadStateAsync(manager));
            Assert.Equal((Connection, Password), (loaded.ConnectionString, loaded.Login!.Password));
            await loaded.SaveStateAsync(manager);
            Assert.True(StateEncryptor.TryGetKeyId(Convert.FromBase64String((string)(await StoredAsync(manager))["ConnectionString"]!), out string? keyId));
            Assert.Equal("k2", keyId);
        }

        // Only k2 now: the re-saved record loads, the one still under k1 is a typed error naming the key.
        using (var onlyNew = new StateKeyRing("k2", TestKeys.Key(2)))
        await using (var manager = new StateManager(new LiteDbStateStore(path), new StateManagerOptions { SensitiveKeyRing = onlyNew }))
        {
            var loaded = new Vault { Id = "v1" };
            Assert.True(await loaded.LoadStateAsync(manager));
            Assert.Equal(Connection, loaded.ConnectionString);

            var stale = new Vault { Id = "v2", Topic = "unchanged" };
            var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await stale.LoadStateAsync(manager));
            Assert.Equal(StateDecryptionFailureReason.UnknownKeyId, error.Reason);
            Assert.Equal("k1", error.KeyId);
            Assert.Equal("unchanged", stale.Topic); // a failed load changes nothing
            AssertNoSecret(error.Message);
        }
    }

    [Fact]
    public async Task A_wrong_key_with_the_same_id_is_a_typed_error_not_garbage()
    {
        string path = _dir.File("wrong.db");
        using (StateKeyRing ring = TestKeys.Ring("k1", 1))
        await using (var manager = new StateManager(new LiteDbStateStore(path), new StateManagerOptions { SensitiveKeyRing = ring }))
        {
            await Full().SaveStateAsync(manager);
        }

        using StateKeyRing wrong = TestKeys.Ring("k1", 7);
        await using var reopened = new StateManager(new LiteDbStateStore(path), new StateManagerOptions { SensitiveKeyRing = wrong });
        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await new Vault { Id = "v1" }.LoadStateAsync(reopened));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, error.Reason);
        Assert.Equal(("global", "vault/v1"), (error.Scope, error.Key));
        Assert.Contains("ConnectionString", error.Message, StringComparison.Ordinal);
        AssertNoSecret(error.Message);
    }

    [Fact]
    public async Task A_tampered_ciphertext_is_a_typed_error()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await Full().SaveStateAsync(manager);
        JsonObject stored = await StoredAsync(manager);
        byte[] envelope = Convert.FromBase64String((string)stored["ConnectionString"]!);
        envelope[^20] ^= 0x01; // one bit of the ciphertext
        stored["ConnectionString"] = Convert.ToBase64String(envelope);
        await WriteRawAsync(manager, "v1", stored);

        var vault = new Vault { Id = "v1", Topic = "before" };
        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await vault.LoadStateAsync(manager));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, error.Reason);
        Assert.Equal("before", vault.Topic);

        stored["ConnectionString"] = "not a ciphertext";
        await WriteRawAsync(manager, "v1", stored);
        error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await vault.LoadStateAsync(manager));
        Assert.Equal(StateDecryptionFailureReason.Malformed, error.Reason);

        stored["ConnectionString"] = Connection; // a plaintext where a ciphertext belongs is never accepted
        await WriteRawAsync(manager, "v1", stored);
        error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await vault.LoadStateAsync(manager));
        Assert.Equal(StateDecryptionFailureReason.Malformed, error.Reason);
        AssertNoSecret(error.Message);
    }

    [Theory]
    [InlineData("another record", "v2", "global", "ConnectionString")]
    [InlineData("another scope", "v1", "custom/elsewhere", "ConnectionString")]
    [InlineData("another member", "v1", "global", "BackupConnectionString")]
    public async Task A_ciphertext_moved_to_another_record_scope_or_member_does_not_decrypt(string what, string targetId, string targetScope, string targetMember)
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await Full("v1").SaveStateAsync(manager);
        await Full("v2").SaveStateAsync(manager);
        await Full("v1").SaveStateAsync(manager, StateScope.Custom("elsewhere"));
        string ciphertext = (string)(await StoredAsync(manager, "v1"))["ConnectionString"]!;
        JsonObject target = await StoredAsync(manager, targetId, targetScope);
        target[targetMember] = ciphertext;
        if (what == "another member")
        {
            target.Remove("ConnectionString"); // the copy is the only encrypted value left to fail on
        }

        await WriteRawAsync(manager, targetId, target, targetScope);
        StateScope scope = targetScope == "global" ? StateScope.Global : StateScope.Custom("elsewhere");
        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await new Vault { Id = targetId }.LoadStateAsync(manager, scope));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, error.Reason);
        Assert.Contains(targetMember, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_key_ring_an_encrypted_type_is_refused_at_save_and_nothing_is_stored()
    {
        string path = _dir.File("nokeys.db");
        await using (var manager = new StateManager(new LiteDbStateStore(path)))
        {
            var error = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await Full().SaveStateAsync(manager));
            Assert.Contains("SensitiveKeyRing", error.Message, StringComparison.Ordinal);
            Assert.Equal(("global", "vault/v1"), (error.Scope, error.Key));
            AssertNoSecret(error.Message);
            Assert.Null(await manager.Store.GetAsync("global", "vault/v1"));

            // Omit and Redact without a fingerprint need no key.
            await new HookAgent { Id = "h", Secret = TestKeys.Secret }.SaveStateAsync(manager);
        }

        byte[] file = await File.ReadAllBytesAsync(path);
        foreach (string planted in Planted)
        {
            Assert.True(file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(planted)) < 0, planted);
        }
    }

    [Fact]
    public async Task Without_a_key_ring_a_stored_ciphertext_is_refused_at_load()
    {
        var store = new MemoryStateStore();
        using (StateKeyRing ring = TestKeys.Ring())
        await using (var manager = new StateManager(store, new StateManagerOptions { SensitiveKeyRing = ring }, ownsStore: false))
        {
            await Full().SaveStateAsync(manager);
        }

        await using var keyless = new StateManager(store);
        var vault = new Vault { Id = "v1", Topic = "mine" };
        await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await vault.LoadStateAsync(keyless));
        Assert.Equal("mine", vault.Topic);
    }

    [Fact]
    public async Task A_fingerprinted_member_without_a_key_ring_is_refused_at_save()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var error = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new RedactHookAgent { Id = "r", Secret = TestKeys.Secret }.SaveStateAsync(manager));
        Assert.Contains("Fingerprint", error.Message, StringComparison.Ordinal);
        AssertNoSecret(error.Message);
    }

    [Fact]
    public async Task ChaCha20_Poly1305_is_an_option_and_either_algorithm_reads_the_other()
    {
        Assert.True(StateEncryptor.IsSupported(StateEncryptionAlgorithm.ChaCha20Poly1305));
        var store = new MemoryStateStore();
        using StateKeyRing ring = TestKeys.Ring();
        var chacha = new StateManagerOptions { SensitiveKeyRing = ring, SensitiveEncryption = new StateEncryptionOptions { Algorithm = StateEncryptionAlgorithm.ChaCha20Poly1305 } };
        await using (var manager = new StateManager(store, chacha, ownsStore: false))
        {
            await Full().SaveStateAsync(manager);
            byte[] envelope = Convert.FromBase64String((string)(await StoredAsync(manager))["ConnectionString"]!);
            Assert.Equal((byte)StateEncryptionAlgorithm.ChaCha20Poly1305, envelope[4]);
        }

        await using var aes = new StateManager(store, new StateManagerOptions { SensitiveKeyRing = ring });
        var loaded = new Vault { Id = "v1" };
        Assert.True(await loaded.LoadStateAsync(aes));
        Assert.Equal(Connection, loaded.ConnectionString);
    }

    [Fact]
    public async Task A_manager_over_an_encrypted_store_encrypts_members_with_the_store_keys()
    {
        string path = _dir.File("at-rest.db");
        StateKeyOptions keys = new StateKeyOptions().AddGeneratedKey("k1");
        await using (StateManager manager = await StateManager.OpenLiteDbAsync(path, new OptionsStateKeyProvider(keys)))
        {
            await Full().SaveStateAsync(manager);

            // What hooks, events and the timeline see is the decrypted document: the member is still a ciphertext.
            string document = Encoding.UTF8.GetString((await manager.Store.GetAsync("global", "vault/v1"))!.Payload.Span);
            Assert.DoesNotContain(Connection, document, StringComparison.Ordinal);
        }

        // Neither sensitive member's plaintext, nor a plain member's, is in any file the store wrote (the database, LiteDB's
        // log, the change-log segments): every stored value is encrypted at rest.
        byte[] files = At.FileBytes(_dir);
        Assert.False(At.Contains(files, Connection), "the connection string is in the store's files");
        Assert.False(At.Contains(files, Password), "the password is in the store's files");
        Assert.False(At.Contains(files, "hint-PLANTED"), "a plain member is in the store's files");

        await using StateManager reopened = await StateManager.OpenLiteDbAsync(path, new OptionsStateKeyProvider(keys));
        var loaded = new Vault { Id = "v1" };
        Assert.True(await loaded.LoadStateAsync(reopened));
        Assert.Equal((Connection, Password), (loaded.ConnectionString, loaded.Login!.Password));
    }

    [Fact]
    public async Task Secret_scanning_never_sees_an_encrypted_value_and_never_redacts_it()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { SensitiveKeyRing = ring, SecretScanning = SecretScanPolicy.Throw });
        Vault vault = Full();
        vault.ConnectionString = TestKeys.Secret; // has a secret's shape: would be refused as a plain member
        await vault.SaveStateAsync(manager);

        var loaded = new Vault { Id = "v1" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(TestKeys.Secret, loaded.ConnectionString);
    }

    [Fact]
    public void Direct_WriteState_without_a_manager_refuses_an_encrypted_member()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using var writer = new System.Text.Json.Utf8JsonWriter(buffer);
        var error = Assert.Throws<StateKeyConfigurationException>(() => ((IPersistentState<Vault>)Full()).WriteState(writer));
        Assert.Contains("no StateManager opened the record", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", Encoding.UTF8.GetString(buffer.WrittenSpan), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_nested_state_type_encrypts_its_members_bound_to_the_outer_record()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await new VaultHolder { Id = "h1", Agent = new EncryptHookAgent { Id = "inner", Secret = TestKeys.Secret } }.SaveStateAsync(manager);
        await new VaultHolder { Id = "h2", Agent = new EncryptHookAgent { Id = "inner", Secret = "other" } }.SaveStateAsync(manager);

        string h1 = Backends.Utf8((await manager.Store.GetAsync("global", "vault-holder/h1"))!.Payload);
        Assert.DoesNotContain(TestKeys.Secret, h1, StringComparison.Ordinal);
        var loaded = new VaultHolder { Id = "h1" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(TestKeys.Secret, loaded.Agent!.Secret);

        // The outer record's key is in the associated data: h1's nested ciphertext does not open in h2.
        JsonObject h2 = JsonNode.Parse((await manager.Store.GetAsync("global", "vault-holder/h2"))!.Payload.Span)!.AsObject();
        h2["Agent"]!["Secret"] = JsonNode.Parse(h1)!["Agent"]!["Secret"]!.GetValue<string>();
        await manager.Store.WriteAsync(new StateWrite("global", "vault-holder/h2", "vault-holder", 1, Encoding.UTF8.GetBytes(h2.ToJsonString())));
        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await new VaultHolder { Id = "h2" }.LoadStateAsync(manager));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, error.Reason);
    }

    [Fact]
    public async Task A_point_in_time_read_decrypts_the_old_version_and_the_timeline_holds_only_ciphertexts()
    {
        var start = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var clock = new ManualTimeProvider(start);
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = new StateManager(new MemoryStateStore(clock), new StateManagerOptions { SensitiveKeyRing = ring });
        Vault vault = Full();
        await vault.SaveStateAsync(manager);
        clock.Advance(TimeSpan.FromMinutes(1));
        vault.ConnectionString = "Server=db;Password=PLANTED-second-secret";
        await vault.SaveStateAsync(manager);

        Vault? old = await manager.GetAsOfAsync<Vault>(StateScope.Global, "vault/v1", start.AddSeconds(30));
        Assert.Equal(Connection, old!.ConnectionString);
        Vault? now = await manager.GetAsOfAsync<Vault>(StateScope.Global, "vault/v1", start.AddMinutes(2));
        Assert.Equal("Server=db;Password=PLANTED-second-secret", now!.ConnectionString);

        IReadOnlyList<StateGen.Events.StateChangeEvent> timeline = await manager.GetTimelineAsync(new StateGen.History.StateTimelineQuery());
        Assert.Equal(2, timeline.Count);
        Assert.Contains("ConnectionString", timeline[1].ChangedMembers); // a new ciphertext: the change is visible, the value is not
        foreach (StateGen.Events.StateChangeEvent e in timeline)
        {
            string text = Backends.Utf8(e.NewDocument) + Backends.Utf8(e.OldDocument);
            AssertNoSecret(text);
            Assert.DoesNotContain("PLANTED-second-secret", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_save_refused_halfway_through_a_guarded_graph_leaves_no_stale_cycle_state_on_the_thread()
    {
        var tree = new SecretTree { Id = "t", Root = { Name = "root", Children = { new SecretNode { Name = "leaf", Secret = TestKeys.Secret } } } };
        await using (var keyless = new StateManager(new MemoryStateStore()))
        {
            // Refused inside the cycle guard's walk (root → Children[0] → Secret).
            await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await tree.SaveStateAsync(keyless));
        }

        // The same objects again on this thread: no false reference cycle from the aborted walk.
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await tree.SaveStateAsync(manager);
        var loaded = new SecretTree { Id = "t" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(TestKeys.Secret, loaded.Root.Children[0].Secret);
    }

    [Fact]
    public async Task A_forked_copy_keeps_its_ciphertext_bound_to_the_source_scope_so_it_loads_as_a_typed_error()
    {
        // ForkAsync copies stored documents as they are; an encrypted member's associated data names the source scope,
        // so the copy cannot be read in the fork (never the value of another scope, never garbage). Re-save from the
        // source to carry such values into a fork.
        using StateKeyRing ring = TestKeys.Ring();
        await using var manager = Keyed(ring);
        await Full().SaveStateAsync(manager, StateScope.Agent("source"));
        Assert.Equal(1, await manager.ForkAsync(StateScope.Agent("source"), StateScope.Agent("fork")));

        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await new Vault { Id = "v1" }.LoadStateAsync(manager, StateScope.Agent("fork")));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, error.Reason);
        AssertNoSecret(error.Message);
    }

    private static void AssertNoSecret(string text)
    {
        foreach (string planted in Planted)
        {
            Assert.DoesNotContain(planted, text, StringComparison.Ordinal);
        }
    }
}
