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
    private async Task<(string Path, BackupManager Backups, BackupInfo Backup)> SeedBackupThenWriteAsync(int count)
    {
        string path = await SeedAsync(count);
        BackupManager backups = Manager();
        await using var store = new LiteDbStateStore(path);
        BackupInfo backup = await backups.CreateAsync(store);
        await store.WriteAsync(Write("agent/9", "after-backup", 1));
        return (path, backups, backup);
    }

    [Theory]
    [InlineData(BackupCompression.GZip)]
    [InlineData(BackupCompression.Brotli)]
    [InlineData(BackupCompression.None)]
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

    [Fact]
    public async Task Backup_while_writers_commit_over_1000_writes_restores_exactly_the_state_at_its_recorded_position()
    {
        string path = await SeedAsync(2000);
        BackupManager backups = Manager();
        BackupInfo backup;
        IReadOnlyList<StateChangeRecord> log;
        long writes = 0;
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Relaxed }))
        {
            using var stop = new CancellationTokenSource();
            Task[] writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                var random = new Random(w);
                while (!stop.IsCancellationRequested)
                {
                    int k = random.Next(2000);
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

            // Writers run before, during and after the snapshot.
            SpinWait.SpinUntil(() => Interlocked.Read(ref writes) >= 1000);
            long atStart = Interlocked.Read(ref writes);
            backup = await backups.CreateAsync(store);
            long duringBackup = Interlocked.Read(ref writes) - atStart;
            SpinWait.SpinUntil(() => Interlocked.Read(ref writes) >= atStart + duringBackup + 500);
            stop.Cancel();
            await Task.WhenAll(writers);
            log = await store.ReadChangesAsync(new StateChangeQuery());
            Assert.True(duringBackup > 0, "no write committed while the backup ran: the test did not test concurrency");
            Assert.True(log[^1].Sequence > backup.ChangeLogPosition, "no write committed after the snapshot");
        }

        string restoredPath = _dir.File("restored.db");
        await backups.RestoreAsync(backup.Id, restoredPath);
        await using var restored = new LiteDbStateStore(restoredPath);
        Assert.Equal(StateAt(log, backup.ChangeLogPosition), await ReadAllAsync(restored));
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
    public async Task Damaged_backup_is_rejected_by_verify_and_restore_and_the_store_stays_byte_identical(Damage damage)
    {
        var (path, backups, backup) = await SeedBackupThenWriteAsync(500);

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
        foreach (BackupCompression compression in new[] { BackupCompression.None, BackupCompression.GZip })
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
            if (compression == BackupCompression.GZip)
            {
                using var gzip = new System.IO.Compression.GZipStream(File.OpenRead(DataFile(backup)), System.IO.Compression.CompressionMode.Decompress);
                using var raw = new MemoryStream();
                gzip.CopyTo(raw);
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
    public async Task A_document_damaged_in_the_file_is_never_backed_up_as_if_it_were_sound()
    {
        string path = _dir.File("damaged.db");
        byte[] value = System.Text.Encoding.UTF8.GetBytes("\"" + new string('q', 300) + "\"");
        await using (var store = new LiteDbStateStore(path))
        {
            await store.WriteAsync(new StateWrite("agent/a", "damaged", "T", 1, value));
            await store.WriteAsync(Write("agent/a", "newest", 1)); // the open reads the newest change record, not this one
        }

        byte[] file = await File.ReadAllBytesAsync(path);
        int at = file.AsSpan().IndexOf(value);
        Assert.True(at > 0, "the value is stored as is");
        file[at + 100] ^= 0x01;
        await File.WriteAllBytesAsync(path, file);

        BackupManager backups = Manager();
        await using (var store = new LiteDbStateStore(path))
        {
            Exception refused = await Assert.ThrowsAnyAsync<StateGenException>(() => backups.CreateAsync(store));
            Assert.True(refused is StateStoreCorruptedException || refused.InnerException is StateStoreCorruptedException, refused.GetType().Name);
            Assert.DoesNotContain("qqqqqqqq", refused.ToString(), StringComparison.Ordinal);
        }

        Assert.Empty(await backups.ListAsync());
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
            if (p.Phase == BackupPhase.Restoring)
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
    public async Task Progress_counts_documents_and_delete_removes_a_backup_from_the_list()
    {
        string path = await SeedAsync(2100);
        BackupManager backups = Manager();
        var reports = new List<BackupProgress>();
        BackupInfo first;
        BackupInfo second;
        await using (var store = new LiteDbStateStore(path))
        {
            first = await backups.CreateAsync(store, progress: new SyncProgress<BackupProgress>(reports.Add));
            second = await backups.CreateAsync(store);
        }

        Assert.Equal(new long[] { 1000, 2000, 2099 }, reports.Select(r => r.Processed));
        Assert.All(reports, r => Assert.Equal(2099, r.Total));
        Assert.Equal(BackupPhase.Completed, reports[^1].Phase);
        Assert.Equal(new[] { first.Id, second.Id }, (await backups.ListAsync()).Select(b => b.Id));
        Assert.True(await backups.DeleteAsync(first.Id));
        Assert.False(await backups.DeleteAsync(first.Id));
        Assert.Equal(second.Id, Assert.Single(await backups.ListAsync()).Id);
        Assert.Single(Directory.GetDirectories(backups.Directory));
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
