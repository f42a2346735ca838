using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// The commit-end flag (write behind): records after the database's committed sequence are kept up to the last record
/// that ends a commit; an unfinished commit after it is cut wholly, back into an earlier segment when it spans a roll;
/// damage that is not a torn write in front of decided commits is a typed error with nothing cut; the flag decodes only
/// on a write or delete.
/// </summary>
public sealed class SegmentLogCommitEndTests : SegmentLogTestBase
{
    /// <summary>Two 485-byte records a segment (<see cref="Big"/>): a commit of three or more spans a roll.</summary>
    private static readonly SegmentLogOptions Tiny = new() { RollBytes = 1024 };

    private string First => Path.Combine(Folder, "000001.seg");

    /// <summary>Record <paramref name="sequence"/>: a write of one of three keys (chained), with a correlation id.</summary>
    private static StateChangeRecord Record(long sequence)
        => Write(sequence, sequence > 3 ? sequence - 3 : 0, key: Key(sequence), payloadLength: 100, correlation: "c" + (sequence % 2));

    /// <summary>Record <paramref name="sequence"/> with a 400-byte payload (two a segment under <see cref="Tiny"/>).</summary>
    private static StateChangeRecord Big(long sequence) => Write(sequence, sequence - 1, payloadLength: 400);

    private static string Key(long sequence) => "k" + (sequence % 3);

    /// <summary>The offset of record <paramref name="sequence"/> in a one-segment log of <see cref="Record"/>s.</summary>
    private static int OffsetOf(long sequence)
        => SegmentFormat.HeaderSize + Enumerable.Range(1, (int)sequence - 1).Sum(s => Encode(Record(s)).Length);

    /// <summary>Appends records <paramref name="from"/> to <paramref name="to"/> of <paramref name="make"/>, the flag on the last.</summary>
    private static void AppendCommit(SegmentLog log, long from, long to, Func<long, StateChangeRecord>? make = null)
    {
        for (long s = from; s <= to; s++)
        {
            log.Append((make ?? Record)(s), endsCommit: s == to);
        }
    }

    /// <summary>The log holds exactly records 1 to <paramref name="last"/> of <see cref="Record"/>, all indexes right.</summary>
    private static void AssertHolds(SegmentLog log, long last)
    {
        Assert.Equal(last + 1, log.NextSequence);
        Assert.Equal(1, log.FirstSequence);
        for (long s = 1; s <= last; s++)
        {
            AssertSame(Record(s), log.Read(s));
        }

        Assert.Null(log.Read(last + 1));
        Assert.Equal(Enumerable.Range(1, (int)last).Select(s => (long)s), log.ReadFrom(0).Select(r => r.Sequence));
        for (int k = 0; k < 3; k++)
        {
            // The newest record of key k at or before `last`.
            long head = Enumerable.Range(1, (int)last).Where(s => s % 3 == k).Select(s => (long)s).DefaultIfEmpty(0).Max();
            Assert.Equal(head, log.HeadOf("agent/a1", "k" + k));
            Assert.Equal((head, false), log.LastChangeOf("agent/a1", "k" + k));
        }

        Assert.Equal(Enumerable.Range(1, (int)last).Where(s => s % 2 == 1).Select(s => (long)s), log.SequencesOf("c1"));
    }

