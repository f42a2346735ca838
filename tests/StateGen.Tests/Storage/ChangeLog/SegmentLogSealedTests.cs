using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// Seals (<see cref="SegmentFormat.WriteSeal"/>, <see cref="SegmentFormat.AfterSealFlag"/>): a segment the log went on
/// from ends with a seal, so a missing trailing segment and a sealed segment cut at a record boundary before a gap segment
/// are damage, not a lost tail; a lost tail of the last segment is still a gap; segments written before seals open as
/// before; a power cut at any write or flush of a roll leaves a log that opens cleanly.
/// </summary>
public sealed class SegmentLogSealedTests : SegmentLogTestBase
{
    private static readonly SegmentLogOptions Options = new() { RollBytes = 1024 }; // two 485-byte records a segment

    private static StateChangeRecord Of(long sequence) => Write(sequence, sequence - 1, payloadLength: 400);

    private static readonly int RecordSize = Encode(Of(1)).Length;

    /// <summary>Where record <paramref name="position"/> (from 0) of a segment of <see cref="Of"/> records starts.</summary>
    private static int OffsetAt(int position) => SegmentFormat.HeaderSize + (position * RecordSize);

    private static ushort FlagsOf(byte[] segment) => BinaryPrimitives.ReadUInt16LittleEndian(segment.AsSpan(6, 2));

    /// <summary>The seal a segment file ends with: (next sequence, gap to), or null.</summary>
    private static (long Next, long GapTo)? SealOf(byte[] segment)
    {
        if (segment.Length < SegmentFormat.HeaderSize + SegmentFormat.SealSize
            || !SegmentFormat.TryReadSeal(segment.AsSpan(segment.Length - SegmentFormat.SealSize), out _, out long offset, out long next, out long gapTo, out string? failure))
        {
            return null;
        }

        Assert.Null(failure);
        Assert.Equal(segment.Length - SegmentFormat.SealSize, offset);
        return (next, gapTo);
    }

