using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Hooks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Encryption;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Backups;

/// <summary>Backups of real LiteDB files: what a backup holds, what verify and restore refuse, and what they leave behind.</summary>
public sealed class BackupTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private BackupManager Manager(BackupCompression compression = BackupCompression.GZip, StateHooks? hooks = null)
        => new(new BackupManagerOptions { Directory = Path.Combine(_dir.Path, "backups"), Compression = compression, Hooks = hooks });

    private async Task<string> SeedAsync(int count, string name = "state.db")
    {
        string path = _dir.File(name);
        await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed });
        for (int i = 0; i < count; i += 500)
        {
            await store.CommitAsync(Enumerable.Range(i, Math.Min(500, count - i)).Select(j => (StateOperation)Write("agent/" + (j % 7), "k" + j, j, j % 300, j % 3 == 0 ? "Plan" : "Note", 1 + (j % 2))).ToArray());
        }

        await store.DeleteAsync("agent/1", "k1");
        return path;
    }

    /// <summary>A seeded store, a backup of it, and one write after the backup.</summary>
    private async Task<(string Path, BackupManager Backups, BackupInfo Backup)> SeedBackupThenWriteAsync(int count, BackupCompression compression = BackupCompression.GZip)
    {
        string path = await SeedAsync(count);
        BackupManager backups = Manager(compression);
        await using var store = new LiteDbStateStore(path);
        BackupInfo backup = await backups.CreateAsync(store);
        await store.WriteAsync(Write("agent/9", "after-backup", 1));
        return (path, backups, backup);
    }

    [Theory]
    [InlineData(BackupCompression.GZip)]
    [InlineData(BackupCompression.Brotli)]
    [InlineData(BackupCompression.None)]
    [InlineData(BackupCompression.Lz4)]
    public async Task Backup_restored_into_a_new_file_equals_the_store_after_reopen(BackupCompression compression)
    {
        string path = await SeedAsync(700);
        BackupManager backups = Manager(compression);
        BackupInfo backup;
        SortedDictionary<string, string> expected;
        await using (var store = new LiteDbStateStore(path))
        {
            expected = await ReadAllAsync(store);
            backup = await backups.CreateAsync(store, label: "nightly");
        }

        Assert.Equal(699, backup.DocumentCount);
        Assert.Equal(700 + 1, backup.ChangeLogPosition); // 700 writes and one delete
        Assert.Equal(699, backup.Types.Sum(t => t.Count));
        Assert.Equal(new[] { ("Note", 1), ("Note", 2), ("Plan", 1), ("Plan", 2) }, backup.Types.Select(t => (t.TypeName, t.SchemaVersion)));
        Assert.Equal(compression, backup.Compression);
        Assert.Equal("nightly", backup.Label);
        Assert.Equal(backup.Id, Assert.Single(await backups.ListAsync()).Id);
        Assert.True((await backups.VerifyAsync(backup.Id)).IsValid);

        string restoredPath = _dir.File("restored.db");
        BackupRestoreResult result = await backups.RestoreAsync(backup.Id, restoredPath);
        Assert.Null(result.SafetyCopyPath);
        await using (var restored = new LiteDbStateStore(restoredPath))
        {
            Assert.Equal(expected, await ReadAllAsync(restored));

            // The restored store goes on numbering changes after the backup's position, and its versions continue.
            StateOperationResult next = (await restored.CommitAsync([Write("agent/0", "k0", 99)]))[0];
            Assert.Equal(backup.ChangeLogPosition + 1, next.ChangeSequence);
            Assert.Equal(2, next.Stored!.Version);
            Assert.Equal(2, (await restored.ReadChangesAsync(new StateChangeQuery { Scope = "agent/0", Key = "k0" })).Count);
        }
    }

    [Fact]
    public async Task Restore_over_an_existing_store_keeps_a_byte_identical_safety_copy()
    {
        string path = await SeedAsync(300);
        BackupManager backups = Manager();
        BackupInfo backup;
        SortedDictionary<string, string> atBackup;
        await using (var store = new LiteDbStateStore(path))
        {
            atBackup = await ReadAllAsync(store);
            backup = await backups.CreateAsync(store);
            await store.WriteAsync(Write("agent/9", "after-backup", 1));
            await store.DeleteAsync("agent/0", "k0");
        }

        byte[] before = File.ReadAllBytes(path);
        BackupRestoreResult result = await backups.RestoreAsync(backup.Id, path);
        Assert.NotNull(result.SafetyCopyPath);
        Assert.Equal(before, File.ReadAllBytes(result.SafetyCopyPath!));
        await using var restored = new LiteDbStateStore(path);
        Assert.Equal(atBackup, await ReadAllAsync(restored));
    }

    /// <summary>
    /// A LiteDB store is backed up by copying its data file with checkpoints held off. Here checkpoints are due every 256 log
    /// pages and the copy pauses after its first 64 KB until writers have committed 1,000 more changes (writes and deletes
    /// over 4 threads): had a checkpoint run meanwhile, the copy would mix pages from before and after it.
    /// </summary>
    [Fact]
    public async Task Backup_while_writers_commit_over_1000_writes_restores_exactly_the_state_at_its_recorded_position()
    {
        string path = await SeedAsync(3000);
        BackupManager backups = Manager();
        BackupInfo backup;
        IReadOnlyList<StateChangeRecord> log;
        long writes = 0;
        long logBytesDuringCopy = 0;
        double writesPerSecond;
        // Written directly, so the writers fill LiteDB's log during the copy (written behind they append to the segment log:
        // WriteBehindSegmentedBackupTests).
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed, CheckpointPages = 256, WriteBehind = false }))
        {
            using var stop = new CancellationTokenSource();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Task[] writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                var random = new Random(w);
                while (!stop.IsCancellationRequested)
                {
                    int k = random.Next(3000);
                    if (random.Next(10) == 0)
                    {
                        await store.DeleteAsync("agent/" + (k % 7), "k" + k);
                    }
                    else
                    {
                        await store.WriteAsync(Write("agent/" + (k % 7), "k" + k, random.Next(), random.Next(200)));
                    }

                    Interlocked.Increment(ref writes);
                }
            })).ToArray();

            // Writers run before, during and after the copy.
            SleepUntil(() => Interlocked.Read(ref writes) >= 1000);
            long atStart = Interlocked.Read(ref writes);
            store.CopyChunkBytes = 64 * 1024;
            store.AfterCopyChunk = copied =>
            {
                if (copied == 64 * 1024)
                {
                    // Counted from the copy's start, not from atStart: the writes between atStart and the copy (a loaded
                    // machine can make that long) are checkpointed away before the copy holds checkpoints off.
                    long atCopy = Interlocked.Read(ref writes);
                    Assert.True(SleepUntil(() => Interlocked.Read(ref writes) >= atCopy + 1000), "the writers stalled during the copy");
                    logBytesDuringCopy = new FileInfo(LiteDbStateStore.LogPath(path)).Length;
                }
            };
            backup = await backups.CreateAsync(store);
            long duringBackup = Interlocked.Read(ref writes) - atStart;
            SleepUntil(() => Interlocked.Read(ref writes) >= atStart + duringBackup + 500);
            stop.Cancel();
            await Task.WhenAll(writers);
            writesPerSecond = Interlocked.Read(ref writes) / clock.Elapsed.TotalSeconds;
            log = await store.ReadChangesAsync(new StateChangeQuery());
            Assert.True(duringBackup >= 1000, $"{duringBackup} writes committed while the backup ran");
            Assert.True(log[^1].Sequence > backup.ChangeLogPosition, "no write committed after the snapshot");

            // Checkpoints were held off during the copy (the log outgrew 256 pages) and resumed after it.
            Assert.True(logBytesDuringCopy > 256 * 8192, $"the log was {logBytesDuringCopy} bytes during the copy");
            await store.WriteAsync(Write("agent/0", "after", 1));
            Assert.True(new FileInfo(LiteDbStateStore.LogPath(path)).Length < logBytesDuringCopy, "checkpoints did not resume after the copy");
        }

        // Not a timing assertion: the issue asks for this load, so the test says what it ran at.
        Console.WriteLine($"backup under concurrent writes: {writesPerSecond:F0} writes/s");
        string restoredPath = _dir.File("restored.db");
        await backups.RestoreAsync(backup.Id, restoredPath);
        await using var restored = new LiteDbStateStore(restoredPath);
        Assert.Equal(StateAt(log, backup.ChangeLogPosition), await ReadAllAsync(restored));
    }

    /// <summary>Waits without spinning (spinning takes a core from the writers on a small machine); false after two minutes.</summary>
    private static bool SleepUntil(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                return false;
            }

            Thread.Sleep(1);
        }

        return true;
    }

    [Fact]
    public async Task Closing_the_store_during_a_backup_waits_for_the_copy_and_the_backup_stays_exact()
    {
        string path = await SeedAsync(3000);
        BackupManager backups = Manager();
        var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed });
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        store.CopyChunkBytes = 64 * 1024;
        store.AfterCopyChunk = copied =>
        {
            if (copied == 64 * 1024)
            {
                paused.Set();
                resume.Wait(TimeSpan.FromMinutes(2));
            }
        };

        Task<BackupInfo> backup = backups.CreateAsync(store);
        Assert.True(paused.Wait(TimeSpan.FromMinutes(2)));

        // Changes committed during the copy sit in the log; the close would checkpoint them into the data file.
        for (int i = 0; i < 300; i++)
        {
            await store.WriteAsync(Write("agent/2", "during-" + i, i, 100));
        }

        IReadOnlyList<StateChangeRecord> log = await store.ReadChangesAsync(new StateChangeQuery());
        Task closing = Task.Run(store.Dispose);
        await Task.Delay(200); // gives the close the chance to run early, if it would
        resume.Set();
        BackupInfo done = await backup;
        await closing;

        Assert.True((await backups.VerifyAsync(done.Id)).IsValid);
        string restoredPath = _dir.File("restored.db");
        await backups.RestoreAsync(done.Id, restoredPath);
        await using var restored = new LiteDbStateStore(restoredPath);
        Assert.Equal(StateAt(log, done.ChangeLogPosition), await ReadAllAsync(restored));
        Assert.True(log[^1].Sequence > done.ChangeLogPosition);
    }

    /// <summary>
    /// The manifest's counts per type and schema version come from one count (the first backup after the store opens,
    /// with writers running) and are then kept by every commit. After writes, deletes, batches that touch a key twice and
    /// keys that change type, each backup's counts equal the entries in the store, and verification (which recounts the
    /// backup's own entries) passes.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Backup_counts_per_type_stay_exact_across_writes_deletes_batches_and_type_changes(bool recordChanges)
    {
        string path = await SeedAsync(600);
        BackupManager backups = Manager();
        string[] types = ["Note", "Plan", "Task"];
        var random = new Random(11);
        StateOperation RandomOperation()
        {
            string key = "k" + random.Next(800);
            string scope = "agent/" + random.Next(7);
            return random.Next(5) == 0
                ? new StateDelete(scope, key)
                : Write(scope, key, random.Next(), random.Next(50), types[random.Next(types.Length)], 1 + random.Next(3));
        }

        async Task MixAsync(LiteDbStateStore store, int count)
        {
            for (int i = 0; i < count; i++)
            {
                if (random.Next(4) == 0)
                {
                    // A batch touching one key twice (write then delete, or write then a write of another type).
                    StateOperation first = RandomOperation();
                    StateOperation second = random.Next(2) == 0
                        ? new StateDelete(first.Scope, first.Key)
                        : Write(first.Scope, first.Key, 7, 0, types[random.Next(types.Length)], 1 + random.Next(3));
                    await store.CommitAsync([first, RandomOperation(), second]);
                }
                else if (RandomOperation() is StateDelete delete)
                {
                    await store.DeleteAsync(delete.Scope, delete.Key);
                }
                else if (RandomOperation() is StateWrite write)
                {
                    await store.WriteAsync(write);
                }
            }
        }

        await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed, RecordChanges = recordChanges });
        store.CopyChunkBytes = 16 * 1024;
        bool mixDuringCopy = true;
        store.AfterCopyChunk = copied =>
        {
            if (mixDuringCopy && copied == 16 * 1024)
            {
                // The first backup counts in a read transaction while these commits record their differences.
                Task.Run(() => MixAsync(store, 300)).GetAwaiter().GetResult();
            }
        };

        for (int round = 0; round < 4; round++)
        {
            BackupInfo backup = await backups.CreateAsync(store);
            if (round == 0)
            {
                mixDuringCopy = false;
                Assert.True((await backups.VerifyAsync(backup.Id)).IsValid);
            }
            else
            {
                // Nothing commits during these backups: the counts must equal the store's entries now.
                var expected = (await ReadAllAsync(store)).Values
                    .GroupBy(d => (Type: d.Split('|')[0], Version: int.Parse(d.Split('|')[1], System.Globalization.CultureInfo.InvariantCulture)))
                    .OrderBy(g => g.Key.Type, StringComparer.Ordinal).ThenBy(g => g.Key.Version)
                    .Select(g => new BackupTypeCount(g.Key.Type, g.Key.Version, g.Count()));
                Assert.Equal(expected, backup.Types);
                BackupVerification verification = await backups.VerifyAsync(backup.Id);
                Assert.True(verification.IsValid, string.Join("; ", verification.Problems));
            }

            await MixAsync(store, 300);
        }
    }

    public enum Damage
    {
        FlippedByte,
        Truncated,
        ManifestLiesAboutChecksum,
        ManifestLiesAboutCount,
    }

    [Theory]
    [InlineData(Damage.FlippedByte)]
    [InlineData(Damage.Truncated)]
    [InlineData(Damage.ManifestLiesAboutChecksum)]
    [InlineData(Damage.ManifestLiesAboutCount)]
    [InlineData(Damage.FlippedByte, BackupCompression.Lz4)]
    [InlineData(Damage.Truncated, BackupCompression.Lz4)]
    [InlineData(Damage.FlippedByte, BackupCompression.None)]
    [InlineData(Damage.Truncated, BackupCompression.None)]
    public async Task Damaged_backup_is_rejected_by_verify_and_restore_and_the_store_stays_byte_identical(Damage damage, BackupCompression compression = BackupCompression.GZip)
    {
        var (path, backups, backup) = await SeedBackupThenWriteAsync(500, compression);

        string data = DataFile(backup);
        string manifest = ManifestFile(backup);
        switch (damage)
        {
            case Damage.FlippedByte:
                byte[] bytes = File.ReadAllBytes(data);
                bytes[bytes.Length / 2] ^= 0x40;
                File.WriteAllBytes(data, bytes);
                break;
            case Damage.Truncated:
                using (var file = new FileStream(data, FileMode.Open))
                {
                    file.SetLength(file.Length - 10);
                }

                break;
            case Damage.ManifestLiesAboutChecksum:
                string text = File.ReadAllText(manifest);
                string sha = System.Text.RegularExpressions.Regex.Match(text, "\"sha256\": \"([0-9a-f]{64})\"").Groups[1].Value;
                Assert.NotEmpty(sha);
                File.WriteAllText(manifest, text.Replace(sha, new string('0', 64), StringComparison.Ordinal));
                break;
            case Damage.ManifestLiesAboutCount:
                string original = File.ReadAllText(manifest);
                string lying = System.Text.RegularExpressions.Regex.Replace(original, "\"documentCount\": (\\d+)", m => "\"documentCount\": " + (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1));
                Assert.NotEqual(original, lying);
                File.WriteAllText(manifest, lying);
                break;
        }

        var before = Fingerprint(path);
        BackupVerification verification = await backups.VerifyAsync(backup.Id);
        Assert.False(verification.IsValid);
        var error = await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, path));
        Assert.Equal(backup.Id, error.BackupId);
        Assert.NotEmpty(error.Problems);
        var after = Fingerprint(path);
        Assert.Equal(before.Data, after.Data);
        Assert.Equal(before.LogExists, after.LogExists);
        Assert.False(File.Exists(path + ".restore-tmp"));
        await using var reopened = new LiteDbStateStore(path);
        Assert.NotNull(await reopened.GetAsync("agent/9", "after-backup"));
    }

    [Fact]
    public async Task Encrypted_store_backup_holds_no_plaintext_and_restores_readable_through_the_key()
    {
        // Control: the same documents in a plain store's backup are found by the byte search.
        await using (var plain = new LiteDbStateStore(_dir.File("plain.db")))
        {
            await plain.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
            var plainBackups = new BackupManager(new BackupManagerOptions { Directory = _dir.File("plain-backups"), Compression = BackupCompression.None });
            BackupInfo plainBackup = await plainBackups.CreateAsync(plain);
            Assert.False(plainBackup.Encrypted);
            Assert.True(At.Contains(File.ReadAllBytes(DataFile(plainBackup)), TestKeys.Secret));
        }

        string path = _dir.File("secret.db");
        using StateKeyRing ring = TestKeys.Ring();
        var expected = new List<string>();
        foreach (BackupCompression compression in new[] { BackupCompression.None, BackupCompression.GZip, BackupCompression.Lz4, BackupCompression.Brotli })
        {
            BackupManager backups = new(new BackupManagerOptions { Directory = _dir.File("secret-backups-" + compression), Compression = compression });
            BackupInfo backup;
            await using (EncryptedStateStore store = At.OpenLiteDb(path, ring))
            {
                await store.WriteAsync(At.Write("agent/a", "Note/1", "v1"));
                await store.WriteAsync(At.Write("agent/a", "Note/2", "v2"));
                backup = await backups.CreateAsync(store);
            }

            Assert.True(backup.Encrypted);
            foreach (string file in Directory.GetFiles(backup.Path))
            {
                byte[] bytes = File.ReadAllBytes(file);
                Assert.False(At.Contains(bytes, TestKeys.Secret), $"{Path.GetFileName(file)} holds the planted secret");
                Assert.False(At.Contains(bytes, At.Marker), $"{Path.GetFileName(file)} holds the plain marker");
            }

            // Decompressed too: the documents themselves are envelopes.
            using (FileStream data = File.OpenRead(DataFile(backup)))
            using (var raw = new MemoryStream())
            {
                ChunkedCompression.Read(data, compression, raw, default);
                Assert.True(raw.Length > 8192, "the database file came out of the backup");
                Assert.False(At.Contains(raw.ToArray(), TestKeys.Secret));
                Assert.False(At.Contains(raw.ToArray(), At.Marker));
            }

            Assert.True((await backups.VerifyAsync(backup.Id)).IsValid);
            string restoredPath = _dir.File("secret-restored-" + compression + ".db");
            await backups.RestoreAsync(backup.Id, restoredPath);
            await using EncryptedStateStore restored = At.OpenLiteDb(restoredPath, ring);
            StoredEntry? entry = await restored.GetAsync("agent/a", "Note/2");
            Assert.Equal(At.Text(At.Document("v2")), At.Text(entry!.Payload));
        }
    }

    [Fact]
    public async Task A_backup_of_a_file_with_a_damaged_document_never_passes_as_sound()
    {
        string path = _dir.File("damaged.db");
        byte[] value = System.Text.Encoding.UTF8.GetBytes("\"" + new string('q', 300) + "\"");
        await using (var store = CollectionLayout.Open(path))
        {
            await store.WriteAsync(new StateWrite("agent/a", "damaged", "T", 1, value));
            await store.WriteAsync(Write("agent/a", "newest", 1)); // the open reads the newest change record, not this one
        }

        byte[] file = await File.ReadAllBytesAsync(path);
        int at = file.AsSpan().IndexOf(value);
        Assert.True(at > 0, "the value is stored as is");
        file[at + 100] ^= 0x01;
        await File.WriteAllBytesAsync(path, file);

        // The backup is an exact copy of the file, damage included: verification reads every document with its checksum
        // and fails it, restore refuses it, and retention never counts it as the newest valid backup.
        BackupManager backups = Manager();
        BackupInfo backup;
        await using (var store = CollectionLayout.Open(path))
        {
            backup = await backups.CreateAsync(store);
        }

        BackupVerification verification = await backups.VerifyAsync(backup.Id);
        Assert.False(verification.IsValid);
        Assert.Contains(verification.Problems, p => p.Contains("checksum", StringComparison.Ordinal));
        string target = _dir.File("target.db");
        var refused = await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, target));
        Assert.False(File.Exists(target));
        Assert.DoesNotContain("qqqqqqqq", refused.ToString() + string.Join(";", verification.Problems), StringComparison.Ordinal);
        BackupCleanupResult cleanup = await backups.CleanupAsync(new BackupRetentionPolicy { MaxTotalBytes = 0 }, dryRun: true);
        Assert.Contains(cleanup.Deleted, b => b.Id == backup.Id);
    }

    [Fact]
    public async Task A_damaged_current_value_document_stops_the_backup_with_the_typed_error()
    {
        string path = _dir.File("damaged-entry.db");
        string key = "entry-" + new string('k', 40);
        await using (var store = CollectionLayout.Open(path))
        {
            await store.WriteAsync(Write("agent/a", key, 1));
        }

        // The key is in the current-value document, its change record and index nodes: damage each copy in turn. Each
        // outcome is typed and never passes damaged data off as sound: the backup stops, or it fails verification, or
        // it verifies and the restored key reads intact or gives the typed error (an index node's key is not checksummed).
        byte[] file = await File.ReadAllBytesAsync(path);
        byte[] needle = System.Text.Encoding.UTF8.GetBytes(key);
        var places = new List<int>();
        for (int at = file.AsSpan().IndexOf(needle); at >= 0; at = NextIndex(file, needle, at))
        {
            places.Add(at);
        }

        Assert.True(places.Count >= 2, $"{places.Count} copies of the key");
        bool refused = false;
        for (int i = 0; i < places.Count; i++)
        {
            byte[] damaged = (byte[])file.Clone();
            damaged[places[i] + 20] ^= 0x01;
            string copy = _dir.File($"damaged-entry-{i}.db");
            await File.WriteAllBytesAsync(copy, damaged);
            BackupManager backups = Manager();
            LiteDbStateStore store;
            try
            {
                store = new LiteDbStateStore(copy);
            }
            catch (StateStoreCorruptedException)
            {
                continue; // the open's own checks caught it
            }

            BackupInfo? backup = null;
            int listed = (await backups.ListAsync()).Count;
            await using (store)
            {
                try
                {
                    backup = await backups.CreateAsync(store);
                }
                catch (StateStoreCorruptedException ex)
                {
                    refused = true;
                    Assert.Contains("checksum", ex.Message, StringComparison.Ordinal);
                    Assert.Equal(listed, (await backups.ListAsync()).Count);
                }
            }

            if (backup is not null && (await backups.VerifyAsync(backup.Id)).IsValid)
            {
                // Damage to an index node travels with the byte copy: the key reads intact or gives the typed error.
                string restored = _dir.File($"restored-{i}.db");
                await backups.RestoreAsync(backup.Id, restored);
                await using var check = new LiteDbStateStore(restored);
                try
                {
                    Assert.Equal(Json(key, 1), (await check.GetAsync("agent/a", key))!.Payload.ToArray());
                }
                catch (StateStoreCorruptedException)
                {
                }
            }
        }

        Assert.True(refused, "damage in the current-value document stops the backup");
    }

    private static int NextIndex(byte[] file, byte[] needle, int after)
    {
        int next = file.AsSpan(after + 1).IndexOf(needle);
        return next < 0 ? -1 : after + 1 + next;
    }

    [Fact]
    public async Task Cancellation_mid_backup_leaves_nothing_listed_and_no_folder_behind()
    {
        var store = new MemoryStateStore();
        for (int i = 0; i < 5000; i++)
        {
            await store.WriteAsync(Write("agent/a", "k" + i, i));
        }

        BackupManager backups = Manager();
        using var cts = new CancellationTokenSource();
        long reported = 0;
        var progress = new SyncProgress<BackupProgress>(p =>
        {
            reported = p.Processed;
            cts.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => backups.CreateAsync(store, progress: progress, cancellationToken: cts.Token));
        Assert.Equal(1000, reported);
        Assert.Empty(await backups.ListAsync());
        Assert.Empty(Directory.GetFileSystemEntries(backups.Directory));
    }

    [Fact]
    public async Task Cancellation_mid_restore_leaves_the_store_byte_identical()
    {
        var (path, backups, backup) = await SeedBackupThenWriteAsync(1500);

        var before = Fingerprint(path);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress<BackupProgress>(p =>
        {
            if (p.Phase is BackupPhase.Restoring or BackupPhase.Copying)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => backups.RestoreAsync(backup.Id, path, progress, cts.Token));
        Assert.Equal(before.Data, Fingerprint(path).Data);
        Assert.False(File.Exists(path + ".restore-tmp"));
    }

    [Fact]
    public async Task Hooks_run_before_and_after_backup_and_restore_and_a_before_hook_can_cancel()
    {
        var manager = new StateManager(new MemoryStateStore());
        var seen = new List<string>();
        foreach (StateHookPoint point in new[] { StateHookPoint.BeforeBackup, StateHookPoint.AfterBackup, StateHookPoint.BeforeRestore, StateHookPoint.AfterRestore })
        {
            manager.Hooks.Register(point, "h-" + point, c =>
            {
                seen.Add($"{c.Point}:{c.Scope}:{c.Key}:{c.Origin}");
                return StateHookResult.Continue;
            });
        }

        string path = await SeedAsync(10);
        BackupManager backups = Manager(hooks: manager.Hooks);
        BackupInfo backup;
        await using (var store = new LiteDbStateStore(path))
        {
            backup = await backups.CreateAsync(store);
        }

        await backups.RestoreAsync(backup.Id, _dir.File("restored.db"));
        Assert.Equal(
            new[] { "BeforeBackup", "AfterBackup", "BeforeRestore", "AfterRestore" }.Select(p => $"{p}:{BackupManager.HookScope}:{backup.Id}:{(p.Contains("Backup", StringComparison.Ordinal) ? "backup" : "restore")}"),
            seen);

        using (manager.Hooks.Register(StateHookPoint.BeforeBackup, "veto", _ => StateHookResult.Cancel("maintenance window")))
        await using (var store = new LiteDbStateStore(path))
        {
            var error = await Assert.ThrowsAsync<StateBackupException>(() => backups.CreateAsync(store));
            Assert.Contains("maintenance window", error.Message, StringComparison.Ordinal);
        }

        Assert.Single(await backups.ListAsync());
        await manager.DisposeAsync();
    }

    [Fact]
    public async Task Events_before_and_after_backup_and_restore_share_the_hooks_correlation_id_and_failures_are_reported()
    {
        var manager = new StateManager(new MemoryStateStore());
        var hookIds = new List<string>();
        foreach (StateHookPoint point in new[] { StateHookPoint.BeforeBackup, StateHookPoint.AfterBackup, StateHookPoint.BeforeRestore, StateHookPoint.AfterRestore })
        {
            manager.Hooks.Register(point, "h-" + point, c =>
            {
                hookIds.Add(c.CorrelationId);
                return StateHookResult.Continue;
            });
        }

        string path = await SeedAsync(50);
        BackupManager backups = Manager(hooks: manager.Hooks);
        var events = new List<BackupEvent>();
        backups.EventOccurred += (_, e) => events.Add(e);
        backups.EventOccurred += (_, _) => throw new InvalidOperationException("a broken handler does not stop the operation");
        BackupInfo backup;
        using (StateCorrelation.Begin("nightly-42"))
        {
            await using var store = new LiteDbStateStore(path);
            backup = await backups.CreateAsync(store);
        }

        string restored = _dir.File("restored.db");
        await backups.RestoreAsync(backup.Id, restored);

        Assert.Equal(
            [BackupEventKind.BackupStarting, BackupEventKind.BackupCompleted, BackupEventKind.RestoreStarting, BackupEventKind.RestoreCompleted],
            events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal(backup.Id, e.BackupId));
        Assert.Equal("nightly-42", events[0].CorrelationId);
        Assert.Equal(events[0].CorrelationId, events[1].CorrelationId);
        Assert.Equal(events[2].CorrelationId, events[3].CorrelationId);
        Assert.NotEqual(events[0].CorrelationId, events[2].CorrelationId); // the restore had no ambient id: a new one
        Assert.Equal(events.Select(e => e.CorrelationId), hookIds);
        Assert.Equal((backup.DocumentCount, backup.ChangeLogPosition), (events[1].DocumentCount, events[1].ChangeLogPosition));
        Assert.Equal((Path.GetFullPath(restored), backup.DocumentCount), (events[3].DatabasePath, events[3].DocumentCount));

        // A damaged backup: the restore fails after it started, and says so; nothing is restored.
        events.Clear();
        byte[] data = File.ReadAllBytes(DataFile(backup));
        data[data.Length / 2] ^= 0x40;
        File.WriteAllBytes(DataFile(backup), data);
        string target = _dir.File("never.db");
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, target));
        Assert.Equal([BackupEventKind.RestoreStarting, BackupEventKind.RestoreFailed], events.Select(e => e.Kind));
        Assert.Equal(nameof(StateBackupVerificationException), events[1].Error);
        Assert.False(File.Exists(target));
        await manager.DisposeAsync();
    }

    [Fact]
    public async Task Progress_counts_documents_and_delete_removes_a_backup_from_the_list()
    {
        string path = await SeedAsync(2100);
        BackupManager backups = Manager();
        var reports = new List<BackupProgress>();
        BackupInfo first;
        BackupInfo second;
        await using (var store = new LiteDbStateStore(path))
        {
            // Forty versions of one 64 KB value: 2.5 MB of history in the segments, one value in the data file.
            for (int i = 0; i < 40; i++)
            {
                await store.WriteAsync(new StateWrite("agent/big", "big", "Note", 1, Encoding.UTF8.GetBytes("\"" + new string((char)('a' + (i % 26)), 64 * 1024) + "\"")));
            }

            first = await backups.CreateAsync(store, progress: new SyncProgress<BackupProgress>(reports.Add));
            second = await backups.CreateAsync(store);
        }

        // A LiteDB store's backup copies its database file and its change log's segments: progress counts their bytes,
        // then the completion counts documents.
        Assert.Equal(BackupPhase.Completed, reports[^1].Phase);
        Assert.Equal((2100L, (long?)2100L), (reports[^1].Processed, reports[^1].Total));
        BackupProgress[] copying = reports.SkipLast(1).ToArray();
        Assert.True(copying.Length >= 2, "one report per megabyte copied");
        Assert.All(copying, r => Assert.Equal(BackupPhase.Copying, r.Phase));
        Assert.Equal(copying.Select(r => r.Processed).Order(), copying.Select(r => r.Processed));
        Assert.Equal(copying[^1].Total, copying[^1].Processed);
        long segments = Directory.GetFiles(path + ".changes").Sum(f => new FileInfo(f).Length);
        Assert.True(segments > 2 << 20, "the history is a good part of what is copied");
        Assert.Equal(new FileInfo(path).Length + segments, copying[^1].Total!.Value, tolerance: 1 << 20);
        Assert.Contains(copying, r => r.Processed > new FileInfo(path).Length); // the segments are counted as they are copied
        Assert.Equal(new[] { first.Id, second.Id }, (await backups.ListAsync()).Select(b => b.Id));
        Assert.True(await backups.DeleteAsync(first.Id));
        Assert.False(await backups.DeleteAsync(first.Id));
        Assert.Equal(second.Id, Assert.Single(await backups.ListAsync()).Id);
        Assert.Single(Directory.GetDirectories(backups.Directory));
    }

    /// <summary>
    /// A passed verification is recorded with the hash of the data file it read in full. A restore that decompresses the
    /// same bytes (it recomputes the hash on the way) does not read every entry again, unless told to; a restore of a
    /// backup never verified, or of one whose data file changed since, checks as before.
    /// </summary>
    [Fact]
    public async Task A_passed_verification_lets_restore_skip_rereading_entries_of_the_same_bytes_and_only_those()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));
        string path = await SeedAsync(2500);
        BackupManager Backups(bool fullCheck) => new(new BackupManagerOptions
        {
            Directory = Path.Combine(_dir.Path, "backups"), Compression = BackupCompression.Lz4, TimeProvider = time, FullCheckOnRestore = fullCheck,
        });

        BackupManager backups = Backups(fullCheck: false);
        BackupInfo backup;
        SortedDictionary<string, string> expected;
        await using (var store = new LiteDbStateStore(path))
        {
            expected = await ReadAllAsync(store);
            backup = await backups.CreateAsync(store);
        }

        async Task<int> RestoreCountingChecksAsync(BackupManager manager, string target)
        {
            var reports = new List<BackupProgress>();
            await manager.RestoreAsync(backup.Id, target, new SyncProgress<BackupProgress>(reports.Add));
            await using var restored = new LiteDbStateStore(target);
            Assert.Equal(expected, await ReadAllAsync(restored));
            return reports.Count(r => r.Phase == BackupPhase.Verifying);
        }

        // Never verified: the restore reads every entry (progress every 1,000 of them).
        Assert.Null(Assert.Single(await backups.ListAsync()).VerifiedAt);
        Assert.True(await RestoreCountingChecksAsync(backups, _dir.File("unverified.db")) >= 2);

        time.Advance(TimeSpan.FromMinutes(5));
        Assert.True((await backups.VerifyAsync(backup.Id)).IsValid);
        Assert.Equal(time.GetUtcNow(), Assert.Single(await backups.ListAsync()).VerifiedAt);
        Assert.Equal(0, await RestoreCountingChecksAsync(backups, _dir.File("trusted.db")));
        Assert.True(await RestoreCountingChecksAsync(Backups(fullCheck: true), _dir.File("full.db")) >= 2);

        // The data file changes after the verification: the hash recomputed while decompressing no longer matches, the
        // restore is refused and the target untouched; the next verification fails and withdraws the record.
        string data = DataFile(backup);
        byte[] bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 3] ^= 0x20;
        File.WriteAllBytes(data, bytes);
        var before = Fingerprint(path);
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, path));
        Assert.Equal(before.Data, Fingerprint(path).Data);
        Assert.False((await backups.VerifyAsync(backup.Id)).IsValid);
        Assert.Null(Assert.Single(await backups.ListAsync()).VerifiedAt);
        Assert.False(File.Exists(Path.Combine(backup.Path, "verified.json")));
    }

    [Fact]
    public async Task Restore_refuses_an_open_store_and_leaves_it_unchanged()
    {
        string path = await SeedAsync(20);
        BackupManager backups = Manager();
        await using var store = new LiteDbStateStore(path);
        BackupInfo backup = await backups.CreateAsync(store);
        await Assert.ThrowsAsync<StateStoreException>(() => backups.RestoreAsync(backup.Id, path));
        Assert.Equal(19, (await ReadAllAsync(store)).Count);
    }

    [Fact]
    public async Task Memory_store_backup_restores_into_a_LiteDB_file()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        var memory = new MemoryStateStore(time);
        await memory.WriteAsync(Write("agent/a", "x", 1));
        time.Advance(TimeSpan.FromMinutes(1));
        await memory.WriteAsync(Write("agent/a", "x", 2));
        await memory.WriteAsync(Write("agent/b", "y", 3, type: "Plan", schemaVersion: 4));
        BackupManager backups = Manager();
        BackupInfo backup = await backups.CreateAsync(memory);
        Assert.Equal(time.GetUtcNow(), backup.SnapshotAt);
        Assert.Equal(3, backup.ChangeLogPosition);
        await backups.RestoreAsync(backup.Id, _dir.File("from-memory.db"));
        await using var restored = new LiteDbStateStore(_dir.File("from-memory.db"));
        Assert.Equal(await ReadAllAsync(memory), await ReadAllAsync(restored));
    }
}
