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

namespace StateGen.Tests.Storage;

/// <summary>
/// Writing behind (<c>LiteDbStateStoreOptions.WriteBehind</c>): a commit is decided by its records in the segment log
/// and kept in an overlay until LiteDB is brought up to date; every read sees it at once, lists and scans apply it
/// first, the overlay is applied at its bounds and at the close, and an open after a crash replays the whole commits the
/// log holds past LiteDB (in either mode) and none that a crash cut short.
/// </summary>
public sealed class LiteDbWriteBehindTests : IDisposable
{
    internal const string Scope = "agent/a1";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    internal static LiteDbStateStore Open(string path, bool writeBehind = true, Func<string, StoreFile>? openFile = null, SegmentLogOptions? logOptions = null, StateDurability durability = StateDurability.Durable)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = true, WriteBehind = writeBehind, OpenFile = openFile, SegmentLogOptions = logOptions, Durability = durability });

    internal static StateWrite Write(string key, string text, long? expectedVersion = null, string? origin = null)
        => new(Scope, key, "Note", 1, Encoding.UTF8.GetBytes("\"" + text + "\""), expectedVersion) { Origin = origin };

    /// <summary>Opens <paramref name="images"/> (a crash's files) under the name <paramref name="copy"/>, while the original stays open.</summary>
    internal static LiteDbStateStore OpenImage(IReadOnlyDictionary<string, byte[]> images, string path, string copy, bool writeBehind = true)
    {
        var image = new SimulatedDisk(SimulatedDisk.Rename(images, path, copy));
        return Open(copy, writeBehind, image.Open);
    }

    internal static string? Text(StoredEntry? entry) => entry is null ? null : Encoding.UTF8.GetString(entry.Payload.Span).Trim('"');

    /// <summary>Writes a1, b1, c1; deletes b; writes a2; creates and deletes d; batch of e1 and c2: sequences 1-9.</summary>
    private static async Task SeedAsync(LiteDbStateStore store)
    {
        await store.CommitAsync([Write("a", "a1"), Write("b", "b1"), Write("c", "c1")]);
        await store.DeleteAsync(Scope, "b");
        await store.WriteAsync(Write("a", "a2", expectedVersion: 1));
        await store.WriteAsync(Write("d", "d1"));
        await store.DeleteAsync(Scope, "d");
        await store.CommitAsync([Write("e", "e1"), Write("c", "c2", expectedVersion: 1)]);
    }

    /// <summary>What <see cref="SeedAsync"/> leaves, as every reader must see it.</summary>
    private static async Task AssertSeededAsync(LiteDbStateStore store)
    {
        Assert.Equal("a2", Text(await store.GetAsync(Scope, "a")));
        Assert.Null(await store.GetAsync(Scope, "b"));
        Assert.Equal("c2", Text(await store.GetAsync(Scope, "c")));
        Assert.Null(await store.GetAsync(Scope, "d"));
        Assert.Equal("e1", Text(await store.GetAsync(Scope, "e")));
        Assert.Equal(2, (await store.GetAsync(Scope, "a"))!.Version);
        Assert.Equal(2, (await store.GetAsync(Scope, "c"))!.Version);
        Assert.True(await store.ExistsAsync(Scope, "e"));
        Assert.False(await store.ExistsAsync(Scope, "b"));
        Assert.Equal(new[] { "a", "c", "e" }, await store.ListKeysAsync(Scope));
        Assert.Equal(3, store.StoredCounts()[Scope]);
        Assert.Equal(Enumerable.Range(1, 9).Select(i => (long)i), (await store.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Sequence));
        Assert.Equal(store.ChangeLogPosition, store.AppliedSequence);
    }

    [Fact]
    public async Task A_commit_returns_before_LiteDB_holds_it_and_every_read_sees_it()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        await SeedAsync(store);

        // Nothing of it is in LiteDB yet: five keys wait in the overlay.
        Assert.Equal(5, store.PendingValueCount);
        Assert.Equal(0, store.AppliedSequence);
        Assert.Equal(9, store.ChangeLogPosition);

        // Point reads and version checks see the overlay (and leave it as it is).
        Assert.Equal("a2", Text(await store.GetAsync(Scope, "a")));
        Assert.Null(await store.GetAsync(Scope, "d"));
        Assert.True(await store.ExistsAsync(Scope, "c"));
        Assert.False(await store.ExistsAsync(Scope, "b"));
        await Assert.ThrowsAsync<StateConcurrencyException>(async () => await store.WriteAsync(Write("a", "stale", expectedVersion: 1)));
        StateOperationResult previous = (await store.CommitAsync([new StateWrite(Scope, "c", "Note", 1, Encoding.UTF8.GetBytes("\"c3\""), 2) { ReturnPrevious = true }]))[0];
        Assert.Equal("c2", Text(previous.Previous));
        Assert.Equal(3, previous.Stored!.Version);
        await store.WriteAsync(Write("c", "c2", expectedVersion: 3)); // back to c2, v4
        Assert.Equal(5, store.PendingValueCount);

        // A list applies the overlay first, in one transaction with the counts and meta.S.
        Assert.Equal(new[] { "a", "c", "e" }, await store.ListKeysAsync(Scope));
        Assert.Equal(0, store.PendingValueCount);
        Assert.Equal(11, store.AppliedSequence);
        Assert.Equal(3, store.StoredCounts()[Scope]);
    }

    [Fact]
    public async Task Scans_counts_and_history_see_pending_values()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        await SeedAsync(store);
        Assert.Equal(new[] { "a", "c", "e" }, (await store.ScanAsync(null, 10)).Select(e => e.Key));
        Assert.Equal(0, store.PendingValueCount);

        await store.WriteAsync(Write("f", "f1"));
        Assert.Equal(1, store.PendingValueCount);
        Assert.Equal(4, store.StoredCounts()[Scope]);
        Assert.Equal(0, store.PendingValueCount);

        await store.DeleteAsync(Scope, "a");
        StateChangeRecord[] history = (await store.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = "a" })).ToArray();
        Assert.Equal(new[] { StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Delete }, history.Select(r => r.Kind));
        Assert.Equal(1, store.PendingValueCount); // the change log is read from the segments, with the overlay left alone
    }

    [Fact]
    public async Task The_close_applies_the_overlay_so_the_next_open_replays_nothing()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
            Assert.Equal(5, store.PendingValueCount);
        }

        using LiteDbStateStore reopened = Open(path, writeBehind: false);
        Assert.Equal(0, reopened.ReplayedAtOpen);
        await AssertSeededAsync(reopened);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_process_killed_with_values_pending_loses_none_the_open_replays_them(bool reopenWritingBehind)
    {
        string path = _dir.File("killed.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await SeedAsync(store);
        Assert.Equal(5, store.PendingValueCount);

        // Every byte written (flushed or not) survives a killed process: the store is never closed.
        string copy = _dir.File("copy.db");
        using LiteDbStateStore reopened = OpenImage(disk.Contents(), path, copy, reopenWritingBehind);
        Assert.Equal(9, reopened.ReplayedAtOpen);

        // Back in the overlay, as when they were committed (the open writes nothing); the list in the check applies them.
        Assert.Equal(5, reopened.PendingValueCount);
        Assert.Equal(0, reopened.AppliedSequence);
        await AssertSeededAsync(reopened);

        // And it goes on from there.
        await reopened.WriteAsync(Write("a", "a3", expectedVersion: 2));
        Assert.Equal(10, (await reopened.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = "a" }))[^1].Sequence);
    }

    [Fact]
    public async Task A_commit_whose_end_a_crash_cut_off_is_not_there_after_the_open()
    {
        string path = _dir.File("torn.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await SeedAsync(store);
        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        int before = disk.Contents()[segment].Length;
        await store.CommitAsync([Write("a", "a3"), Write("x", "x1"), Write("c", "c3")]);
        Dictionary<string, byte[]> after = disk.Contents();
        int end = after[segment].Length;

        int checkedCuts = 0;
        for (int length = before; length < end; length += 7)
        {
            // The log ends anywhere inside the batch's three records (the last one, which ends the commit, torn or missing).
            var images = new Dictionary<string, byte[]>(after, StringComparer.Ordinal) { [segment] = after[segment][..length] };
            string copy = _dir.File($"torn-{length}.db");
            using LiteDbStateStore reopened = OpenImage(images, path, copy);
            await AssertSeededAsync(reopened);
            Assert.Null(await reopened.GetAsync(Scope, "x"));
            checkedCuts++;
        }

        Assert.True(checkedCuts > 10, $"{checkedCuts} cuts");

        // Whole, the batch is there.
        string whole = _dir.File("whole.db");
        using LiteDbStateStore complete = OpenImage(after, path, whole);
        Assert.Equal("x1", Text(await complete.GetAsync(Scope, "x")));
        Assert.Equal("a3", Text(await complete.GetAsync(Scope, "a")));
        Assert.Equal(12, complete.ReplayedAtOpen);
    }

    [Fact]
    public async Task The_overlay_is_applied_when_one_key_is_saved_past_the_record_bound()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        for (int i = 1; i <= LiteDbStateStore.MaxPendingRecords + 1; i++)
        {
            await store.WriteAsync(Write("a", "a" + i));
        }

        // The commit past the bound applied the 4,096 before it, then went behind itself.
        Assert.Equal(LiteDbStateStore.MaxPendingRecords, store.AppliedSequence);
        Assert.Equal(1, store.PendingValueCount);
    }

    [Fact]
    public async Task The_overlay_is_applied_when_it_holds_its_most_keys_or_bytes()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        for (int i = 0; i < LiteDbStateStore.MaxPendingKeys; i++)
        {
            await store.WriteAsync(Write("k" + i, "v"));
        }

        Assert.Equal(LiteDbStateStore.MaxPendingKeys, store.PendingValueCount);
        await store.WriteAsync(Write("one-more", "v"));
        Assert.Equal(1, store.PendingValueCount);
        Assert.Equal(LiteDbStateStore.MaxPendingKeys, store.AppliedSequence);

        byte[] big = new byte[1 << 20];
        int bigWrites = (int)(LiteDbStateStore.MaxPendingBytes / big.Length);
        for (int i = 0; i < bigWrites; i++)
        {
            await store.WriteAsync(new StateWrite(Scope, "big" + i, "Blob", 1, big));
        }

        Assert.Equal(bigWrites + 1, store.PendingValueCount);
        await store.WriteAsync(Write("after-big", "v"));
        Assert.Equal(1, store.PendingValueCount);
        Assert.Equal(LiteDbStateStore.MaxPendingKeys + 1 + bigWrites, store.AppliedSequence);
    }

    [Fact]
    public async Task A_change_the_log_cannot_hold_is_refused_with_nothing_pending_and_no_record()
    {
        string path = _dir.File("refused.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await SeedAsync(store);

        // The second write's origin is over the log's 1 KiB limit: the first one's record was appended, and is cut.
        await Assert.ThrowsAsync<StateStoreException>(async () => await store.CommitAsync([Write("y", "y1"), Write("z", "z1", origin: new string('o', 2000))]));
        Assert.Equal(5, store.PendingValueCount);
        Assert.Null(await store.GetAsync(Scope, "y"));
        Assert.Equal(9, store.ChangeLogPosition);

        await store.WriteAsync(Write("y", "y2"));
        string copy = _dir.File("refused-copy.db");
        using LiteDbStateStore reopened = OpenImage(disk.Contents(), path, copy);
        Assert.Equal("y2", Text(await reopened.GetAsync(Scope, "y")));
        Assert.Null(await reopened.GetAsync(Scope, "z"));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Sequence));
    }

    [Fact]
    public async Task Retention_keeps_every_pending_value_after_a_crash()
    {
        string path = _dir.File("pruned.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await SeedAsync(store);
        Assert.True(await store.PruneChangesAsync(olderThan: null, keepPerKey: 1) > 0);
        await store.WriteAsync(Write("a", "a3"));
        Assert.Equal(1, store.PendingValueCount);

        string copy = _dir.File("pruned-copy.db");
        using LiteDbStateStore reopened = OpenImage(disk.Contents(), path, copy);
        Assert.Equal("a3", Text(await reopened.GetAsync(Scope, "a")));
        Assert.Equal("c2", Text(await reopened.GetAsync(Scope, "c")));
        Assert.Null(await reopened.GetAsync(Scope, "b"));
        Assert.Equal(new[] { "a", "c", "e" }, await reopened.ListKeysAsync(Scope));
    }

    [Fact]
    public async Task Salvage_of_a_killed_process_file_returns_the_values_written_behind()
    {
        string path = _dir.File("salvaged.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await SeedAsync(store);
        Assert.Equal(new[] { "a", "c", "e" }, await store.ListKeysAsync(Scope)); // applied: meta.S = 9
        await store.WriteAsync(Write("a", "a3"));
        await store.DeleteAsync(Scope, "c");

        // A commit cut short (its end record missing) must not be returned: the log ends inside it.
        await store.CommitAsync([Write("a", "a4"), Write("x", "x1")]);
        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        Dictionary<string, byte[]> images = disk.Contents();
        images[segment] = images[segment][..^10];

        string copy = _dir.File("salvaged-copy.db");
        var image = new SimulatedDisk(SimulatedDisk.Rename(images, path, copy));
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(copy, image.Open);
        Assert.Equal(new[] { "a3", "e1" }, result.Entries.OrderBy(e => e.Key).Select(Text));
        Assert.Equal(new[] { 3L, 1 }, result.Entries.OrderBy(e => e.Key).Select(e => e.Version));
        Assert.Empty(result.Recovered);
        Assert.Contains(result.Failures, f => f.StartsWith("1 change record(s) after sequence 9,", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_store_not_writing_behind_applies_what_it_loaded_before_its_first_commit()
    {
        string path = _dir.File("mixed.db");
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(path, openFile: disk.Open);
        await SeedAsync(store);

        // Killed with five values pending; opened by a store that commits directly (its commit moves meta.S on).
        string copy = _dir.File("mixed-copy.db");
        var image = new SimulatedDisk(SimulatedDisk.Rename(disk.Contents(), path, copy));
        using LiteDbStateStore direct = Open(copy, writeBehind: false, openFile: image.Open);
        Assert.Equal(5, direct.PendingValueCount);
        await direct.WriteAsync(Write("f", "f1"));
        Assert.Equal(0, direct.PendingValueCount);
        Assert.Equal(10, direct.AppliedSequence);

        // Killed again: nothing of the first process's commits is lost.
        string second = _dir.File("mixed-second.db");
        using LiteDbStateStore reopened = OpenImage(image.Contents(), copy, second, writeBehind: false);
        Assert.Equal(0, reopened.ReplayedAtOpen);
        Assert.Equal("f1", Text(await reopened.GetAsync(Scope, "f")));
        Assert.Equal("a2", Text(await reopened.GetAsync(Scope, "a")));
        Assert.Equal(new[] { "a", "c", "e", "f" }, await reopened.ListKeysAsync(Scope));
    }

    [Fact]
    public async Task A_file_written_behind_carries_a_format_marker_an_older_StateGen_refuses()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path, writeBehind: false))
        {
            await store.WriteAsync(Write("a", "a1"));
        }

        Assert.Equal(DocumentIntegrity.SegmentedFormat, Format(path));
        using (LiteDbStateStore store = Open(path))
        {
            // Marked at the open, before anything is written behind.
            Assert.Equal(DocumentIntegrity.WriteBehindFormat, store.FileFormat);
            await store.WriteAsync(Write("a", "a2"));
        }

        Assert.Equal(DocumentIntegrity.WriteBehindFormat, Format(path));
        using LiteDbStateStore reopened = Open(path, writeBehind: false);
        Assert.Equal("a2", Text(await reopened.GetAsync(Scope, "a")));

        string fresh = _dir.NewDatabaseFile();
        using (LiteDbStateStore created = Open(fresh))
        {
            await created.WriteAsync(Write("a", "a1"));
        }

        Assert.Equal(DocumentIntegrity.WriteBehindFormat, Format(fresh));
    }

    private static int Format(string path)
    {
        using LiteDB.LiteDatabase raw = LiteDbScopeCountTests.Raw(path);
        return raw.UserVersion;
    }

    [Fact]
    public async Task A_durable_store_applies_nothing_to_LiteDB_before_its_records_are_flushed()
    {
        // Checkpoints at every commit: an apply's LiteDB commit is flushed to the data file at once (without the segment).
        string path = _dir.File("ahead.db");
        var disk = new SimulatedDisk();
        using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open, SegmentChangeLog = true, WriteBehind = true, CheckpointPages = 1 });
        await store.WriteAsync(Write("a", "a1"));
        Assert.Equal(new[] { "a" }, await store.ListKeysAsync(Scope));

        // The flush of the next commit's segment record is held: the record is written, not on the disk.
        string segment = Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        disk.BeforeSync = file =>
        {
            if (file == segment && !holding.IsSet)
            {
                holding.Set();

                // Held until the test lets it go (always, in the finally below): a timeout here could expire on a loaded
                // machine before the crash is taken, and the flush would then land before it.
                release.Wait();
            }
        };
        Task write = Task.CompletedTask;
        Task list = Task.CompletedTask;
        IReadOnlyDictionary<string, byte[]> images;
        try
        {
            write = Task.Run(async () => await store.WriteAsync(Write("b", "b1")));
            Assert.True(holding.Wait(TimeSpan.FromSeconds(30)));

            // A list now would apply b to LiteDB, whose checkpoint flushes it, before b's record is on the disk (without the
            // rule it does so within the 3 s, and the reopen reports b's record as a history gap); it waits for the flush
            // instead. The power goes while it waits.
            list = Task.Run(async () => await store.ListKeysAsync(Scope));
            await Task.WhenAny(list, Task.Delay(TimeSpan.FromSeconds(3)));
            images = disk.Crash();
        }
        finally
        {
            release.Set();
        }

        await Task.WhenAll(write.ContinueWith(_ => { }, TaskScheduler.Default), list.ContinueWith(_ => { }, TaskScheduler.Default));

        // b was never acknowledged: gone from the values and the log alike, no history gap.
        using LiteDbStateStore reopened = OpenImage(images, path, _dir.File("ahead-copy.db"));
        Assert.Empty(reopened.HistoryGaps);
        Assert.Null(await reopened.GetAsync(Scope, "b"));
        Assert.Equal(new[] { "a" }, await reopened.ListKeysAsync(Scope));
    }
}
