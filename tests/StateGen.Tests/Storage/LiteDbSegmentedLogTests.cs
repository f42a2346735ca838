using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
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
/// The LiteDB store with its change log in segment files (the preview layout): the file's format decides the layout,
/// values are stored inline, the log's records are appended before their commit and cut at open when the commit never
/// happened, damage to committed records is the typed error, and a failed commit leaves no record behind.
/// </summary>
public sealed class LiteDbSegmentedLogTests : IDisposable
{
    private const string Scope = "agent/a1";
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDbStateStore Open(string path, bool segmented = true, Func<string, StoreFile>? openFile = null, SegmentLogOptions? segmentLog = null)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = segmented, OpenFile = openFile, SegmentLogOptions = segmentLog });

    private static StateWrite Write(string key, string text, long? expectedVersion = null)
        => new(Scope, key, "Note", 1, Encoding.UTF8.GetBytes("\"" + text + "\""), expectedVersion);

    private static string? Text(StoredEntry? entry) => entry is null ? null : Encoding.UTF8.GetString(entry.Payload.Span).Trim('"');

    private static async Task<StateChangeRecord[]> AllChangesAsync(LiteDbStateStore store)
        => (await store.ReadChangesAsync(new StateChangeQuery())).ToArray();

    private static string SegmentFile(string path) => Path.Combine(SegmentLog.FolderFor(path), SegmentFormat.FileName(1));

    /// <summary>Two writes and a delete: sequences 1-3, "b" left with "b1".</summary>
    private static async Task SeedAsync(LiteDbStateStore store)
    {
        await store.CommitAsync([Write("a", "a1"), Write("b", "b1")]);
        await store.DeleteAsync(Scope, "a");
    }

    [Fact]
    public async Task A_new_file_keeps_each_value_inline_and_its_change_records_in_segment_files()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
            Assert.Equal(new[] { 1L, 2, 3 }, (await AllChangesAsync(store)).Select(r => r.Sequence));
        }

        Assert.True(File.Exists(SegmentFile(path)));
        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            Assert.Equal(DocumentIntegrity.WriteBehindFormat, raw.UserVersion); // written behind (the default), applied at the close
            Assert.False(raw.CollectionExists("changes"));
            BsonDocument b = Assert.Single(raw.GetCollection("state").FindAll());
            Assert.Equal("\"b1\"", Encoding.UTF8.GetString(b["p"].AsBinary));
            Assert.Equal(3, raw.GetCollection("meta").FindById("sequence")["v"].AsInt64);
        }

        // Read back from the segments after a reopen: kinds, payloads and the key's chain.
        using LiteDbStateStore reopened = Open(path);
        StateChangeRecord[] changes = await AllChangesAsync(reopened);
        Assert.Equal(new[] { StateChangeKind.Write, StateChangeKind.Write, StateChangeKind.Delete }, changes.Select(c => c.Kind));
        Assert.Equal("\"a1\"", Encoding.UTF8.GetString(changes[0].Payload.Span));
        Assert.Equal(1, changes[2].PreviousSequence);
        Assert.Equal("b1", Text(await reopened.GetAsync(Scope, "b")));
        Assert.Equal(4, (await reopened.CommitAsync([Write("a", "a2")]))[0].ChangeSequence);
        Assert.Equal(3, (await reopened.ReadChangeAsync(4))!.PreviousSequence);
    }

    [Fact]
    public async Task The_file_format_decides_the_layout_at_every_open()
    {
        // A file created with the log in its collection keeps it there when opened with the option on.
        string classic = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(classic, segmented: false))
        {
            await SeedAsync(store);
        }

        using (LiteDbStateStore store = Open(classic, segmented: true))
        {
            await store.WriteAsync(Write("c", "c1"));
            Assert.Equal(new[] { 1L, 2, 3, 4 }, (await AllChangesAsync(store)).Select(r => r.Sequence));
        }

        Assert.False(Directory.Exists(SegmentLog.FolderFor(classic)));

        // A segmented file keeps its segments when opened with the option off.
        string segmented = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(segmented))
        {
            await SeedAsync(store);
        }

        long before = new FileInfo(SegmentFile(segmented)).Length;
        using (LiteDbStateStore store = Open(segmented, segmented: false))
        {
            await store.WriteAsync(Write("c", "c1"));
            Assert.Equal(new[] { 1L, 2, 3, 4 }, (await AllChangesAsync(store)).Select(r => r.Sequence));
        }

        Assert.True(new FileInfo(SegmentFile(segmented)).Length > before);
        using LiteDatabase raw = LiteDbScopeCountTests.Raw(segmented);
        Assert.False(raw.CollectionExists("changes"));
    }

    [Fact]
    public async Task A_record_appended_for_a_commit_that_never_happened_is_cut_at_the_next_open()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
        }

        // What a process killed between its append and its LiteDB commit leaves: a whole record past the committed sequence.
        using (SegmentLog log = SegmentLog.Open(SegmentLog.FolderFor(path), committedSequence: 3))
        {
            log.Append(new StateChangeRecord(4, Scope, "x", StateChangeKind.Write, "Note", 1, 1, DateTimeOffset.UtcNow, Encoding.UTF8.GetBytes("\"phantom\""), 0, "c", "save"));
        }

        long withPhantom = new FileInfo(SegmentFile(path)).Length;
        using LiteDbStateStore reopened = Open(path);
        Assert.True(new FileInfo(SegmentFile(path)).Length < withPhantom);
        Assert.Equal(new[] { 1L, 2, 3 }, (await AllChangesAsync(reopened)).Select(r => r.Sequence));
        Assert.Null(await reopened.ReadChangeAsync(4));
        Assert.Null(await reopened.GetAsync(Scope, "x"));
        StateOperationResult next = (await reopened.CommitAsync([Write("x", "real")]))[0];
        Assert.Equal(4, next.ChangeSequence);
        Assert.Equal("\"real\"", Encoding.UTF8.GetString((await reopened.ReadChangeAsync(4))!.Payload.Span));
    }

    [Fact]
    public async Task Damage_to_a_sealed_segment_fails_the_open_with_the_typed_error_naming_the_segment_and_cuts_nothing()
    {
        string path = _dir.NewDatabaseFile();
        var segments = new SegmentLogOptions { RollBytes = 1024 };
        using (LiteDbStateStore store = Open(path, segmentLog: segments))
        {
            for (int i = 0; i < 6; i++)
            {
                await store.CommitAsync([Write("k" + i, new string((char)('a' + i), 600))]);
            }
        }

        string[] files = Directory.GetFiles(SegmentLog.FolderFor(path), "*.seg").Order(StringComparer.Ordinal).ToArray();
        Assert.True(files.Length >= 3);
        byte[][] intact = files.Select(File.ReadAllBytes).ToArray();

        // A sealed segment was flushed to the disk before the next one was made: no power cut explains damage there.
        byte[] flipped = intact[0].ToArray();
        flipped[SegmentFormat.HeaderSize + 40] ^= 0x10;
        File.WriteAllBytes(files[0], flipped);
        var damaged = Assert.Throws<StateStoreCorruptedException>(() => Open(path, segmentLog: segments));
        Assert.Contains(SegmentFormat.FileName(1), damaged.Message);
        Assert.Equal(flipped, File.ReadAllBytes(files[0])); // nothing was cut
        Assert.Equal(intact[^1], File.ReadAllBytes(files[^1]));
        File.WriteAllBytes(files[0], intact[0]);

        // A segment lost in the middle.
        File.Delete(files[1]);
        var missing = Assert.Throws<StateStoreCorruptedException>(() => Open(path, segmentLog: segments));
        Assert.Contains(SegmentFormat.FileName(2), missing.Message);
        File.WriteAllBytes(files[1], intact[1]);

        // Restored, the file opens again with everything in it and no gap.
        using LiteDbStateStore reopened = Open(path, segmentLog: segments);
        Assert.Equal(6, (await AllChangesAsync(reopened)).Length);
        Assert.Empty(reopened.HistoryGaps);
    }

    [Fact]
    public async Task A_lost_tail_of_the_last_segment_keeps_every_value_and_is_reported_as_a_history_gap()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
        }

        // What a power cut leaves when LiteDB's commit of the delete reached the disk and the end of its record did not.
        byte[] torn = File.ReadAllBytes(SegmentFile(path))[..^10];
        File.WriteAllBytes(SegmentFile(path), torn);
        var logger = new ListLogger<StateManager>();
        string preserved;
        using (LiteDbStateStore store = Open(path))
        {
            StateHistoryGap gap = Assert.Single(store.HistoryGaps);
            Assert.Equal((3L, 3L), (gap.FromSequence, gap.ToSequence));
            preserved = gap.PreservedBytesPath!;
            // (The cut segment ends with the seal that records the gap.)
            Assert.Equal(torn, File.ReadAllBytes(SegmentFile(path))[..^StateGen.Storage.ChangeLog.SegmentFormat.SealSize].Concat(File.ReadAllBytes(preserved)));
            Assert.Null(await store.GetAsync(Scope, "a"));
            Assert.Equal("b1", Text(await store.GetAsync(Scope, "b")));
            Assert.Equal(new[] { 1L, 2 }, (await AllChangesAsync(store)).Select(r => r.Sequence));

            // "a"'s newest record is now its write (the delete's was lost): writing it again is not a lost index entry.
            StateOperationResult again = (await store.CommitAsync([Write("a", "a2")]))[0];
            Assert.Equal(4, again.ChangeSequence);
            Assert.Equal(1, (await store.ReadChangeAsync(4))!.PreviousSequence);

            // The manager says so in its log when it starts.
            using var manager = new StateManager(store, logger: logger, ownsStore: false);
            var line = Assert.Single(logger.Entries, e => e.EventId.Id == 38);
            Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, line.Level);
            Assert.Contains("3 to 3", line.Message);
            Assert.Contains(preserved, line.Message);
        }

        using LiteDbStateStore reopened = Open(path);
        Assert.Equal([new StateHistoryGap(3, 3, preserved)], reopened.HistoryGaps);
        Assert.Equal(new[] { 1L, 2, 4 }, (await AllChangesAsync(reopened)).Select(r => r.Sequence));

        // The wrappers report the inner store's gaps.
        using (StateKeyRing ring = TestKeys.Ring())
        {
            IStateHistoryStore encrypted = new EncryptedStateStore(reopened, new StateEncryptor(ring)); // not disposed: it would close the inner store
            Assert.Equal(reopened.HistoryGaps, encrypted.HistoryGaps);
        }

        using var cached = (IDisposable)StateGen.Caching.CachingStateStore.Create(reopened, new StateGen.Caching.CachingStateStoreOptions { MaxEntries = 10 }, ownsInner: false);
        Assert.Equal(reopened.HistoryGaps, ((IStateHistoryStore)cached).HistoryGaps);
        Assert.Equal("a2", Text(await reopened.GetAsync(Scope, "a")));
        Assert.Equal("b1", Text(await reopened.GetAsync(Scope, "b")));
    }

    [Fact]
    public async Task Deleted_oldest_segments_that_held_a_current_values_record_make_its_reads_the_typed_error()
    {
        string path = _dir.NewDatabaseFile();
        var small = new SegmentLogOptions { RollBytes = 200 }; // about one record a segment
        using (LiteDbStateStore store = Open(path, segmentLog: small))
        {
            await store.WriteAsync(Write("old", "kept"));
            for (int i = 0; i < 4; i++)
            {
                await store.WriteAsync(Write("busy", "v" + i));
            }
        }

        File.Delete(SegmentFile(path)); // 000001.seg: "old"'s only record (retention never deletes it)
        using LiteDbStateStore reopened = Open(path, segmentLog: small);
        await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await reopened.GetAsync(Scope, "old"));
    }

    [Fact]
    public async Task A_value_whose_record_a_power_cut_lost_still_reads_after_retention_deletes_the_segments_before_the_gap()
    {
        string path = _dir.NewDatabaseFile();
        var small = new SegmentLogOptions { RollBytes = 400 };
        using (LiteDbStateStore store = Open(path, segmentLog: small))
        {
            await store.WriteAsync(Write("a", "a1"));
            await store.WriteAsync(Write("b", "b1"));
            await store.WriteAsync(Write("lost", "l1"));
        }

        // A power cut kept LiteDB's commit of "lost" and not the end of its record: a gap at its sequence (3).
        string last = Directory.GetFiles(SegmentLog.FolderFor(path), "*.seg").Order(StringComparer.Ordinal).Last();
        File.WriteAllBytes(last, File.ReadAllBytes(last)[..^10]);
        using (LiteDbStateStore store = Open(path, segmentLog: small))
        {
            Assert.Equal(3, Assert.Single(store.HistoryGaps).ToSequence);

            // New versions of the other keys, then retention: every segment before the gap ends up tombstones only and
            // goes, and the log forgets the gap.
            for (int i = 2; i < 6; i++)
            {
                await store.WriteAsync(Write("a", "a" + i));
                await store.WriteAsync(Write("b", "b" + i));
            }

            Assert.True(await store.PruneChangesAsync(null, keepPerKey: 1) > 0);
            Assert.Empty(store.HistoryGaps);
            Assert.True(store.ChangeLogFirstSequence > 3);
            Assert.Equal("l1", Text(await store.GetAsync(Scope, "lost")));
        }

        using LiteDbStateStore reopened = Open(path, segmentLog: small);
        Assert.Equal("l1", Text(await reopened.GetAsync(Scope, "lost")));
        Assert.Equal("a5", Text(await reopened.GetAsync(Scope, "a")));
    }

    [Fact]
    public async Task A_key_whose_newest_record_was_lost_chains_its_next_record_to_its_newest_surviving_one()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await store.WriteAsync(Write("a", "a1"));
            await store.WriteAsync(Write("b", "b1"));
            await store.WriteAsync(Write("a", "a2", expectedVersion: 1));
        }

        // Record 3 (a's second write) lost at a power cut; LiteDB kept a2.
        byte[] log = File.ReadAllBytes(SegmentFile(path));
        File.WriteAllBytes(SegmentFile(path), log[..^5]);
        using (LiteDbStateStore store = Open(path))
        {
            Assert.Equal([new StateHistoryGap(3, 3, store.HistoryGaps[0].PreservedBytesPath)], store.HistoryGaps);
            Assert.Equal("a2", Text(await store.GetAsync(Scope, "a")));
            StateOperationResult next = (await store.CommitAsync([Write("a", "a3", expectedVersion: 2)]))[0];
            Assert.Equal(4, next.ChangeSequence);
            Assert.Equal(1, (await store.ReadChangeAsync(4))!.PreviousSequence);
        }

        using LiteDbStateStore reopened = Open(path);
        Assert.Equal(new[] { 1L, 4 }, (await reopened.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = "a" })).Select(r => r.Sequence));
    }

    [Fact]
    public async Task An_unreadable_record_in_the_last_segment_is_a_gap_up_to_the_committed_sequence_and_the_values_stay()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
        }

        // The first record's bytes damaged (a power cut can write the pages of the unflushed tail out of order).
        byte[] damaged = File.ReadAllBytes(SegmentFile(path));
        damaged[SegmentFormat.HeaderSize + 40] ^= 0x10;
        File.WriteAllBytes(SegmentFile(path), damaged);
        using (LiteDbStateStore store = Open(path))
        {
            StateHistoryGap gap = Assert.Single(store.HistoryGaps);
            Assert.Equal((1L, 3L), (gap.FromSequence, gap.ToSequence));
            Assert.Equal(damaged[SegmentFormat.HeaderSize..], File.ReadAllBytes(gap.PreservedBytesPath!));
            Assert.Empty(await AllChangesAsync(store));
            Assert.Null(await store.GetAsync(Scope, "a"));
            Assert.Equal("b1", Text(await store.GetAsync(Scope, "b")));
            Assert.Equal(4, (await store.CommitAsync([Write("b", "b2", expectedVersion: 1)]))[0].ChangeSequence);
        }

        using LiteDbStateStore reopened = Open(path);
        Assert.Equal(new[] { 4L }, (await AllChangesAsync(reopened)).Select(r => r.Sequence));
        Assert.Equal("b2", Text(await reopened.GetAsync(Scope, "b")));
    }

    [Fact]
    public async Task Failing_the_kth_page_write_of_a_commit_leaves_no_record_of_it_and_the_log_goes_on()
    {
        // How many page writes a batch commit takes, so k covers every one of them.
        string probePath = _dir.NewDatabaseFile();
        var probe = new SimulatedDisk();
        long writes;
        using (LiteDbStateStore seeded = Open(probePath, openFile: probe.Open))
        {
            await SeedAsync(seeded);
            probe.FailAt();
            await seeded.CommitAsync([Write("b", "b2", expectedVersion: 1), Write("c", "c1")]);
            writes = probe.FaultCounts.Writes;
        }

        Assert.True(writes >= 2, $"a batch took {writes} page writes");
        int failed = 0;
        for (long k = 1; k <= writes; k++)
        {
            string path = _dir.NewDatabaseFile();
            var disk = new SimulatedDisk();
            LiteDbStateStore store = Open(path, openFile: disk.Open);
            await SeedAsync(store);
            disk.FailAt(write: k);
            bool committed;
            try
            {
                await store.CommitAsync([Write("b", "b2", expectedVersion: 1), Write("c", "c1")]).AsTask().WaitAsync(Hang);
                committed = true;
            }
            catch (StateStoreException)
            {
                committed = false;
            }

            disk.FailAt();
            failed += committed ? 0 : 1;
            long[] expected = committed ? [1, 2, 3, 4, 5] : [1, 2, 3];
            Assert.Equal(expected, (await AllChangesAsync(store)).Select(r => r.Sequence));
            Assert.Equal(committed ? "b2" : "b1", Text(await store.GetAsync(Scope, "b")));

            // The next change takes the next sequence, chained to what was committed.
            StateOperationResult next = (await store.CommitAsync([Write("d", "d1")]).AsTask().WaitAsync(Hang))[0];
            Assert.Equal(expected[^1] + 1, next.ChangeSequence);
            store.Dispose();

            using LiteDbStateStore reopened = Open(path, openFile: new SimulatedDisk(disk.Contents()).Open);
            Assert.Equal(expected.Append(expected[^1] + 1), (await AllChangesAsync(reopened)).Select(r => r.Sequence));
            Assert.Equal(committed ? "b2" : "b1", Text(await reopened.GetAsync(Scope, "b")));
            Assert.Equal(committed ? "c1" : null, Text(await reopened.GetAsync(Scope, "c")));
        }

        Assert.Equal(writes, failed);
    }

    [Fact]
    public async Task Pruning_keeps_a_keys_newest_write_whose_value_was_deleted_with_the_log_off()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await store.CommitAsync([Write("a", "a1"), Write("b", "b1")]);
            await store.CommitAsync([Write("a", "a2", expectedVersion: 1)]);
        }

        using (var unlogged = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, RecordChanges = false }))
        {
            Assert.True(await unlogged.DeleteAsync(Scope, "a"));
            await unlogged.WriteAsync(Write("b", "b2", expectedVersion: 1));

            // Not recorded, but the history so far stays readable.
            Assert.Equal(new[] { 1L, 2, 3 }, (await AllChangesAsync(unlogged)).Select(r => r.Sequence));
        }

        using LiteDbStateStore reopened = Open(path);
        Assert.Null(await reopened.GetAsync(Scope, "a"));

        // "a" has no current value, but its newest record (3) is a write: only the older one goes; "b"'s record stays.
        Assert.Equal(1, await reopened.PruneChangesAsync(null, 0));
        Assert.Equal(new[] { 2L, 3 }, (await AllChangesAsync(reopened)).Select(r => r.Sequence));
        Assert.Equal(4, (await reopened.CommitAsync([Write("a", "a3")]))[0].ChangeSequence);
        Assert.Equal(3, (await reopened.ReadChangeAsync(4))!.PreviousSequence);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task With_encryption_at_rest_a_planted_secret_is_in_no_byte_of_the_database_or_its_segments(bool encrypted)
    {
        const string Secret = "sk-proj-PLANTEDsegmentSECRET0123456789";
        string path = _dir.NewDatabaseFile();
        using (StateKeyRing ring = TestKeys.Ring())
        {
            IStateStore store = Open(path);
            if (encrypted)
            {
                store = new EncryptedStateStore(store, new StateEncryptor(ring));
            }

            await store.CommitAsync([Write("a", Secret), Write("b", "b1")]);
            await store.CommitAsync([Write("a", "rotated " + Secret, expectedVersion: 1)]);
            await store.DeleteAsync(Scope, "b");
            Assert.Equal(4, (await ((IStateHistoryStore)store).ReadChangesAsync(new StateChangeQuery())).Count);
            ((IDisposable)store).Dispose();
        }

        byte[] needle = Encoding.UTF8.GetBytes("PLANTEDsegmentSECRET");
        string[] files = [path, .. Directory.GetFiles(SegmentLog.FolderFor(path))];
        Assert.Contains(files, f => f.EndsWith(".seg", StringComparison.Ordinal));
        int found = files.Count(f => File.ReadAllBytes(f).AsSpan().IndexOf(needle) >= 0);

        // Without encryption the scan finds it (in the value and in its records), so finding none with it means something.
        Assert.Equal(encrypted ? 0 : files.Length, found);
    }

    [Fact]
    public async Task A_change_the_log_cannot_hold_is_refused_with_a_typed_error_and_the_store_goes_on()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        await SeedAsync(store);

        // A correlation id over the log's 1 KiB limit, on the second write of a batch: nothing of the batch is made.
        var ex = await Assert.ThrowsAsync<StateStoreException>(async () => await store.CommitAsync(
            [Write("c", "c1"), Write("b", "b2", expectedVersion: 1) with { CorrelationId = new string('x', 2000) }]));
        Assert.Contains("correlation id", ex.Message);
        Assert.Null(await store.GetAsync(Scope, "c"));
        Assert.Equal("b1", Text(await store.GetAsync(Scope, "b")));
        Assert.Equal(new[] { 1L, 2, 3 }, (await AllChangesAsync(store)).Select(r => r.Sequence));

        // The store was not taken for damaged: the next change takes the next sequence, also after a reopen.
        Assert.Equal(4, (await store.CommitAsync([Write("c", "c1")]))[0].ChangeSequence);
        store.Dispose();
        using LiteDbStateStore reopened = Open(path);
        Assert.Equal(new[] { 1L, 2, 3, 4 }, (await AllChangesAsync(reopened)).Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_copy_of_a_segmented_data_file_without_its_log_is_refused_with_a_typed_error()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        await SeedAsync(store);
        using var destination = new MemoryStream();
        var ex = Assert.Throws<StateStoreException>(() => store.CopyDataFile(destination, null, null, default));
        Assert.Contains("segment files", ex.Message);
        Assert.Equal(0, destination.Length);
    }
}
