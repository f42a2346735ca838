using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Security;
using StateGen.Tests.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Encryption;

/// <summary>
/// Key usage counts (the nonce limits) are durable in the store they protect: real LiteDB files, reopened after a
/// dispose or after a simulated power cut with no dispose, resume each key's count at or above its true count and less
/// than one reservation block above it; the warning and the hard stop hold across restarts; a damaged count record is
/// a typed error; the records hold no key material. Each restart loads a new ring from the same key bytes, as a new
/// process would. A small block (4) and small limits make the thresholds reachable.
/// </summary>
public sealed class DurableKeyUsageTests : IDisposable
{
    private const long Block = 4;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_count_survives_a_restart_of_a_LiteDB_file()
    {
        string path = _dir.NewDatabaseFile();
        await WriteAsync(path, TestKeys.Ring(), 10);

        using StateKeyRing ring = TestKeys.Ring();
        await using EncryptedStateStore store = Open(path, ring);
        await store.WriteAsync(At.Write("agent/a1", "after", "v"));

        // 10 before the restart, 1 after: resumed from the reservation (12: blocks of 4 cover counts 1 to 12).
        long count = ring.GetEncryptionCount("k1");
        Assert.InRange(count, 11, 10 + Block + 1);
        Assert.Equal(12 + 1, count);
    }

