using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// <see cref="LiteDbStateStore.Salvage(string)"/> of a file whose change log is in segment files: a damaged or lost
/// current value comes back as its newest intact write read out of the segments (never a key whose newest record is a
/// delete, never a record the database did not commit); damaged, cut and missing segments are reported and every other
/// record still read; the data file and the segment folder are left byte for byte as they were (also over a lost tail,
/// which a normal open would cut and keep aside). And <see cref="SegmentLogReader"/> on hostile segments: garbage, a
/// foreign header, a huge length, many false record starts: failure lines, no exception, no hang, no large allocation.
/// </summary>
public sealed class LiteDbSegmentedSalvageTests : IDisposable
{
    private const string Scope = "agent/a1";
    private const int Keys = 6;
    private const int Versions = 4;
    private const int Deleted = Keys - 1;
    private static readonly SegmentLogOptions SmallSegments = new() { RollBytes = 2048 };
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Key(int key) => $"key-{key:D2}";

    private static string Text(int key, int version) => $"\"value-{key:D2}-v{version}-{new string((char)('a' + key), 300)}\"";

    private static LiteDbStateStore Open(string path, bool writeBehind = true)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = true, SegmentLogOptions = SmallSegments, WriteBehind = writeBehind });

    private static StateWrite Write(int key, int version)
        => new(Scope, Key(key), "Note", 1, Encoding.UTF8.GetBytes(Text(key, version)));

    /// <summary>
    /// <see cref="Versions"/> versions of every key, one commit each (version by version: key k's version v is sequence
    /// (v - 1) * Keys + k + 1), then the last key deleted (sequence Keys * Versions + 1); several segments.
    /// </summary>
    private async Task<string> SeedAsync()
    {
        string path = _dir.NewDatabaseFile();
        await using LiteDbStateStore store = Open(path);
        for (int version = 1; version <= Versions; version++)
        {
            for (int k = 0; k < Keys; k++)
            {
                await store.WriteAsync(Write(k, version));
            }
        }

        Assert.True(await store.DeleteAsync(Scope, Key(Deleted)));
        Assert.True(Segments(path).Length >= 4);
        return path;
    }

    private static long SequenceOf(int key, int version) => ((version - 1) * Keys) + key + 1;

    private static string[] Segments(string path)
        => Directory.GetFiles(SegmentLog.FolderFor(path), "*.seg").Order(StringComparer.Ordinal).ToArray();

    /// <summary>The bytes of the database, its LiteDB log and every file in the segment folder, by name.</summary>
    private static SortedDictionary<string, byte[]> FilesOf(string path)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        string folder = SegmentLog.FolderFor(path);
        foreach (string file in new[] { path, LiteDbStateStore.LogPath(path) }.Where(File.Exists)
                     .Concat(Directory.Exists(folder) ? Directory.EnumerateFiles(folder) : []))
        {
            files[file] = File.ReadAllBytes(file);
        }

        return files;
    }

    /// <summary>Flips a byte inside the current value of <paramref name="key"/> (its only copy in the data file).</summary>
    private static void DamageDocument(string path, int key, int version = Versions)
    {
        byte[] bytes = File.ReadAllBytes(path);
        byte[] text = Encoding.UTF8.GetBytes(Text(key, version));
        int at = bytes.AsSpan().IndexOf(text);
        Assert.True(at > 0);
        Assert.Equal(-1, bytes.AsSpan(at + 1).IndexOf(text));
        bytes[at + 40] ^= 0x20;
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Flips a byte inside the change record of <paramref name="key"/>'s <paramref name="version"/>; returns its segment.</summary>
    private static string DamageRecord(string path, int key, int version)
    {
        byte[] text = Encoding.UTF8.GetBytes(Text(key, version));
        foreach (string segment in Segments(path))
        {
            byte[] bytes = File.ReadAllBytes(segment);
            int at = bytes.AsSpan().IndexOf(text);
            if (at > 0)
            {
                bytes[at + 40] ^= 0x20;
                File.WriteAllBytes(segment, bytes);
                return segment;
            }
        }

        throw new InvalidOperationException("no such record");
    }

    /// <summary>The first sequence a segment's header names.</summary>
    private static long FirstSequenceOf(string segment)
    {
        Assert.Null(SegmentFormat.ReadHeader(File.ReadAllBytes(segment).AsSpan(0, SegmentFormat.HeaderSize), out _, out long first, out _));
        return first;
    }

    /// <summary>Checks that <paramref name="entry"/> is a value that was written: its key, version and payload agree.</summary>
    private static int AssertWritten(StoredEntry entry)
    {
        Assert.Equal(Scope, entry.Scope);
        int key = int.Parse(entry.Key[4..], CultureInfo.InvariantCulture);
        Assert.InRange(key, 0, Keys - 1);
        Assert.InRange(entry.Version, 1, Versions);
        Assert.Equal(Text(key, (int)entry.Version), Encoding.UTF8.GetString(entry.Payload.Span));
        return key;
    }

    private static string Describe(StoredEntry e) => $"{e.Key}@{e.Version}={Encoding.UTF8.GetString(e.Payload.Span)}";

    private static string[] Expected(params (int Key, int Version)[] values)
        => values.Select(v => $"{Key(v.Key)}@{v.Version}={Text(v.Key, v.Version)}").ToArray();

    [Fact]
    public async Task Salvage_of_a_segmented_file_recovers_each_damaged_value_as_its_newest_intact_write_from_the_segments()
    {
        string path = await SeedAsync();
        DamageDocument(path, 1);
        DamageDocument(path, 3);
        SortedDictionary<string, byte[]> before = FilesOf(path);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.True(result.Verified);
        Assert.Equal(Expected((0, 4), (2, 4), (4, 4)), result.Entries.Select(Describe));
        Assert.Equal(Expected((1, 4), (3, 4)), result.Recovered.Select(Describe));
        Assert.Equal(2, result.Failures.Count);
        Assert.Contains("'key-01'", result.Failures[0], StringComparison.Ordinal);
        Assert.Contains("'key-03'", result.Failures[1], StringComparison.Ordinal);
        Assert.DoesNotContain(result.Failures, f => f.Contains("value-", StringComparison.Ordinal));
        Assert.Equal(before, FilesOf(path));
    }

    [Fact]
    public async Task Salvage_skips_a_damaged_segment_record_reports_it_and_recovers_the_newest_intact_older_write()
    {
        string path = await SeedAsync();
        DamageDocument(path, 2);
        string segment = DamageRecord(path, 2, Versions);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.Equal(Expected((0, 4), (1, 4), (3, 4), (4, 4)), result.Entries.Select(Describe));
        Assert.Equal(Expected((2, 3)), result.Recovered.Select(Describe));
        Assert.Contains(result.Failures, f => f.Contains(Path.GetFileName(segment), StringComparison.Ordinal) && f.Contains("checksum", StringComparison.Ordinal));
        Assert.Contains(result.Failures, f => f.Contains("'key-02'", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures, f => f.Contains("value-", StringComparison.Ordinal));

        // Every other record of the log is still read, in order, past the damaged one.
        SegmentLogReadResult log = SegmentLogReader.ReadAll(SegmentLog.FolderFor(path));
        long damaged = SequenceOf(2, Versions);
        Assert.Equal(Enumerable.Range(1, (Keys * Versions) + 1).Select(s => (long)s).Where(s => s != damaged), log.Records.Select(r => r.Sequence));
        Assert.Single(log.Failures);
    }

    [Fact]
    public async Task Salvage_reads_the_other_segments_when_one_is_deleted_and_one_cut_short_and_reports_both()
    {
        string path = await SeedAsync();
        string[] segments = Segments(path);
        long[] firsts = segments.Select(FirstSequenceOf).ToArray();

        // Segment 2 deleted; segment 3 cut inside its second record (its first record stays whole).
        File.Delete(segments[1]);
        byte[] third = File.ReadAllBytes(segments[2]);
        int firstLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(third.AsSpan(SegmentFormat.HeaderSize + 4));
        File.WriteAllBytes(segments[2], third[..(SegmentFormat.HeaderSize + firstLength + 20)]);

        var lost = new HashSet<long>();
        for (long s = firsts[1]; s < firsts[3]; s++)
        {
            lost.Add(s);
        }

        lost.Remove(firsts[2]);
        long[] expected = Enumerable.Range(1, (Keys * Versions) + 1).Select(s => (long)s).Where(s => !lost.Contains(s)).ToArray();
        SegmentLogReadResult log = SegmentLogReader.ReadAll(SegmentLog.FolderFor(path));
        Assert.Equal(expected, log.Records.Select(r => r.Sequence));

        // A value whose newest write is in an intact segment comes back whole; the failures name both segments.
        Assert.Contains(SequenceOf(4, Versions), expected);
        DamageDocument(path, 4);
        SortedDictionary<string, byte[]> before = FilesOf(path);
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);
        Assert.Equal(Expected((4, 4)), result.Recovered.Select(Describe));
        Assert.Contains(result.Failures, f => f.Contains(SegmentFormat.FileName(2), StringComparison.Ordinal) && f.Contains("missing", StringComparison.Ordinal));
        Assert.Contains(result.Failures, f => f.Contains(SegmentFormat.FileName(3), StringComparison.Ordinal) && f.Contains("runs past the end of the file", StringComparison.Ordinal));
        Assert.Equal(before, FilesOf(path));
    }

    [Fact]
    public async Task Salvage_recovers_a_key_the_index_lost_whose_newest_record_is_a_write_but_never_a_deleted_one()
    {
        string path = await SeedAsync();

        // The data file loses key 0's current value (as a damaged index would) while its records stay in the log.
        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            Assert.True(raw.GetCollection("state").Delete(Scope + '\u001F' + Key(0)));
        }

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.Equal(Expected((1, 4), (2, 4), (3, 4), (4, 4)), result.Entries.Select(Describe));

        // Key 0 comes back from the log, reported; the deleted key (its newest record a delete) is not a lost value.
        Assert.Equal(Expected((0, 4)), result.Recovered.Select(Describe));
        string failure = Assert.Single(result.Failures);
        Assert.Contains("'key-00'", failure, StringComparison.Ordinal);
        Assert.Contains("no current document", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Salvage_leaves_out_a_record_after_the_newest_sequence_the_database_committed()
    {
        string path = await SeedAsync();
        long committed;

        // Written directly: a record past meta.S is then one appended for a commit LiteDB never made (written behind, a
        // record past it with its commit-end flag is a commit: LiteDbWriteBehindTests salvage those).
        await using (LiteDbStateStore store = Open(path, writeBehind: false))
        {
            await store.WriteAsync(Write(0, Versions + 1));
            committed = (await store.ReadChangesAsync(new StateChangeQuery())).Max(r => r.Sequence) - 1;
        }

        // As if the commit of key 0's last write never happened after its record was appended.
        using (LiteDatabase raw = LiteDbScopeCountTests.Raw(path))
        {
            raw.GetCollection("meta").Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = "sequence", ["v"] = committed }));
        }

        DamageDocument(path, 0, Versions + 1);
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.Equal(Expected((0, 4)), result.Recovered.Select(Describe));
        Assert.Contains(result.Failures, f => f.Contains($"1 change record(s) after sequence {committed}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Salvage_writes_nothing_over_a_lost_tail_that_a_normal_open_would_cut_and_keep_aside()
    {
        string path = await SeedAsync();
        DamageDocument(path, 4);

        // What a power cut leaves when the last record's end did not reach the disk.
        string last = Segments(path)[^1];
        File.WriteAllBytes(last, File.ReadAllBytes(last)[..^10]);
        SortedDictionary<string, byte[]> before = FilesOf(path);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.Contains(Expected((4, 4))[0], result.Recovered.Select(Describe));
        Assert.Contains(result.Failures, f => f.Contains(Path.GetFileName(last), StringComparison.Ordinal) && f.Contains("no intact record after it", StringComparison.Ordinal));
        Assert.Equal(before, FilesOf(path)); // no cut, no kept-aside tail, no new segment, no LiteDB log
        foreach (StoredEntry entry in result.Entries.Concat(result.Recovered))
        {
            AssertWritten(entry);
        }
    }

    [Fact]
    public async Task Salvage_of_a_segmented_file_without_its_segment_folder_reports_it_and_creates_nothing()
    {
        string path = await SeedAsync();
        Directory.Delete(SegmentLog.FolderFor(path), recursive: true);
        DamageDocument(path, 1);
        SortedDictionary<string, byte[]> before = FilesOf(path);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.Equal(Expected((0, 4), (2, 4), (3, 4), (4, 4)), result.Entries.Select(Describe));
        Assert.Empty(result.Recovered);
        Assert.Contains(result.Failures, f => f.Contains("folder", StringComparison.Ordinal) && f.Contains("is missing", StringComparison.Ordinal));
        Assert.False(Directory.Exists(SegmentLog.FolderFor(path)));
        Assert.Equal(before, FilesOf(path));
    }

    [Fact]
    public async Task Salvage_reads_the_segments_of_a_running_store_which_goes_on_writing()
    {
        string path = await SeedAsync();
        await using LiteDbStateStore store = Open(path);
        int records = SegmentLogReader.ReadAll(SegmentLog.FolderFor(path)).Records.Count;
        Assert.Equal((Keys * Versions) + 1, records);

        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);
        Assert.Equal(Keys - 1, result.Entries.Count);

        // While the reader holds a segment open, the store appends and rolls to new segments.
        int seen = 0;
        IReadOnlyList<string> failures = SegmentLogReader.Read(SegmentLog.FolderFor(path), _ =>
        {
            if (seen++ == 0)
            {
                Task.Run(async () =>
                {
                    for (int i = 0; i < 6; i++)
                    {
                        await store.WriteAsync(Write(0, Versions + 1 + i));
                    }
                }).GetAwaiter().GetResult();
            }
        });

        Assert.Empty(failures);
        Assert.InRange(seen, records, records + 6);
        Assert.Equal(records + 6, (await store.ReadChangesAsync(new StateChangeQuery())).Count);
        Assert.Equal(records + 6, SegmentLogReader.ReadAll(SegmentLog.FolderFor(path)).Records.Count);
    }

    [Fact]
    public async Task Salvage_over_the_test_file_layer_reads_the_segments_there_and_a_deleted_key_whose_writes_are_tombstones_recovers_nothing()
    {
        string path = _dir.File("simulated.db");
        var disk = new SimulatedDisk();
        await using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open, SegmentChangeLog = true, SegmentLogOptions = SmallSegments }))
        {
            for (int version = 1; version <= Versions; version++)
            {
                await store.WriteAsync(Write(0, version));
                await store.WriteAsync(Write(1, version));
            }

            Assert.True(await store.DeleteAsync(Scope, Key(1)));

            // Retention: every record but each key's newest becomes a tombstone (key 1's writes, before its delete).
            Assert.True(await store.PruneChangesAsync(olderThan: null, keepPerKey: 1) > 0);
        }

        // Key 0's current value damaged. Key 1 has no document: its newest record is its delete, its writes are tombstones.
        Dictionary<string, byte[]> images = disk.Contents();
        byte[] data = images[path];
        int at = data.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Text(0, Versions)));
        Assert.True(at > 0);
        data[at + 40] ^= 0x20;
        Dictionary<string, byte[]> segments = images.Where(f => f.Key.StartsWith(SegmentLog.FolderFor(path), StringComparison.Ordinal)).ToDictionary(f => f.Key, f => f.Value);
        Assert.NotEmpty(segments);

        var damaged = new SimulatedDisk(images);
        SegmentLogReadResult log = SegmentLogReader.ReadAll(SegmentLog.FolderFor(path), damaged.SegmentFiles);
        Assert.Empty(log.Failures);
        Assert.Contains(log.Records, r => r.IsTombstone && r.Key == Key(1) && r.Kind == StateChangeKind.Write && r.Record is null); // leading segments left with tombstones only are deleted
        Assert.Single(log.Records, r => !r.IsTombstone && r.Key == Key(1) && r.Kind == StateChangeKind.Delete);
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path, damaged.Open);

        Assert.Empty(result.Entries);
        Assert.Equal(Expected((0, Versions)), result.Recovered.Select(Describe));
        Assert.Contains(result.Failures, f => f.Contains("'key-00'", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures, f => f.Contains("'key-01'", StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Path)); // nothing on the real disk
        foreach ((string name, byte[] bytes) in segments)
        {
            Assert.Equal(bytes, damaged.Contents()[name]);
        }

        Assert.Equal(segments.Keys.Order(StringComparer.Ordinal), damaged.Contents().Keys.Where(segments.ContainsKey).Order(StringComparer.Ordinal));
        Assert.Equal(data, damaged.Contents()[path]);
    }

    [Fact]
    public void The_reader_turns_garbage_a_foreign_header_a_huge_length_and_false_record_starts_into_failure_lines_within_its_work_limit()
    {
        string folder = _dir.File("hostile.changes");
        Directory.CreateDirectory(folder);
        var rng = new Random(11);
        byte[] record = EncodedRecord(7);
        string Segment(long number) => Path.Combine(folder, SegmentFormat.FileName(number));

        // 1: random bytes.
        byte[] garbage = new byte[4000];
        rng.NextBytes(garbage);
        File.WriteAllBytes(Segment(1), garbage);

        // 2: a record prefix with a huge length, then an intact record, which is found.
        File.WriteAllBytes(Segment(2), [.. Header(2, 7), .. Prefix(0xFFFF_FFF0), .. new byte[50], .. record]);

        // 3: an intact header of another format version: skipped.
        byte[] foreign = Header(3, 8);
        BinaryPrimitives.WriteUInt16LittleEndian(foreign.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt64LittleEndian(foreign.AsSpan(24), XxHash3.HashToUInt64(foreign.AsSpan(0, 24)));
        File.WriteAllBytes(Segment(3), [.. foreign, .. EncodedRecord(8)]);

        // 4: 8 MiB of record starts, each claiming the rest of the file (without a work limit: about 4 TiB to hash).
        var starts = new byte[8 << 20];
        Header(4, 9).CopyTo(starts, 0);
        for (int at = SegmentFormat.HeaderSize; at + 8 <= starts.Length; at += 8)
        {
            Prefix((uint)(starts.Length - at)).CopyTo(starts, at);
        }

        File.WriteAllBytes(Segment(4), starts);

        // 5: a header cut short; 6: an intact record cut in half; 7: a header of another file format.
        File.WriteAllBytes(Segment(5), Header(5, 9)[..10]);
        File.WriteAllBytes(Segment(6), [.. Header(6, 9), .. EncodedRecord(9)[..40]]);
        File.WriteAllBytes(Segment(7), [.. "SQLite format 3\0"u8.ToArray(), .. new byte[100], .. EncodedRecord(10)]);
        var listing = Directory.GetFiles(folder).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();

        long allocated = GC.GetAllocatedBytesForCurrentThread();
        SegmentLogReadResult result = SegmentLogReader.ReadAll(folder);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.Equal(new long[] { 7, 10 }, result.Records.Select(r => r.Sequence));
        Assert.Equal(Text(1, 7), Encoding.UTF8.GetString(result.Records[0].Record!.Payload.Span));
        for (int number = 1; number <= 7; number++)
        {
            Assert.Contains(result.Failures, f => f.Contains(SegmentFormat.FileName(number), StringComparison.Ordinal));
        }

        Assert.Contains(result.Failures, f => f.Contains(SegmentFormat.FileName(3), StringComparison.Ordinal) && f.Contains("skipped", StringComparison.Ordinal));
        Assert.Contains(result.Failures, f => f.Contains(SegmentFormat.FileName(4), StringComparison.Ordinal) && f.Contains("gave up", StringComparison.Ordinal));
        Assert.True(allocated < 64L * 1024 * 1024, $"allocated {allocated} bytes");
        Assert.Equal(listing, Directory.GetFiles(folder).Order(StringComparer.Ordinal).Select(File.ReadAllBytes));

        // A folder that is not there is a failure line too, and is not made.
        string none = _dir.File("none.changes");
        SegmentLogReadResult missing = SegmentLogReader.ReadAll(none);
        Assert.Empty(missing.Records);
        Assert.Contains("is missing", Assert.Single(missing.Failures), StringComparison.Ordinal);
        Assert.False(Directory.Exists(none));

        static byte[] Header(long number, long first)
        {
            byte[] header = new byte[SegmentFormat.HeaderSize];
            SegmentFormat.WriteHeader(header, number, first);
            return header;
        }

        static byte[] Prefix(uint length)
        {
            byte[] prefix = new byte[SegmentFormat.RecordPrefixSize];
            BinaryPrimitives.WriteUInt32LittleEndian(prefix, SegmentFormat.RecordMagic);
            BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(4), length);
            return prefix;
        }

        static byte[] EncodedRecord(long sequence)
        {
            var change = new StateChangeRecord(sequence, Scope, Key(1), StateChangeKind.Write, "Note", 1, 1, DateTimeOffset.UnixEpoch, Encoding.UTF8.GetBytes(Text(1, (int)sequence)), 0, null, null);
            byte[] bytes = new byte[SegmentFormat.Measure(change, 1 << 20)];
            SegmentFormat.Encode(change, bytes);
            return bytes;
        }
    }

    [Fact]
    public async Task Byte_flips_cuts_and_deletions_over_the_segments_never_make_salvage_throw_and_every_value_it_returns_was_written()
    {
        string path = await SeedAsync();
        DamageDocument(path, 1);
        string folder = SegmentLog.FolderFor(path);
        Dictionary<string, byte[]> template = Segments(path).ToDictionary(s => s, File.ReadAllBytes);
        byte[] data = File.ReadAllBytes(path);
        string[] names = [.. template.Keys];
        int recoveredSeeds = 0;
        int olderSeeds = 0;

        for (int seed = 0; seed < 300; seed++)
        {
            var rng = new Random(seed);
            foreach (string file in Directory.GetFiles(folder))
            {
                File.Delete(file);
            }

            var damaged = template.ToDictionary(p => p.Key, p => p.Value.ToArray());
            for (int i = rng.Next(1, 8); i > 0; i--)
            {
                string name = names[rng.Next(names.Length)];
                if (!damaged.TryGetValue(name, out byte[]? bytes))
                {
                    continue;
                }

                int roll = rng.Next(20);
                if (roll == 0)
                {
                    damaged.Remove(name);
                }
                else if (roll == 1)
                {
                    damaged[name] = bytes[..rng.Next(bytes.Length)];
                }
                else
                {
                    bytes[rng.Next(bytes.Length)] ^= (byte)rng.Next(1, 256);
                }
            }

            foreach ((string name, byte[] bytes) in damaged)
            {
                File.WriteAllBytes(name, bytes);
            }

            LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

            Assert.Equal(Expected((0, 4), (2, 4), (3, 4), (4, 4)), result.Entries.Select(Describe));
            // The damaged key; and the deleted key when its delete record was lost (reported, with its last write).
            Assert.All(result.Recovered, entry => Assert.Contains(AssertWritten(entry), new[] { 1, Deleted }));
            if (result.Recovered.FirstOrDefault(e => e.Key == Key(1)) is { } recovered)
            {
                recoveredSeeds++;
                olderSeeds += recovered.Version < Versions ? 1 : 0;
            }

            Assert.Contains(result.Failures, f => f.Contains("'key-01'", StringComparison.Ordinal));
            Assert.Equal(damaged.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(folder).Order(StringComparer.Ordinal));
            foreach ((string name, byte[] bytes) in damaged)
            {
                Assert.Equal(bytes, File.ReadAllBytes(name));
            }
        }

        Assert.Equal(data, File.ReadAllBytes(path));
        Assert.InRange(recoveredSeeds, 250, 300);
        Assert.InRange(olderSeeds, 1, 100);
    }
}
