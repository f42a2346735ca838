using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// Opening a log that <see cref="SegmentLog.Remove"/> changed: a compaction cut short at any step leaves each segment
/// old or new and opens without error; a damaged tombstone at or before the committed sequence is a
/// <see cref="StateStoreCorruptedException"/>, a torn one at the tail is cut; forged tombstones are refused.
/// </summary>
public sealed class SegmentLogRemoveRecoveryTests : SegmentLogTestBase
{
    private string First => Path.Combine(Folder, "000001.seg");

    private static StateChangeRecord Record(long sequence) => Write(sequence, sequence - 1, payloadLength: 100, correlation: "c");

    /// <summary>Records 1..3 (one key) in one segment, record 2 removed; returns the file and the tombstone's offset.</summary>
    private (byte[] File, int Start, int End) BuildWithTombstone()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            for (long s = 1; s <= 3; s++)
            {
                log.Append(Record(s));
            }

            Assert.Equal(1, log.Remove([2]));
        }

        int start = SegmentFormat.HeaderSize + Encode(Record(1)).Length;
        byte[] file = File.ReadAllBytes(First);
        Assert.Equal(EncodeTombstone(Record(2)), file[start..(start + EncodeTombstone(Record(2)).Length)]);
        return (file, start, start + EncodeTombstone(Record(2)).Length);
    }

    [Fact]
    public void A_compaction_cut_short_at_any_step_leaves_each_segment_old_or_new()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 }; // two 485-byte records a segment
        StateChangeRecord Of(long s) => Write(s, s - 1, payloadLength: 400);
        long[] chosen = [1, 3, 4];
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            for (long s = 1; s <= 6; s++)
            {
                log.Append(Of(s));
            }

            Assert.Equal(3, log.SegmentCount);
        }

        string[] paths = Segments(Folder);
        byte[][] old = paths.Select(File.ReadAllBytes).ToArray();
        using (SegmentLog log = SegmentLog.Open(Folder, 6, options))
        {
            Assert.Equal(3, log.Remove(chosen));
        }

        byte[][] compacted = paths.Select(File.ReadAllBytes).ToArray();
        Assert.NotEqual(old[0], compacted[0]);
        Assert.NotEqual(old[1], compacted[1]);
        Assert.Equal(old[2], compacted[2]);

        // Segment 1 is rewritten first, then segment 2; each is "old" until its copy is renamed over it.
        var states = new List<(bool FirstNew, bool SecondNew, int TempOf, byte[]? Temp)>();
        foreach (int segment in new[] { 0, 1 })
        {
            byte[] copy = compacted[segment];
            foreach (int cut in new[] { 0, 5, SegmentFormat.HeaderSize, copy.Length / 2, copy.Length - 1, copy.Length })
            {
                // Crashed while the copy was written (a prefix of it), or after its flush, before the rename.
                states.Add((FirstNew: segment == 1, SecondNew: false, segment, copy[..cut]));
            }
        }

        states.Add((true, false, -1, null)); // between the two segments
        states.Add((true, true, -1, null));  // done (the directory may not be flushed yet: the rename is there or not)
        foreach ((bool firstNew, bool secondNew, int tempOf, byte[]? temp) in states)
        {
            File.WriteAllBytes(paths[0], firstNew ? compacted[0] : old[0]);
            File.WriteAllBytes(paths[1], secondNew ? compacted[1] : old[1]);
            string tempPath = tempOf < 0 ? string.Empty : paths[tempOf] + ".tmp";
            if (temp is not null)
            {
                File.WriteAllBytes(tempPath, temp);
            }

            byte[][] before = paths.Select(File.ReadAllBytes).ToArray();
            using (SegmentLog log = SegmentLog.Open(Folder, 6, options))
            {
                Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));
                Assert.Equal(before, paths.Select(File.ReadAllBytes).ToArray());
                long[] gone = [.. chosen.Where(s => s == 1 ? firstNew : secondNew)];
                for (long s = 1; s <= 6; s++)
                {
                    if (gone.Contains(s))
                    {
                        Assert.Null(log.Read(s));
                    }
                    else
                    {
                        AssertSame(Of(s), log.Read(s));
                    }
                }

                Assert.Equal(Enumerable.Range(1, 6).Select(s => (long)s).Where(s => !gone.Contains(s)), log.ReadFrom(0).Select(r => r.Sequence));

                // Running the remove again finishes the work.
                Assert.Equal(3 - gone.Length, log.Remove(chosen));
            }

            Assert.Equal(compacted, paths.Select(File.ReadAllBytes).ToArray());
        }
    }

    [Fact]
    public void A_flipped_byte_in_a_committed_tombstone_is_a_typed_error_for_every_byte()
    {
        (byte[] file, int start, int end) = BuildWithTombstone();
        for (int position = start; position < end; position++)
        {
            byte[] image = file.ToArray();
            image[position] ^= 0x01;
            File.WriteAllBytes(First, image);
            AssertCorrupt(3);
            AssertCorrupt(2);
        }

        // The same damage in a tombstone the database never committed is cut like a torn tail.
        byte[] uncommitted = file.ToArray();
        uncommitted[start + 20] ^= 0x01;
        File.WriteAllBytes(First, uncommitted);
        using SegmentLog log = SegmentLog.Open(Folder, 1);
        Assert.Equal(2, log.NextSequence);
        AssertSame(Record(1), log.Read(1));
        Assert.Equal(start, new FileInfo(First).Length);
    }

    [Fact]
    public void A_tombstone_torn_at_the_tail_is_cut_at_every_byte()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            log.Append(Write(1, 0, key: "k"));
            log.Append(Write(2, 0, key: "j"));
            log.Append(Delete(3, 2, key: "j"));
            Assert.Equal(1, log.Remove([3])); // a delete that is its key's newest record may go
        }

        byte[] whole = File.ReadAllBytes(First);
        int start = whole.Length - EncodeTombstone(Delete(3, 2, key: "j")).Length;
        for (int cut = start; cut < whole.Length; cut++)
        {
            byte[] zeroed = whole.ToArray();
            Array.Clear(zeroed, cut, whole.Length - cut);
            foreach (byte[] image in new[] { whole[..cut], zeroed })
            {
                File.WriteAllBytes(First, image);
                using (SegmentLog log = SegmentLog.Open(Folder, 2))
                {
                    Assert.Equal(3, log.NextSequence);
                    Assert.Equal((2L, false), log.LastChangeOf("agent/a1", "j"));
                    Assert.Equal([1L, 2], log.ReadFrom(0).Select(r => r.Sequence));
                }

                Assert.Equal(start, new FileInfo(First).Length);
                File.WriteAllBytes(First, image);
                AssertCorrupt(3);
            }
        }

        File.WriteAllBytes(First, whole);
        using SegmentLog reopened = SegmentLog.Open(Folder, 3);
        Assert.Equal((3L, true), reopened.LastChangeOf("agent/a1", "j"));
        Assert.Null(reopened.Read(3));
    }

    [Fact]
    public void Forged_tombstones_whose_checksum_matches_are_refused()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            log.Append(Record(1));
        }

        byte[] first = File.ReadAllBytes(First);
        byte[] tombstone = EncodeTombstone(Record(2));
        const int Kind = SegmentFormat.RecordPrefixSize + 8;
        const int Removed = Kind + 1;
        const int Previous = Kind + 2;
        const int Scope = Kind + 10;
        var forgeries = new List<byte[]>
        {
            With(tombstone, b => b[Removed] = 0),
            With(tombstone, b => b[Removed] = SegmentFormat.TombstoneKind),
            With(tombstone, b => b[Removed] = 9),
            With(tombstone, b => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(Previous), 2)),
            With(tombstone, b => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(Previous), -1)),
            With(tombstone, b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(Scope), SegmentFormat.NullString)),
            With(tombstone, b => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(Scope), 0xFFFE)),
            With(tombstone, b => b[Scope + 2] = 0xFF), // not UTF-8
            With([.. tombstone[..^8], 0, .. tombstone[^8..]], _ => { }), // a byte after the key
            With(tombstone[..^9].Concat(tombstone[^8..]).ToArray(), _ => { }), // the key's last byte missing
            With(Encode(Record(2)), b => b[Kind] = SegmentFormat.TombstoneKind), // a whole record called a tombstone
        };

        foreach (byte[] forged in forgeries)
        {
            Assert.NotNull(SegmentFormat.TryDecode(forged, out _));
            File.WriteAllBytes(First, [.. first, .. forged]);
            AssertCorrupt(2);
            using (SegmentLog log = SegmentLog.Open(Folder, 1))
            {
                Assert.Equal(2, log.NextSequence);
            }

            Assert.Equal(first, File.ReadAllBytes(First));
        }

        File.WriteAllBytes(First, [.. first, .. tombstone]);
        using SegmentLog valid = SegmentLog.Open(Folder, 2);
        Assert.Null(valid.Read(2));
        Assert.Equal([1L], valid.ReadFrom(0).Select(r => r.Sequence));
    }

    /// <summary>A copy of <paramref name="bytes"/> changed by <paramref name="change"/>, its length and checksum made right again.</summary>
    private static byte[] With(byte[] bytes, Action<byte[]> change)
    {
        byte[] forged = bytes.ToArray();
        change(forged);
        BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(4), (uint)forged.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(forged.AsSpan(forged.Length - 8), XxHash3.HashToUInt64(forged.AsSpan(0, forged.Length - 8)));
        return forged;
    }
}