    [Theory]
    [InlineData(1, StateDurability.Durable, false)]
    [InlineData(4, StateDurability.Durable, false)]
    [InlineData(5, StateDurability.Durable, true)]
    [InlineData(13, StateDurability.Durable, true)]
    [InlineData(13, StateDurability.Relaxed, false)]
    [InlineData(13, StateDurability.Relaxed, true)]
    public async Task A_stop_without_dispose_resumes_at_or_above_the_true_count_and_less_than_a_block_above(int encryptions, StateDurability durability, bool torn)
    {
        string path = _dir.File("crash.db");
        var disk = new SimulatedDisk(torn ? new Random(encryptions) : null);
        var ring = TestKeys.Ring();
        var lite = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open, Durability = durability, RelaxedFlushInterval = TimeSpan.FromHours(1) });
        var store = new EncryptedStateStore(lite, new StateEncryptor(ring), Options());
        for (int i = 0; i < encryptions; i++)
        {
            await store.WriteAsync(At.Write("agent/a1", $"note/{i}", "v"));
        }

        Assert.Equal(encryptions, ring.GetEncryptionCount("k1"));

        // The power goes: whatever was not flushed is lost (torn: a random part of it kept). No dispose runs first.
        IReadOnlyDictionary<string, byte[]> images = disk.Crash();
        try
        {
            lite.Dispose();
        }
        catch (StateGenException)
        {
            // With the power gone the final flush fails; the file is released anyway.
        }

        ring.Dispose();

        using StateKeyRing restarted = TestKeys.Ring();
        using var reopenedLite = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = new SimulatedDisk(images).Open });
        long? reserved = ((IStateKeyUsageRecords)reopenedLite).ReadKeyUsageReservation("k1");
        Assert.NotNull(reserved);
        Assert.InRange(reserved.Value, encryptions, encryptions + Block - 1);

        await using var reopened = new EncryptedStateStore(reopenedLite, new StateEncryptor(restarted), Options(leaveInnerOpen: true));
        await reopened.WriteAsync(At.Write("agent/a1", "after", "v"));
        Assert.Equal(reserved.Value + 1, restarted.GetEncryptionCount("k1"));
    }

    [Fact]
    public async Task The_warning_fires_across_restarts_at_the_threshold()
    {
        string path = _dir.NewDatabaseFile();
        var options = new StateEncryptionOptions { KeyUsageWarningThreshold = 10 };
        Assert.Empty((await WriteAsync(path, TestKeys.Ring(), 6, options)).Warnings);

        // True count 6: the threshold is 4 encryptions away, and the warning comes no later than that.
        using (StateKeyRing ring = TestKeys.Ring())
        {
            var log = new CapturingLogger();
            var encryptor = new StateEncryptor(ring, options, log);
            var warnings = new List<StateKeyUsageEventArgs>();
            encryptor.KeyUsageWarning += (_, e) => warnings.Add(e);
            await using (var store = new EncryptedStateStore(new LiteDbStateStore(path), encryptor, Options()))
            {
                for (int i = 0; i < 4; i++)
                {
                    await store.WriteAsync(At.Write("agent/a1", $"second/{i}", "v"));
                }
            }

            StateKeyUsageEventArgs warning = Assert.Single(warnings);
            Assert.Equal("k1", warning.KeyId);
            Assert.InRange(warning.EncryptionCount, 10, 10 + Block);
            Assert.Contains(log.Lines, l => l.Contains("k1", StringComparison.Ordinal) && l.Contains("rotate", StringComparison.Ordinal));
        }

        // Past the threshold, a new process warns again at its first encryption, once.
        (List<StateKeyUsageEventArgs> third, _) = await WriteAsync(path, TestKeys.Ring(), 3, options);
        Assert.True(Assert.Single(third).EncryptionCount > 10);
    }

    [Fact]
    public async Task The_hard_stop_holds_after_a_restart_and_a_rotation_resets_nothing_for_the_old_key()
    {
        string path = _dir.NewDatabaseFile();
        var options = new StateEncryptionOptions { KeyUsageWarningThreshold = 10, KeyUsageLimit = 10 };
        await WriteAsync(path, TestKeys.Ring(), 7, options);

        // True count 7 of 10: at most 3 more, then the stop, and nothing is written by the refused write.
        using (StateKeyRing ring = TestKeys.Ring())
        {
            await using var store = new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring, options), Options());
            int accepted = 0;
            while (true)
            {
                try
                {
                    await store.WriteAsync(At.Write("agent/a1", $"second/{accepted}", "v"));
                    accepted++;
                    Assert.True(accepted <= 3, "the key encrypted past its limit after a restart");
                }
                catch (StateKeyUsageLimitException e)
                {
                    Assert.Equal("k1", e.KeyId);
                    break;
                }
            }

            Assert.False(await store.ExistsAsync("agent/a1", $"second/{accepted}"));

            // A rotation lets encryption go on with the new key.
            ring.Rotate("k2", TestKeys.Key(2));
            await store.WriteAsync(At.Write("agent/a1", "rotated", "v"));
        }

        // Next process: k1 retired, then made active again (as an undone rotation would): still stopped.
        using (var ring = new StateKeyRing("k2", TestKeys.Key(2)))
        {
            ring.AddRetiredKey("k1", TestKeys.Key(1));
            await using var store = new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring, options), Options());
            await store.WriteAsync(At.Write("agent/a1", "k2-again", "v"));
            Assert.InRange(ring.GetEncryptionCount("k2"), 2, 2 + Block);
            ring.Activate("k1");
            await Assert.ThrowsAsync<StateKeyUsageLimitException>(async () => await store.WriteAsync(At.Write("agent/a1", "k1-again", "v")));
        }
    }

    [Theory]
    [InlineData("checksum")]
    [InlineData("key id")]
    [InlineData("count")]
    public async Task A_damaged_count_record_is_a_corrupted_store_error_and_never_a_reset(string damage)
    {
        string path = _dir.NewDatabaseFile();
        await WriteAsync(path, TestKeys.Ring(), 5);
        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            ILiteCollection<BsonDocument> meta = raw.GetCollection("meta");
            BsonDocument record = meta.FindById("keyuse:k1");
            Assert.NotNull(record);
            switch (damage)
            {
                case "checksum":
                    record["v"] = 0L; // as a flipped byte would: the checksum no longer matches
                    break;
                case "key id":
                    record["k"] = "k2";
                    DocumentIntegrity.Seal(record);
                    break;
                default:
                    record["v"] = -1L;
                    DocumentIntegrity.Seal(record);
                    break;
            }

            meta.Update(record);
        }

        using StateKeyRing ring = TestKeys.Ring();
        await using var store = new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring), Options());
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var e = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.WriteAsync(At.Write("agent/a1", "after", "v")));
            Assert.Contains("'k1'", e.Message);
            AssertNoKeyMaterial(Encoding.UTF8.GetBytes(e.Message));
        }

        Assert.Equal(0, ring.GetEncryptionCount("k1"));
        Assert.False(await store.ExistsAsync("agent/a1", "after"));
    }

    [Fact]
    public async Task The_count_records_hold_a_key_id_and_a_number_and_no_key_material()
    {
        string path = _dir.NewDatabaseFile();
        await WriteAsync(path, TestKeys.Ring(), 9);

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            BsonDocument record = raw.GetCollection("meta").FindById("keyuse:k1");
            Assert.Equal(new[] { "_id", "k", "v", DocumentIntegrity.Field }, record.Keys.OrderBy(k => k, StringComparer.Ordinal));
            Assert.Equal("k1", record["k"].AsString);
            Assert.Equal(12, record["v"].AsInt64);
        }

        AssertNoKeyMaterial(At.FileBytes(_dir));
        Assert.False(At.Contains(At.FileBytes(_dir), TestKeys.Secret));
    }

    [Fact]
    public async Task Encryptions_outside_the_store_with_its_ring_are_counted_durably_too()
    {
        // The StateManager's [Sensitive] members use the store's encryptor directly, under the same keys.
        string path = _dir.NewDatabaseFile();
        using (StateKeyRing ring = TestKeys.Ring())
        {
            var encryptor = new StateEncryptor(ring);
            await using var store = new EncryptedStateStore(new LiteDbStateStore(path), encryptor, Options());
            for (int i = 0; i < 9; i++)
            {
                encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
            }

            // Once the store is closed, its file is no longer told.
            await store.DisposeAsync();
            encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        }

        using StateKeyRing restarted = TestKeys.Ring();
        await using var reopened = new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(restarted), Options());
        await reopened.WriteAsync(At.Write("agent/a1", "after", "v"));
        Assert.Equal(12 + 1, restarted.GetEncryptionCount("k1"));
    }

    [Fact]
    public async Task A_file_closed_under_an_encrypted_store_never_disposed_stops_counting_and_blocks_nothing()
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring();
        var encryptor = new StateEncryptor(ring);
        var lite = new LiteDbStateStore(path);
        var store = new EncryptedStateStore(lite, encryptor, Options()); // never disposed
        await store.WriteAsync(At.Write("agent/a1", "note/1", "v"));
        lite.Dispose();

        for (int i = 0; i < 2 * Block; i++)
        {
            encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
        }

        Assert.Equal(1 + (2 * Block), ring.GetEncryptionCount("k1"));
        Assert.Empty(ring.UsageLedgers);
    }

    [Fact]
    public async Task Concurrent_encryptions_stay_covered_by_the_stored_reservation()
    {
        const int Threads = 4;
        const int PerThread = 5000;
        const long Reservation = 64;
        var memory = new MemoryStateStore();
        using StateKeyRing ring = TestKeys.Ring();
        var encryptor = new StateEncryptor(ring);
        await using var store = new EncryptedStateStore(memory, encryptor, new EncryptedStateStoreOptions { KeyUsageReservation = Reservation });
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < PerThread; i++)
            {
                encryptor.Encrypt(TestKeys.SecretBytes, TestKeys.Aad());
            }
        })));

        long count = ring.GetEncryptionCount("k1");
        long stored = ((IStateKeyUsageRecords)memory).ReadKeyUsageReservation("k1")!.Value;
        Assert.Equal(Threads * PerThread, count);
        Assert.InRange(stored, count, count + Reservation - 1 + Threads);
        Assert.InRange(store.KeyUsageReservations, count / (Reservation + Threads), (count / Reservation) + 1); // one write per block (a count that arrives late can stretch one)
    }

    [Fact]
    public async Task A_reservation_is_written_once_per_block_not_per_encryption()
    {
        string path = _dir.NewDatabaseFile();
        using (StateKeyRing ring = TestKeys.Ring())
        {
            await using var store = new EncryptedStateStore(new LiteDbStateStore(path), new StateEncryptor(ring), Options());
            Assert.True(store.KeepsKeyUsageCounts);
            for (int i = 0; i < 3 * Block + 1; i++)
            {
                await store.WriteAsync(At.Write("agent/a1", $"note/{i}", "v"));
            }

            // Counts 1, 5, 9 and 13 each reserved a block ahead; the others wrote nothing.
            Assert.Equal(4, store.KeyUsageReservations);
        }

        using LiteDatabase raw = LiteDbScopeCountTests.Raw(path);
        Assert.Equal(4 * Block, raw.GetCollection("meta").FindById("keyuse:k1")["v"].AsInt64);
    }

    [Fact]
    public async Task The_memory_store_keeps_counts_for_the_next_encrypted_store_over_it()
    {
        var memory = new MemoryStateStore();
        using (StateKeyRing ring = TestKeys.Ring())
        {
            await using var store = new EncryptedStateStore(memory, new StateEncryptor(ring), Options(leaveInnerOpen: true));
            for (int i = 0; i < 6; i++)
            {
                await store.WriteAsync(At.Write("agent/a1", $"note/{i}", "v"));
            }
        }

        using StateKeyRing restarted = TestKeys.Ring();
        await using var reopened = new EncryptedStateStore(memory, new StateEncryptor(restarted), Options());
        await reopened.WriteAsync(At.Write("agent/a1", "after", "v"));
        Assert.Equal(8 + 1, restarted.GetEncryptionCount("k1"));
    }

    [Fact]
    public async Task Over_a_store_without_count_records_the_counts_stay_in_memory_and_a_warning_says_so()
    {
        var log = new CapturingLogger();
        using StateKeyRing ring = TestKeys.Ring();
        await using var store = new EncryptedStateStore(new StoreWithoutHistory(), new StateEncryptor(ring, logger: log), Options());
        await store.WriteAsync(At.Write("agent/a1", "note/1", "v"));
        await store.WriteAsync(At.Write("agent/a1", "note/2", "v"));

        Assert.False(store.KeepsKeyUsageCounts);
        Assert.Equal(2, ring.GetEncryptionCount("k1"));
        Assert.Single(log.Lines, l => l.Contains("keeps no encryption key usage counts", StringComparison.Ordinal) && l.Contains(nameof(StoreWithoutHistory), StringComparison.Ordinal));
    }

    private static EncryptedStateStoreOptions Options(bool leaveInnerOpen = false)
        => new() { KeyUsageReservation = Block, LeaveInnerStoreOpen = leaveInnerOpen };

    private static EncryptedStateStore Open(string path, StateKeyRing ring, StateEncryptionOptions? options = null)
        => new(new LiteDbStateStore(path), new StateEncryptor(ring, options), Options());

    /// <summary>One "process": opens the file with <paramref name="ring"/> (disposed after), writes, disposes.</summary>
    private static async Task<(List<StateKeyUsageEventArgs> Warnings, long Count)> WriteAsync(string path, StateKeyRing ring, int writes, StateEncryptionOptions? options = null)
    {
        using (ring)
        {
            var warnings = new List<StateKeyUsageEventArgs>();
            var encryptor = new StateEncryptor(ring, options);
            encryptor.KeyUsageWarning += (_, e) => warnings.Add(e);
            await using (var store = new EncryptedStateStore(new LiteDbStateStore(path), encryptor, Options()))
            {
                for (int i = 0; i < writes; i++)
                {
                    await store.WriteAsync(At.Write("agent/a1", $"note/{Guid.NewGuid():N}", "v"));
                }
            }

            return (warnings, ring.GetEncryptionCount("k1"));
        }
    }

    private static void AssertNoKeyMaterial(byte[] bytes)
    {
        foreach (byte seed in new byte[] { 1, 2 })
        {
            byte[] key = TestKeys.Key(seed);
            Assert.False(TestKeys.Contains(bytes, key), "raw key bytes found");
            Assert.False(TestKeys.Contains(bytes, Encoding.ASCII.GetBytes(Convert.ToBase64String(key))), "a base64 key found");
            Assert.False(TestKeys.Contains(bytes, Encoding.ASCII.GetBytes(Convert.ToHexString(key))), "a hex key found");
            Assert.False(TestKeys.Contains(bytes, key.AsSpan(0, 8)), "part of a key found");
        }
    }
}