    [Fact]
    public void A_flagged_commit_after_the_committed_sequence_is_kept_and_indexed()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AppendCommit(log, 1, 2);
            log.Append(Record(3));
            log.Append(Delete(4, 1, key: Key(4)));
            log.Append(Record(5), endsCommit: true);
        }

        long length = new FileInfo(First).Length;

        // The database committed up to 2 (or nothing yet, or all: a flagged record at or before it is an ordinary one).
        foreach (long committed in new long[] { 2, 0, 5 })
        {
            using (SegmentLog log = SegmentLog.Open(Folder, committed))
            {
                Assert.Equal(6, log.NextSequence);
                Assert.Equal(1, log.FirstSequence);
                AssertSame(Record(3), log.Read(3));
                AssertSame(Delete(4, 1, key: Key(4)), log.Read(4));
                AssertSame(Record(5), log.Read(5));
                Assert.Equal([3L, 4, 5], log.ReadFrom(2).Select(r => r.Sequence));
                Assert.Equal(3, log.HeadOf("agent/a1", "k0"));
                Assert.Equal((4L, true), log.LastChangeOf("agent/a1", "k1"));
                Assert.Equal((5L, false), log.LastChangeOf("agent/a1", "k2"));
                Assert.Equal([3L, 5], log.SequencesOf("c1").Where(s => s > 2));
                Assert.Equal([4L, 1], log.ReadHistory("agent/a1", "k1").Select(r => r.Sequence));
            }

            Assert.Equal(length, new FileInfo(First).Length); // nothing cut
        }

        // The log goes on after the kept commit.
        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            AppendCommit(log, 6, 6);
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 2);
        Assert.Equal(7, reopened.NextSequence);
        AssertSame(Record(6), reopened.Read(6));
    }

    [Fact]
    public void The_last_record_of_a_flagged_commit_torn_at_every_byte_cuts_the_whole_commit_and_keeps_the_ones_before()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AppendCommit(log, 1, 2);
            AppendCommit(log, 3, 5);
        }

        byte[] whole = File.ReadAllBytes(First);
        int start = OffsetOf(5);
        Assert.Equal(whole.Length, start + Encode(Record(5)).Length);
        for (int cut = start; cut < whole.Length; cut++)
        {
            // The file ends inside record 5, or keeps its length with the rest of the record never written (zeros).
            byte[] zeroed = whole.ToArray();
            Array.Clear(zeroed, cut, whole.Length - cut);
            foreach (byte[] image in new[] { whole[..cut], zeroed })
            {
                foreach (long committed in new long[] { 0, 2 })
                {
                    File.WriteAllBytes(First, image);
                    using (SegmentLog log = SegmentLog.Open(Folder, committed))
                    {
                        AssertHolds(log, 2);
                    }

                    Assert.Equal(OffsetOf(3), new FileInfo(First).Length); // records 3 and 4 went with it
                }
            }
        }

        // The cut log takes the commit again, byte for byte.
        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            AppendCommit(log, 3, 5);
        }

        Assert.Equal(whole, File.ReadAllBytes(First));
    }

    [Fact]
    public void A_torn_middle_record_of_the_second_commit_cuts_it_wholly_and_appends_go_on_after_the_first()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AppendCommit(log, 1, 3);
            AppendCommit(log, 4, 6);
        }

        byte[] whole = File.ReadAllBytes(First);
        int middle = (OffsetOf(5) + OffsetOf(6)) / 2;

        // Record 5 damaged with record 6, which ends its commit, whole after it: not what a crash leaves (the flushes cover
        // a prefix), so damage: the typed error, nothing cut (a cut would drop the decided commit after it).
        byte[] zeroed = whole.ToArray();
        Array.Clear(zeroed, middle, OffsetOf(6) - middle);
        File.WriteAllBytes(First, zeroed);
        Assert.Throws<StateStoreCorruptedException>(() => SegmentLog.Open(Folder, 0));
        Assert.Equal(zeroed, File.ReadAllBytes(First));

        // Cut inside record 5 (a torn tail): the second commit goes wholly.
        File.WriteAllBytes(First, whole[..middle]);
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AssertHolds(log, 3);
        }

        Assert.Equal(OffsetOf(4), new FileInfo(First).Length);

        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            Assert.Equal(4, log.NextSequence);
            Assert.Throws<ArgumentException>(() => log.Append(Record(5))); // the cut sequences are taken again from 4
            AppendCommit(log, 4, 6);
            AppendCommit(log, 7, 7);
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 0);
        AssertHolds(reopened, 7);
    }

    [Fact]
    public void Unflagged_records_after_the_committed_sequence_are_still_all_cut()
    {
        // No flag at all: every record after the committed one goes, as before the flag.
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            for (long s = 1; s <= 5; s++)
            {
                log.Append(Record(s));
            }
        }

        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            AssertHolds(log, 2);
        }

        Assert.Equal(OffsetOf(3), new FileInfo(First).Length);

        // Unflagged records after the last flagged one (followed by nothing) go; the flagged commit before them stays.
        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            AppendCommit(log, 3, 4);
            log.Append(Record(5));
            log.Append(Record(6));
        }

        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            AssertHolds(log, 4);
        }

        Assert.Equal(OffsetOf(5), new FileInfo(First).Length);

        // A flag at or before the committed sequence keeps nothing after it.
        using (SegmentLog log = SegmentLog.Open(Folder, 4))
        {
            log.Append(Record(5));
            log.Append(Record(6));
        }

        using (SegmentLog log = SegmentLog.Open(Folder, 4))
        {
            AssertHolds(log, 4);
        }

        Assert.Equal(OffsetOf(5), new FileInfo(First).Length);
    }

    [Theory]
    [InlineData(3)] // records 2 (segment 1), 3 and 4 (segment 2): torn in its second segment
    [InlineData(4)] // records 2, 3 and 4, then 5 in segment 3: two later segments go
    public void A_commit_spanning_a_roll_torn_in_a_later_segment_is_cut_back_into_the_first(int commitLength)
    {
        long last = 1 + commitLength;
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Tiny))
        {
            AppendCommit(log, 1, 1, Big);
            AppendCommit(log, 2, last, Big);
            Assert.Equal(commitLength == 3 ? 2 : 3, log.SegmentCount);
        }

        byte[] firstBefore = File.ReadAllBytes(First);
        string tail = Segments(Folder)[^1];
        byte[] tailBytes = File.ReadAllBytes(tail);
        File.WriteAllBytes(tail, tailBytes[..^100]); // the commit's last record cut short

        int recordSize = Encode(Big(1)).Length;
        for (int open = 0; open < 2; open++)
        {
            // The cut, then a reopen of the cut log, which reads the same.
            using (SegmentLog log = SegmentLog.Open(Folder, 1, Tiny))
            {
                Assert.Equal(2, log.NextSequence);
                Assert.Equal(1, log.SegmentCount);
                AssertSame(Big(1), log.Read(1));
                Assert.Null(log.Read(2));
                Assert.Null(log.Read(3));
                Assert.Equal([1L], log.ReadFrom(0).Select(r => r.Sequence));
                Assert.Equal(1, log.HeadOf("agent/a1", "k"));
                Assert.Equal(new[] { (First, (long)SegmentFormat.HeaderSize + recordSize) }, log.Extent());
            }

            Assert.Equal([First], Segments(Folder)); // the later files are gone
            Assert.Equal(firstBefore[..(SegmentFormat.HeaderSize + recordSize)], File.ReadAllBytes(First)); // its seal too
        }

        // Appends go on (rolling again), and a whole spanning commit is kept.
        using (SegmentLog log = SegmentLog.Open(Folder, 1, Tiny))
        {
            AppendCommit(log, 2, last, Big);
        }

        using (SegmentLog log = SegmentLog.Open(Folder, 1, Tiny))
        {
            Assert.Equal(last + 1, log.NextSequence);
            Assert.Equal(commitLength == 3 ? 2 : 3, log.SegmentCount);
            for (long s = 1; s <= last; s++)
            {
                AssertSame(Big(s), log.Read(s));
            }

            Assert.Equal(last, log.HeadOf("agent/a1", "k"));
        }

        Assert.Equal(firstBefore, File.ReadAllBytes(First)); // sealed again at the roll
        Assert.Equal(tailBytes, File.ReadAllBytes(tail));
    }

    [Fact]
    public void A_flipped_byte_in_a_sealed_segment_before_flagged_commits_is_a_typed_error_with_nothing_cut()
    {
        // Segment 1: records 1 and 2 (each its own commit), sealed; segment 2: the commit of 3 and 4, sealed; segment 3:
        // the commit of 5.
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Tiny))
        {
            AppendCommit(log, 1, 1, Big);
            AppendCommit(log, 2, 2, Big);
            AppendCommit(log, 3, 4, Big);
            AppendCommit(log, 5, 5, Big);
            Assert.Equal(3, log.SegmentCount);
        }

        int recordSize = Encode(Big(1)).Length;
        string second = Segments(Folder)[1];
        byte[] firstWhole = File.ReadAllBytes(First);
        byte[] secondWhole = File.ReadAllBytes(second);
        (string Path, byte[] Whole, int Offset)[] flips =
        [
            (First, firstWhole, SegmentFormat.HeaderSize + recordSize + 60), // record 2, flagged
            (First, firstWhole, SegmentFormat.HeaderSize + recordSize + 16), // record 2's kind byte
            (second, secondWhole, SegmentFormat.HeaderSize + 60), // record 3, inside the commit of 3 and 4
            (second, secondWhole, SegmentFormat.HeaderSize + recordSize + 100), // record 4, flagged, before the commit of 5
        ];
        foreach (var (path, whole, offset) in flips)
        {
            byte[] image = whole.ToArray();
            image[offset] ^= 0x01;
            File.WriteAllBytes(path, image);
            foreach (long committed in new long[] { 0, 1 })
            {
                AssertCorrupt(committed, Tiny); // compares every segment's bytes before and after
            }

            File.WriteAllBytes(path, whole);
        }

        // Without any flag after the committed sequence, the same damage is cut as before the flag.
        Directory.Delete(Folder, recursive: true);
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Tiny))
        {
            for (long s = 1; s <= 5; s++)
            {
                log.Append(Big(s));
            }
        }

        byte[] unflagged = File.ReadAllBytes(First);
        unflagged[SegmentFormat.HeaderSize + recordSize + 60] ^= 0x01;
        File.WriteAllBytes(First, unflagged);
        using (SegmentLog log = SegmentLog.Open(Folder, 1, Tiny))
        {
            Assert.Equal(2, log.NextSequence);
            Assert.Equal(1, log.SegmentCount);
        }
    }

    [Fact]
    public void A_torn_header_before_a_segment_of_flagged_commits_is_a_typed_error_with_nothing_cut()
    {
        foreach (bool flagged in new[] { true, false })
        {
            if (Directory.Exists(Folder))
            {
                Directory.Delete(Folder, recursive: true);
            }

            using (SegmentLog log = SegmentLog.Open(Folder, 0, Tiny))
            {
                for (long s = 1; s <= 5; s++)
                {
                    log.Append(Big(s), endsCommit: flagged);
                }

                Assert.Equal(3, log.SegmentCount);
            }

            // Segment 2 (records 3 and 4) reads as a creation a crash cut short, but segment 3 was made after it.
            File.WriteAllBytes(Segments(Folder)[1], new byte[10]);
            if (flagged)
            {
                AssertCorrupt(2, Tiny);
            }
            else
            {
                // Without a flag, cut from there as before the flag.
                using SegmentLog log = SegmentLog.Open(Folder, 2, Tiny);
                Assert.Equal(3, log.NextSequence);
                Assert.Equal(1, log.SegmentCount);
            }
        }
    }

    [Fact]
    public void A_damaged_segment_after_unflagged_records_after_the_committed_sequence_is_cut_with_them_as_before()
    {
        // Segment 1: records 1 and 2; segment 2: 3 and 4; segment 3: 5. The database committed 1; the damage is past
        // record 2, where recovery cut before the flag without reading further.
        var damages = new (string What, int Segment, Action<byte[]> Damage)[]
        {
            ("a garbled header", 1, header => header[8] ^= 0x01),
            ("a misplaced header", 1, header => SegmentFormat.WriteHeader(header, 2, 2, SegmentFormat.AfterSealFlag)),
            ("a header that says no seal came before", 1, header => SegmentFormat.WriteHeader(header, 2, 3)),
            ("a seal that says the log goes on elsewhere", 0, bytes => SegmentFormat.WriteSeal(bytes.AsSpan(bytes.Length - SegmentFormat.SealSize), 1, bytes.Length - SegmentFormat.SealSize, 7, 0)),
        };
        foreach (var (what, index, damage) in damages)
        {
            foreach (bool flagged in new[] { false, true })
            {
                if (Directory.Exists(Folder))
                {
                    Directory.Delete(Folder, recursive: true);
                }

                using (SegmentLog log = SegmentLog.Open(Folder, 0, Tiny))
                {
                    for (long s = 1; s <= 5; s++)
                    {
                        log.Append(Big(s), endsCommit: flagged && s == 5);
                    }
                }

                string damaged = Segments(Folder)[index];
                byte[] bytes = File.ReadAllBytes(damaged);
                damage(bytes);
                File.WriteAllBytes(damaged, bytes);
                if (flagged)
                {
                    AssertCorrupt(1, Tiny); // the commit of 2 to 5 was decided: no cut may take it
                    continue;
                }

                // Without a flag, recovery cuts at record 2, as before.
                using SegmentLog reopened = SegmentLog.Open(Folder, 1, Tiny);
                Assert.True(reopened.NextSequence == 2, what);
                Assert.Equal(1, reopened.SegmentCount);
                Assert.Single(Segments(Folder));
            }
        }
    }

    [Fact]
    public void The_flag_decodes_on_a_write_or_delete_only()
    {
        foreach (StateChangeRecord record in new[] { Record(7), Delete(7, 4, key: Key(7)) })
        {
            byte[] flagged = new byte[SegmentFormat.Measure(record, int.MaxValue / 2)];
            SegmentFormat.Encode(record, flagged, endsCommit: true);
            Assert.Equal((byte)((byte)record.Kind | SegmentFormat.CommitEndFlag), flagged[SegmentFormat.RecordPrefixSize + 8]);
            Assert.Null(SegmentFormat.TryDecode(flagged, out DecodedRecord decoded));
            Assert.True(decoded.EndsCommit);
            Assert.Equal(record.Kind, decoded.Kind); // the public kind stays 1 or 2
            AssertSame(record, decoded.ToRecord(flagged));

            Assert.Null(SegmentFormat.TryDecode(Encode(record), out DecodedRecord plain));
            Assert.False(plain.EndsCommit);
        }

        // A tombstone with the flag, or a write with another unknown bit: an unknown kind.
        byte[] tombstone = EncodeTombstone(Record(7));
        Assert.Null(SegmentFormat.TryDecode(tombstone, out _));
        Assert.Contains("kind 131 is unknown", SegmentFormat.TryDecode(WithKind(tombstone, 0x83), out _));
        byte[] write = Encode(Record(7));
        Assert.Contains("kind 65 is unknown", SegmentFormat.TryDecode(WithKind(write, 0x41), out _));
        Assert.Contains("kind 195 is unknown", SegmentFormat.TryDecode(WithKind(write, 0xC3), out _));
        Assert.Contains("kind 128 is unknown", SegmentFormat.TryDecode(WithKind(write, 0x80), out _));

        // In a log, a committed record with such a kind is damage (a typed error), as a flagged record is to a reader
        // from before the flag.
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AppendCommit(log, 1, 2);
        }

        byte[] image = File.ReadAllBytes(First);
        int at = OffsetOf(2);
        byte[] bad = WithKind(image[at..], 0x83);
        bad.CopyTo(image, at);
        File.WriteAllBytes(First, image);
        AssertCorrupt(2);
    }

    /// <summary>A copy of an encoded record with another kind byte and its checksum made right again.</summary>
    private static byte[] WithKind(byte[] record, byte kind)
    {
        byte[] copy = record.ToArray();
        copy[SegmentFormat.RecordPrefixSize + 8] = kind;
        BinaryPrimitives.WriteUInt64LittleEndian(copy.AsSpan(copy.Length - 8), XxHash3.HashToUInt64(copy.AsSpan(0, copy.Length - 8)));
        return copy;
    }

    [Fact]
    public void The_salvage_reader_reads_flagged_records()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Tiny))
        {
            AppendCommit(log, 1, 3, Big);
            AppendCommit(log, 4, 4, Big);
            log.Append(Big(5));
        }

        SegmentLogReadResult result = SegmentLogReader.ReadAll(Folder);
        Assert.Empty(result.Failures);
        Assert.Equal([1L, 2, 3, 4, 5], result.Records.Select(r => r.Sequence));
        Assert.Equal([false, false, true, true, false], result.Records.Select(r => r.EndsCommit));
        for (long s = 1; s <= 5; s++)
        {
            SegmentLogEntry entry = result.Records[(int)s - 1];
            Assert.Equal(StateChangeKind.Write, entry.Kind);
            AssertSame(Big(s), entry.Record);
        }
    }

    /// <summary>Clean, then torn crashes with ten seeds.</summary>
    private static IEnumerable<Random?> CrashModels() => new Random?[] { null }.Concat(Enumerable.Range(1, 10).Select(seed => new Random(seed)));

    private const string SimulatedFolder = "/simulated/state.db.changes";

    /// <summary>The commits of the power-loss sweep (their lengths) and after which of them the writer flushes.</summary>
    private static readonly int[] CommitLengths = [1, 3, 2, 4, 1, 2];
    private static readonly bool[] FlushAfter = [true, false, true, true, false, true];

    /// <summary>A record of the sweep: three keys, chained, two to a segment under <see cref="Tiny"/> (so commits span rolls).</summary>
    private static StateChangeRecord Swept(long sequence) => Write(sequence, sequence > 3 ? sequence - 3 : 0, key: Key(sequence), payloadLength: 400);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_power_cut_at_any_write_or_flush_keeps_every_flushed_commit_wholly_and_no_commit_partly(bool atWrites)
    {
        long[] ends = CommitLengths.Select((_, i) => (long)CommitLengths.Take(i + 1).Sum()).ToArray();
        int cuts = 0;
        bool sawUnflushedKept = false;
        bool sawPartCut = false;
        foreach (Random? torn in CrashModels())
        {
            for (int k = 1; ; k++)
            {
                var disk = new SimulatedDisk(torn);
                SegmentLog log = SegmentLog.Open(SimulatedFolder, 0, Tiny, files: disk.SegmentFiles);
                CutPowerAt(disk, k, atWrites);

                long flushed = 0; // the last record of the newest commit a finished flush covered
                long appended = 0;
                try
                {
                    for (int c = 0; c < CommitLengths.Length; c++)
                    {
                        AppendCommit(log, appended + 1, ends[c], Swept);
                        appended = ends[c];
                        if (FlushAfter[c])
                        {
                            log.Flush();
                            flushed = appended;
                        }
                    }
                }
                catch (Exception ex) when (ex is StateGenException or IOException)
                {
                    // The power went (a roll's failed segment creation is the bare IOException the store wraps).
                }

                bool crashed = disk.Crashed;
                IReadOnlyDictionary<string, byte[]> images = disk.Crash();
                log.Dispose();

                // The database committed nothing, or the first commit (when it was flushed).
                foreach (long committed in flushed > 0 ? new long[] { 0, ends[0] } : [0])
                {
                    var survivor = new SimulatedDisk(images);
                    long onDisk = SegmentLogReader.ReadAll(SimulatedFolder, survivor.SegmentFiles).Records.Select(r => r.Sequence).DefaultIfEmpty(0).Max();
                    long next;
                    using (SegmentLog reopened = SegmentLog.Open(SimulatedFolder, committed, Tiny, files: survivor.SegmentFiles))
                    {
                        next = reopened.NextSequence;
                        long last = next - 1;
                        Assert.True(last >= flushed, $"flushed up to {flushed}, kept up to {last}");
                        Assert.True(last == 0 || ends.Contains(last), $"a commit kept partly: up to {last}");
                        sawUnflushedKept |= last > flushed;
                        sawPartCut |= onDisk > last;
                        Assert.Equal(Enumerable.Range(1, (int)last).Select(s => (long)s), reopened.ReadFrom(0).Select(r => r.Sequence));
                        for (long s = 1; s <= last; s++)
                        {
                            AssertSame(Swept(s), reopened.Read(s));
                        }

                        Assert.Null(reopened.Read(next));
                        for (int key = 0; key < 3; key++)
                        {
                            long head = Enumerable.Range(1, (int)last).Where(s => s % 3 == key).Select(s => (long)s).DefaultIfEmpty(0).Max();
                            Assert.Equal(head, reopened.HeadOf("agent/a1", "k" + key));
                        }

                        // The log goes on where it was cut.
                        AppendCommit(reopened, next, next + 2, Swept);
                        reopened.Flush();
                    }

                    using SegmentLog again = SegmentLog.Open(SimulatedFolder, committed, Tiny, files: new SimulatedDisk(survivor.Crash()).SegmentFiles);
                    Assert.Equal(next + 3, again.NextSequence);
                    AssertSame(Swept(next + 2), again.Read(next + 2));
                }

                if (!crashed)
                {
                    break; // the cut came after the last write or flush
                }

                cuts++;
            }
        }

        Assert.True(cuts > 11 * 10, $"only {cuts} cuts");
        Assert.True(sawUnflushedKept, "no cut kept a commit that was on the disk before its flush");
        Assert.True(sawPartCut, "no open cut a commit's records off the disk");
    }
}
