using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// A lost tail (<c>keepLostTail</c>): records the database committed but whose bytes a power cut took from the end of
/// the last segment are copied aside, cut, and reported as a gap after which the log goes on in a segment flagged
/// <see cref="SegmentFormat.AfterGapFlag"/>; damage anywhere else stays the typed error.
/// </summary>
public sealed class SegmentLogGapTests : SegmentLogTestBase
{
    private string First => Path.Combine(Folder, "000001.seg");

    private static StateChangeRecord Record(long sequence) => Write(sequence, sequence - 1, payloadLength: 100, correlation: "c");

    /// <summary>Writes records 1..count into one segment and closes the log; returns the segment's bytes.</summary>
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

    private static int OffsetOf(long sequence)
        => SegmentFormat.HeaderSize + Enumerable.Range(1, (int)sequence - 1).Sum(s => Encode(Record(s)).Length);

    /// <summary>The folder holding only <paramref name="image"/> as segment 1.</summary>
    private void Reset(byte[] image)
    {
        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }

        Directory.CreateDirectory(Folder);
        File.WriteAllBytes(First, image);
    }

    /// <summary>The flags of a segment a lost-tail recovery makes: after a gap, and after the seal it wrote before it.</summary>
    private const ushort AfterGapAndSeal = SegmentFormat.AfterGapFlag | SegmentFormat.AfterSealFlag;

    private static ushort FlagsOf(string segment)
        => BinaryPrimitives.ReadUInt16LittleEndian(File.ReadAllBytes(segment).AsSpan(6, 2));

    [Fact]
    public void A_committed_tail_torn_anywhere_is_kept_aside_cut_and_reported_as_a_gap_the_log_goes_on_after()
    {
        byte[] whole = BuildLog(3);
        int start = OffsetOf(2);

        // Every byte of record 3 and every fifth of record 2: the file ends there, or keeps its length with zeros after it.
        var cuts = Enumerable.Range(start, whole.Length - start).Where(c => c >= OffsetOf(3) || (c - start) % 5 == 0);
        foreach (int cut in cuts)
        {
            byte[] zeroed = whole.ToArray();
            Array.Clear(zeroed, cut, whole.Length - cut);
            foreach (byte[] image in new[] { whole[..cut], zeroed })
            {
                Reset(image);
                long from = cut < OffsetOf(3) ? 2 : 3;
                bool bytesLeft = image.Length > OffsetOf(from);
                string preserved = First + SegmentLog.LostTailInfix + from;
                using (SegmentLog log = SegmentLog.Open(Folder, 3, keepLostTail: true))
                {
                    Assert.Equal(new SegmentLogGap(from, 3, bytesLeft ? preserved : null), log.RecoveredGap);
                    Assert.Equal([log.RecoveredGap!], log.Gaps);
                    Assert.Equal(4, log.NextSequence);
                    Assert.Equal(Enumerable.Range(1, (int)from - 1).Select(s => (long)s), log.ReadFrom(0).Select(r => r.Sequence));
                    for (long s = from; s <= 3; s++)
                    {
                        Assert.Null(log.Read(s));
                    }

                    Assert.True(log.HasGapAfter(from - 1));
                    Assert.False(log.HasGapAfter(3));
                    log.Append(Write(4, log.HeadOf("agent/a1", "k"), payloadLength: 100, correlation: "c"));
                }

                // The cut bytes are kept, byte for byte; the segment ends at the last whole record; the next one says "gap".
                Assert.Equal(bytesLeft, File.Exists(preserved));
                if (bytesLeft)
                {
                    Assert.Equal(image[OffsetOf(from)..], File.ReadAllBytes(preserved));
                }

                // (The segment is sealed for the gap: its seal follows its last whole record.)
                Assert.Equal(OffsetOf(from) + SegmentFormat.SealSize, new FileInfo(First).Length);
                string[] segments = Segments(Folder);
                Assert.Equal(2, segments.Length);
                Assert.Equal(AfterGapAndSeal, FlagsOf(segments[1]));

                // A later open needs no tolerance: the gap is in the headers, and record 4 chains past it.
                using (SegmentLog reopened = SegmentLog.Open(Folder, 4))
                {
                    Assert.Null(reopened.RecoveredGap);
                    Assert.Equal([new SegmentLogGap(from, 3, bytesLeft ? preserved : null)], reopened.Gaps);
                    Assert.Equal(Enumerable.Range(1, (int)from - 1).Select(s => (long)s).Append(4), reopened.ReadFrom(0).Select(r => r.Sequence));
                    Assert.Equal(Enumerable.Range(1, (int)from - 1).Select(s => (long)s).Append(4), reopened.SequencesOf("c"));
                    Assert.Equal(new long[] { 4 }.Concat(Enumerable.Range(1, (int)from - 1).Reverse().Select(s => (long)s)), reopened.ReadHistory("agent/a1", "k").Select(r => r.Sequence));
                    Assert.Equal(from - 1, reopened.Read(4)!.PreviousSequence);
                }
            }
        }
    }

    [Fact]
    public void A_lost_tail_stays_a_typed_error_without_the_option_and_damage_before_the_last_segment_always_is()
    {
        byte[] whole = BuildLog(3);
        File.WriteAllBytes(First, whole[..^7]);
        AssertCorrupt(3); // strict: nothing cut

        // Three segments: a flipped byte in a record of the first (sealed, so flushed before the next was made) is damage.
        Reset([]);
        File.Delete(First);
        var options = new SegmentLogOptions { RollBytes = 400 };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            for (long s = 1; s <= 6; s++)
            {
                log.Append(Record(s));
            }
        }

        string[] segments = Segments(Folder);
        Assert.True(segments.Length >= 3);
        byte[] sealedImage = File.ReadAllBytes(segments[0]);
        byte[] flipped = sealedImage.ToArray();
        flipped[SegmentFormat.HeaderSize + 20] ^= 0x04;
        File.WriteAllBytes(segments[0], flipped);
        AssertCorrupt(6, options, keepLostTail: true);
        File.WriteAllBytes(segments[0], sealedImage);

        // A sealed segment cut short, and a missing segment in the middle, likewise.
        File.WriteAllBytes(segments[0], sealedImage[..^3]);
        AssertCorrupt(6, options, keepLostTail: true);
        File.WriteAllBytes(segments[0], sealedImage);
        byte[] middle = File.ReadAllBytes(segments[1]);
        File.Delete(segments[1]);
        AssertCorrupt(6, options, keepLostTail: true);
        File.WriteAllBytes(segments[1], middle);

        using SegmentLog intact = SegmentLog.Open(Folder, 6, options, keepLostTail: true);
        Assert.Null(intact.RecoveredGap);
        Assert.Empty(intact.Gaps);
        Assert.Equal(7, intact.NextSequence);
    }

    [Fact]
    public void A_crash_during_the_gap_recovery_is_finished_by_the_next_open()
    {
        byte[] whole = BuildLog(3);
        byte[] torn = whole[..^9];
        string preserved = First + SegmentLog.LostTailInfix + 3;

        // Crashed after the tail was copied aside, before the cut: the next open copies it again and cuts.
        Reset(torn);
        File.WriteAllBytes(preserved, torn[OffsetOf(3)..]);
        using (SegmentLog log = SegmentLog.Open(Folder, 3, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(3, 3, preserved), log.RecoveredGap);
        }

        // Crashed after the cut, before the segment after the gap was made: the next open makes it.
        File.Delete(Segments(Folder)[1]);
        using (SegmentLog log = SegmentLog.Open(Folder, 3, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(3, 3, preserved), log.RecoveredGap);
            Assert.Equal(4, log.NextSequence);
        }

        Assert.Equal(torn[OffsetOf(3)..], File.ReadAllBytes(preserved));
        Assert.Equal(2, Segments(Folder).Length);
        using SegmentLog reopened = SegmentLog.Open(Folder, 3);
        Assert.Equal([new SegmentLogGap(3, 3, preserved)], reopened.Gaps);
    }

    [Fact]
    public void The_segment_after_a_gap_survives_discard_compaction_and_retention()
    {
        byte[] whole = BuildLog(3);
        Reset(whole[..OffsetOf(3)]);
        using (SegmentLog log = SegmentLog.Open(Folder, 3, keepLostTail: true))
        {
            // A failed commit's records cut back to the gap: the segment after it stays (it holds the gap), empty.
            log.Append(Write(4, 2, payloadLength: 100, correlation: "c"));
            log.DiscardAfter(3);
            Assert.Equal(4, log.NextSequence);
            Assert.Equal(2, Segments(Folder).Length);
            Assert.Equal(2, log.HeadOf("agent/a1", "k"));

            // The log cannot end inside the gap.
            log.Append(Write(4, 2, payloadLength: 100, correlation: "c"));
            Assert.Throws<ArgumentOutOfRangeException>(() => log.DiscardAfter(2));

            // A compaction of the segment after the gap keeps its flag.
            log.Append(Write(5, 4, payloadLength: 100, correlation: "c"));
            Assert.Equal(1, log.Remove([4L]));
        }

        Assert.Equal(AfterGapAndSeal, FlagsOf(Segments(Folder)[1]));
        using (SegmentLog reopened = SegmentLog.Open(Folder, 5))
        {
            Assert.Equal([new SegmentLogGap(3, 3, null)], reopened.Gaps);
            Assert.Equal([1L, 2, 5], reopened.ReadFrom(0).Select(r => r.Sequence));

            // Retention deletes the segment before the gap (its records are old and none is a current value's): the gap
            // is then before the oldest kept record, and no longer listed.
            Assert.Equal(1, reopened.RemoveSegments(DateTimeOffset.MaxValue));
            Assert.Empty(reopened.Gaps);
            Assert.Equal(4, reopened.FirstSequence);
        }

        using SegmentLog last = SegmentLog.Open(Folder, 5);
        Assert.Equal([5L], last.ReadFrom(0).Select(r => r.Sequence));
        Assert.Equal(AfterGapAndSeal, FlagsOf(Segments(Folder)[0]));
    }

    [Fact]
    public void A_header_with_an_unknown_flag_or_a_gap_segment_that_overlaps_its_predecessor_is_a_typed_error()
    {
        BuildLog(3);
        using (SegmentLog log = SegmentLog.Open(Folder, 3))
        {
            Assert.Empty(log.Gaps);
        }

        // Segment 2 flagged "after a gap" but starting before segment 1 ends.
        string second = Path.Combine(Folder, SegmentFormat.FileName(2));
        byte[] header = new byte[SegmentFormat.HeaderSize];
        SegmentFormat.WriteHeader(header, 2, 3, SegmentFormat.AfterGapFlag);
        File.WriteAllBytes(second, header);
        AssertCorrupt(3, keepLostTail: true);

        // A flag this program does not know.
        SegmentFormat.WriteHeader(header, 2, 4, 0x0004);
        File.WriteAllBytes(second, header);
        AssertCorrupt(3, keepLostTail: true);
    }

    [Fact]
    public void A_crash_while_the_segment_after_a_gap_is_made_leaves_a_torn_header_that_the_next_open_makes_again()
    {
        byte[] whole = BuildLog(3);
        Reset(whole[..OffsetOf(3)]);
        using (SegmentLog log = SegmentLog.Open(Folder, 3, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(3, 3, null), log.RecoveredGap);
        }

        // Its directory entry reached the disk, its header did not (empty, or cut inside the magic).
        string second = Segments(Folder)[1];
        foreach (byte[] torn in new[] { Array.Empty<byte>(), File.ReadAllBytes(second)[..3], new byte[SegmentFormat.HeaderSize] })
        {
            File.WriteAllBytes(second, torn);
            AssertCorrupt(3); // without the option: the strict rule
            File.WriteAllBytes(second, torn);
            using (SegmentLog log = SegmentLog.Open(Folder, 3, keepLostTail: true))
            {
                Assert.Equal(new SegmentLogGap(3, 3, null), log.RecoveredGap);
                Assert.Equal(4, log.NextSequence);
            }

            Assert.Equal(AfterGapAndSeal, FlagsOf(second));
        }
    }
}
