using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// The segment log on the simulated disk (<see cref="SimulatedDisk.SegmentFiles"/>), with the power cut before each of its
/// flushes, clean and torn: every record flushed before the cut is there after it (rolls included: a new segment and its
/// folder entry), and a compaction cut short leaves each segment old or new, with no copy left behind.
/// </summary>
public sealed class SegmentLogPowerLossTests
{
    private const string Folder = "/simulated/state.db.changes";
    private static readonly SegmentLogOptions Options = new() { RollBytes = 1024 }; // two 485-byte records a segment

    private static StateChangeRecord Of(long sequence) => Write(sequence, sequence - 1, payloadLength: 400);

    /// <summary>Clean, then torn crashes with ten seeds.</summary>
    private static IEnumerable<Random?> CrashModels() => new Random?[] { null }.Concat(Enumerable.Range(1, 10).Select(seed => new Random(seed)));

    /// <summary>Cuts the power just before the <paramref name="flush"/>-th file flush from now (counting from 1).</summary>
    private static void CutBeforeFlush(SimulatedDisk disk, int flush)
    {
        int flushes = 0;
        disk.BeforeSync = _ =>
        {
            if (++flushes == flush)
            {
                disk.Crash();
            }
        };
    }

    [Fact]
    public void A_power_cut_before_any_flush_of_appends_and_rolls_keeps_every_flushed_record()
    {
        int cuts = 0;
        foreach (Random? torn in CrashModels())
        {
            for (int flush = 1; ; flush++)
            {
                var disk = new SimulatedDisk(torn);
                SegmentLog log = SegmentLog.Open(Folder, 0, Options, files: disk.SegmentFiles);
                CutBeforeFlush(disk, flush);
                long flushed = 0;
                try
                {
                    for (long s = 1; s <= 7; s++)
                    {
                        log.Append(Of(s));
                        log.Flush(); // a durable store's group commit: the database commits only after this
                        flushed = s;
                    }
                }
                catch (Exception ex) when (ex is StateGenException or IOException)
                {
                    // The power went (a roll's failed segment creation is the bare IOException the store wraps).
                }

                IReadOnlyDictionary<string, byte[]> images = disk.Crash();
                log.Dispose();

                // Reopened with the database's committed sequence: every flushed record is there, and nothing after.
                using (SegmentLog reopened = SegmentLog.Open(Folder, flushed, Options, files: new SimulatedDisk(images).SegmentFiles))
                {
                    Assert.Equal(flushed + 1, reopened.NextSequence);
                    for (long s = 1; s <= flushed; s++)
                    {
                        AssertSame(Of(s), reopened.Read(s));
                    }
                }

                if (flushed == 7)
                {
                    break; // the cut came after the last flush
                }

                cuts++;
            }
        }

        Assert.True(cuts > 11 * 10, $"only {cuts} cuts"); // 7 records, 3 rolls: 7 flushes of records, 3 of headers
    }

    [Fact]
    public void A_power_cut_before_any_flush_of_a_compaction_leaves_each_segment_old_or_new_and_no_copy()
    {
        long[] chosen = [1, 3, 5]; // one record in each of the first three segments
        bool sawMixed = false;
        foreach (Random? torn in CrashModels())
        {
            for (int flush = 1; ; flush++)
            {
                var disk = new SimulatedDisk(torn);
                SegmentLog log = SegmentLog.Open(Folder, 0, Options, files: disk.SegmentFiles);
                for (long s = 1; s <= 7; s++)
                {
                    log.Append(Of(s));
                }

                log.Flush();
                Assert.Equal(4, log.SegmentCount);
                CutBeforeFlush(disk, flush);
                bool finished;
                try
                {
                    finished = log.Remove(chosen) == chosen.Length;
                }
                catch (StateGenException)
                {
                    finished = false; // the power went
                }

                IReadOnlyDictionary<string, byte[]> images = disk.Crash();
                log.Dispose();

                var survivor = new SimulatedDisk(images);
                int removed = 0;
                using (SegmentLog reopened = SegmentLog.Open(Folder, 7, Options, files: survivor.SegmentFiles))
                {
                    Assert.Equal(8, reopened.NextSequence);
                    for (long s = 1; s <= 7; s++)
                    {
                        StateChangeRecord? record = reopened.Read(s);
                        if (record is null && chosen.Contains(s))
                        {
                            removed++;
                        }
                        else
                        {
                            AssertSame(Of(s), record);
                        }
                    }
                }

                // The open deleted a leftover copy, and that deletion is on the disk.
                Assert.DoesNotContain(survivor.Images().Keys, p => p.EndsWith(".tmp", StringComparison.Ordinal));
                sawMixed |= removed is > 0 and < 3;
                if (finished)
                {
                    Assert.Equal(3, removed);
                    break;
                }
            }
        }

        Assert.True(sawMixed, "no cut fell between two segments' compactions");
    }

    [Fact]
    public void A_log_reopened_in_the_same_process_flushes_what_the_closed_one_appended_and_never_flushed()
    {
        // A store that goes on after an I/O error reopens its log without flushing it; a writer waiting for durability
        // is then covered by the new log's first flush, which must reach the records the old one appended.
        var disk = new SimulatedDisk();
        using (SegmentLog log = SegmentLog.Open(Folder, 0, Options, files: disk.SegmentFiles))
        {
            log.Append(SegmentLogTestSupport.Write(1, 0, payloadLength: 100));
            log.Append(SegmentLogTestSupport.Write(2, 1, payloadLength: 100));
        }

        using (SegmentLog reopened = SegmentLog.Open(Folder, 2, Options, files: disk.SegmentFiles))
        {
            Assert.True(reopened.IsDirty);
            reopened.Flush();
        }

        using SegmentLog afterCut = SegmentLog.Open(Folder, 2, Options, files: new SimulatedDisk(disk.Crash()).SegmentFiles);
        Assert.Equal([1L, 2], afterCut.ReadFrom(0).Select(r => r.Sequence));
    }
}
