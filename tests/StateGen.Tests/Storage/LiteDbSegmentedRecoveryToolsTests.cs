using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using StateGen.Tests.Backups;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The recovery tools over a file whose change log is in segment files (the preview layout), with real files, closed
/// and reopened: salvage reads every current value out byte for byte (healthy, and around a damaged one); a logical
/// backup carries each current value with its change record's metadata, and restores (into a new file, over the
/// segmented file, and to points in time with the segment log's records replayed). And, in both layouts, a correlation
/// id too long for the change log (or, in the collection layout, for the hook history's index) is a typed refusal with
/// nothing made and the store going on.
/// </summary>
public sealed class LiteDbSegmentedRecoveryToolsTests : IDisposable
{
    private const int Keys = 20;
    private static readonly DateTimeOffset Start = new(2026, 5, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new(Start);

    public void Dispose() => _dir.Dispose();

    private LiteDbStateStore Open(string path, bool segmented = true)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = segmented, TimeProvider = _time });

    private static string Text(int key, int version) => $"\"value-{key:D2}-v{version}-{new string((char)('a' + key), 300)}\"";

    private static StateWrite Write(int key, int version)
        => new("agent/a1", $"key-{key:D2}", key % 3 == 0 ? "Plan" : "Note", 1 + (key % 2), Encoding.UTF8.GetBytes(Text(key, version)))
        {
            CorrelationId = $"run-{version}",
            Origin = "seed",
        };

    /// <summary>Two versions of every key, one commit per version a second apart, then one key deleted.</summary>
    private async Task<(string Path, SortedDictionary<string, string> Expected)> SeedAsync()
    {
        string path = _dir.NewDatabaseFile();
        await using LiteDbStateStore store = Open(path);
        for (int version = 1; version <= 2; version++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await store.CommitAsync(Enumerable.Range(0, Keys).Select(k => (StateOperation)Write(k, version)).ToArray());
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await store.DeleteAsync("agent/a1", "key-19"));
        Assert.True(Directory.Exists(SegmentLog.FolderFor(path)));
        return (path, await ReadAllAsync(store));
    }

    /// <summary>The bytes of the database, its LiteDB log and every segment file, by name.</summary>
    private static SortedDictionary<string, byte[]> FilesOf(string path)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string file in new[] { path, LiteDbStateStore.LogPath(path) }.Where(File.Exists)
                     .Concat(Directory.EnumerateFiles(SegmentLog.FolderFor(path))))
        {
            files[file] = File.ReadAllBytes(file);
        }

        return files;
    }

    private static SortedDictionary<string, string> Describe(IEnumerable<StoredEntry> entries)
        => new(entries.ToDictionary(e => e.Scope + "|" + e.Key, BackupTestSupport.Describe), StringComparer.Ordinal);

    /// <summary>What a restored change record must keep: its place in the log and its key's chain, and its content.</summary>
    private static string Describe(StateChangeRecord r)
        => string.Join(
            "|",
            r.Sequence.ToString(CultureInfo.InvariantCulture),
            r.PreviousSequence.ToString(CultureInfo.InvariantCulture),
            r.Kind,
            r.CorrelationId,
            r.Origin,
            BackupTestSupport.Describe(new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload)));

    /// <summary>Each current value's newest change record, described.</summary>
    private static async Task<SortedDictionary<string, string>> NewestRecordsAsync(LiteDbStateStore store, IEnumerable<string> ids)
    {
        var newest = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string id in ids)
        {
            string[] parts = id.Split('|');
            IReadOnlyList<StateChangeRecord> records = await store.ReadChangesAsync(new StateChangeQuery { Scope = parts[0], Key = parts[1] });
            newest[id] = Describe(records.MaxBy(r => r.Sequence)!);
        }

        return newest;
    }

    [Fact]
    public async Task Salvage_of_a_healthy_segmented_file_reads_every_current_value_byte_for_byte_and_changes_nothing()
    {
        var (path, expected) = await SeedAsync();
        SortedDictionary<string, byte[]> before = FilesOf(path);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.True(result.Verified);
        Assert.Empty(result.Failures);
        Assert.Empty(result.Recovered);
        Assert.Equal(Keys - 1, result.Entries.Count);
        Assert.Equal(expected, Describe(result.Entries));
        Assert.Equal(before, FilesOf(path));

        // And the file still opens as the segmented store it was, history included.
        await using LiteDbStateStore reopened = Open(path, segmented: false);
        Assert.Equal(expected, await ReadAllAsync(reopened));
        Assert.Equal(2 * Keys + 1, (await reopened.ReadChangesAsync(new StateChangeQuery())).Count);
    }

    [Fact]
    public async Task Salvage_of_a_segmented_file_with_a_damaged_value_reads_every_other_value_and_reports_that_one()
    {
        var (path, expected) = await SeedAsync();
        byte[] bytes = await File.ReadAllBytesAsync(path);
        int at = bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Text(7, 2)));
        Assert.True(at > 0);
        Assert.Equal(-1, bytes.AsSpan(at + 1).IndexOf(Encoding.UTF8.GetBytes(Text(7, 2)))); // the value's only copy in the file
        bytes[at + 40] ^= 0x20;
        await File.WriteAllBytesAsync(path, bytes);

        // A normal open refuses the damaged value, typed.
        await using (LiteDbStateStore store = Open(path))
        {
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.GetAsync("agent/a1", "key-07"));
        }

        SortedDictionary<string, byte[]> before = FilesOf(path);
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.True(result.Verified);
        expected.Remove("agent/a1|key-07");
        Assert.Equal(expected, Describe(result.Entries));
        string failure = Assert.Single(result.Failures);
        Assert.Contains("'key-07'", failure, StringComparison.Ordinal);
        Assert.Contains("checksum", failure, StringComparison.Ordinal);
        Assert.DoesNotContain("value-", failure, StringComparison.Ordinal);

        // The segment log still holds the value's newest write intact: salvage reads it out of the segments.
        StoredEntry recovered = Assert.Single(result.Recovered);
        Assert.Equal((2L, Text(7, 2)), (recovered.Version, Encoding.UTF8.GetString(recovered.Payload.Span)));
        Assert.Equal(before, FilesOf(path));
    }

    [Fact]
    public async Task A_logical_backup_of_a_segmented_store_restores_every_value_with_its_change_record_into_a_new_file_and_over_the_old_one()
    {
        var (path, expected) = await SeedAsync();
        var backups = new BackupManager(new BackupManagerOptions { Directory = _dir.File("backups"), TimeProvider = _time });
        BackupInfo backup;
        SortedDictionary<string, string> newest;
        await using (LiteDbStateStore store = Open(path))
        {
            newest = await NewestRecordsAsync(store, expected.Keys);
            backup = await backups.CreateAsync(new SnapshotSourceOnly(store));
            Assert.Equal(2 * Keys + 1, backup.ChangeLogPosition);
            _time.Advance(TimeSpan.FromSeconds(1));
            await store.WriteAsync(Write(0, 3)); // after the backup: not in it
        }

        Assert.Equal(Keys - 1, backup.DocumentCount);
        Assert.True(backup.RecordsChanges);
        Assert.True((await backups.VerifyAsync(backup.Id)).IsValid);

        // Into a new file: every value, and each one's change record with its sequence, chain, correlation id and origin.
        string restoredPath = _dir.NewDatabaseFile();
        BackupRestoreResult result = await backups.RestoreAsync(backup.Id, restoredPath);
        Assert.Equal((Keys - 1L, backup.ChangeLogPosition), (result.DocumentCount, result.ChangeLogPosition));
        await using (LiteDbStateStore restored = Open(restoredPath))
        {
            Assert.Equal(expected, await ReadAllAsync(restored));
            Assert.Equal(newest, await NewestRecordsAsync(restored, expected.Keys));
            Assert.Equal(newest.Values.OrderBy(d => d, StringComparer.Ordinal), (await restored.ReadChangesAsync(new StateChangeQuery())).Select(Describe).OrderBy(d => d, StringComparer.Ordinal));
            Assert.Equal(Keys - 1, (await restored.ReadChangesAsync(new StateChangeQuery { CorrelationId = "run-2" })).Count);

            // Sequences go on after the backup's position and versions after the restored ones.
            StateOperationResult next = (await restored.CommitAsync([Write(0, 3)]))[0];
            Assert.Equal((backup.ChangeLogPosition + 1, 3L), (next.ChangeSequence, next.Stored!.Version));
        }

        // Over the segmented file itself (closed): the state at the backup again, the newer write gone.
        result = await backups.RestoreAsync(backup.Id, path);
        Assert.NotNull(result.SafetyCopyPath);
        await using (LiteDbStateStore restored = Open(path))
        {
            Assert.Equal(expected, await ReadAllAsync(restored));
            Assert.Equal(newest, await NewestRecordsAsync(restored, expected.Keys));
            Assert.Equal(backup.ChangeLogPosition + 1, (await restored.CommitAsync([Write(1, 3)]))[0].ChangeSequence);
        }

        await using (LiteDbStateStore reopened = Open(path))
        {
            Assert.Equal(Text(1, 3), Encoding.UTF8.GetString((await reopened.GetAsync("agent/a1", "key-01"))!.Payload.Span));
            Assert.Equal(Keys, (await reopened.ReadChangesAsync(new StateChangeQuery())).Count);
        }
    }

    /// <summary>
    /// 60 commits a second apart over 8 keys (writes, deletes, batches) with logical backups after commits 20 and 40: a
    /// copy of the segmented file restored to a time equals the state recorded at that time (the records after the backup
    /// are read from the copy's segment log and replayed).
    /// </summary>
    [Fact]
    public async Task Point_in_time_recovery_from_logical_backups_of_a_segmented_store_equals_the_recorded_state()
    {
        string path = _dir.NewDatabaseFile();
        var backups = new BackupManager(new BackupManagerOptions { Directory = _dir.File("backups"), TimeProvider = _time });
        var timeline = new List<(DateTimeOffset At, SortedDictionary<string, string> State)>();
        var random = new Random(3);
        await using (LiteDbStateStore store = Open(path))
        {
            for (int step = 1; step <= 60; step++)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                SortedDictionary<string, string> now = timeline.Count == 0 ? new(StringComparer.Ordinal) : timeline[^1].State;
                var ops = new List<StateOperation>();
                foreach (int k in Enumerable.Range(0, random.Next(4) == 0 ? 3 : 1).Select(_ => random.Next(8)).Distinct())
                {
                    ops.Add(random.Next(5) == 0 && now.ContainsKey("agent/a1|" + $"key-{k:D2}")
                        ? new StateDelete("agent/a1", $"key-{k:D2}") { CorrelationId = $"step-{step}" }
                        : Write(k, step) with { CorrelationId = $"step-{step}" });
                }

                await store.CommitAsync(ops);
                timeline.Add((_time.GetUtcNow(), await ReadAllAsync(store)));
                if (step is 20 or 40)
                {
                    await backups.CreateAsync(new SnapshotSourceOnly(store));
                }
            }
        }

        _time.Advance(TimeSpan.FromMinutes(1));
        IReadOnlyList<BackupInfo> list = await backups.ListAsync();
        Assert.Equal(2, list.Count);
        var times = new[]
        {
            list[0].SnapshotAt, // a backup's own moment: nothing replayed
            list[0].SnapshotAt + TimeSpan.FromMilliseconds(9_500),
            list[1].SnapshotAt + TimeSpan.FromSeconds(1),
            timeline[^1].At + TimeSpan.FromSeconds(30), // after the last change
        };
        for (int i = 0; i < times.Length; i++)
        {
            string copy = _dir.NewDatabaseFile();
            File.Copy(path, copy);
            string segments = Directory.CreateDirectory(SegmentLog.FolderFor(copy)).FullName;
            foreach (string file in Directory.EnumerateFiles(SegmentLog.FolderFor(path)))
            {
                File.Copy(file, Path.Combine(segments, Path.GetFileName(file)));
            }

            BackupRestoreResult result = await backups.RestoreToPointInTimeAsync(copy, times[i]);
            Assert.Equal(list.Last(b => b.SnapshotAt <= times[i]).Id, result.BackupId);
            await using LiteDbStateStore restored = Open(copy);
            Assert.Equal(timeline.Last(s => s.At <= times[i]).State, await ReadAllAsync(restored));
            Assert.Equal(result.ChangeLogPosition, restored.ChangeLogPosition);
        }
    }

    public static TheoryData<bool, string> OverLongCorrelationIds => new()
    {
        { false, new string('x', 2000) },
        { true, new string('x', 2000) },
        { false, new string('é', 600) }, // 1,200 UTF-8 bytes
        { true, new string('é', 600) },
    };

    [Theory]
    [MemberData(nameof(OverLongCorrelationIds))]
    public async Task A_correlation_id_too_long_for_the_change_log_is_refused_typed_and_the_store_goes_on(bool segmented, string correlationId)
    {
        string path = _dir.NewDatabaseFile();
        await using (LiteDbStateStore store = Open(path, segmented))
        {
            await store.CommitAsync([Write(0, 1), Write(1, 1)]);

            // On the second write of a batch: nothing of the batch is made, and it is not taken for damage.
            var ex = await Assert.ThrowsAsync<StateStoreException>(async () => await store.CommitAsync(
                [Write(2, 1), Write(1, 2) with { CorrelationId = correlationId, ExpectedVersion = 1 }]));
            Assert.Contains("correlation id", ex.Message, StringComparison.Ordinal);
            Assert.Null(await store.GetAsync("agent/a1", "key-02"));
            Assert.Equal(Text(1, 1), Encoding.UTF8.GetString((await store.GetAsync("agent/a1", "key-01"))!.Payload.Span));
            Assert.Equal(new[] { 1L, 2 }, (await store.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Sequence));

            // The next change takes the next sequence.
            Assert.Equal(3, (await store.CommitAsync([Write(2, 1)]))[0].ChangeSequence);
        }

        await using LiteDbStateStore reopened = Open(path, segmented);
        Assert.Equal(new[] { 1L, 2, 3 }, (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Sequence));
        Assert.Equal(Text(2, 1), Encoding.UTF8.GetString((await reopened.GetAsync("agent/a1", "key-02"))!.Payload.Span));
        Assert.Equal(4, (await reopened.CommitAsync([Write(3, 1)]))[0].ChangeSequence);
    }

    [Fact]
    public async Task In_the_collection_layout_the_longest_correlation_id_the_index_holds_is_kept_and_one_byte_more_is_refused()
    {
        // LiteDB's index key: a type byte, a length byte and the UTF-8 of the id, a separator and a 19-digit sequence.
        string longest = new('x', 1023 - 2 - 1 - 19);
        string path = _dir.NewDatabaseFile();
        await using (LiteDbStateStore store = Open(path, segmented: false))
        {
            await store.CommitAsync([Write(0, 1) with { CorrelationId = longest }]);
            await Assert.ThrowsAsync<StateStoreException>(async () => await store.CommitAsync([Write(1, 1) with { CorrelationId = longest + "x" }]));
            await store.CommitAsync([new StateDelete("agent/a1", "key-09") { CorrelationId = longest + "x" }]); // records nothing: no key
        }

        await using LiteDbStateStore reopened = Open(path, segmented: false);
        StateChangeRecord kept = Assert.Single(await reopened.ReadChangesAsync(new StateChangeQuery { CorrelationId = longest }));
        Assert.Equal(("key-00", longest), (kept.Key, kept.CorrelationId));
        Assert.Null(await reopened.GetAsync("agent/a1", "key-01"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_hook_record_whose_correlation_id_is_too_long_for_the_hook_historys_index_is_refused_typed_and_the_store_goes_on(bool segmented)
    {
        HookExecutionRecord Hook(string hookId, string correlationId)
            => new(0, hookId, "BeforeChange", "agent/a1", "key-00", "Note", "Continued", null, TimeSpan.FromMilliseconds(1), _time.GetUtcNow(), correlationId, default, default, default);

        string path = _dir.NewDatabaseFile();
        string tooLong = new('é', 600); // 1,200 UTF-8 bytes
        await using (LiteDbStateStore store = Open(path, segmented))
        {
            // Both layouts index the hook history by correlation id (replay reads it so).
            var ex = await Assert.ThrowsAsync<StateStoreException>(async () => await store.AppendHookExecutionsAsync([Hook("h0", "c-0"), Hook("h1", tooLong)]));
            Assert.Contains("'h1'", ex.Message, StringComparison.Ordinal);
            Assert.Empty(await store.ReadHookExecutionsAsync(new HookExecutionQuery()));

            await store.AppendHookExecutionsAsync([Hook("h2", "c-2")]);
            await store.CommitAsync([Write(0, 1)]);
        }

        await using LiteDbStateStore reopened = Open(path, segmented);
        Assert.Equal(new[] { "h2" }, (await reopened.ReadHookExecutionsAsync(new HookExecutionQuery())).Select(r => r.HookId));
        Assert.Equal("h2", Assert.Single(await reopened.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "c-2" })).HookId);
        Assert.NotNull(await reopened.GetAsync("agent/a1", "key-00"));
    }

    /// <summary>
    /// A store seen only as a snapshot source: <see cref="BackupManager"/> backs a LiteDB store up physically (with its
    /// segment files for a segmented file) and any other snapshot source logically, so this reaches the logical path over the segmented
    /// store's own <c>ReadSnapshot</c>.
    /// </summary>
    private sealed class SnapshotSourceOnly(LiteDbStateStore inner) : IStateStore, IStateSnapshotSource
    {
        public T ReadSnapshot<T>(Func<StateSnapshotInfo, IEnumerable<SnapshotDocument>, T> reader) => ((IStateSnapshotSource)inner).ReadSnapshot(reader);

        public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default) => inner.GetAsync(scope, key, cancellationToken);

        public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default) => inner.WriteAsync(write, cancellationToken);

        public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(scope, key, cancellationToken);

        public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(scope, key, cancellationToken);

        public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default) => inner.ListKeysAsync(scope, cancellationToken);

        public ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) => inner.CommitAsync(operations, cancellationToken);

        public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default) => inner.ScanAsync(after, limit, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the test owns the store
    }
}
