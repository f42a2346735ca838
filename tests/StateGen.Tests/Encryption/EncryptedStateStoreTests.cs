using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.History;
using StateGen.Hooks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Encryption;

/// <summary>
/// What the encrypted store keeps out of the file and what it refuses to read: tampered, swapped, foreign-key and
/// plaintext values are typed errors naming the record, never garbage.
/// </summary>
public sealed class EncryptedStateStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static HookExecutionRecord Hook(string hookId, string scope, string key, string old, string @new, string result)
        => new(0, hookId, "BeforeChange", scope, key, "Note", "Modified", null, TimeSpan.FromMilliseconds(1), DateTimeOffset.UnixEpoch, "c1",
            Encoding.UTF8.GetBytes(old), Encoding.UTF8.GetBytes(@new), Encoding.UTF8.GetBytes(result));

    [Fact]
    public async Task Planted_secret_and_plain_marker_never_reach_the_file_through_document_change_log_or_hook_history()
    {
        // Control: the same document through a plain store does show up in the file, so the byte search works.
        using (var plainDir = new TempDirectory())
        {
            await using (var plain = new LiteDbStateStore(plainDir.NewDatabaseFile()))
            {
                await plain.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
            }

            Assert.True(At.Contains(At.FileBytes(plainDir), TestKeys.Secret));
            Assert.True(At.Contains(At.FileBytes(plainDir), At.Marker));
        }

        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring();
        await using (EncryptedStateStore store = At.OpenLiteDb(path, ring))
        {
            await store.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
            await store.CommitAsync(new StateOperation[] { At.Write("agent/a", "Note/1", "v2"), At.Write("global", "other", "v1") });
            await store.AppendHookExecutionsAsync(new[] { Hook("h", "agent/a", "Note/1", TestKeys.Secret, At.Marker, TestKeys.Secret + At.Marker) });

            // What the inner store holds, document and change-log copy alike, is an envelope.
            IReadOnlyList<StateChangeRecord> rawLog = await ((IStateHistoryStore)store.Inner).ReadChangesAsync(new StateChangeQuery());
            Assert.Equal(3, rawLog.Count);
            Assert.All(rawLog, r => Assert.Equal("k1", At.KeyIdOf(r.Payload.Span)));
            Assert.Equal("k1", At.KeyIdOf(await At.RawAsync(store, "agent/a", "Note/1")));
            HookExecutionRecord rawHook = (await ((IStateHistoryStore)store.Inner).ReadHookExecutionsAsync(new HookExecutionQuery())).Single();
            Assert.All(new[] { rawHook.OldValue, rawHook.NewValue, rawHook.ResultValue }, v => Assert.Equal("k1", At.KeyIdOf(v.Span)));
        }

        byte[] file = At.FileBytes(_dir);
        Assert.False(At.Contains(file, TestKeys.Secret), "the planted secret is in the database file");
        Assert.False(At.Contains(file, At.Marker), "the plain marker is in the database file");

        await using (EncryptedStateStore reopened = At.OpenLiteDb(path, ring))
        {
            Assert.Equal(At.Text(At.Document("v2")), At.Text((await reopened.GetAsync("agent/a", "Note/1"))!.Payload));
            Assert.Equal(new[] { "v1", "v2", "v1" }.Select(v => At.Text(At.Document(v))), (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => At.Text(r.Payload)));
            HookExecutionRecord hook = (await reopened.ReadHookExecutionsAsync(new HookExecutionQuery())).Single();
            Assert.Equal((TestKeys.Secret, At.Marker, TestKeys.Secret + At.Marker), (At.Text(hook.OldValue), At.Text(hook.NewValue), At.Text(hook.ResultValue)));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_byte_flip_of_a_stored_envelope_is_rejected_with_StateDecryptionException(bool allowPlaintextReads)
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using EncryptedStateStore store = At.OpenLiteDb(_dir.NewDatabaseFile(), ring, allowPlaintextReads);
        await store.WriteAsync(new StateWrite("agent/a", "Note/1", "Note", 2, Encoding.UTF8.GetBytes("{\"k\":\"" + TestKeys.Secret + "\"}")));
        byte[] original = await At.RawAsync(store, "agent/a", "Note/1");

        int attempts = 0;
        int rejected = 0;
        for (int i = 0; i < original.Length; i++)
        {
            foreach (byte mask in new byte[] { 0x01, 0x80, 0xFF })
            {
                byte[] tampered = (byte[])original.Clone();
                tampered[i] ^= mask;
                await store.Inner.WriteAsync(new StateWrite("agent/a", "Note/1", "Note", 2, tampered));
                attempts++;
                try
                {
                    await store.GetAsync("agent/a", "Note/1");
                }
                catch (StateDecryptionException ex)
                {
                    Assert.Equal(("agent/a", "Note/1"), (ex.Scope, ex.Key));
                    Assert.Contains("'agent/a' key 'Note/1'", ex.Message, StringComparison.Ordinal);
                    Assert.DoesNotContain(TestKeys.Secret, ex.Message, StringComparison.Ordinal);
                    rejected++;
                }
            }
        }

        // Truncated and extended envelopes too.
        foreach (byte[] tampered in new[] { original[..^1], original[..20], original.Concat(new byte[] { 0 }).ToArray() })
        {
            await store.Inner.WriteAsync(new StateWrite("agent/a", "Note/1", "Note", 2, tampered));
            attempts++;
            await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.GetAsync("agent/a", "Note/1"));
            rejected++;
        }

        Assert.Equal(attempts, rejected);
        Assert.Equal(original.Length * 3 + 3, attempts);

        await store.Inner.WriteAsync(new StateWrite("agent/a", "Note/1", "Note", 2, original));
        Assert.Contains(TestKeys.Secret, At.Text((await store.GetAsync("agent/a", "Note/1"))!.Payload), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("agent/a", "Note/2", "Note", 1)]
    [InlineData("agent/b", "Note/1", "Note", 1)]
    [InlineData("agent/a", "Note/1", "OtherNote", 1)]
    [InlineData("agent/a", "Note/1", "Note", 2)]
    public async Task An_envelope_copied_to_another_record_fails_to_authenticate(string scope, string key, string typeName, int schemaVersion)
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using EncryptedStateStore store = At.OpenLiteDb(_dir.NewDatabaseFile(), ring);
        await store.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
        byte[] envelope = await At.RawAsync(store, "agent/a", "Note/1");

        // Copied at the inner-store level, where an attacker with access to the file works.
        await store.Inner.WriteAsync(new StateWrite(scope, key, typeName, schemaVersion, envelope));

        var ex = await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.GetAsync(scope, key));
        Assert.Equal((StateDecryptionFailureReason.AuthenticationFailed, "k1", scope, key), (ex.Reason, ex.KeyId, ex.Scope, ex.Key));
        Assert.Contains("key id 'k1'", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.ScanAsync(null, 10));
        await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key }));
    }

    [Fact]
    public async Task Hook_values_cannot_be_swapped_with_documents_with_each_other_or_with_another_record()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using EncryptedStateStore store = At.OpenLiteDb(_dir.NewDatabaseFile(), ring);
        var inner = (IStateHistoryStore)store.Inner;
        await store.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
        await store.AppendHookExecutionsAsync(new[] { Hook("original", "agent/a", "Note/1", "\"old\"", "\"new\"", "\"result\"") });
        byte[] document = await At.RawAsync(store, "agent/a", "Note/1");
        HookExecutionRecord raw = (await inner.ReadHookExecutionsAsync(new HookExecutionQuery())).Single();

        // A hook value planted as the document.
        await store.Inner.WriteAsync(new StateWrite("agent/a", "Note/1", "Note", 1, raw.NewValue));
        Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, (await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.GetAsync("agent/a", "Note/1"))).Reason);

        // The document planted as a hook value; old and new swapped; a value moved to another key.
        await inner.AppendHookExecutionsAsync(new[]
        {
            raw with { HookId = "doc-as-value", NewValue = document },
            raw with { HookId = "swapped", OldValue = raw.NewValue, NewValue = raw.OldValue },
            raw with { HookId = "other-key", Key = "Note/2" },
        });
        foreach (string hookId in new[] { "doc-as-value", "swapped", "other-key" })
        {
            var ex = await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery { HookId = hookId }));
            Assert.Equal(StateDecryptionFailureReason.AuthenticationFailed, ex.Reason);
            Assert.Equal("agent/a", ex.Scope);
        }

        HookExecutionRecord untouched = (await store.ReadHookExecutionsAsync(new HookExecutionQuery { HookId = "original" })).Single();
        Assert.Equal(("\"old\"", "\"new\"", "\"result\""), (At.Text(untouched.OldValue), At.Text(untouched.NewValue), At.Text(untouched.ResultValue)));
    }

    [Fact]
    public async Task A_ring_without_the_key_fails_with_UnknownKeyId_and_one_with_other_bytes_fails_to_authenticate()
    {
        string path = _dir.NewDatabaseFile();
        using (StateKeyRing ring = TestKeys.Ring("k1", 1))
        await using (EncryptedStateStore store = At.OpenLiteDb(path, ring))
        {
            await store.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
        }

        using (StateKeyRing other = TestKeys.Ring("k2", 2))
        await using (EncryptedStateStore store = At.OpenLiteDb(path, other))
        {
            var ex = await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.GetAsync("agent/a", "Note/1"));
            Assert.Equal((StateDecryptionFailureReason.UnknownKeyId, "k1", "agent/a", "Note/1"), (ex.Reason, ex.KeyId, ex.Scope, ex.Key));
            Assert.Contains("'agent/a' key 'Note/1' (key id 'k1')", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(TestKeys.Secret, ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(At.Marker, ex.Message, StringComparison.Ordinal);
            Assert.Equal("k1", (await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.ScanAsync(null, 10))).KeyId);
            Assert.Equal("k1", (await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.ReadChangeAsync(1))).KeyId);

            // Metadata needs no key.
            Assert.True(await store.ExistsAsync("agent/a", "Note/1"));
            Assert.Equal(new[] { "Note/1" }, await store.ListKeysAsync("agent/a"));
        }

        using (StateKeyRing sameIdOtherBytes = TestKeys.Ring("k1", 9))
        await using (EncryptedStateStore store = At.OpenLiteDb(path, sameIdOtherBytes))
        {
            var ex = await Assert.ThrowsAsync<StateDecryptionException>(async () => await store.GetAsync("agent/a", "Note/1"));
            Assert.Equal((StateDecryptionFailureReason.AuthenticationFailed, "k1"), (ex.Reason, ex.KeyId));
        }
    }

    [Fact]
    public async Task Plaintext_from_before_encryption_is_a_typed_error_unless_AllowPlaintextReads_and_the_job_then_encrypts_it()
    {
        string path = _dir.NewDatabaseFile();
        await using (var plain = new LiteDbStateStore(path))
        {
            await plain.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
            await plain.WriteAsync(At.Write("global", "settings", "v1", typeName: "json"));
            await plain.WriteAsync(new StateWrite("global", "empty", "blob", 1, Array.Empty<byte>()));
        }

        using StateKeyRing ring = TestKeys.Ring();
        await using (EncryptedStateStore strict = At.OpenLiteDb(path, ring))
        {
            var ex = await Assert.ThrowsAsync<StateDecryptionException>(async () => await strict.GetAsync("agent/a", "Note/1"));
            Assert.Equal((StateDecryptionFailureReason.NotEncrypted, "agent/a", "Note/1", (string?)null), (ex.Reason, ex.Scope, ex.Key, ex.KeyId));
            Assert.Contains("plaintext", ex.Message, StringComparison.Ordinal);
            Assert.Contains("AllowPlaintextReads", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(TestKeys.Secret, ex.Message, StringComparison.Ordinal);
            Assert.Equal(StateDecryptionFailureReason.NotEncrypted, (await Assert.ThrowsAsync<StateDecryptionException>(async () => await strict.GetAsync("global", "empty"))).Reason);
            await Assert.ThrowsAsync<StateDecryptionException>(async () => await strict.ScanAsync(null, 10));
            await Assert.ThrowsAsync<StateDecryptionException>(async () => await strict.ReadChangesAsync(new StateChangeQuery()));

            // Without the migration mode the job moves nothing and reports what is left.
            ReEncryptionResult refused = await strict.ReEncryptAsync();
            Assert.Equal((3L, 0L, 3L), (refused.Scanned, refused.ReEncrypted, refused.Failed));
            Assert.Equal((0L, 3L), (refused.ChangeRecordsReEncrypted, refused.HistoryFailed)); // the change log's plaintext copies too
            Assert.Equal(3, refused.RemainingUnderOldKeys);
            Assert.Equal(3, refused.KeyUsage.PlaintextEntries);
        }

        await using (EncryptedStateStore migrating = At.OpenLiteDb(path, ring, allowPlaintextReads: true))
        {
            Assert.Equal(At.Text(At.Document("v1")), At.Text((await migrating.GetAsync("agent/a", "Note/1"))!.Payload));
            await migrating.WriteAsync(At.Write("agent/a", "Note/2", "new")); // new writes are encrypted at once

            ReEncryptionResult result = await migrating.ReEncryptAsync();

            Assert.Equal((4L, 3L, 1L, 0L), (result.Scanned, result.ReEncrypted, result.Skipped, result.Failed));
            Assert.Equal(0, result.RemainingUnderOldKeys);
            Assert.Equal(0, result.KeyUsage.PlaintextEntries);
            Assert.Equal(0, result.KeyUsage.PlaintextHistoryRecords); // the change log's plaintext copies were encrypted in place
            Assert.Equal(3, result.ChangeRecordsReEncrypted);
            Assert.Empty(result.RetiredKeysInUse);
            Assert.Equal(3, await migrating.PruneChangesAsync(null, 1));
            Assert.Equal(0, (await migrating.GetKeyUsageAsync()).PlaintextHistoryRecords);
        }

        await using (EncryptedStateStore strictAgain = At.OpenLiteDb(path, ring))
        {
            Assert.Equal(At.Text(At.Document("v1")), At.Text((await strictAgain.GetAsync("agent/a", "Note/1"))!.Payload));
            Assert.Empty((await strictAgain.GetAsync("global", "empty"))!.Payload.ToArray());
            Assert.Equal(4, (await At.ScanAllAsync(strictAgain)).Count);
            Assert.All(await At.ScanAllAsync(strictAgain.Inner), e => Assert.Equal("k1", At.KeyIdOf(e.Payload.Span)));
        }
    }

    [Fact]
    public async Task Over_a_store_without_history_RecordsChanges_is_false_and_history_reads_throw_StateHistoryUnavailableException()
    {
        using StateKeyRing ring = TestKeys.Ring();
        await using var store = new EncryptedStateStore(new StoreWithoutHistory(), new StateEncryptor(ring));
        await store.WriteAsync(At.Write("global", "k", "v1"));

        Assert.False(store.RecordsChanges);
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await store.ReadChangesAsync(new StateChangeQuery()));
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await store.ReadChangeAsync(1));
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery()));
        await Assert.ThrowsAsync<StateHistoryUnavailableException>(async () => await store.AppendHookExecutionsAsync(Array.Empty<HookExecutionRecord>()));
        Assert.Equal(0, await store.PruneChangesAsync(null, 0));
        Assert.Equal(0, await store.PruneHookExecutionsAsync(null, 0));

        // Re-encryption and key counts still work on the entries.
        Assert.Equal(1, (await store.ReEncryptAsync()).Skipped);
        Assert.Equal(1, await store.CountRecordsUsingKeyAsync("k1"));
        Assert.Equal(At.Text(At.Document("v1")), At.Text((await store.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task CreateAsync_loads_the_keys_from_a_provider_and_disposes_the_ring_with_the_store()
    {
        var keys = new StateKeyOptions { ActiveKeyId = "2025-06", Keys = { ["2025-01"] = TestKeys.Base64(1), ["2025-06"] = TestKeys.Base64(2) } };
        string path = _dir.NewDatabaseFile();
        EncryptedStateStore store = await EncryptedStateStore.CreateAsync(new LiteDbStateStore(path), new OptionsStateKeyProvider(keys));
        StateKeyRing ring = store.Encryptor.KeyRing;
        await store.WriteAsync(At.Write("global", "k", "v1"));
        Assert.Equal("2025-06", At.KeyIdOf(await At.RawAsync(store, "global", "k")));

        await store.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => ring.ActiveKeyId);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("global", "k"));
        await using EncryptedStateStore reopened = await EncryptedStateStore.CreateAsync(new LiteDbStateStore(path), new OptionsStateKeyProvider(keys));
        Assert.Equal(At.Text(At.Document("v1")), At.Text((await reopened.GetAsync("global", "k"))!.Payload));
    }

    [Fact]
    public async Task StateManager_over_an_encrypted_LiteDB_file_saves_and_loads_a_generated_type_across_reopen()
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring();
        var note = new Note { Id = "n1", Topic = At.Marker, Runs = 11, Tags = new() { "x", At.Marker + "-tag" } };

        await using (var manager = new StateManager(new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring))))
        {
            using StateHookRegistration hook = manager.Hooks.Register(StateHookPoint.BeforeChange, "observe", _ => StateHookResult.Continue);
            await note.SaveStateAsync(manager);
            note.Runs = 12;
            await note.SaveStateAsync(manager);
        }

        byte[] file = At.FileBytes(_dir);
        Assert.False(At.Contains(file, At.Marker), "the marker is in the database file");

        await using (var reopened = new StateManager(new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring))))
        {
            var loaded = new Note { Id = "n1" };
            Assert.True(await loaded.LoadStateAsync(reopened));
            Assert.Equal((At.Marker, 12), (loaded.Topic, loaded.Runs));
            Assert.Equal(new[] { "x", At.Marker + "-tag" }, loaded.Tags);

            IReadOnlyList<HookExecutionRecord> hooks = await reopened.GetHookHistoryAsync(new HookExecutionQuery { HookId = "observe" });
            Assert.Equal(2, hooks.Count);
            Assert.Contains(At.Marker, At.Text(hooks[1].NewValue), StringComparison.Ordinal);
            Assert.Contains("\"Runs\":11", At.Text(hooks[1].OldValue), StringComparison.OrdinalIgnoreCase);
        }
    }
}