    /// <summary>Appends <see cref="Of"/> records 1..<paramref name="count"/> (two a segment) and closes the log.</summary>
    private string[] BuildLog(int count)
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Options))
        {
            for (long s = 1; s <= count; s++)
            {
                log.Append(Of(s));
            }
        }

        return Segments(Folder);
    }

    [Fact]
    public void A_deleted_trailing_segment_that_held_committed_records_is_damage_with_nothing_cut()
    {
        string[] segments = BuildLog(6);
        Assert.Equal(3, segments.Length);
        Assert.Equal((3L, 0L), SealOf(File.ReadAllBytes(segments[0])));
        Assert.Equal((5L, 0L), SealOf(File.ReadAllBytes(segments[1])));
        Assert.Null(SealOf(File.ReadAllBytes(segments[2])));
        Assert.Equal(SegmentFormat.AfterSealFlag, FlagsOf(File.ReadAllBytes(segments[2])));

        // Segment 3 held records 5 and 6, which the database committed: segment 2, sealed, is now the last one.
        File.Delete(segments[2]);
        AssertCorrupt(6, Options, keepLostTail: true);
        AssertCorrupt(5, Options, keepLostTail: true);
        AssertCorrupt(6, Options);

        // Two trailing segments gone: likewise.
        File.Delete(segments[1]);
        AssertCorrupt(6, Options, keepLostTail: true);
        AssertCorrupt(3, Options, keepLostTail: true);
    }

    [Fact]
    public void A_sealed_last_segment_with_nothing_missing_opens_and_the_next_append_starts_a_new_segment()
    {
        // What a crash between a roll's seal and its new segment leaves, or a segment deleted whose records were never
        // committed: the sealed segment is last and the database committed nothing after it. Record 2 (700 bytes of
        // payload) does not fit after record 1 and rolls; a small record would.
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Options))
        {
            log.Append(Of(1));
            log.Append(Write(2, 1, payloadLength: 700));
        }

        string[] segments = Segments(Folder);
        Assert.Equal(2, segments.Length);
        File.Delete(segments[1]);
        byte[] sealedImage = File.ReadAllBytes(segments[0]);
        Assert.Equal((2L, 0L), SealOf(sealedImage));
        using (SegmentLog log = SegmentLog.Open(Folder, 1, Options, keepLostTail: true))
        {
            Assert.Null(log.RecoveredGap);
            Assert.Empty(log.Gaps);
            Assert.Equal(2, log.NextSequence);
            Assert.Equal(1, log.SegmentCount);
            Assert.Equal(sealedImage, File.ReadAllBytes(segments[0])); // the open wrote nothing

            // The sealed segment takes no record, though this one would fit in it: the append starts segment 2.
            log.Append(Write(2, 1, payloadLength: 10));
            Assert.Equal(2, log.SegmentCount);
            log.Flush();
        }

        Assert.Equal(sealedImage, File.ReadAllBytes(segments[0]));
        Assert.Equal(SegmentFormat.AfterSealFlag, FlagsOf(File.ReadAllBytes(segments[1])));
        using SegmentLog reopened = SegmentLog.Open(Folder, 2, Options);
        AssertSame(Write(2, 1, payloadLength: 10), reopened.Read(2));
        Assert.Equal([1L, 2], reopened.ReadFrom(0).Select(r => r.Sequence));
    }

    [Fact]
    public void A_sealed_segment_cut_at_a_record_boundary_before_a_gap_segment_is_damage_with_nothing_cut()
    {
        // Segment 2's record 4 is lost: the recovery cuts it, seals segment 2 for the gap 4..4 and makes segment 3 after it.
        string[] segments = BuildLog(4);
        byte[] second = File.ReadAllBytes(segments[1]);
        File.WriteAllBytes(segments[1], second[..^10]);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
        {
            Assert.Equal(4, log.RecoveredGap!.FromSequence);
            log.Append(Write(5, 3, payloadLength: 400));
        }

        byte[] cutSecond = File.ReadAllBytes(segments[1]);
        Assert.Equal((4L, 4L), SealOf(cutSecond));

        // Segment 2 cut again at a record boundary (before record 3, or just its seal taken): without the seal, the gap
        // would read as 3..4 (or still 4..4) and pass; the segment after it says the one before it was sealed.
        foreach (byte[] cut in new[] { cutSecond[..OffsetAt(0)], cutSecond[..^SegmentFormat.SealSize] })
        {
            File.WriteAllBytes(segments[1], cut);
            AssertCorrupt(5, Options, keepLostTail: true);
            AssertCorrupt(5, Options);
        }

        // Segment 1 (sealed at the roll) cut before its last record: segment 2 no longer follows it.
        File.WriteAllBytes(segments[1], cutSecond);
        byte[] first = File.ReadAllBytes(segments[0]);
        File.WriteAllBytes(segments[0], first[..OffsetAt(1)]);
        AssertCorrupt(5, Options, keepLostTail: true);
        File.WriteAllBytes(segments[0], first);

        using SegmentLog intact = SegmentLog.Open(Folder, 5, Options);
        Assert.Equal([new SegmentLogGap(4, 4, segments[1] + SegmentLog.LostTailInfix + 4)], intact.Gaps);
        Assert.Equal([1L, 2, 3, 5], intact.ReadFrom(0).Select(r => r.Sequence));
    }

    [Fact]
    public void A_gap_segment_must_start_right_after_the_gap_its_predecessor_was_sealed_for()
    {
        string[] segments = BuildLog(4);
        File.WriteAllBytes(segments[1], File.ReadAllBytes(segments[1])[..OffsetAt(1)]);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(4, 4, null), log.RecoveredGap);
        }

        // Segment 3 (still empty) said to start at 7: its header is whole, but the gap it implies (4..6) is not the one
        // segment 2 was sealed for (4..4).
        string third = Path.Combine(Folder, SegmentFormat.FileName(3));
        byte[] header = new byte[SegmentFormat.HeaderSize];
        SegmentFormat.WriteHeader(header, 3, 7, SegmentFormat.AfterGapFlag | SegmentFormat.AfterSealFlag);
        File.WriteAllBytes(third, header);
        AssertCorrupt(6, Options, keepLostTail: true);

        // A segment after a gap whose predecessor was sealed by a roll (no gap recorded): segment 2 replaced by an empty
        // gap segment starting at 5 would make records 3 and 4 a gap.
        foreach (string file in Directory.GetFiles(Folder))
        {
            File.Delete(file);
        }

        segments = BuildLog(4);
        SegmentFormat.WriteHeader(header, 2, 5, SegmentFormat.AfterGapFlag | SegmentFormat.AfterSealFlag);
        File.WriteAllBytes(segments[1], header);
        AssertCorrupt(4, Options, keepLostTail: true);
    }

    [Fact]
    public void A_lost_tail_of_the_last_segment_after_a_sealed_one_still_becomes_a_gap_and_the_cut_segment_is_sealed_for_it()
    {
        string[] segments = BuildLog(4);
        byte[] second = File.ReadAllBytes(segments[1]);
        File.WriteAllBytes(segments[1], second[..^10]);
        string kept = segments[1] + SegmentLog.LostTailInfix + 4;
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(4, 4, kept), log.RecoveredGap);
            Assert.Equal(5, log.NextSequence);
            log.Append(Write(5, 3, payloadLength: 400));
        }

        Assert.Equal(second[OffsetAt(1)..^10], File.ReadAllBytes(kept));
        byte[] cutSecond = File.ReadAllBytes(segments[1]);
        Assert.Equal(OffsetAt(1) + SegmentFormat.SealSize, cutSecond.Length);
        Assert.Equal((4L, 4L), SealOf(cutSecond));
        string[] now = Segments(Folder);
        Assert.Equal(3, now.Length);
        Assert.Equal(SegmentFormat.AfterGapFlag | SegmentFormat.AfterSealFlag, FlagsOf(File.ReadAllBytes(now[2])));

        using SegmentLog reopened = SegmentLog.Open(Folder, 5, Options);
        Assert.Null(reopened.RecoveredGap);
        Assert.Equal([new SegmentLogGap(4, 4, kept)], reopened.Gaps);
        Assert.Equal([1L, 2, 3, 5], reopened.ReadFrom(0).Select(r => r.Sequence));
    }

    [Fact]
    public void A_crash_while_the_gap_seal_is_written_keeps_the_tail_kept_by_the_first_try()
    {
        string[] segments = BuildLog(4);
        byte[] second = File.ReadAllBytes(segments[1]);
        File.WriteAllBytes(segments[1], second[..^10]);
        string kept = segments[1] + SegmentLog.LostTailInfix + 4;
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(4, 4, kept), log.RecoveredGap);
        }

        byte[] keptBytes = File.ReadAllBytes(kept);
        byte[] sealedSecond = File.ReadAllBytes(segments[1]);

        // The crash came while the seal was written (a part of it on the disk, the rest zeros), before segment 3 was made.
        foreach (int part in new[] { 3, 20, SegmentFormat.SealSize - 1 })
        {
            File.Delete(Path.Combine(Folder, SegmentFormat.FileName(3)));
            byte[] torn = sealedSecond.ToArray();
            Array.Clear(torn, OffsetAt(1) + part, SegmentFormat.SealSize - part);
            File.WriteAllBytes(segments[1], torn);
            using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
            {
                Assert.Equal(new SegmentLogGap(4, 4, kept), log.RecoveredGap);
            }

            Assert.Equal(keptBytes, File.ReadAllBytes(kept));
            Assert.Equal(sealedSecond, File.ReadAllBytes(segments[1]));
        }
    }

    [Fact]
    public void Segments_written_before_seals_open_as_before_and_the_first_roll_seals_the_old_segment()
    {
        // Flags 0, no seal: what this program wrote before seals existed.
        Directory.CreateDirectory(Folder);
        string[] paths = [Path.Combine(Folder, SegmentFormat.FileName(1)), Path.Combine(Folder, SegmentFormat.FileName(2))];
        byte[] OldSegment(long number, long first, params long[] sequences)
        {
            byte[] header = new byte[SegmentFormat.HeaderSize];
            SegmentFormat.WriteHeader(header, number, first);
            return [.. header, .. sequences.SelectMany(s => Encode(Of(s)))];
        }

        byte[] one = OldSegment(1, 1, 1, 2);
        byte[] two = OldSegment(2, 3, 3, 4);
        File.WriteAllBytes(paths[0], one);
        File.WriteAllBytes(paths[1], two);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options))
        {
            Assert.Equal(5, log.NextSequence);
            Assert.Empty(log.Gaps);
            for (long s = 1; s <= 4; s++)
            {
                AssertSame(Of(s), log.Read(s));
            }
        }

        Assert.Equal(one, File.ReadAllBytes(paths[0]));
        Assert.Equal(two, File.ReadAllBytes(paths[1]));

        // An old segment after a gap, and an old lost tail: as before.
        byte[] gapHeader = new byte[SegmentFormat.HeaderSize];
        SegmentFormat.WriteHeader(gapHeader, 2, 5, SegmentFormat.AfterGapFlag);
        File.WriteAllBytes(paths[1], gapHeader);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options))
        {
            Assert.Equal([new SegmentLogGap(3, 4, null)], log.Gaps);
        }

        File.WriteAllBytes(paths[1], two[..^10]);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(4, 4, paths[1] + SegmentLog.LostTailInfix + 4), log.RecoveredGap);
        }

        // A missing old trailing segment is still read as a lost tail: an old segment has no seal to tell (the limit that
        // stays for segments written before seals).
        File.Delete(Path.Combine(Folder, SegmentFormat.FileName(3)));
        File.Delete(paths[1] + SegmentLog.LostTailInfix + 4);
        File.Delete(paths[1]);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options, keepLostTail: true))
        {
            Assert.Equal(new SegmentLogGap(3, 4, null), log.RecoveredGap);
        }

        // From an old log, the first roll seals the old segment; a deleted segment after it is then damage.
        foreach (string file in Directory.GetFiles(Folder))
        {
            File.Delete(file);
        }

        File.WriteAllBytes(paths[0], one);
        File.WriteAllBytes(paths[1], two);
        using (SegmentLog log = SegmentLog.Open(Folder, 4, Options))
        {
            log.Append(Of(5));
            log.Append(Of(6));
        }

        Assert.Equal((5L, 0L), SealOf(File.ReadAllBytes(paths[1])));
        Assert.Equal(two, File.ReadAllBytes(paths[1])[..^SegmentFormat.SealSize]);
        File.Delete(Path.Combine(Folder, SegmentFormat.FileName(3)));
        AssertCorrupt(6, Options, keepLostTail: true);
    }

    [Fact]
    public void Discard_compaction_and_retention_keep_the_seals_right()
    {
        string[] segments;
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Options))
        {
            for (long s = 1; s <= 5; s++)
            {
                log.Append(Of(s));
            }

            // Back to the end of segment 2: segment 3 goes, segment 2 stays sealed and the next append starts a new one.
            log.DiscardAfter(4);
            Assert.Equal(2, log.SegmentCount);
            segments = Segments(Folder);
            Assert.Equal((5L, 0L), SealOf(File.ReadAllBytes(segments[1])));
            log.Append(Of(5));
            Assert.Equal(3, log.SegmentCount);

            // Into segment 2: the cut takes its seal, and it takes records again.
            log.DiscardAfter(3);
            Assert.Equal(2, log.SegmentCount);
            Assert.Null(SealOf(File.ReadAllBytes(segments[1])));
            log.Append(Of(4));
            Assert.Equal(2, log.SegmentCount);
            log.Append(Of(5)); // rolls: segment 2 sealed again
            Assert.Equal(3, log.SegmentCount);

            // A compaction of a sealed segment keeps its seal after its shorter records.
            Assert.Equal(2, log.Remove([1L, 3]));
        }

        segments = Segments(Folder);
        Assert.Equal((3L, 0L), SealOf(File.ReadAllBytes(segments[0])));
        Assert.Equal((5L, 0L), SealOf(File.ReadAllBytes(segments[1])));
        Assert.True(File.ReadAllBytes(segments[1]).Length < OffsetAt(2));
        using (SegmentLog reopened = SegmentLog.Open(Folder, 5, Options))
        {
            Assert.Equal([2L, 4, 5], reopened.ReadFrom(0).Select(r => r.Sequence));
        }

        // The compacted segment 2, sealed, with segment 3 gone: damage, as before the compaction.
        byte[] third = File.ReadAllBytes(segments[2]);
        File.Delete(segments[2]);
        AssertCorrupt(5, Options, keepLostTail: true);
        File.WriteAllBytes(segments[2], third);

        // Retention deletes segments 1 and 2: segment 3, flagged after a seal, opens first.
        using (SegmentLog log = SegmentLog.Open(Folder, 5, Options))
        {
            Assert.Equal(2, log.RemoveSegments(DateTimeOffset.MaxValue));
        }

        using SegmentLog last = SegmentLog.Open(Folder, 5, Options, keepLostTail: true);
        Assert.Equal(5, last.FirstSequence);
        Assert.Equal([5L], last.ReadFrom(0).Select(r => r.Sequence));
    }
}

