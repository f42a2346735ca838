using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Backups;

/// <summary>
/// Physical backups of a store whose change log is in segment files: the backup carries the segments as of its
/// change-log position (<c>changes.sglog</c>), a restore brings values and history back together (into a new file and
/// over the old one, whose safety copy keeps its own history), a prune waits for a running copy, and a damaged or
/// hostile log file in a backup is refused with nothing restored. Real files, closed and reopened.
/// </summary>
public class SegmentedBackupTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new(Start);

    public void Dispose() => _dir.Dispose();

    /// <summary>Whether the stores write behind (the backup applies their overlay before it copies the data file).</summary>
    protected virtual bool WriteBehind => false;

    private LiteDbStateStore Open(string path, bool segmented = true)
        => new(new LiteDbStateStoreOptions
        {
            Path = path,
            SegmentChangeLog = segmented,
            WriteBehind = WriteBehind,
            TimeProvider = _time,
            SegmentLogOptions = new() { RollBytes = 4096 }, // several segments, the active one part-filled
        });

    private BackupManager Manager(BackupCompression compression = BackupCompression.Lz4)
        => new(new BackupManagerOptions { Directory = _dir.File("backups"), TimeProvider = _time, Compression = compression });

    private static StateWrite Write(int key, int version)
        => new("agent/a1", $"key-{key:D2}", "Note", 1, Encoding.UTF8.GetBytes($"\"k{key}-v{version}-{new string('x', 200)}\""))
        {
            CorrelationId = $"run-{version}",
            Origin = "seed",
        };

    /// <summary>Three versions of 12 keys (36 commits of one write, one delete), a second apart.</summary>
    private async Task SeedAsync(LiteDbStateStore store, int fromVersion = 1, int versions = 3)
    {
        for (int version = fromVersion; version < fromVersion + versions; version++)
        {
            for (int key = 0; key < 12; key++)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                await store.WriteAsync(Write(key, version));
            }
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        await store.DeleteAsync("agent/a1", "key-11");
    }

    /// <summary>Flips a byte of the value <c>Write(key, version)</c> wrote, in the data file; returns the value.</summary>
    private static async Task<byte[]> DamageValueAsync(string path, int key, int version)
    {
        byte[] bytes = await File.ReadAllBytesAsync(path);
        byte[] value = Write(key, version).Payload.ToArray();
        int at = bytes.AsSpan().IndexOf(value);
        Assert.True(at > 0);
        bytes[at + 20] ^= 0x20;
        await File.WriteAllBytesAsync(path, bytes);
        return value;
    }

    /// <summary>A new segmented store at <paramref name="path"/>, seeded, backed up, optionally changed after, closed.</summary>
    private async Task<BackupInfo> SeededBackupAsync(string path, BackupManager backups, bool changesAfter)
    {
        await using LiteDbStateStore store = Open(path);
        await SeedAsync(store);
        BackupInfo backup = await backups.CreateAsync(store);
        if (changesAfter)
        {
            await SeedAsync(store, fromVersion: 4, versions: 1);
        }

        return backup;
    }

    private static string DescribeRecord(StateChangeRecord r)
        => string.Join("|", r.Sequence.ToString(CultureInfo.InvariantCulture), r.PreviousSequence.ToString(CultureInfo.InvariantCulture), r.Kind, r.CorrelationId, r.Origin)
           + "|" + Describe(new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload));

    private static async Task<List<string>> HistoryAsync(LiteDbStateStore store)
        => (await store.ReadChangesAsync(new StateChangeQuery())).Select(DescribeRecord).ToList();

    [Fact]
    public async Task A_backup_carries_the_segments_and_a_restore_brings_values_and_history_back_into_a_new_file_and_over_the_old_one()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager();
        BackupInfo backup;
        SortedDictionary<string, string> atBackup;
        List<string> historyAtBackup;
        SortedDictionary<string, string> later;
        List<string> historyLater;
        await using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
            Assert.True(Directory.EnumerateFiles(SegmentLog.FolderFor(path), "*.seg").Count() > 2);
            atBackup = await ReadAllAsync(store);
            historyAtBackup = await HistoryAsync(store);
            backup = await backups.CreateAsync(store);
            await SeedAsync(store, fromVersion: 4, versions: 1); // after the backup: not in it
            later = await ReadAllAsync(store);
            historyLater = await HistoryAsync(store);
        }

        Assert.Equal(historyAtBackup.Count, backup.ChangeLogPosition);
        Assert.Equal(11, backup.DocumentCount);
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(backup.Path, "manifest.json")))!;
        Assert.Equal(3, (int)manifest["format"]!);
        Assert.Equal(new[] { "database.sgdb", "changes.sglog" }, manifest["files"]!.AsArray().Select(f => (string)f!["name"]!));
        Assert.True((await backups.VerifyAsync(backup.Id)).IsValid);

        // Into a new file: the values and every change record as they were at the backup, chains and ids included.
        string fresh = _dir.File("fresh.db");
        BackupRestoreResult result = await backups.RestoreAsync(backup.Id, fresh);
        Assert.Null(result.SafetyCopyPath);
        await using (LiteDbStateStore restored = Open(fresh))
        {
            Assert.Equal(atBackup, await ReadAllAsync(restored));
            Assert.Equal(historyAtBackup, await HistoryAsync(restored));
            Assert.Equal(12, (await restored.ReadChangesAsync(new StateChangeQuery { CorrelationId = "run-3" })).Count);
            Assert.Equal(3, (await restored.ReadChangesAsync(new StateChangeQuery { Scope = "agent/a1", Key = "key-05" })).Count);
            Assert.Equal(backup.ChangeLogPosition + 1, (await restored.CommitAsync([Write(0, 9)]))[0].ChangeSequence);
        }

        // The restored file found its log by the name it records, and keeps finding it.
        string freshLog = Assert.Single(Directory.EnumerateDirectories(_dir.Path, "fresh.db.changes-*"));
        Assert.False(Directory.Exists(SegmentLog.FolderFor(fresh)));
        await using (LiteDbStateStore reopened = Open(fresh))
        {
            Assert.Equal(historyAtBackup.Count + 1, (await HistoryAsync(reopened)).Count);
        }

        // Over the old file (closed): the state and history at the backup; the safety copy keeps the newer ones.
        result = await backups.RestoreAsync(backup.Id, path);
        string safety = result.SafetyCopyPath!;
        await using (LiteDbStateStore restored = Open(path))
        {
            Assert.Equal(atBackup, await ReadAllAsync(restored));
            Assert.Equal(historyAtBackup, await HistoryAsync(restored));
        }

        Assert.False(Directory.Exists(SegmentLog.FolderFor(path))); // the old log went with the old file, to the safety copy
        Assert.True(Directory.Exists(SegmentLog.FolderFor(safety)));
        await using (LiteDbStateStore kept = Open(safety))
        {
            Assert.Equal(later, await ReadAllAsync(kept));
            Assert.Equal(historyLater, await HistoryAsync(kept));
        }

        // Restored again (the file now names a log folder of its own): the folder it named goes to the new safety copy.
        string named = Assert.Single(Directory.EnumerateDirectories(_dir.Path, "agent.db.changes-*"));
        result = await backups.RestoreAsync(backup.Id, path);
        Assert.False(Directory.Exists(named));
        Assert.Single(Directory.EnumerateDirectories(_dir.Path, "agent.db.changes-*"));
        await using (LiteDbStateStore restored = Open(path))
        {
            Assert.Equal(historyAtBackup, await HistoryAsync(restored));
        }

        await using (LiteDbStateStore kept = Open(result.SafetyCopyPath!))
        {
            Assert.Equal(historyAtBackup, await HistoryAsync(kept));
        }
    }

    [Fact]
    public async Task A_copy_of_a_restored_data_file_under_another_name_never_opens_the_originals_log()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager();
        BackupInfo backup;
        await using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
            backup = await backups.CreateAsync(store);
        }

        await backups.RestoreAsync(backup.Id, path);
        string log = Assert.Single(Directory.EnumerateDirectories(_dir.Path, "agent.db.changes-*"));
        Dictionary<string, byte[]> before = Directory.EnumerateFiles(log).ToDictionary(f => f, File.ReadAllBytes);

        // The copy names the original's folder, which is not its own name: it is not followed (its own is missing).
        string copy = _dir.File("copy.db");
        File.Copy(path, copy);
        var ex = Assert.Throws<StateStoreCorruptedException>(() => Open(copy).Dispose());
        Assert.Contains("folder is missing", ex.Failure, StringComparison.Ordinal);
        Assert.False(Directory.Exists(SegmentLog.FolderFor(copy))); // nothing made beside the copy
        Assert.Equal(before, Directory.EnumerateFiles(log).ToDictionary(f => f, File.ReadAllBytes));
        await using LiteDbStateStore original = Open(path);
        Assert.Equal(backup.ChangeLogPosition, (await original.ReadChangesAsync(new StateChangeQuery())).Count);
    }

    /// <summary>
    /// While the data file is being copied (its first chunk), writers roll new segments and a prune that would compact and
    /// delete segments starts: the prune waits until the copy ends, so the backup holds exactly the history at its
    /// position, and the prune then runs.
    /// </summary>
    [Fact]
    public async Task A_prune_waits_for_a_running_copy_and_the_backup_holds_exactly_the_history_at_its_position()
    {
        string path = _dir.File("busy.db");
        BackupManager backups = Manager();
        await using LiteDbStateStore store = Open(path);
        await SeedAsync(store);
        List<string> historyAtBackup = await HistoryAsync(store);
        SortedDictionary<string, string> atBackup = await ReadAllAsync(store);
        Task<long>? prune = null;
        store.CopyChunkBytes = 8192;
        store.AfterCopyChunk = copied =>
        {
            if (prune is not null)
            {
                return;
            }

            for (int key = 0; key < 12; key++)
            {
                store.WriteAsync(Write(key, 7)).AsTask().GetAwaiter().GetResult();
            }

            prune = Task.Run(async () => await store.PruneChangesAsync(null, 1));
            SpinWait.SpinUntil(() => store.PruneWaits > 0 || prune.IsCompleted, TimeSpan.FromSeconds(30));
        };

        BackupInfo backup = await backups.CreateAsync(store);
        Assert.NotNull(prune);
        long removed = await prune!;
        Assert.True(store.PruneWaits > 0);
        Assert.True(removed >= historyAtBackup.Count - 12); // it ran after the copy: older records are gone now
        Assert.Equal(historyAtBackup.Count, backup.ChangeLogPosition);

        string restoredPath = _dir.File("restored.db");
        await backups.RestoreAsync(backup.Id, restoredPath);
        await using LiteDbStateStore restored = Open(restoredPath);
        Assert.Equal(atBackup, await ReadAllAsync(restored));
        Assert.Equal(historyAtBackup, await HistoryAsync(restored));
    }

    [Fact]
    public async Task A_prune_waiting_for_a_copy_can_be_canceled_and_the_store_goes_on()
    {
        string path = _dir.File("busy.db");
        await using LiteDbStateStore store = Open(path);
        await SeedAsync(store);
        using var cancel = new CancellationTokenSource();
        Task<long>? prune = null;
        Exception? pruneError = null;
        store.CopyChunkBytes = 8192;
        store.AfterCopyChunk = _ =>
        {
            if (prune is not null)
            {
                return;
            }

            prune = Task.Run(async () => await store.PruneChangesAsync(null, 1, cancel.Token));
            SpinWait.SpinUntil(() => store.PruneWaits > 0, TimeSpan.FromSeconds(30));
            cancel.Cancel();
            // It ends while the copy still runs (bounded: a prune that ignored the cancel would wait for this copy).
            pruneError = ((IAsyncResult)prune).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30))
                ? Record.Exception(() => prune.GetAwaiter().GetResult())
                : new TimeoutException();
        };

        BackupInfo backup = await Manager().CreateAsync(store);
        Assert.IsAssignableFrom<OperationCanceledException>(pruneError);
        Assert.True((await Manager().VerifyAsync(backup.Id)).IsValid);

        // Not taken for damage: the store writes, and prunes once the copy is over.
        await store.WriteAsync(Write(0, 8));
        Assert.True(await store.PruneChangesAsync(null, 1) > 0);
    }

    [Fact]
    public async Task A_second_restore_of_the_same_file_while_one_runs_is_refused_and_changes_nothing()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager();
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: true);
        Dictionary<string, byte[]> before = Snapshot(_dir.Path, exclude: backup.Path);

        // What a running restore holds for its whole length.
        using (new FileStream(path + ".restore-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var ex = await Assert.ThrowsAsync<StateStoreException>(() => backups.RestoreAsync(backup.Id, path));
            Assert.Contains("another restore", ex.Message, StringComparison.Ordinal);
        }

        before[path + ".restore-lock"] = [];
        Assert.Equal(before, Snapshot(_dir.Path, exclude: backup.Path));
        await backups.RestoreAsync(backup.Id, path); // and once it is released, the restore runs
        Assert.False(File.Exists(path + ".restore-lock"));
    }

    /// <summary>
    /// The safety copy of a file that was itself restored records its log folder's suffix: renamed back together with
    /// its folder (keeping the suffix), it opens with its values and history.
    /// </summary>
    [Fact]
    public async Task A_safety_copy_of_a_restored_file_put_back_by_hand_with_its_folder_opens_with_its_history()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager();
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: false);
        await backups.RestoreAsync(backup.Id, path);
        List<string> history;
        await using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store, fromVersion: 4, versions: 1); // the state the second restore will replace
            history = await HistoryAsync(store);
        }

        string suffix = Path.GetFileName(Assert.Single(Directory.EnumerateDirectories(_dir.Path, "agent.db.changes-*")))["agent.db.changes".Length..];
        string safety = (await backups.RestoreAsync(backup.Id, path)).SafetyCopyPath!;
        Assert.True(Directory.Exists(SegmentLog.FolderFor(safety) + suffix));
        await using (LiteDbStateStore kept = Open(safety))
        {
            Assert.Equal(history, await HistoryAsync(kept));
        }

        // Put back: the data file and its folder, under the file's name with the same suffix.
        foreach (string folder in Directory.EnumerateDirectories(_dir.Path, "agent.db.changes*"))
        {
            Directory.Delete(folder, recursive: true);
        }

        File.Move(safety, path, overwrite: true);
        Directory.Move(SegmentLog.FolderFor(safety) + suffix, SegmentLog.FolderFor(path) + suffix);
        await using LiteDbStateStore back = Open(path);
        Assert.Equal(history, await HistoryAsync(back));
    }

    [Fact]
    public async Task A_restore_removes_the_log_folders_no_file_names_and_leaves_other_names_alone()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager();
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: false);
        await backups.RestoreAsync(backup.Id, path); // the file now names agent.db.changes-<suffix>
        string current = Assert.Single(Directory.EnumerateDirectories(_dir.Path, "agent.db.changes-*"));

        // What interrupted restores leave: the replaced file's old folder, an extraction never swapped in, its archive.
        string[] orphans = [SegmentLog.FolderFor(path), SegmentLog.FolderFor(path) + "-20260101T000000000Z-deadbeef"];
        foreach (string orphan in orphans)
        {
            Directory.CreateDirectory(orphan);
            File.WriteAllText(Path.Combine(orphan, "000001.seg"), "x");
        }

        string archive = SegmentLog.FolderFor(path) + "-20260101T000000000Z-0badf00d.archive";
        File.WriteAllText(archive, "x");
        string[] others = [SegmentLog.FolderFor(path) + "-foo.db.changes", SegmentLog.FolderFor(_dir.File("agent.dbx")), _dir.File("agent.db.changes.keep")];
        foreach (string other in others)
        {
            Directory.CreateDirectory(other);
        }

        await backups.RestoreAsync(backup.Id, path);
        Assert.All(orphans, o => Assert.False(Directory.Exists(o)));
        Assert.False(File.Exists(archive));
        Assert.False(Directory.Exists(current)); // went to the safety copy, which has its own
        Assert.All(others, o => Assert.True(Directory.Exists(o)));
        await using LiteDbStateStore restored = Open(path);
        Assert.Equal(backup.ChangeLogPosition, (await restored.ReadChangesAsync(new StateChangeQuery())).Count);
    }

    [Fact]
    public async Task Salvage_of_a_restored_file_reads_the_log_folder_the_file_records()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager();
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: false);
        await backups.RestoreAsync(backup.Id, path);
        Assert.False(Directory.Exists(SegmentLog.FolderFor(path))); // only agent.db.changes-<suffix> holds the log

        // Damage key-05's current value in the data file: salvage recovers it from the segments.
        byte[] value = await DamageValueAsync(path, 5, 3);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);
        StoredEntry recovered = Assert.Single(result.Recovered);
        Assert.Equal(("key-05", 3L), (recovered.Key, recovered.Version));
        Assert.Equal(value, recovered.Payload.ToArray());
        Assert.DoesNotContain(result.Failures, f => f.Contains("folder", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_damaged_current_value_stops_the_backup_typed_and_leaves_nothing_listed()
    {
        string path = _dir.File("agent.db");
        await using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
        }

        await DamageValueAsync(path, 5, 3); // its only copy in the data file (its records are in the segments)

        BackupManager backups = Manager();
        await using (LiteDbStateStore store = Open(path))
        {
            await Assert.ThrowsAsync<StateStoreCorruptedException>(() => backups.CreateAsync(store));
        }

        Assert.Empty(await backups.ListAsync());
        Assert.Empty(Directory.EnumerateFileSystemEntries(backups.Directory));
    }

    public static TheoryData<string> LogDamage => ["flip", "truncate", "missing"];

    [Theory]
    [MemberData(nameof(LogDamage))]
    public async Task A_damaged_or_missing_log_file_fails_verification_and_the_restore_changes_nothing(string damage)
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager(BackupCompression.None);
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: true);

        string log = Path.Combine(backup.Path, "changes.sglog");
        byte[] bytes = File.ReadAllBytes(log);
        switch (damage)
        {
            case "flip":
                bytes[bytes.Length / 2] ^= 0x01;
                File.WriteAllBytes(log, bytes);
                break;
            case "truncate":
                File.WriteAllBytes(log, bytes[..(bytes.Length - 100)]);
                break;
            default:
                File.Delete(log);
                break;
        }

        BackupVerification verification = await backups.VerifyAsync(backup.Id);
        Assert.False(verification.IsValid);
        Assert.Contains(verification.Problems, p => p.Contains("changes.sglog", StringComparison.Ordinal));

        Dictionary<string, byte[]> before = Snapshot(_dir.Path, exclude: backup.Path);
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, path));
        Assert.Equal(before.Keys, Snapshot(_dir.Path, exclude: backup.Path).Keys);
        Assert.Equal(before, Snapshot(_dir.Path, exclude: backup.Path));
    }

    /// <summary>
    /// A log file whose hash the manifest agrees with (rewritten with it) but whose archive names a path outside its
    /// folder, or is not an archive: refused typed, nothing written outside the restore's own temporary names.
    /// </summary>
    [Theory]
    [InlineData("../escape.seg")]
    [InlineData("000001.seg.lost-1")]
    [InlineData("garbage")]
    public async Task A_hostile_log_file_with_a_matching_manifest_is_refused_and_writes_nothing_outside(string name)
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager(BackupCompression.None);
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: false);

        // A compression-None chunked stream around a forged archive, and a manifest that vouches for it.
        using var archive = new MemoryStream();
        if (name == "garbage")
        {
            archive.Write(new byte[64]);
        }
        else
        {
            archive.Write("SGSEGARC"u8);
            archive.Write(BitConverter.GetBytes(1));
            archive.Write(BitConverter.GetBytes(1));
            byte[] nameBytes = Encoding.UTF8.GetBytes(name);
            archive.Write(BitConverter.GetBytes(nameBytes.Length));
            archive.Write(nameBytes);
            archive.Write(BitConverter.GetBytes(64L));
            archive.Write(new byte[64]);
            archive.Write("SGSEGEND"u8);
        }

        string log = Path.Combine(backup.Path, "changes.sglog");
        using (var output = new FileStream(log, FileMode.Create))
        using (var chunks = new ChunkedCompression.Writer(output, BackupCompression.None))
        {
            chunks.Write(archive.ToArray());
            chunks.Complete();
        }

        string manifestPath = Path.Combine(backup.Path, "manifest.json");
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["files"]![1]!["length"] = new FileInfo(log).Length;
        manifest["files"]![1]!["sha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(log))).ToLowerInvariant();
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        Dictionary<string, byte[]> before = Snapshot(_dir.Path, exclude: backup.Path);
        BackupVerification verification = await backups.VerifyAsync(backup.Id);
        Assert.False(verification.IsValid);
        Assert.Contains(verification.Problems, p => p.Contains("changes.sglog", StringComparison.Ordinal));
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, path));
        Assert.Equal(before, Snapshot(_dir.Path, exclude: backup.Path));
        Assert.False(File.Exists(Path.Combine(_dir.Path, "escape.seg")));
        Assert.False(File.Exists(Path.Combine(backups.Directory, "escape.seg")));
    }

    /// <summary>
    /// A log file that lacks its first segment (hash made to agree) reads like a pruned log, so only the first sequence
    /// the manifest records tells it from the backup's own.
    /// </summary>
    [Fact]
    public async Task A_log_file_without_its_first_segment_fails_verification_on_the_first_sequence_the_manifest_records()
    {
        string path = _dir.File("agent.db");
        BackupManager backups = Manager(BackupCompression.None);
        BackupInfo backup = await SeededBackupAsync(path, backups, changesAfter: false);
        string log = Path.Combine(backup.Path, "changes.sglog");
        string manifestPath = Path.Combine(backup.Path, "manifest.json");
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        Assert.Equal(1L, (long)manifest["logFirstSequence"]!);

        // Unpack the archive, drop segment 1, pack the rest.
        string unpacked = _dir.File("unpacked");
        using (var archive = new MemoryStream())
        {
            using (var input = File.OpenRead(log))
            {
                ChunkedCompression.Read(input, BackupCompression.None, archive, CancellationToken.None);
            }

            archive.Position = 0;
            Assert.True(SegmentArchive.Extract(archive, unpacked, CancellationToken.None) > 2);
        }

        var rest = Directory.EnumerateFiles(unpacked).Order(StringComparer.Ordinal).Skip(1).Select(f => (f, new FileInfo(f).Length)).ToList();
        using (var output = new FileStream(log, FileMode.Create))
        using (var chunks = new ChunkedCompression.Writer(output, BackupCompression.None))
        {
            SegmentArchive.Write(chunks, rest, SegmentFileSystem.Os, null, CancellationToken.None);
            chunks.Complete();
        }

        manifest["files"]![1]!["length"] = new FileInfo(log).Length;
        manifest["files"]![1]!["sha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(log))).ToLowerInvariant();
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        BackupVerification verification = await backups.VerifyAsync(backup.Id);
        Assert.False(verification.IsValid);
        Assert.Contains(verification.Problems, p => p.Contains("starts at sequence", StringComparison.Ordinal));
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(backup.Id, _dir.File("never.db")));
    }

    [Fact]
    public async Task A_verified_backup_is_restored_on_its_hashes_and_a_full_check_reads_the_log_too()
    {
        string path = _dir.File("agent.db");
        BackupInfo backup;
        List<string> history;
        await using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
            history = await HistoryAsync(store);
            backup = await Manager().CreateAsync(store);
        }

        Assert.True((await Manager().VerifyAsync(backup.Id)).IsValid);
        Assert.True(File.Exists(Path.Combine(backup.Path, "verified.json")));
        JsonNode record = JsonNode.Parse(File.ReadAllText(Path.Combine(backup.Path, "verified.json")))!;
        Assert.NotNull((string?)record["logSha256"]);

        string a = _dir.File("a.db");
        await Manager().RestoreAsync(backup.Id, a);
        await using (LiteDbStateStore restored = Open(a))
        {
            Assert.Equal(history, await HistoryAsync(restored));
        }

        string b = _dir.File("b.db");
        await new BackupManager(new BackupManagerOptions { Directory = _dir.File("backups"), TimeProvider = _time, FullCheckOnRestore = true }).RestoreAsync(backup.Id, b);
        await using (LiteDbStateStore restored = Open(b))
        {
            Assert.Equal(history, await HistoryAsync(restored));
        }
    }

    [Fact]
    public async Task A_backup_taken_of_a_collection_layout_file_restores_over_a_segmented_one_and_back()
    {
        string segmentedPath = _dir.File("seg.db");
        string collectionPath = _dir.File("col.db");
        BackupManager backups = Manager();
        BackupInfo segmentedBackup;
        BackupInfo collectionBackup;
        List<string> segmentedHistory;
        List<string> collectionHistory;
        await using (LiteDbStateStore store = Open(segmentedPath))
        {
            await SeedAsync(store);
            segmentedHistory = await HistoryAsync(store);
            segmentedBackup = await backups.CreateAsync(store);
        }

        await using (LiteDbStateStore store = Open(collectionPath, segmented: false))
        {
            await SeedAsync(store, fromVersion: 5, versions: 2);
            collectionHistory = await HistoryAsync(store);
            collectionBackup = await backups.CreateAsync(store);
        }

        Assert.False(File.Exists(Path.Combine(collectionBackup.Path, "changes.sglog")));
        await backups.RestoreAsync(collectionBackup.Id, segmentedPath);
        await using (LiteDbStateStore restored = Open(segmentedPath))
        {
            Assert.Equal(collectionHistory, await HistoryAsync(restored));
            Assert.Null(restored.ChangeLogFolder);
        }

        await backups.RestoreAsync(segmentedBackup.Id, segmentedPath);
        await using (LiteDbStateStore restored = Open(segmentedPath))
        {
            Assert.Equal(segmentedHistory, await HistoryAsync(restored));
            Assert.NotNull(restored.ChangeLogFolder);
        }
    }

    /// <summary>Every file under <paramref name="root"/> (but <paramref name="exclude"/>) by path, with its bytes.</summary>
    private static Dictionary<string, byte[]> Snapshot(string root, string exclude)
        => Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => !f.StartsWith(exclude, StringComparison.Ordinal))
            .ToDictionary(f => f, File.ReadAllBytes);
}

/// <summary>
/// The same backups and restores of stores that write behind: a backup applies the values waiting in the overlay before
/// it copies the data file, so the copy and the segments agree at the backup's position.
/// </summary>
public sealed class WriteBehindSegmentedBackupTests : SegmentedBackupTests
{
    protected override bool WriteBehind => true;
}
