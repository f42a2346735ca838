using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The conversion of a file whose change log is in the <c>changes</c> collection to segment files
/// (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>): every value, record and hook record read back the same, pruned
/// sequences become tombstones, new changes continue the sequence, an interrupted conversion leaves a working file and
/// can be run again, damage and an unchecked format are typed errors with the file left in its layout.
/// </summary>
public sealed class LiteDbChangeLogUpgradeTests : IDisposable
{
    private static readonly string[] Scopes = ["agent/a1", "agent/a2"];
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StateWrite Write(string scope, string key, string text, string? correlation = null)
        => new(scope, key, "Note", 1, Encoding.UTF8.GetBytes("\"" + text + "\"")) { CorrelationId = correlation, Origin = correlation is null ? null : "test" };

    private static LiteDbStateStore OpenDefault(string path) => new(new LiteDbStateStoreOptions { Path = path });

    /// <summary>
    /// A collection-layout file with history in two scopes: batches with correlation ids, deletes, a key written again
    /// after its delete, a hook record, and a prune that keeps 2 records a key (holes in the sequence).
    /// </summary>
    private static async Task SeedAsync(LiteDbStateStore store, bool prune = true)
    {
        for (int round = 0; round < 5; round++)
        {
            await store.CommitAsync(
            [
                Write(Scopes[0], "k" + (round % 3), "r" + round + "-0", "corr-" + round),
                Write(Scopes[1], "k" + (round % 2), "r" + round + "-1", "corr-" + round),
            ]);
            await store.WriteAsync(Write(Scopes[0], "solo", "s" + round));
        }

        await store.DeleteAsync(Scopes[0], "k1");
        await store.DeleteAsync(Scopes[1], "k0");
        await store.WriteAsync(Write(Scopes[1], "k0", "again", "corr-again"));
        await store.WriteAsync(Write(Scopes[0], "gone", "g"));
        await store.DeleteAsync(Scopes[0], "gone");
        await store.AppendHookExecutionsAsync([new HookExecutionRecord(0, "hook-1", "BeforeChange", Scopes[0], "k0", "Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-1", "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty)]);
        if (prune)
        {
            Assert.True(await store.PruneChangesAsync(null, keepPerKey: 2) > 0);
        }
    }

    /// <summary>A collection-layout file seeded by <see cref="SeedAsync"/>, and what a reader sees of it.</summary>
    private async Task<(string Path, List<string> Before)> PreparedAsync()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = CollectionLayout.Open(path);
        await SeedAsync(store);
        return (path, await SnapshotAsync(store));
    }

    /// <summary>Everything a reader can see of a store, as text, so two stores compare exactly.</summary>
    private static async Task<List<string>> SnapshotAsync(LiteDbStateStore store)
    {
        var lines = new List<string>();
        foreach (string scope in Scopes)
        {
            foreach (string key in (await store.ListKeysAsync(scope)).Order(StringComparer.Ordinal))
            {
                StoredEntry e = (await store.GetAsync(scope, key))!;
                lines.Add($"value {scope}/{key} v{e.Version} {e.TypeName}/{e.SchemaVersion} {e.UpdatedAt.UtcTicks} {Encoding.UTF8.GetString(e.Payload.Span)}");
            }

            foreach (string key in new[] { "k0", "k1", "k2", "solo", "gone", "never", "x", "y" })
            {
                lines.Add($"history {scope}/{key}: " + string.Join(",", (await store.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key })).Select(Describe)));
            }

            lines.Add($"scope {scope}: " + string.Join(",", (await store.ReadChangesAsync(new StateChangeQuery { Scope = scope })).Select(r => r.Sequence)));
        }

        StateChangeRecord[] all = (await store.ReadChangesAsync(new StateChangeQuery())).ToArray();
        lines.AddRange(all.Select(r => "record " + Describe(r)));
        foreach (string correlation in all.Select(r => r.CorrelationId).OfType<string>().Distinct())
        {
            lines.Add($"correlation {correlation}: " + string.Join(",", (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = correlation })).Select(r => r.Sequence)));
        }

        for (long s = 1; s <= all[^1].Sequence + 1; s++)
        {
            lines.Add($"read {s}: " + ((await store.ReadChangeAsync(s)) is { } r ? Describe(r) : "none"));
        }

        lines.AddRange((await store.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" })).Select(h => $"hook {h.HookId} {h.Point} {h.Scope}/{h.Key} {h.Outcome} {h.CorrelationId}"));
        return lines;
    }

    private static string Describe(StateChangeRecord r)
        => $"{r.Sequence}:{r.Scope}/{r.Key}:{r.Kind}:v{r.Version}:{r.TypeName}/{r.SchemaVersion}:{r.Timestamp.UtcTicks}:{Encoding.UTF8.GetString(r.Payload.Span)}:ps{r.PreviousSequence}:{r.CorrelationId}:{r.Origin}";

    private static int Format(string path)
    {
        using LiteDatabase raw = LiteDbScopeCountTests.Raw(path);
        return raw.UserVersion;
    }

    private static string[] UpgradeFolders(string path)
        => Directory.GetDirectories(Path.GetDirectoryName(path)!, Path.GetFileName(SegmentLog.FolderFor(path)) + LiteDbStateStore.UpgradeFolderInfix + "*");

    [Fact]
    public async Task A_converted_file_reads_every_value_record_and_hook_record_as_before_and_continues_the_sequence()
    {
        string path = _dir.NewDatabaseFile();
        List<string> before;
        long newest;
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await SeedAsync(store);
            before = await SnapshotAsync(store);
            newest = (await store.ReadChangesAsync(new StateChangeQuery())).Max(r => r.Sequence);
        }

        Assert.Equal(DocumentIntegrity.CountedFormat, Format(path));
        var stages = new List<ChangeLogUpgradeProgress>();
        ChangeLogUpgradeResult result;
        using (LiteDbStateStore store = OpenDefault(path))
        {
            Assert.Null(store.ChangeLogFolder); // the option decides only for new files: this one kept its layout
            result = await store.UpgradeChangeLogAsync(new SynchronousProgress<ChangeLogUpgradeProgress>(stages.Add));

            // The same instance goes on in the new layout.
            Assert.NotNull(store.ChangeLogFolder);
            Assert.Equal(before, await SnapshotAsync(store));
        }

        Assert.True(result.Upgraded);
        Assert.Equal(before.Count(l => l.StartsWith("record ", StringComparison.Ordinal)), result.RecordsCopied);
        Assert.Equal(result.LastSequence - result.FirstSequence + 1, result.RecordsCopied + result.Tombstones);
        Assert.True(result.Tombstones > 0, "the prune left holes");
        Assert.Equal(newest, result.LastSequence);
        Assert.True(result.ValuesMoved > 0);
        Assert.Equal([ChangeLogUpgradeStage.MovingValues, ChangeLogUpgradeStage.CopyingRecords, ChangeLogUpgradeStage.Switching], stages.Select(s => s.Stage).Distinct());
        Assert.Equal(1, stages[^1].Done);

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            Assert.Equal(DocumentIntegrity.WriteBehindFormat, raw.UserVersion); // converted, then opened writing behind (the default)
            Assert.False(raw.CollectionExists("changes"));
            Assert.All(raw.GetCollection("state").FindAll(), d => Assert.True(d["p"].IsBinary));
            Assert.StartsWith(LiteDbStateStore.UpgradeFolderInfix, raw.GetCollection("meta").FindById("logFolder")["v"].AsString, StringComparison.Ordinal);
        }

        Assert.Equal(result.Folder, Assert.Single(UpgradeFolders(path)));
        Assert.False(Directory.Exists(SegmentLog.FolderFor(path)));

        // After a reopen: the same, and new changes continue after the newest sequence, chained to the key's last record.
        using (LiteDbStateStore reopened = OpenDefault(path))
        {
            Assert.Equal(result.Folder, reopened.ChangeLogFolder);
            Assert.Empty(reopened.HistoryGaps);
            Assert.Equal(before, await SnapshotAsync(reopened));
            long lastOfSolo = (await reopened.ReadChangesAsync(new StateChangeQuery { Scope = Scopes[0], Key = "solo" }))[^1].Sequence;
            StateOperationResult next = (await reopened.CommitAsync([Write(Scopes[0], "solo", "after")]))[0];
            Assert.Equal(newest + 1, next.ChangeSequence);
            Assert.Equal(lastOfSolo, (await reopened.ReadChangeAsync(newest + 1))!.PreviousSequence);

            // A second call has nothing to do.
            ChangeLogUpgradeResult again = await reopened.UpgradeChangeLogAsync();
            Assert.False(again.Upgraded);
            Assert.Equal(0, again.RecordsCopied);
        }
    }

    [Fact]
    public async Task Pruned_sequences_become_tombstones_that_keep_reads_by_position_and_a_key_chain_through_a_hole()
    {
        string path = _dir.NewDatabaseFile();
        List<string> before;
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            // x1 (1), y1 (2), x2 (3), y2 (4), x3 (5), y3 (6); then 3 and 4 removed in the raw file, as a prune by age with
            // a clock that went back would: x3 names 3 as its previous record, and x1 is still there behind it.
            for (int i = 1; i <= 3; i++)
            {
                await store.WriteAsync(Write(Scopes[0], "x", "x" + i));
                await store.WriteAsync(Write(Scopes[0], "y", "y" + i));
            }
        }

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            raw.GetCollection("changes").Delete(3);
            raw.GetCollection("changes").Delete(4);
        }

        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            before = await SnapshotAsync(store);
        }

        Assert.Contains(before, l => l.StartsWith("history agent/a1/x: 1:", StringComparison.Ordinal));
        using (LiteDbStateStore store = OpenDefault(path))
        {
            ChangeLogUpgradeResult result = await store.UpgradeChangeLogAsync();
            Assert.Equal((1L, 6L, 4L, 2L), (result.FirstSequence, result.LastSequence, result.RecordsCopied, result.Tombstones));
        }

        using LiteDbStateStore reopened = OpenDefault(path);
        Assert.Equal(before, await SnapshotAsync(reopened));
        Assert.Equal(new long[] { 5, 6 }, (await reopened.ReadChangesAsync(new StateChangeQuery { AfterSequence = 3 })).Select(r => r.Sequence));
        Assert.Null(await reopened.ReadChangeAsync(3));
    }

    [Fact]
    public async Task A_log_whose_oldest_and_newest_sequences_were_pruned_starts_at_its_oldest_record_and_ends_at_the_newest_sequence()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            for (int i = 1; i <= 4; i++)
            {
                await store.WriteAsync(Write(Scopes[0], "x", "x" + i));
            }

            await store.WriteAsync(Write(Scopes[0], "y", "y"));
            await store.DeleteAsync(Scopes[0], "y"); // 6: a key's newest record that is a delete can be pruned
            Assert.Equal(4, await store.PruneChangesAsync(null, keepPerKey: 1)); // 1-3 of x, 5 of y
        }

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            raw.GetCollection("changes").Delete(6); // and the delete too (the collection layout allows it; the segments keep a tombstone)
        }

        using (LiteDbStateStore store = OpenDefault(path))
        {
            ChangeLogUpgradeResult result = await store.UpgradeChangeLogAsync();
            Assert.Equal((4L, 6L, 1L, 2L), (result.FirstSequence, result.LastSequence, result.RecordsCopied, result.Tombstones));
        }

        using LiteDbStateStore reopened = OpenDefault(path);
        Assert.Equal(new long[] { 4 }, (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Sequence));
        Assert.Null(await reopened.GetAsync(Scopes[0], "y"));
        Assert.Equal(7, (await reopened.CommitAsync([Write(Scopes[0], "y", "y2")]))[0].ChangeSequence);
        Assert.Equal(8, (await reopened.CommitAsync([Write(Scopes[0], "z", "z")]))[0].ChangeSequence);
    }

    [Theory]
    [InlineData("values-moved")]
    [InlineData("segments-written")]
    [InlineData("folder-named")]
    [InlineData("switched")]
    public async Task A_conversion_stopped_at_any_step_leaves_a_file_that_reads_as_before_and_a_new_run_finishes_it(string step)
    {
        (string path, List<string> before) = await PreparedAsync();

        using (LiteDbStateStore store = OpenDefault(path))
        {
            store.UpgradeFault = reached =>
            {
                if (reached == step)
                {
                    throw new StateStoreException("stopped for the test");
                }
            };
            await Assert.ThrowsAsync<StateStoreException>(async () => await store.UpgradeChangeLogAsync());
        }

        bool switched = step == "switched";
        Assert.Equal(switched ? DocumentIntegrity.SegmentedFormat : DocumentIntegrity.CountedFormat, Format(path));
        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            Assert.True(raw.CollectionExists("changes")); // not dropped yet
        }

        // Whatever layout it is in, the file reads as before (a switched one drops the old collection at this open).
        using (LiteDbStateStore store = OpenDefault(path))
        {
            Assert.Equal(before, await SnapshotAsync(store));
            Assert.Equal(switched, store.ChangeLogFolder is not null);
            ChangeLogUpgradeResult result = await store.UpgradeChangeLogAsync();
            Assert.Equal(!switched, result.Upgraded);
            Assert.Equal(before, await SnapshotAsync(store));
        }

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            Assert.Equal(DocumentIntegrity.WriteBehindFormat, raw.UserVersion); // converted, then opened writing behind (the default)
            Assert.False(raw.CollectionExists("changes"));
        }

        // The folder an interrupted run made is gone: the file's own is the only one.
        Assert.Single(UpgradeFolders(path));
        using LiteDbStateStore reopened = OpenDefault(path);
        Assert.Equal(before, await SnapshotAsync(reopened));
    }

    [Fact]
    public async Task A_switched_file_whose_folder_is_missing_fails_to_open_and_keeps_its_old_collection()
    {
        (string path, List<string> before) = await PreparedAsync();

        using (LiteDbStateStore store = OpenDefault(path))
        {
            store.UpgradeFault = step => _ = step == "switched" ? throw new StateStoreException("stopped for the test") : 0;
            await Assert.ThrowsAsync<StateStoreException>(async () => await store.UpgradeChangeLogAsync());
        }

        // The old collection is dropped only once the new log opened: without it, nothing is lost yet.
        string folder = Assert.Single(UpgradeFolders(path));
        Directory.Move(folder, folder + ".away");
        Assert.Throws<StateStoreCorruptedException>(() => OpenDefault(path));
        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            Assert.True(raw.CollectionExists("changes"));
        }

        Directory.Move(folder + ".away", folder);
        using LiteDbStateStore reopened = OpenDefault(path);
        Assert.Equal(before, await SnapshotAsync(reopened));
    }

    [Fact]
    public async Task A_canceled_conversion_changes_nothing_and_removes_its_folder()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await SeedAsync(store, prune: false);
        }

        using (LiteDbStateStore store = OpenDefault(path))
        {
            using var cancel = new CancellationTokenSource();
            var progress = new SynchronousProgress<ChangeLogUpgradeProgress>(p =>
            {
                if (p.Stage == ChangeLogUpgradeStage.CopyingRecords)
                {
                    cancel.Cancel();
                }
            });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.UpgradeChangeLogAsync(progress, cancel.Token));
            Assert.Null(store.ChangeLogFolder);
            Assert.Equal("s4", Encoding.UTF8.GetString((await store.GetAsync(Scopes[0], "solo"))!.Payload.Span).Trim('"'));
        }

        Assert.Equal(DocumentIntegrity.CountedFormat, Format(path));
        Assert.Empty(UpgradeFolders(path));
    }

    [Fact]
    public async Task The_option_converts_at_open_only_when_asked_and_only_for_the_segment_layout()
    {
        (string path, List<string> before) = await PreparedAsync();

        using (new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, UpgradeChangeLog = true }))
        {
        }

        using (OpenDefault(path))
        {
        }

        Assert.Equal(DocumentIntegrity.CountedFormat, Format(path));
        using (LiteDbStateStore store = new(new LiteDbStateStoreOptions { Path = path, UpgradeChangeLog = true }))
        {
            Assert.NotNull(store.ChangeLogFolder);
            Assert.Equal(before, await SnapshotAsync(store));
        }

        Assert.Equal(DocumentIntegrity.WriteBehindFormat, Format(path));

        // Opened with the option again: nothing more to do.
        using LiteDbStateStore again = new(new LiteDbStateStoreOptions { Path = path, UpgradeChangeLog = true });
        Assert.Equal(before, await SnapshotAsync(again));
        Assert.Single(UpgradeFolders(path));
    }

    [Fact]
    public async Task A_damaged_change_record_is_the_typed_error_and_the_file_keeps_its_layout()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await SeedAsync(store, prune: false);
        }

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            // An old record (no current value points to it): only the copy of the records meets it.
            BsonDocument first = raw.GetCollection("changes").FindById(1);
            first["u"] = first["u"].AsInt64 + 1;
            raw.GetCollection("changes").Update(first);
        }

        using (LiteDbStateStore store = OpenDefault(path))
        {
            var error = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.UpgradeChangeLogAsync());
            Assert.Contains("changes", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(DocumentIntegrity.CountedFormat, Format(path));
        Assert.Empty(UpgradeFolders(path));
        using LiteDbStateStore reopened = CollectionLayout.Open(path);
        Assert.Equal("s4", Encoding.UTF8.GetString((await reopened.GetAsync(Scopes[0], "solo"))!.Payload.Span).Trim('"'));
    }

    [Fact]
    public async Task A_file_from_before_checksums_is_refused_and_left_as_it_was()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await SeedAsync(store, prune: false);
        }

        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            raw.UserVersion = DocumentIntegrity.UncheckedCountedFormat;
        }

        byte[] bytes = File.ReadAllBytes(path);
        using (LiteDbStateStore store = OpenDefault(path))
        {
            var error = await Assert.ThrowsAsync<StateStoreException>(async () => await store.UpgradeChangeLogAsync());
            Assert.Contains("before document checksums", error.Message, StringComparison.Ordinal);
        }

        using (new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, UpgradeChangeLog = true }))
        {
            // The option opens it as it is.
        }

        Assert.Equal(DocumentIntegrity.UncheckedCountedFormat, Format(path));
        Assert.Empty(UpgradeFolders(path));
        Assert.Equal(bytes.Length, new FileInfo(path).Length);
    }

    [Fact]
    public async Task An_encrypted_store_converts_with_its_ciphertext_and_decrypts_after()
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring();
        using (LiteDbStateStore inner = CollectionLayout.Open(path))
        {
            var encrypted = new EncryptedStateStore(inner, new StateEncryptor(ring)); // not disposed: it would close the inner store
            await encrypted.WriteAsync(Write(Scopes[0], "secret", "top-secret-value-1"));
            await encrypted.WriteAsync(Write(Scopes[0], "secret", "top-secret-value-2"));
        }

        using (LiteDbStateStore inner = new(new LiteDbStateStoreOptions { Path = path, UpgradeChangeLog = true }))
        {
            var encrypted = new EncryptedStateStore(inner, new StateEncryptor(ring));
            Assert.NotNull(inner.ChangeLogFolder);
            Assert.Equal("\"top-secret-value-2\"", Encoding.UTF8.GetString((await encrypted.GetAsync(Scopes[0], "secret"))!.Payload.Span));
            Assert.Equal(
                new[] { "\"top-secret-value-1\"", "\"top-secret-value-2\"" },
                (await encrypted.ReadChangesAsync(new StateChangeQuery { Scope = Scopes[0], Key = "secret" })).Select(r => Encoding.UTF8.GetString(r.Payload.Span)));
        }

        // No byte of the file or its segments holds the plaintext.
        byte[] needle = Encoding.UTF8.GetBytes("top-secret-value");
        foreach (string file in Directory.GetFiles(Path.GetDirectoryName(path)!, "*", SearchOption.AllDirectories))
        {
            Assert.True(File.ReadAllBytes(file).AsSpan().IndexOf(needle) < 0, file);
        }
    }

    [Fact]
    public async Task Two_conversions_waiting_for_a_backup_copy_convert_once_and_keep_every_record()
    {
        (string path, List<string> before) = await PreparedAsync();

        using (LiteDbStateStore store = OpenDefault(path))
        {
            var copying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var release = new ManualResetEventSlim(false);
            store.CopyChunkBytes = 4096;
            store.AfterCopyChunk = _ =>
            {
                copying.TrySetResult();
                release.Wait(TimeSpan.FromMinutes(2)); // on the copy's own thread
            };
            Task copy = Task.Run(() => store.CopyDataFile(Stream.Null, null, null, CancellationToken.None));
            await copying.Task;
            Task<ChangeLogUpgradeResult> first = Task.Run(async () => await store.UpgradeChangeLogAsync());
            Task<ChangeLogUpgradeResult> second = Task.Run(async () => await store.UpgradeChangeLogAsync());
            await Task.Delay(300); // both wait for the copy
            Assert.False(first.IsCompleted || second.IsCompleted);
            store.AfterCopyChunk = null;
            release.Set();
            await copy;
            ChangeLogUpgradeResult[] results = [await first, await second];
            Assert.Equal(1, results.Count(r => r.Upgraded));
            Assert.Equal(before, await SnapshotAsync(store));
        }

        Assert.Single(UpgradeFolders(path));
        using LiteDbStateStore reopened = OpenDefault(path);
        Assert.Equal(before, await SnapshotAsync(reopened));
    }

    [Fact]
    public async Task A_store_closed_while_a_conversion_and_a_prune_wait_for_a_backup_copy_is_not_reported_as_damaged()
    {
        // When the copy ends, either a waiting operation runs before the close, or it sees the store closed: never
        // "corrupted". Both orders, several rounds, and more (up to 40) until the close has come first once: the order the
        // woken threads take the lock in is the scheduler's, and a loaded machine can upset it in a few rounds.
        int closedFirst = 0;
        int round;
        for (round = 0; round < 6 || (closedFirst == 0 && round < 40); round++)
        {
            string path = _dir.NewDatabaseFile();
            using (LiteDbStateStore seed = CollectionLayout.Open(path))
            {
                await SeedAsync(seed, prune: false);
            }

            var store = OpenDefault(path);
            var copying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var release = new ManualResetEventSlim(false);
            store.CopyChunkBytes = 4096;
            store.AfterCopyChunk = _ =>
            {
                copying.TrySetResult();
                release.Wait(TimeSpan.FromMinutes(2));
            };
            Task copy = Task.Run(() => store.CopyDataFile(Stream.Null, null, null, CancellationToken.None));
            await copying.Task;

            // The close waits for the copy first in odd rounds (it then runs first: the monitor wakes waiters in order),
            // last in even ones.
            // Each waits for its task to have started (a busy pool can start one late), then gives it time to reach the lock.
            Task close = round % 2 == 1 ? await StartedAsync(() => { store.Dispose(); return Task.CompletedTask; }) : Task.CompletedTask;
            await Task.Delay(100);
            Task conversion = await StartedAsync(async () => await store.UpgradeChangeLogAsync());
            Task prune = await StartedAsync(async () => await store.PruneChangesAsync(null, keepPerKey: 1));
            await Task.Delay(100);
            close = round % 2 == 1 ? close : await StartedAsync(() => { store.Dispose(); return Task.CompletedTask; });
            await Task.Delay(100);
            store.AfterCopyChunk = null;
            release.Set();
            await copy;
            await close;
            foreach (Task waiting in new[] { conversion, prune })
            {
                Exception? error = await Record.ExceptionAsync(() => waiting);
                Assert.True(error is null or ObjectDisposedException, $"round {round}: {error}");
                closedFirst += error is ObjectDisposedException ? 1 : 0;
            }
        }

        Assert.True(closedFirst > 0, $"the close never came first in {round} rounds");
    }

    /// <summary>Runs <paramref name="action"/> on the pool; returns its task once it has started.</summary>
    private static async Task<Task> StartedAsync(Func<Task> action)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task task = Task.Run(async () =>
        {
            started.SetResult();
            await action();
        });
        await started.Task;
        return task;
    }

    [Fact]
    public async Task A_failed_reopen_after_the_switch_is_retried_by_the_next_operation_and_nothing_is_lost()
    {
        (string path, List<string> before) = await PreparedAsync();

        using (LiteDbStateStore store = OpenDefault(path))
        {
            string? folder = null;
            store.UpgradeFault = step =>
            {
                if (step == "switched")
                {
                    folder = Assert.Single(UpgradeFolders(path));
                    Directory.Move(folder, folder + ".away"); // the reopen's open of the log fails
                }
            };
            await Assert.ThrowsAnyAsync<StateStoreException>(async () => await store.UpgradeChangeLogAsync());
            Directory.Move(folder + ".away", folder!);

            // The next operation reopens the file as the segmented file it is, and writes go to its log.
            long sequence = (await store.CommitAsync([Write(Scopes[0], "after", "acknowledged")]))[0].ChangeSequence;
            Assert.NotNull(store.ChangeLogFolder);
            Assert.Equal(sequence, (await store.ReadChangesAsync(new StateChangeQuery { Scope = Scopes[0], Key = "after" })).Single().Sequence);
        }

        using LiteDbStateStore reopened = OpenDefault(path);
        Assert.Equal("\"acknowledged\"", Encoding.UTF8.GetString((await reopened.GetAsync(Scopes[0], "after"))!.Payload.Span));
        List<string> after = await SnapshotAsync(reopened);
        Assert.All(before.Where(l => l.StartsWith("value ", StringComparison.Ordinal)), l => Assert.Contains(l, after));
    }

    [Fact]
    public async Task A_record_the_segments_cannot_hold_is_refused_with_nothing_switched_and_the_option_still_opens_the_file()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await store.WriteAsync(Write(Scopes[0], "k", "v") with { Origin = new string('o', 2000) }); // the collection has no limit there
            await store.WriteAsync(Write(Scopes[0], "k", "v2"));
        }

        using (LiteDbStateStore store = OpenDefault(path))
        {
            var error = await Assert.ThrowsAsync<StateStoreException>(async () => await store.UpgradeChangeLogAsync());
            Assert.Contains("does not fit a segment file", error.Message, StringComparison.Ordinal);
            Assert.Null(store.ChangeLogFolder);
            Assert.Equal(2, (await store.ReadChangesAsync(new StateChangeQuery())).Count);
        }

        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, UpgradeChangeLog = true }))
        {
            Assert.Contains("does not fit a segment file", store.UpgradeChangeLogFailure!.Message, StringComparison.Ordinal);
            Assert.Equal("\"v2\"", Encoding.UTF8.GetString((await store.GetAsync(Scopes[0], "k"))!.Payload.Span));

            // A manager over it says so when it starts (the message names the record, never its contents).
            var logger = new ListLogger<StateManager>();
            using var manager = new StateManager(store, logger: logger, ownsStore: false);
            var line = Assert.Single(logger.Entries, e => e.EventId.Id == 39);
            Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, line.Level);
            Assert.Contains("origin of a change record is 2000 UTF-8 bytes", line.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("ooo", line.Message, StringComparison.Ordinal);
        }

        Assert.Equal(DocumentIntegrity.CountedFormat, Format(path));
        Assert.Empty(UpgradeFolders(path));
    }

    [Fact]
    public async Task A_log_too_sparse_to_convert_is_refused_before_anything_changes_and_tombstone_runs_can_be_canceled()
    {
        // A file restored from a logical backup: one record per value, at sequences far apart.
        string path = _dir.NewDatabaseFile();
        const long span = 300_000;
        LiteDbStateStore.BuildRestoredFile(path, span,
        [
            new(new StoredEntry(Scopes[0], "old", "Note", 1, 1, DateTimeOffset.UnixEpoch, "\"x\""u8.ToArray()), 1, 0, null, null),
            new(new StoredEntry(Scopes[0], "new", "Note", 1, 1, DateTimeOffset.UnixEpoch, "\"y\""u8.ToArray()), span, 0, null, null),
        ], [], null, CancellationToken.None);

        using (LiteDbStateStore store = OpenDefault(path))
        {
            store.MaxUpgradeTombstones = span - 3;
            var error = await Assert.ThrowsAsync<StateStoreException>(async () => await store.UpgradeChangeLogAsync());
            Assert.Contains("spread over", error.Message, StringComparison.Ordinal);

            // Allowed, it is canceled inside the tombstones, well before their end.
            store.MaxUpgradeTombstones = span;
            using var cancel = new CancellationTokenSource();
            long last = 0;
            var progress = new SynchronousProgress<ChangeLogUpgradeProgress>(p =>
            {
                if (p.Stage == ChangeLogUpgradeStage.CopyingRecords)
                {
                    last = p.Done;
                    if (p.Done >= 8192)
                    {
                        cancel.Cancel();
                    }
                }
            });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.UpgradeChangeLogAsync(progress, cancel.Token));
            Assert.InRange(last, 8192, 16384);
            Assert.Null(store.ChangeLogFolder);
        }

        Assert.Equal(DocumentIntegrity.CountedFormat, Format(path));
        Assert.Empty(UpgradeFolders(path));
    }

    [Fact]
    public async Task Tombstones_of_unknown_records_leave_the_empty_key_absent()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await store.WriteAsync(Write(Scopes[0], "a", "once"));
            for (int i = 0; i < 5; i++)
            {
                await store.WriteAsync(Write(Scopes[0], "b", "v" + i));
            }

            Assert.Equal(4, await store.PruneChangesAsync(null, keepPerKey: 1)); // 2-5 go: holes no kept record names
        }

        using LiteDbStateStore converted = OpenDefault(path);
        Assert.Equal(4, (await converted.UpgradeChangeLogAsync()).Tombstones);
        Assert.Null(await converted.GetAsync("", ""));
        Assert.False(await converted.DeleteAsync(Scopes[0], "never-written"));
        Assert.Equal(0, await converted.PruneChangesAsync(null, keepPerKey: 1));
    }

    /// <summary>Reports on the caller's thread (<see cref="Progress{T}"/> posts to the thread pool).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
