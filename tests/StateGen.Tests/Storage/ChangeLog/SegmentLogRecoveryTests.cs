using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// Opening a change log against the database's newest committed sequence S: a torn tail and records after S are cut;
/// a damaged or missing record at or before S, a foreign, misplaced or missing segment is a
/// <see cref="StateStoreCorruptedException"/> (never another exception) and changes nothing on the disk.
/// </summary>
public sealed class SegmentLogRecoveryTests : SegmentLogTestBase
{
    private string First => Path.Combine(Folder, "000001.seg");

    /// <summary>Writes records 1..count (writes of one key, 100-byte payloads, a correlation id) and closes the log.</summary>
    private byte[] BuildLog(int count)
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            for (long s = 1; s <= count; s++)
            {
                log.Append(Record(s));
            }
        }

        return File.ReadAllBytes(First);
    }

    private static StateChangeRecord Record(long sequence) => Write(sequence, sequence - 1, payloadLength: 100, correlation: "c");

    /// <summary>The offset of record <paramref name="sequence"/> in a log built by <see cref="BuildLog"/>.</summary>
    private static int OffsetOf(long sequence)
        => SegmentFormat.HeaderSize + Enumerable.Range(1, (int)sequence - 1).Sum(s => Encode(Record(s)).Length);

    private void AssertHolds(SegmentLog log, int count)
    {
        Assert.Equal(count + 1, log.NextSequence);
        for (long s = 1; s <= count; s++)
        {
            AssertSame(Record(s), log.Read(s));
        }

        Assert.Null(log.Read(count + 1));
        Assert.Equal(Enumerable.Range(1, count).Select(s => (long)s), log.SequencesOf("c"));
        Assert.Equal(count == 0 ? 0 : count, log.HeadOf("agent/a1", "k"));
    }

    [Fact]
    public void A_tail_record_torn_at_every_byte_is_cut_and_the_complete_records_stay()
    {
        byte[] whole = BuildLog(3);
        int start = OffsetOf(3);
        Assert.Equal(whole.Length, start + Encode(Record(3)).Length);
        for (int cut = start; cut < whole.Length; cut++)
        {
            // The file ends inside record 3, or keeps its length with the rest of the record never written (zeros).
            byte[] zeroed = whole.ToArray();
            Array.Clear(zeroed, cut, whole.Length - cut);
            foreach (byte[] image in new[] { whole[..cut], zeroed })
            {
                File.WriteAllBytes(First, image);
                using (SegmentLog log = SegmentLog.Open(Folder, 2))
                {
                    AssertHolds(log, 2);
                }

                Assert.Equal(start, new FileInfo(First).Length);

                // Had the database committed record 3, its loss is corruption.
                File.WriteAllBytes(First, image);
                AssertCorrupt(3);
            }
        }

        // After the cut the log takes record 3 again.
        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            log.Append(Record(3));
        }

        Assert.Equal(whole, File.ReadAllBytes(First));
    }

    [Fact]
    public void Records_after_the_committed_sequence_are_cut_across_segments()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            for (long s = 1; s <= 6; s++)
            {
                log.Append(Write(s, s - 1, payloadLength: s % 2 == 0 ? 900 : 10));
            }
        }

        int files = Segments(Folder).Length;
        Assert.True(files >= 4);
        using (SegmentLog log = SegmentLog.Open(Folder, 2, options))
        {
            Assert.Equal(3, log.NextSequence);
            Assert.Null(log.Read(3));
            Assert.Equal(2, log.HeadOf("agent/a1", "k"));
            Assert.Equal([1L, 2], log.ReadFrom(0).Select(r => r.Sequence));
        }

        Assert.True(Segments(Folder).Length < files);

        // Idempotent, and the cut log takes the sequences again.
        using (SegmentLog log = SegmentLog.Open(Folder, 2, options))
        {
            log.Append(Write(3, 2, payloadLength: 5));
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 3, options);
        AssertSame(Write(3, 2, payloadLength: 5), reopened.Read(3));
    }

    [Fact]
    public void A_flipped_byte_in_a_committed_record_or_header_is_a_typed_error_for_every_byte()
    {
        byte[] whole = BuildLog(3);
        int start = OffsetOf(2);
        int end = OffsetOf(3);
        var positions = Enumerable.Range(0, SegmentFormat.HeaderSize).Concat(Enumerable.Range(start, end - start));
        foreach (int position in positions)
        {
            byte[] image = whole.ToArray();
            image[position] ^= 0x01;
            File.WriteAllBytes(First, image);
            AssertCorrupt(3);
        }

        // The same damage in a record the database never committed is cut like a torn tail.
        byte[] uncommitted = whole.ToArray();
        uncommitted[start + 20] ^= 0x01;
        File.WriteAllBytes(First, uncommitted);
        using SegmentLog log = SegmentLog.Open(Folder, 1);
        AssertHolds(log, 1);
    }

    [Fact]
    public void Damage_after_open_is_a_typed_error_on_read()
    {
        using SegmentLog log = SegmentLog.Open(Folder, 0);
        for (long s = 1; s <= 3; s++)
        {
            log.Append(Record(s));
        }

        using (var file = new FileStream(First, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            file.Position = OffsetOf(2) + 60;
            file.WriteByte(0xEE);
        }

        var error = Assert.Throws<StateStoreCorruptedException>(() => log.Read(2));
        Assert.Equal(First, error.FilePath);
        AssertSame(Record(3), log.Read(3));
        Assert.Throws<StateStoreCorruptedException>(() => log.ReadFrom(0).ToList());
    }

    [Fact]
    public void An_empty_or_missing_log_opens_only_for_a_database_without_changes()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AssertHolds(log, 0);
        }

        Directory.Delete(Folder, recursive: true);
        Assert.Throws<StateStoreCorruptedException>(() => SegmentLog.Open(Folder, 5));

        // A first segment whose creation was cut short (no header yet) holds nothing.
        Directory.CreateDirectory(Folder);
        File.WriteAllBytes(First, []);
        AssertCorrupt(5);
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            log.Append(Record(1));
        }

        File.WriteAllBytes(First, File.ReadAllBytes(First)[..10]);
        AssertCorrupt(1);
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            AssertHolds(log, 0);
        }

        Assert.Equal(SegmentFormat.HeaderSize, new FileInfo(First).Length);
    }

    [Fact]
    public void A_foreign_or_misplaced_segment_is_a_typed_error_and_left_alone()
    {
        Directory.CreateDirectory(Folder);
        File.WriteAllText(First, "This is not a change-log segment, just some text that happens to have its name.");
        AssertCorrupt(0);
        AssertCorrupt(3);

        // A good segment under another number.
        File.Delete(First);
        BuildLog(2);
        File.Copy(First, Path.Combine(Folder, "000002.seg"));
        AssertCorrupt(2);
        File.Delete(Path.Combine(Folder, "000002.seg"));

        // Files that are not segments are ignored.
        File.WriteAllText(Path.Combine(Folder, "notes.txt"), "x");
        File.WriteAllText(Path.Combine(Folder, "12.seg"), "x");
        using SegmentLog log = SegmentLog.Open(Folder, 2);
        AssertHolds(log, 2);
    }

    [Fact]
    public void A_missing_segment_a_missing_record_or_a_log_of_another_database_is_a_typed_error()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            for (long s = 1; s <= 5; s++)
            {
                log.Append(Write(s, s - 1, payloadLength: 900));
            }
        }

        Assert.Equal(5, Segments(Folder).Length);

        // The database committed more than the log holds.
        AssertCorrupt(6, options);

        // A segment in the middle is gone.
        string third = Path.Combine(Folder, "000003.seg");
        byte[] kept = File.ReadAllBytes(third);
        File.Delete(third);
        AssertCorrupt(5, options);
        File.WriteAllBytes(third, kept);

        // The oldest segments are gone (as retention deletes them): fine for a database that committed past them,
        // but a log that starts after the database's newest sequence belongs to another database.
        File.Delete(Path.Combine(Folder, "000001.seg"));
        File.Delete(Path.Combine(Folder, "000002.seg"));
        AssertCorrupt(1, options);
        using (SegmentLog log = SegmentLog.Open(Folder, 5, options))
        {
            Assert.Equal(3, log.FirstSequence);
            Assert.Null(log.Read(2));
            Assert.Equal([3L, 4, 5], log.ReadFrom(0).Select(r => r.Sequence));
        }

        // A committed record cut short in a sealed segment.
        string fourth = Path.Combine(Folder, "000004.seg");
        File.WriteAllBytes(fourth, File.ReadAllBytes(fourth)[..500]);
        AssertCorrupt(5, options);
    }

    [Fact]
    public void A_later_segment_torn_at_its_creation_is_removed_when_it_holds_nothing_committed()
    {
        BuildLog(2);
        string second = Path.Combine(Folder, "000002.seg");
        byte[] header = new byte[SegmentFormat.HeaderSize];
        SegmentFormat.WriteHeader(header, 2, 3);
        File.WriteAllBytes(second, header[..7]);
        AssertCorrupt(3);
        using (SegmentLog log = SegmentLog.Open(Folder, 2))
        {
            AssertHolds(log, 2);
            Assert.Equal(1, log.SegmentCount);
        }

        Assert.False(File.Exists(second));
    }

    [Fact]
    public void Hostile_lengths_are_refused_before_anything_is_allocated()
    {
        byte[] whole = BuildLog(1);
        int end = whole.Length;

        // A record claiming 2 GiB after record 1.
        byte[] huge = [.. whole, .. new byte[64]];
        BinaryPrimitives.WriteUInt32LittleEndian(huge.AsSpan(end), SegmentFormat.RecordMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(huge.AsSpan(end + 4), int.MaxValue);
        File.WriteAllBytes(First, huge);
        AssertCorrupt(2);
        using (SegmentLog log = SegmentLog.Open(Folder, 1))
        {
            AssertHolds(log, 1);
        }

        // Records whose checksum matches but whose inner lengths lie: a string of 65,534 bytes, a payload of 2 GiB.
        byte[] record = Encode(Record(2));
        int scopeAt = SegmentFormat.RecordPrefixSize + 37;
        int payloadAt = record.Length - 8 - 100 - 4;
        foreach ((int at, int size, uint value) in new (int, int, uint)[] { (scopeAt, 2, 0xFFFEu), (payloadAt, 4, int.MaxValue), (payloadAt, 4, 0x8000_0000u) })
        {
            byte[] forged = record.ToArray();
            if (size == 2)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(forged.AsSpan(at), (ushort)value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(at), value);
            }

            BinaryPrimitives.WriteUInt64LittleEndian(forged.AsSpan(forged.Length - 8), XxHash3.HashToUInt64(forged.AsSpan(0, forged.Length - 8)));
            Assert.NotNull(SegmentFormat.TryDecode(forged, out _));
            File.WriteAllBytes(First, [.. whole, .. forged]);
            AssertCorrupt(2);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decoding_random_damage_never_throws(bool tombstone)
    {
        StateChangeRecord original = Write(7, 3, key: "some-key", payloadLength: 40, correlation: "corr");
        byte[] record = tombstone ? EncodeTombstone(original) : Encode(original);
        Assert.Null(SegmentFormat.TryDecode(record, out DecodedRecord undamaged));
        Assert.Equal(tombstone, undamaged.IsTombstone);
        var random = new Random(12345);
        int accepted = 0;
        for (int round = 0; round < 20_000; round++)
        {
            byte[] damaged = record[..random.Next(record.Length + 1)];
            for (int flips = random.Next(1, 4); flips > 0 && damaged.Length > 0; flips--)
            {
                damaged[random.Next(damaged.Length)] = (byte)random.Next(256);
            }

            if (damaged.Length >= 8 && random.Next(2) == 0)
            {
                // A matching checksum, so the field checks run.
                BinaryPrimitives.WriteUInt64LittleEndian(damaged.AsSpan(damaged.Length - 8), XxHash3.HashToUInt64(damaged.AsSpan(0, damaged.Length - 8)));
            }

            if (SegmentFormat.TryDecode(damaged, out DecodedRecord decoded) is null)
            {
                accepted++;
                Assert.InRange(decoded.PayloadOffset + decoded.PayloadLength, 0, damaged.Length - 8);
            }

            if (damaged.Length >= SegmentFormat.RecordPrefixSize)
            {
                SegmentFormat.CheckPrefix(damaged, SegmentFormat.MaxRecordSize(1000), damaged.Length, out _);
            }
        }

        Assert.True(accepted < 20_000);
    }
}
