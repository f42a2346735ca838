using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Storage.LiteDbWriteBehindTests;

namespace StateGen.Tests.Storage;

/// <summary>
/// Writing behind at its edges (found by a review of the first version): a prune that waited for a backup copy, damage
/// in front of commits written behind, a new file beside another database's log, salvage of commits written behind,
/// and failures of a discard, an apply, a close and a group of conflicting commits, each checked live and after a kill.
/// </summary>
public sealed class LiteDbWriteBehindEdgeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// A prune that waited for a running backup copy (the wait releases the store's lock) applies what commits wrote
    /// behind meanwhile before it checks the current values (else a key whose newest record is in the overlay reads as
    /// damage).
    /// </summary>
    [Fact]
    public async Task A_prune_that_waited_for_a_backup_copy_applies_what_was_written_behind_meanwhile()
    {
        string path = _dir.File("prune-wait.db");
        using LiteDbStateStore store = Open(path);
        for (int v = 1; v <= 3; v++)
        {
            for (int k = 0; k < 8; k++)
            {
                await store.WriteAsync(Write("k" + k, $"v{v}-" + new string('x', 2000)));
            }
        }

        Task<long>? prune = null;
        store.CopyChunkBytes = 4096;
        store.AfterCopyChunk = _ =>
        {
            if (prune is not null)
            {
                return;
            }

            prune = Task.Run(async () => await store.PruneChangesAsync(null, 1));
            Assert.True(SpinWait.SpinUntil(() => store.PruneWaits > 0, TimeSpan.FromSeconds(30)));

            // The prune waits with the lock released: a commit of an existing key is written behind.
            store.WriteAsync(Write("k0", "during-wait")).AsTask().GetAwaiter().GetResult();
        };

        using (var data = new MemoryStream())
        using (var log = new MemoryStream())
        {
            store.CopyDataFile(data, log, null, CancellationToken.None);
        }

        Assert.NotNull(prune);
        long removed = await prune!;
        Assert.True(removed > 0);
        Assert.Equal("during-wait", Text(await store.GetAsync(Scope, "k0")));
    }

    /// <summary>
    /// Durable commits written behind, each acknowledged after the segment log's flush; one bit of the first one's record
    /// in the active (last, unsealed) segment then goes bad. A crash never leaves a hole with whole records after it, so
    /// this is damage: the open is the typed error and cuts nothing (before, it took the record for a torn write and cut
    /// every acknowledged commit after it).
    /// </summary>
    [Fact]
    public async Task Damage_in_the_active_segment_in_front_of_commits_written_behind_is_the_typed_error_with_nothing_cut()
    {
        string path = _dir.File("rot.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await store.WriteAsync(Write("a", "a1-MARKER"));
        await store.WriteAsync(Write("b", "b1"));
        await store.WriteAsync(Write("c", "c1"));
        Assert.Equal(3, store.PendingValueCount);
        Assert.Equal(0, store.AppliedSequence);

        // What the disk holds (all three were flushed before they returned).
        Dictionary<string, byte[]> images = disk.Images();
        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        byte[] log = images[segment];
        int at = log.AsSpan().IndexOf(Encoding.UTF8.GetBytes("a1-MARKER"));
        Assert.True(at > 0);
        log[at] ^= 0x01; // one flipped bit in the first commit's payload

        string copy = _dir.File("rot-copy.db");
        var image = new SimulatedDisk(SimulatedDisk.Rename(images, path, copy));
        Dictionary<string, byte[]> before = image.Contents();
        Assert.Throws<StateStoreCorruptedException>(() => Open(copy, openFile: image.Open));
        Dictionary<string, byte[]> after = image.Contents();
        string copySegment = Path.Combine(SegmentLog.FolderFor(copy), SegmentFormat.FileName(1));
        Assert.Equal(before[copySegment], after[copySegment]);

        // Salvage reads the commits after the damage.
        LiteDbSalvageResult salvaged = LiteDbStateStore.Salvage(copy, image.Open);
        Assert.Equal(new[] { "b1", "c1" }, salvaged.Entries.Concat(salvaged.Recovered).OrderBy(e => e.Key).Select(e => Text(e)!));
    }

    /// <summary>
    /// The same window with commits of new keys only: a batch writes z and deletes y (y written before it, in the window),
    /// so the delete, the batch's last record, carries its commit-end flag. The prune applies the overlay first and never
    /// removes a record LiteDB does not hold yet (a tombstone carries no flag: the next open would cut the batch), so a
    /// killed process loses nothing.
    /// </summary>
    [Fact]
    public async Task A_prune_that_waited_for_a_backup_copy_keeps_every_commit_end_so_a_killed_process_loses_nothing()
    {
        string path = _dir.File("prune-flag.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        for (int k = 0; k < 4; k++)
        {
            await store.WriteAsync(Write("k" + k, "v1-" + new string('x', 3000)));
        }

        Task<long>? prune = null;
        store.CopyChunkBytes = 4096;
        store.AfterCopyChunk = _ =>
        {
            if (prune is not null)
            {
                return;
            }

            prune = Task.Run(async () => await store.PruneChangesAsync(DateTimeOffset.UtcNow.AddHours(1), null));
            Assert.True(SpinWait.SpinUntil(() => store.PruneWaits > 0, TimeSpan.FromSeconds(30)));

            // Written behind while the prune waits (durable: each returns after the log's flush).
            store.WriteAsync(Write("y", "y1")).AsTask().GetAwaiter().GetResult();
            store.CommitAsync([Write("z", "z1"), new StateDelete(Scope, "y")]).AsTask().GetAwaiter().GetResult();
        };

        using (var data = new MemoryStream())
        using (var log = new MemoryStream())
        {
            store.CopyDataFile(data, log, null, CancellationToken.None);
        }

        Assert.NotNull(prune);
        await prune!;
        Assert.Equal("z1", Text(await store.GetAsync(Scope, "z"))); // acknowledged, and seen

        // The process is killed now: every byte written survives.
        string copy = _dir.File("prune-flag-copy.db");
        using LiteDbStateStore reopened = OpenImage(disk.Contents(), path, copy);
        Assert.Equal("z1", Text(await reopened.GetAsync(Scope, "z")));
    }

    /// <summary>
    /// Salvage of a segmented file (written directly) whose <c>meta</c> sequence record and document for b are gone: a
    /// missing sequence means "read every intact record" (with a failure line), so b comes back from the log.
    /// </summary>
    [Fact]
    public async Task Salvage_of_a_segmented_file_without_its_sequence_record_reads_every_record()
    {
        string path = _dir.File("salvage-meta.db");
        using (LiteDbStateStore store = Open(path, writeBehind: false))
        {
            await store.WriteAsync(Write("a", "a1"));
            await store.WriteAsync(Write("b", "b1"));
        }

        using (var raw = new LiteDB.LiteDatabase($"Filename={path};Connection=direct"))
        {
            Assert.True(raw.GetCollection("meta").Delete("sequence"));
            Assert.True(raw.GetCollection("state").Delete(Scope + "\u001F" + "b"));
        }

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);
        Assert.True(
            result.Recovered.Any(e => e.Key == "b"),
            "b not recovered from the change log; failures: " + string.Join(" | ", result.Failures));
    }

    /// <summary>
    /// A database file deleted (to start over) with its <c>.changes</c> folder left behind: creating a new file there is
    /// refused with nothing changed (written behind, the old records would come back as the new file's values; written
    /// directly, they would be cut).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_new_file_beside_a_change_log_folder_that_holds_records_is_refused(bool oldWroteBehind)
    {
        string path = _dir.File("reset.db");
        using (LiteDbStateStore store = Open(path, writeBehind: oldWroteBehind))
        {
            await store.WriteAsync(Write("a", "old-a"));
            await store.WriteAsync(Write("b", "old-b"));
        }

        File.Delete(path);
        File.Delete(LiteDbStateStore.LogPath(path));
        Assert.True(Directory.Exists(SegmentLog.FolderFor(path)));

        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        byte[] log = File.ReadAllBytes(segment);
        StateStoreException refused = Assert.Throws<StateStoreException>(() => Open(path, writeBehind: false));
        Assert.Contains("holds change records of another database", refused.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
        Assert.Equal(log, File.ReadAllBytes(segment));

        // Moved aside, the new file is made.
        Directory.Move(SegmentLog.FolderFor(path), SegmentLog.FolderFor(path) + ".old");
        using LiteDbStateStore fresh = Open(path, writeBehind: oldWroteBehind);
        Assert.Empty(await fresh.ListKeysAsync(Scope));
        Assert.Equal(0, fresh.ReplayedAtOpen);
    }

    /// <summary>
    /// The lost-tail rule (a record at or before meta.S missing or damaged at the end of the last segment: a power cut took
    /// the unflushed tail) does not apply when whole commits written behind follow the damage (a power cut leaves no hole
    /// with whole records after it): the open is the typed error, nothing cut or kept aside.
    /// </summary>
    [Fact]
    public async Task Damage_before_meta_S_with_commits_written_behind_after_it_is_the_typed_error_not_a_lost_tail()
    {
        string path = _dir.File("lost-tail.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await store.WriteAsync(Write("a", "a1-MARKER"));
        Assert.Equal(new[] { "a" }, await store.ListKeysAsync(Scope)); // applied: meta.S = 1
        Assert.Equal(1, store.AppliedSequence);
        await store.WriteAsync(Write("b", "b1"));
        await store.WriteAsync(Write("c", "c1"));
        Assert.Equal(2, store.PendingValueCount);

        Dictionary<string, byte[]> images = disk.Images(); // everything acknowledged is flushed
        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        byte[] log = images[segment];
        int at = log.AsSpan().IndexOf(Encoding.UTF8.GetBytes("a1-MARKER"));
        Assert.True(at > 0);
        log[at] ^= 0x01;

        string copy = _dir.File("lost-tail-copy.db");
        var image = new SimulatedDisk(SimulatedDisk.Rename(images, path, copy));
        Dictionary<string, byte[]> before = image.Contents();
        Assert.Throws<StateStoreCorruptedException>(() => Open(copy, openFile: image.Open));
        Dictionary<string, byte[]> after = image.Contents();
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach (string name in before.Keys.Where(k => k.Contains(".changes", StringComparison.Ordinal)))
        {
            Assert.Equal(before[name], after[name]);
        }
    }

    /// <summary>
    /// Salvage reads past a damaged record; a commit written behind that lost one of its records to the damage is left out
    /// whole (a batch [x2, y2] whose first record is damaged gives x1 and y1, never x1 and y2), and a failure line says so.
    /// </summary>
    [Fact]
    public async Task Salvage_returns_a_commit_written_behind_whole_or_not_at_all()
    {
        string path = _dir.File("salvage-half.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await store.CommitAsync([Write("x", "x1"), Write("y", "y1")]);
        Assert.Equal(new[] { "x", "y" }, await store.ListKeysAsync(Scope)); // applied
        await store.CommitAsync([Write("x", "x2-MARKER"), Write("y", "y2")]);

        Dictionary<string, byte[]> images = disk.Images();
        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        int at = images[segment].AsSpan().IndexOf(Encoding.UTF8.GetBytes("x2-MARKER"));
        Assert.True(at > 0);
        images[segment][at] ^= 0x01;

        string copy = _dir.File("salvage-half-copy.db");
        var image = new SimulatedDisk(SimulatedDisk.Rename(images, path, copy));
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(copy, image.Open);
        string[] values = result.Entries.Concat(result.Recovered).OrderBy(e => e.Key).Select(e => Text(e)!).ToArray();
        Assert.True(values.SequenceEqual(new[] { "x1", "y1" }), "salvaged: " + string.Join(", ", values) + "; failures: " + string.Join(" | ", result.Failures));
        Assert.Contains(result.Failures, f => f.Contains("a commit is returned whole or not at all", StringComparison.Ordinal));
    }

    /// <summary>A refused record whose cut (DiscardAfter) fails at its k-th write: the reopen cuts the batch, live and after a kill.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_failed_discard_after_a_refused_record_leaves_no_part_of_the_batch(int failWrite)
    {
        string path = _dir.File($"discard-{failWrite}.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await store.WriteAsync(Write("a", "a1"));
        await store.WriteAsync(Write("b", "b1"));
        disk.FailAt(write: failWrite);
        await Assert.ThrowsAnyAsync<StateGenException>(async () => await store.CommitAsync([Write("y", "y1"), Write("b", "b2"), new StateWrite(Scope, "z", "Note", 1, Encoding.UTF8.GetBytes("1")) { Origin = new string('o', 2000) }]));
        disk.FailAt();
        Assert.Null(await store.GetAsync(Scope, "y"));
        Assert.Equal("b1", Text(await store.GetAsync(Scope, "b")));
        await store.WriteAsync(Write("c", "c1"));
        using LiteDbStateStore reopened = OpenImage(disk.Contents(), path, _dir.File($"discard-{failWrite}-copy.db"));
        Assert.Null(await reopened.GetAsync(Scope, "y"));
        Assert.Equal("b1", Text(await reopened.GetAsync(Scope, "b")));
        Assert.Equal("c1", Text(await reopened.GetAsync(Scope, "c")));
        Assert.Equal(new[] { "a", "b", "c" }, await reopened.ListKeysAsync(Scope));
    }

    /// <summary>The k-th write of an overlay apply (in a list) fails, for every k: the store goes on, nothing lost, counts exact.</summary>
    [Fact]
    public async Task A_failed_apply_at_every_write_loses_nothing_and_counts_hold()
    {
        for (int k = 1; k <= 40; k++)
        {
            string path = _dir.File($"apply-{k}.db");
            var disk = new SimulatedDisk();
            using (LiteDbStateStore store = Open(path, openFile: disk.Open))
            {
                await store.CommitAsync([Write("a", "a1"), Write("b", "b1"), Write("c", "c1")]);
                await store.DeleteAsync(Scope, "b");
                await store.WriteAsync(Write("d", "d1"));
                disk.FailAt(write: k);
                try
                {
                    _ = await store.ListKeysAsync(Scope);
                }
                catch (StateGenException)
                {
                }

                disk.FailAt();
                Assert.Equal("a1", Text(await store.GetAsync(Scope, "a")));
                Assert.Null(await store.GetAsync(Scope, "b"));
                await store.WriteAsync(Write("e", "e1"));
                Assert.Equal(new[] { "a", "c", "d", "e" }, await store.ListKeysAsync(Scope));
                Assert.Equal(4, store.StoredCounts()[Scope]);
                await store.WriteAsync(Write("f", "f1"));
                using LiteDbStateStore killed = OpenImage(disk.Contents(), path, _dir.File($"apply-{k}-copy.db"));
                Assert.Equal(new[] { "a", "c", "d", "e", "f" }, await killed.ListKeysAsync(Scope));
                Assert.Equal(5, killed.StoredCounts()[Scope]);
            }
        }
    }

    /// <summary>The k-th write or flush of the close (its overlay apply, its checkpoint) fails, then the power goes: nothing lost.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_close_at_every_write_or_flush_loses_nothing(bool failFlush)
    {
        for (int k = 1; k <= 30; k++)
        {
            string path = _dir.File($"close-{failFlush}-{k}.db");
            var disk = new SimulatedDisk();
            LiteDbStateStore store = Open(path, openFile: disk.Open);
            await store.CommitAsync([Write("a", "a1"), Write("b", "b1"), Write("c", "c1")]);
            await store.DeleteAsync(Scope, "b");
            await store.WriteAsync(Write("d", "d1"));
            if (failFlush)
            {
                disk.FailAt(sync: k);
            }
            else
            {
                disk.FailAt(write: k);
            }

            try
            {
                store.Dispose();
            }
            catch (StateGenException)
            {
            }

            disk.FailAt();
            using LiteDbStateStore power = OpenImage(disk.Crash(), path, _dir.File($"close-{failFlush}-{k}-copy.db"));
            Assert.Equal(new[] { "a", "c", "d" }, await power.ListKeysAsync(Scope));
            Assert.Equal(3, power.StoredCounts()[Scope]);
        }
    }

    /// <summary>Concurrent writers with version conflicts (the group's one-by-one fallback), then a kill: the same state.</summary>
    [Fact]
    public async Task Conflicting_writers_in_one_group_leave_the_same_state_after_a_kill()
    {
        string path = _dir.File("group.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await store.WriteAsync(Write("hot", "0"));
        var tasks = new List<Task<bool>>();
        for (int t = 0; t < 16; t++)
        {
            int id = t;
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await store.CommitAsync([Write("hot", "w" + id, expectedVersion: 1), Write("own" + id, "o" + id)]);
                    return true;
                }
                catch (StateConcurrencyException)
                {
                    await store.WriteAsync(Write("lost" + id, "l" + id));
                    return false;
                }
            }));
        }

        bool[] won = await Task.WhenAll(tasks);
        Assert.Equal(1, won.Count(w => w));
        var live = new List<string>();
        foreach (string key in await store.ListKeysAsync(Scope))
        {
            live.Add(key + "=" + Text(await store.GetAsync(Scope, key)));
        }

        await store.WriteAsync(Write("after", "x"));
        await store.DeleteAsync(Scope, "after");
        using LiteDbStateStore killed = OpenImage(disk.Contents(), path, _dir.File("group-copy.db"));
        var seen = new List<string>();
        foreach (string key in await killed.ListKeysAsync(Scope))
        {
            seen.Add(key + "=" + Text(await killed.GetAsync(Scope, key)));
        }

        Assert.Equal(live, seen);
    }

    /// <summary>
    /// Found by the write-behind fuzz: LiteDB's log cut to its first page (the data file never checkpointed) loses the
    /// file's format marker and collections; the store opened it as an empty file from before format markers and ignored
    /// the segments, whose commits were acknowledged and durable. Now the typed error, with nothing changed, in either
    /// mode.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_file_that_lost_its_marker_beside_a_change_log_with_records_is_the_typed_error(bool writeBehind)
    {
        string path = _dir.File($"lost-log-{writeBehind}.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, writeBehind, disk.Open);
        await store.WriteAsync(Write("a", "a1"));
        await store.CommitAsync([Write("b", "b1"), Write("c", "c1")]);

        // A killed process's files (the store is never closed: its close would checkpoint into the data file).
        Dictionary<string, byte[]> images = disk.Contents();
        string log = LiteDbStateStore.LogPath(path);
        Assert.Equal(8192, images[path].Length); // never checkpointed: everything is in LiteDB's log
        images[log] = images[log][..8192];
        string copy = _dir.File($"lost-log-{writeBehind}-copy.db");
        var image = new SimulatedDisk(SimulatedDisk.Rename(images, path, copy));
        Dictionary<string, byte[]> before = image.Contents();
        StateStoreCorruptedException refused = Assert.Throws<StateStoreCorruptedException>(() => Open(copy, writeBehind, image.Open));
        Assert.Contains("no StateGen format marker", refused.Message, StringComparison.Ordinal);
        // The change log is untouched (LiteDB's own open recovery may move its log into the data file), and the refusal
        // holds at the next open.
        Dictionary<string, byte[]> after = image.Contents();
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        Assert.All(before.Where(f => f.Key.Contains(".changes", StringComparison.Ordinal)), f => Assert.Equal(f.Value, after[f.Key]));
        Assert.Throws<StateStoreCorruptedException>(() => Open(copy, writeBehind, image.Open));
    }
}
