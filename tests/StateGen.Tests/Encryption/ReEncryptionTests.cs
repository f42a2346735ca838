using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Encryption;

/// <summary>Key rotation on a real LiteDB file: new writes use the new key, the job moves the rest, history is accounted for.</summary>
public sealed class ReEncryptionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Key(int i) => "Note/" + i.ToString("D3", CultureInfo.InvariantCulture);

    private static string Scope(int i) => "agent/" + (i % 3).ToString(CultureInfo.InvariantCulture);

    private static async Task<Dictionary<string, string?>> KeyIdsAsync(EncryptedStateStore store)
        => (await At.ScanAllAsync(store.Inner)).ToDictionary(e => e.Scope + "|" + e.Key, e => At.KeyIdOf(e.Payload.Span));

    [Fact]
    public async Task After_rotation_new_writes_use_the_new_key_old_entries_read_and_ReEncrypt_moves_everything_so_the_old_key_can_go()
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using (EncryptedStateStore store = At.OpenLiteDb(path, ring, pageSize: 7))
        {
            for (int i = 0; i < 30; i++)
            {
                await store.WriteAsync(At.Write(Scope(i), Key(i), "v" + i.ToString(CultureInfo.InvariantCulture)));
            }

            await store.AppendHookExecutionsAsync(new[]
            {
                new HookExecutionRecord(0, "h", "BeforeChange", Scope(0), Key(0), "Note", "Continued", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch, null, Encoding.UTF8.GetBytes("\"a\""), Encoding.UTF8.GetBytes("\"b\""), ReadOnlyMemory<byte>.Empty),
            });

            ring.Rotate("k2", TestKeys.Key(2));
            StoredEntry fresh = await store.WriteAsync(At.Write("global", "fresh", "new"));

            Assert.Equal("k2", At.KeyIdOf(await At.RawAsync(store, "global", "fresh")));
            Assert.Equal("k1", At.KeyIdOf(await At.RawAsync(store, Scope(5), Key(5))));
            Assert.Equal(At.Text(At.Document("v5")), At.Text((await store.GetAsync(Scope(5), Key(5)))!.Payload));
            Assert.Equal(30 + 30 + 2, await store.CountRecordsUsingKeyAsync("k1"));

            var reports = new List<ReEncryptionProgress>();
            ReEncryptionResult result = await store.ReEncryptAsync(new InlineProgress<ReEncryptionProgress>(reports.Add));

            Assert.Equal((31L, 30L, 1L, 0L), (result.Scanned, result.ReEncrypted, result.Skipped, result.Failed));
            Assert.Empty(result.Failures);
            Assert.Equal("k2", result.ActiveKeyId);
            Assert.Equal(0, result.RemainingUnderOldKeys);
            Assert.Equal(5, reports.Count(r => r.Part == ReEncryptionPart.Entries)); // pages of 7: 7, 14, 21, 28, 31
            Assert.Equal(31, reports.Last(r => r.Part == ReEncryptionPart.Entries).Scanned);
            Assert.All((await KeyIdsAsync(store)).Values, id => Assert.Equal("k2", id));
            for (int i = 0; i < 30; i++)
            {
                StoredEntry entry = (await store.GetAsync(Scope(i), Key(i)))!;
                Assert.Equal(At.Text(At.Document("v" + i.ToString(CultureInfo.InvariantCulture))), At.Text(entry.Payload));
                Assert.Equal(2, entry.Version);
            }

            Assert.Equal(fresh.Version, (await store.GetAsync("global", "fresh"))!.Version);
            Assert.Equal(30, (await store.ReadChangesAsync(new StateChangeQuery())).Count(r => r.Origin == EncryptedStateStore.ReEncryptOrigin));

            // The history moved too (HistoryReEncryptionTests): the 30 first records and the hook record's two values.
            Assert.True(result.HistoryReEncrypted);
            Assert.Equal((30L, 1L), (result.ChangeRecordsReEncrypted, result.HookRecordsReEncrypted));
            Assert.False(result.KeyUsage.ChangeRecords.ContainsKey("k1"));
            Assert.Equal(2, result.KeyUsage.HookValues["k2"]);
            Assert.Equal(0, result.HistoryRecordsUnderOldKeys);
            Assert.Empty(result.RetiredKeysInUse);
            Assert.True(result.CanRemoveRetiredKeys);
            Assert.Equal(0, await store.CountRecordsUsingKeyAsync("k1"));

            // Idempotent: a second run finds nothing to do.
            ReEncryptionResult again = await store.ReEncryptAsync();
            Assert.Equal((31L, 0L, 31L), (again.Scanned, again.ReEncrypted, again.Skipped));
            Assert.Equal((0L, 0L), (again.ChangeRecordsReEncrypted, again.HookRecordsReEncrypted));
            Assert.True(again.CanRemoveRetiredKeys);
            Assert.True(ring.RemoveRetiredKey("k1", noRecordUsesKey: again.CanRemoveRetiredKeys));
        }

        using StateKeyRing onlyNew = TestKeys.Ring("k2", 2);
        await using EncryptedStateStore reopened = At.OpenLiteDb(path, onlyNew);
        List<StoredEntry> all = await At.ScanAllAsync(reopened);
        Assert.Equal(31, all.Count);
        Assert.All(all, e => Assert.Contains(At.Marker, At.Text(e.Payload), StringComparison.Ordinal));
        Assert.Equal(61, (await reopened.ReadChangesAsync(new StateChangeQuery())).Count); // the whole history reads with k2 alone
        Assert.Single(await reopened.ReadHookExecutionsAsync(new HookExecutionQuery()));
    }

    [Fact]
    public async Task ReEncrypt_under_concurrent_writes_and_deletes_loses_nothing()
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = At.OpenLiteDb(_dir.NewDatabaseFile(), ring, pageSize: 8);
        const int Entries = 200;
        var expected = new Dictionary<string, string?>();
        for (int i = 0; i < Entries; i++)
        {
            await store.WriteAsync(At.Write(Scope(i), Key(i), "v0"));
            expected[Scope(i) + "|" + Key(i)] = At.Text(At.Document("v0"));
        }

        ring.Rotate("k2", TestKeys.Key(2));

        var random = new Random(7);
        int[] targets = Enumerable.Range(0, 600).Select(_ => random.Next(Entries)).ToArray();
        Task writer = Task.Run(async () =>
        {
            for (int n = 0; n < targets.Length; n++)
            {
                int i = targets[n];
                string id = Scope(i) + "|" + Key(i);
                if (n % 50 == 49)
                {
                    await store.DeleteAsync(Scope(i), Key(i));
                    expected[id] = null;
                }
                else
                {
                    string value = "w" + n.ToString(CultureInfo.InvariantCulture);
                    await store.WriteAsync(At.Write(Scope(i), Key(i), value));
                    expected[id] = At.Text(At.Document(value));
                }
            }
        });
        Task<ReEncryptionResult> job = Task.Run(async () => await store.ReEncryptAsync());

        await Task.WhenAll(writer, job);
        ReEncryptionResult result = await job;

        Assert.Equal(0, result.Failed);
        Assert.Equal(result.Scanned, result.ReEncrypted + result.Skipped);
        Assert.Equal(0, result.RemainingUnderOldKeys);
        foreach ((string id, string? value) in expected)
        {
            string[] parts = id.Split('|');
            StoredEntry? entry = await store.GetAsync(parts[0], parts[1]);
            Assert.Equal(value, entry is null ? null : At.Text(entry.Payload));
        }

        Assert.All((await KeyIdsAsync(store)).Values, id => Assert.Equal("k2", id));
    }

    [Fact]
    public async Task A_canceled_job_leaves_the_store_consistent_and_a_rerun_from_its_position_finishes()
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = At.OpenLiteDb(path, ring, pageSize: 10);
        for (int i = 0; i < 50; i++)
        {
            await store.WriteAsync(At.Write(Scope(i), Key(i), "v" + i.ToString(CultureInfo.InvariantCulture)));
        }

        ring.Rotate("k2", TestKeys.Key(2));
        using var cts = new CancellationTokenSource();
        ReEncryptionProgress? last = null;
        var progress = new InlineProgress<ReEncryptionProgress>(p =>
        {
            last = p;
            if (p.Scanned >= 20)
            {
                cts.Cancel();
            }
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.ReEncryptAsync(progress, cancellationToken: cts.Token));

        // Two whole pages moved, the rest untouched, everything readable.
        Assert.NotNull(last);
        Assert.Equal((20L, 20L), (last.Scanned, last.ReEncrypted));
        Dictionary<string, string?> ids = await KeyIdsAsync(store);
        Assert.Equal(20, ids.Values.Count(id => id == "k2"));
        Assert.Equal(30, ids.Values.Count(id => id == "k1"));
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(At.Text(At.Document("v" + i.ToString(CultureInfo.InvariantCulture))), At.Text((await store.GetAsync(Scope(i), Key(i)))!.Payload));
        }

        ReEncryptionResult resumed = await store.ReEncryptAsync(resumeAfter: last.Position);
        Assert.Equal((30L, 30L, 0L), (resumed.Scanned, resumed.ReEncrypted, resumed.Skipped));
        Assert.Equal(0, resumed.RemainingUnderOldKeys);

        ReEncryptionResult rescan = await store.ReEncryptAsync();
        Assert.Equal((50L, 0L, 50L), (rescan.Scanned, rescan.ReEncrypted, rescan.Skipped));
    }

    [Fact]
    public async Task Entries_that_do_not_decrypt_are_reported_by_scope_and_key_and_the_rest_is_moved()
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = At.OpenLiteDb(_dir.NewDatabaseFile(), ring, pageSize: 4);
        for (int i = 0; i < 10; i++)
        {
            await store.WriteAsync(At.Write(Scope(i), Key(i), "v"));
        }

        byte[] damaged = await At.RawAsync(store, Scope(4), Key(4));
        damaged[^1] ^= 1;
        await store.Inner.WriteAsync(new StateWrite(Scope(4), Key(4), "Note", 1, damaged));
        ring.Rotate("k2", TestKeys.Key(2));

        ReEncryptionResult result = await store.ReEncryptAsync();

        Assert.Equal((10L, 9L, 0L, 1L), (result.Scanned, result.ReEncrypted, result.Skipped, result.Failed));
        ReEncryptionFailure failure = Assert.Single(result.Failures, f => f.Part == ReEncryptionPart.Entries);
        Assert.Equal((Scope(4), Key(4)), (failure.Scope, failure.Key));

        // The damaged write's change record holds the same envelope: reported in the history part, by its sequence.
        ReEncryptionFailure record = Assert.Single(result.Failures, f => f.Part == ReEncryptionPart.ChangeRecords);
        Assert.Equal((Scope(4), Key(4), 11L), (record.Scope, record.Key, record.RecordId));
        Assert.Equal((1L, 10L), (result.HistoryFailed, result.ChangeRecordsReEncrypted));
        Assert.Contains("key id 'k1'", failure.Reason, StringComparison.Ordinal);
        Assert.Equal(1, result.RemainingUnderOldKeys);
        Assert.Contains("k1", result.RetiredKeysInUse);
        Assert.False(result.CanRemoveRetiredKeys);
    }
}