/// <summary>A power cut at each write and flush of a roll and of the cuts around it, on the simulated disk.</summary>
public sealed class SegmentLogSealedPowerLossTests
{
    private const string Folder = "/simulated/state.db.changes";
    private static readonly SegmentLogOptions Options = new() { RollBytes = 1024 }; // two 485-byte records a segment

    private static StateChangeRecord Of(long sequence) => Write(sequence, sequence - 1, payloadLength: 400);

    /// <summary>Clean, then torn crashes with ten seeds.</summary>
    private static IEnumerable<Random?> CrashModels() => new Random?[] { null }.Concat(Enumerable.Range(1, 10).Select(seed => new Random(seed)));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_power_cut_at_any_write_or_flush_of_a_roll_leaves_a_log_that_opens_cleanly_and_goes_on(bool atWrites)
    {
        int cuts = 0;
        bool sawSealedLast = false;
        foreach (Random? torn in CrashModels())
        {
            for (int k = 1; ; k++)
            {
                var disk = new SimulatedDisk(torn);
                SegmentLog log = SegmentLog.Open(Folder, 0, Options, files: disk.SegmentFiles);
                log.Append(Of(1));
                log.Append(Of(2));
                log.Flush(); // the database commits 1 and 2
                CutPowerAt(disk, k, atWrites);

                try
                {
                    log.Append(Of(3)); // rolls: record 3's database commit never happens
                }
                catch (Exception ex) when (ex is StateGenException or IOException)
                {
                    // The power went.
                }

                bool crashed = disk.Crashed;
                IReadOnlyDictionary<string, byte[]> images = disk.Crash();
                log.Dispose();

                var survivor = new SimulatedDisk(images);
                byte[] first = images[Path.Combine(Folder, SegmentFormat.FileName(1))];
                bool sealedFirst = first.Length == SegmentFormat.HeaderSize + (2 * Encode(Of(1)).Length) + SegmentFormat.SealSize;
                sawSealedLast |= sealedFirst && !images.ContainsKey(Path.Combine(Folder, SegmentFormat.FileName(2)));
                using (SegmentLog reopened = SegmentLog.Open(Folder, 2, Options, keepLostTail: true, files: survivor.SegmentFiles))
                {
                    Assert.Null(reopened.RecoveredGap);
                    Assert.Empty(reopened.Gaps);
                    Assert.Equal(3, reopened.NextSequence);
                    AssertSame(Of(1), reopened.Read(1));
                    AssertSame(Of(2), reopened.Read(2));
                    for (long s = 3; s <= 5; s++)
                    {
                        reopened.Append(Of(s));
                    }

                    reopened.Flush();
                }

                // Whatever the cut left, the log went on: segment 1 sealed, segment 2 made after it, and a strict open reads all.
                IReadOnlyDictionary<string, byte[]> after = survivor.Images();
                Assert.Equal(SegmentFormat.AfterSealFlag, BinaryPrimitives.ReadUInt16LittleEndian(after[Path.Combine(Folder, SegmentFormat.FileName(2))].AsSpan(6, 2)));
                using (SegmentLog strict = SegmentLog.Open(Folder, 5, Options, files: survivor.SegmentFiles))
                {
                    Assert.Equal([1L, 2, 3, 4, 5], strict.ReadFrom(0).Select(r => r.Sequence));
                }

                if (!crashed)
                {
                    break; // the cut came after the roll
                }

                cuts++;
            }
        }

        // Writes: the seal and the new header (record 3's write is the roll's last, after which nothing is left to cut);
        // flushes: the records', the seal's and the new header's.
        Assert.True(cuts >= 11 * (atWrites ? 2 : 3), $"only {cuts} cuts");
        Assert.True(sawSealedLast, "no cut fell between the seal and the new segment");
    }

