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

    private static LiteDbStateStore Open(string path, bool segmented = true, Func<string, StoreFile>? openFile = null)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = segmented, OpenFile = openFile });

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
            Assert.Equal(DocumentIntegrity.SegmentedFormat, raw.UserVersion);
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
    public async Task A_damaged_or_lost_committed_record_fails_the_open_with_the_typed_error_naming_the_segment()
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path))
        {
            await SeedAsync(store);
        }

        byte[] intact = File.ReadAllBytes(SegmentFile(path));

        // A flipped byte in the middle of the first record (after the 32-byte segment header).
        byte[] flipped = intact.ToArray();
        flipped[SegmentFormat.HeaderSize + 40] ^= 0x10;
        File.WriteAllBytes(SegmentFile(path), flipped);
        var damaged = Assert.Throws<StateStoreCorruptedException>(() => Open(path));
        Assert.Contains(SegmentFormat.FileName(1), damaged.Message);
        Assert.Equal(flipped, File.ReadAllBytes(SegmentFile(path))); // nothing was cut

        // The newest committed record lost (the file cut short before it): the database committed sequence 3.
        File.WriteAllBytes(SegmentFile(path), intact[..^10]);
        Assert.Throws<StateStoreCorruptedException>(() => Open(path));

        // Restored, the file opens again with everything in it.
        File.WriteAllBytes(SegmentFile(path), intact);
        using LiteDbStateStore reopened = Open(path);
        Assert.Equal(3, (await AllChangesAsync(reopened)).Length);
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
    public async Task A_physical_backup_of_a_segmented_file_is_refused_with_a_typed_error()
    {
        string path = _dir.NewDatabaseFile();
        using LiteDbStateStore store = Open(path);
        await SeedAsync(store);
        using var destination = new MemoryStream();
        var ex = Assert.Throws<StateStoreException>(() => store.CopyDataFile(destination, null, default));
        Assert.Contains("segment files", ex.Message);
        Assert.Equal(0, destination.Length);
    }
}