    [Fact]
    public void A_power_cut_before_the_folder_flush_of_a_discard_or_an_open_that_cuts_a_sealed_segment_leaves_no_segment_after_a_cut_one()
    {
        foreach (bool byOpen in new[] { false, true })
        {
            var disk = new SimulatedDisk();
            var files = new FolderFlushHook(disk.SegmentFiles);
            using (SegmentLog log = SegmentLog.Open(Folder, 0, Options, files: files))
            {
                for (long s = 1; s <= 5; s++)
                {
                    log.Append(Of(s));
                }

                log.Flush();
                if (!byOpen)
                {
                    // Record 4 (in sealed segment 2) and segment 3 go; the power goes at the folder flush.
                    files.BeforeFolderFlush = () => disk.Crash();
                    Assert.ThrowsAny<IOException>(() => log.DiscardAfter(3)); // its cut after the folder flush fails
                }
            }

            IReadOnlyDictionary<string, byte[]> images = disk.Crash();
            if (byOpen)
            {
                // The database committed up to 3: the open cuts record 4 and deletes segment 3; the power goes at its
                // folder flush.
                var crashing = new SimulatedDisk(images);
                var hooked = new FolderFlushHook(crashing.SegmentFiles) { BeforeFolderFlush = () => crashing.Crash() };
                Assert.Throws<StateStoreException>(() => SegmentLog.Open(Folder, 3, Options, keepLostTail: true, files: hooked).Dispose());
                images = crashing.Crash();
            }

            using SegmentLog reopened = SegmentLog.Open(Folder, 3, Options, keepLostTail: true, files: new SimulatedDisk(images).SegmentFiles);
            Assert.Null(reopened.RecoveredGap);
            Assert.Equal([1L, 2, 3], reopened.ReadFrom(0).Select(r => r.Sequence));
        }
    }

    /// <summary>The simulated disk's segment files, with a hook run before each folder flush.</summary>
    private sealed class FolderFlushHook(SegmentFileSystem inner) : SegmentFileSystem
    {
        public Action? BeforeFolderFlush { get; set; }

        public override bool DirectoryExists(string folder) => inner.DirectoryExists(folder);

        public override void CreateDirectory(string folder) => inner.CreateDirectory(folder);

        public override IEnumerable<string> EnumerateFiles(string folder) => inner.EnumerateFiles(folder);

        public override StoreFile OpenExisting(string path) => inner.OpenExisting(path);

        public override StoreFile CreateNew(string path) => inner.CreateNew(path);

        public override StoreFile Create(string path) => inner.Create(path);

        public override void Delete(string path) => inner.Delete(path);

        public override void MoveOver(string source, string destination) => inner.MoveOver(source, destination);

        public override void SyncDirectory(string pathInFolder)
        {
            BeforeFolderFlush?.Invoke();
            inner.SyncDirectory(pathInFolder);
        }
    }
}
