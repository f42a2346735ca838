using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// <see cref="SegmentLog.RewritePayloads"/>: one segment a call, looped over the log; the new payloads are read back by
/// every read path and after a reopen, every other byte stays (other records, tombstones, the commit-end flag, seals);
/// payloads may grow, shrink or empty; the open segment takes appends after it; a failed write, flush or rename or a
/// power cut at any step leaves each segment wholly old or wholly new, and a rerun finishes; limits, a throwing
/// function and damage leave the segment as it was; readers never see a damaged record meanwhile.
/// </summary>
public sealed class SegmentLogRewriteTests : SegmentLogTestBase
{
    private const string SimulatedFolder = "/simulated/state.db.changes";

    private static readonly SegmentLogOptions TwoPerSegment = new() { RollBytes = 1024 };

    /// <summary>Ten changes of keys a, b, c with 300-byte payloads (two or three records a segment, five segments), one a delete.</summary>
    private static readonly StateChangeRecord[] Ten =
    [
        Write(1, 0, key: "a", payloadLength: 300, correlation: "c1"),
        Write(2, 0, key: "b", payloadLength: 300),
        Write(3, 1, key: "a", payloadLength: 300, correlation: "c1"),
        Delete(4, 2, key: "b"),
        Write(5, 0, key: "c", payloadLength: 300, correlation: "c2"),
        Write(6, 3, key: "a", payloadLength: 300),
        Write(7, 4, key: "b", payloadLength: 300),
        Write(8, 5, key: "c", payloadLength: 300, correlation: "c2"),
        Write(9, 6, key: "a", payloadLength: 300, correlation: "c1"),
        Write(10, 8, key: "c", payloadLength: 300),
    ];

    /// <summary>
    /// "Keep this payload", typed: a <see langword="null"/> <c>byte[]</c> returned where the function's result is a
    /// <c>ReadOnlyMemory&lt;byte&gt;?</c> converts to an empty payload, not to <see langword="null"/>.
    /// </summary>
    private static readonly ReadOnlyMemory<byte>? Keep = null;

    /// <summary>The new payload of record <paramref name="sequence"/>: other bytes, 120, 320 or 520 of them (shorter and longer than 300).</summary>
    private static byte[] NewPayload(long sequence) => Payload(sequence + 1000, 120 + (int)(sequence % 3 * 200));

    /// <summary>What a rewrite of <see cref="Ten"/> makes of a record: writes get <see cref="NewPayload"/>, deletes keep theirs.</summary>
    private static StateChangeRecord Rewritten(StateChangeRecord record)
        => record.Kind == StateChangeKind.Delete ? record : record with { Payload = NewPayload(record.Sequence) };

    /// <summary>A 400-byte-payload record (two a segment under <see cref="TwoPerSegment"/>).</summary>
    private static StateChangeRecord Big(long sequence) => Write(sequence, sequence - 1, payloadLength: 400);

    /// <summary>The new payload of <see cref="Big"/> records in the fault tests (shorter than the old one).</summary>
    private static StateChangeRecord BigNew(long sequence) => Big(sequence) with { Payload = Payload(sequence + 5000, 150) };

    /// <summary>Encodes a record as the log writes it, with or without the commit-end flag.</summary>
    private static byte[] Encode(StateChangeRecord record, bool endsCommit)
    {
        var bytes = new byte[SegmentFormat.Measure(record, int.MaxValue / 2)];
        SegmentFormat.Encode(record, bytes, endsCommit);
        return bytes;
    }

    /// <summary>The first sequence in each segment file's header, oldest first.</summary>
    private static long[] FirstSequences(IEnumerable<byte[]> segments)
        => segments.Select(bytes =>
        {
            Assert.Null(SegmentFormat.ReadHeader(bytes.AsSpan(0, SegmentFormat.HeaderSize), out _, out long first, out _));
            return first;
        }).ToArray();

    /// <summary>
    /// Calls <see cref="SegmentLog.RewritePayloads"/> from <paramref name="afterSequence"/> until its result stops growing
    /// or reaches <paramref name="throughSequence"/>, as a caller does; returns each call's result and the payloads replaced.
    /// </summary>
    private static (List<long> Results, int Rewritten) RewriteAll(SegmentLog log, long afterSequence, long throughSequence, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite)
    {
        var results = new List<long>();
        int total = 0;
        long after = afterSequence;
        while (after < throughSequence)
        {
            long handled = log.RewritePayloads(after, throughSequence, rewrite, out int rewritten);
            total += rewritten;
            if (handled == after)
            {
                break;
            }

            Assert.True(handled > after);
            results.Add(handled);
            after = handled;
        }

        return (results, total);
    }

    private static void AssertRewrittenTen(SegmentLog log)
    {
        foreach (StateChangeRecord record in Ten)
        {
            AssertSame(Rewritten(record), log.Read(record.Sequence));
        }

        StateChangeRecord[] all = [.. log.ReadFrom(0)];
        Assert.Equal(Enumerable.Range(1, 10).Select(s => (long)s), all.Select(r => r.Sequence));
        for (int i = 0; i < all.Length; i++)
        {
            AssertSame(Rewritten(Ten[i]), all[i]);
        }

        Assert.Equal([8L, 9, 10], log.ReadFrom(7).Select(r => r.Sequence));
        StateChangeRecord[] history = [.. log.ReadHistory("agent/a1", "a")];
        Assert.Equal([9L, 6, 3, 1], history.Select(r => r.Sequence));
        foreach (StateChangeRecord record in history)
        {
            AssertSame(Rewritten(Ten[record.Sequence - 1]), record);
        }

        Assert.Equal([7L, 4, 2], log.ReadHistory("agent/a1", "b").Select(r => r.Sequence));
        Assert.Equal(NewPayload(10), log.ReadHistory("agent/a1", "c").First().Payload.ToArray());
        Assert.Equal([1L, 3, 9], log.SequencesOf("c1"));
        Assert.Equal([5L, 8], log.SequencesOf("c2"));
        foreach (long sequence in log.SequencesOf("c2"))
        {
            Assert.Equal(NewPayload(sequence), log.Read(sequence)!.Payload.ToArray());
        }

        Assert.Equal((9L, false), log.LastChangeOf("agent/a1", "a"));
        Assert.Equal((7L, false), log.LastChangeOf("agent/a1", "b"));
        Assert.Equal(10, log.HeadOf("agent/a1", "c"));
    }

    [Fact]
    public void Looping_over_the_segments_replaces_every_payload_for_every_read_path_and_after_reopen()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0, TwoPerSegment))
        {
            foreach (StateChangeRecord record in Ten)
            {
                log.Append(record);
            }

            Assert.Equal(5, log.SegmentCount);
            byte[][] files = Segments(Folder).Select(File.ReadAllBytes).ToArray();
            long[] firsts = FirstSequences(files);

            var seen = new List<StateChangeRecord>();
            (List<long> results, int rewritten) = RewriteAll(log, 0, 10, record =>
            {
                seen.Add(record);
                return record.Kind == StateChangeKind.Delete ? Keep : NewPayload(record.Sequence);
            });

            // One segment a call: each call ends at its segment's last record.
            long[] segmentEnds = [.. firsts.Skip(1).Select(f => f - 1), 10];
            Assert.Equal(segmentEnds, results);
            Assert.Equal(9, rewritten);
            Assert.Equal(Enumerable.Range(1, 10).Select(s => (long)s), seen.Select(r => r.Sequence));
            for (int i = 0; i < seen.Count; i++)
            {
                AssertSame(Ten[i], seen[i]); // the function was given the whole record, with its old payload
            }

            AssertRewrittenTen(log);
            Assert.Equal(Ten.SelectMany(r => SegmentLogTestSupport.Encode(Rewritten(r))).ToArray(), Bodies(Folder));
            Assert.Equal(files.Select(f => f[..SegmentFormat.HeaderSize]).ToArray(), Segments(Folder).Select(f => File.ReadAllBytes(f)[..SegmentFormat.HeaderSize]).ToArray());
            Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));
            Assert.Equal(5, log.SegmentCount);

            // Past the end: nothing to do.
            Assert.Equal(10, log.RewritePayloads(10, 20, _ => throw new InvalidOperationException("not called"), out int none));
            Assert.Equal(0, none);
        }

        using (SegmentLog reopened = SegmentLog.Open(Folder, 10, TwoPerSegment))
        {
            AssertRewrittenTen(reopened);
            reopened.Append(Write(11, 9, key: "a", payloadLength: 300, correlation: "c1"));
            reopened.Append(Write(12, 10, key: "c", payloadLength: 300));
            reopened.Flush();
        }

        using SegmentLog again = SegmentLog.Open(Folder, 12, TwoPerSegment);
        Assert.Equal(13, again.NextSequence);
        AssertSame(Rewritten(Ten[8]), again.Read(9));
        AssertSame(Write(11, 9, key: "a", payloadLength: 300, correlation: "c1"), again.Read(11));
        Assert.Equal([11L, 9, 6, 3, 1], again.ReadHistory("agent/a1", "a").Select(r => r.Sequence));
        Assert.Equal([1L, 3, 9, 11], again.SequencesOf("c1"));
    }

    [Fact]
    public void A_partial_range_replaces_only_its_records_and_null_keeps_a_payload_byte_for_byte()
    {
        StateChangeRecord[] records = [.. Enumerable.Range(1, 6).Select(s => Write(s, s - 1, payloadLength: 100, correlation: "c"))];
        using SegmentLog log = SegmentLog.Open(Folder, 0);
        foreach (StateChangeRecord record in records)
        {
            log.Append(record);
        }

        string segment = Segments(Folder).Single();
        byte[] header = File.ReadAllBytes(segment)[..SegmentFormat.HeaderSize];
        var seen = new List<long>();
        long handled = log.RewritePayloads(2, 4, record =>
        {
            seen.Add(record.Sequence);
            return record.Sequence == 4 ? Keep : NewPayload(record.Sequence);
        }, out int rewritten);

        Assert.Equal(4, handled); // the range ends before the segment does
        Assert.Equal(1, rewritten);
        Assert.Equal([3L, 4], seen);
        StateChangeRecord[] expected = [.. records.Select(r => r.Sequence == 3 ? r with { Payload = NewPayload(3) } : r)];
        Assert.Equal(expected.SelectMany(SegmentLogTestSupport.Encode).ToArray(), Bodies(Folder));
        Assert.Equal(header, File.ReadAllBytes(segment)[..SegmentFormat.HeaderSize]);
        for (int i = 0; i < expected.Length; i++)
        {
            AssertSame(expected[i], log.Read(i + 1));
        }

        // From the middle to past the end: the rest of the segment.
        Assert.Equal(6, log.RewritePayloads(4, 100, r => r.Sequence == 6 ? NewPayload(6) : Keep, out rewritten));
        Assert.Equal(1, rewritten);
        expected[5] = records[5] with { Payload = NewPayload(6) };
        Assert.Equal(expected.SelectMany(SegmentLogTestSupport.Encode).ToArray(), Bodies(Folder));

        // Empty ranges return the sequence they were given and never call the function.
        Assert.Equal(3, log.RewritePayloads(3, 3, _ => throw new InvalidOperationException("not called"), out rewritten));
        Assert.Equal(0, rewritten);
        Assert.Equal(6, log.RewritePayloads(6, 9, _ => throw new InvalidOperationException("not called"), out rewritten));
        Assert.Equal(0, rewritten);
        Assert.Equal(5, log.RewritePayloads(5, 2, _ => throw new InvalidOperationException("not called"), out rewritten));
        Assert.Equal(0, rewritten);
        Assert.Throws<ArgumentNullException>(() => log.RewritePayloads(0, 6, null!, out _));
        Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));
        Assert.Equal(expected.SelectMany(SegmentLogTestSupport.Encode).ToArray(), Bodies(Folder));
    }

    [Fact]
    public void When_every_payload_is_kept_no_file_is_written_or_renamed()
    {
        var disk = new SimulatedDisk();
        using SegmentLog log = SegmentLog.Open(SimulatedFolder, 0, TwoPerSegment, files: disk.SegmentFiles);
        for (long s = 1; s <= 5; s++)
        {
            log.Append(Big(s));
        }

        log.Flush();
        Dictionary<string, byte[]> before = disk.Contents();
        string[] paths = [.. before.Keys.Order(StringComparer.Ordinal)];
        long[] syncs = [.. paths.Select(disk.SyncCount)];
        disk.FailAt(); // counts from here, fails nothing
        var seen = new List<long>();
        (List<long> results, int rewritten) = RewriteAll(log, 0, 5, record =>
        {
            seen.Add(record.Sequence);
            return null;
        });

        Assert.Equal([2L, 4, 5], results);
        Assert.Equal(0, rewritten);
        Assert.Equal([1L, 2, 3, 4, 5], seen);
        Assert.Equal(0, disk.FaultCounts.Syncs); // no copy was flushed, so none was renamed over a segment
        Assert.Equal(syncs, paths.Select(disk.SyncCount)); // each name still holds its own file
        Dictionary<string, byte[]> after = disk.Contents();
        Assert.Equal(paths, after.Keys.Order(StringComparer.Ordinal));
        foreach (string path in paths)
        {
            Assert.Equal(before[path], after[path]);
        }
    }

    [Fact]
    public void Tombstones_are_never_passed_on_and_the_commit_end_flag_keeps_write_behind_commits_at_reopen()
    {
        static StateChangeRecord Record(long s) => Write(s, s > 3 ? s - 3 : 0, key: "k" + (s % 3), payloadLength: 100, correlation: "c");
        static bool Flagged(long s) => s is 3 or 6;
        long[] removed = [2, 4];
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            // Two commits the log decided (flag on 3 and 6), then one a crash would cut short (7, 8).
            for (long s = 1; s <= 8; s++)
            {
                log.Append(Record(s), endsCommit: Flagged(s));
            }

            Assert.Equal(2, log.Remove(removed));
            var seen = new List<long>();
            (_, int rewritten) = RewriteAll(log, 0, 8, record =>
            {
                seen.Add(record.Sequence);
                return NewPayload(record.Sequence);
            });

            Assert.Equal([1L, 3, 5, 6, 7, 8], seen);
            Assert.Equal(6, rewritten);
            byte[] expected = Enumerable.Range(1, 8).SelectMany(i =>
            {
                long s = i;
                return removed.Contains(s) ? EncodeTombstone(Record(s)) : Encode(Record(s) with { Payload = NewPayload(s) }, Flagged(s));
            }).ToArray();
            Assert.Equal(expected, Bodies(Folder));
            Assert.Null(log.Read(2));
            Assert.Null(log.Read(4));
            Assert.Equal([1L, 3, 5, 6, 7, 8], log.ReadFrom(0).Select(r => r.Sequence));
            Assert.Equal([1L, 3, 5, 6, 7, 8], log.SequencesOf("c"));
            log.Flush();
        }

        // The database committed nothing: only the flags keep records 1 to 6; the unfinished commit 7-8 is cut.
        using SegmentLog reopened = SegmentLog.Open(Folder, 0);
        Assert.Equal(7, reopened.NextSequence);
        Assert.Equal([1L, 3, 5, 6], reopened.ReadFrom(0).Select(r => r.Sequence));
        foreach (long s in new long[] { 1, 3, 5, 6 })
        {
            AssertSame(Record(s) with { Payload = NewPayload(s) }, reopened.Read(s));
        }

        Assert.Null(reopened.Read(2));
        Assert.Null(reopened.Read(4));
        Assert.Equal([6L, 3], reopened.ReadHistory("agent/a1", "k0").Select(r => r.Sequence));
        Assert.Equal([5L], reopened.ReadHistory("agent/a1", "k2").Select(r => r.Sequence)); // through the tombstone 2
    }

    [Fact]
    public void Payloads_may_grow_shrink_and_empty_and_the_seals_are_rewritten_after_the_new_records()
    {
        int[] lengths = [2000, 0, 10, 800, 0, 1]; // the first is longer than a whole segment may grow by appends
        StateChangeRecord New(long s) => Big(s) with { Payload = Payload(s + 7000, lengths[s - 1]) };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, TwoPerSegment))
        {
            for (long s = 1; s <= 6; s++)
            {
                log.Append(Big(s));
            }

            Assert.Equal(3, log.SegmentCount);
            (List<long> results, int rewritten) = RewriteAll(log, 0, 6, record => New(record.Sequence).Payload);
            Assert.Equal([2L, 4, 6], results);
            Assert.Equal(6, rewritten);
            for (long s = 1; s <= 6; s++)
            {
                AssertSame(New(s), log.Read(s));
            }

            // Each sealed segment ends with its seal at its new length (RecordBytes checks the seal's offset).
            string[] paths = Segments(Folder);
            for (int i = 0; i < paths.Length; i++)
            {
                byte[] body = RecordBytes(File.ReadAllBytes(paths[i]));
                Assert.Equal(SegmentLogTestSupport.Encode(New((2 * i) + 1)).Concat(SegmentLogTestSupport.Encode(New((2 * i) + 2))), body);
                Assert.Equal(i < 2, File.ReadAllBytes(paths[i]).Length == SegmentFormat.HeaderSize + body.Length + SegmentFormat.SealSize);
            }

            log.Append(Big(7));
            log.Flush();
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 7, TwoPerSegment);
        Assert.Equal(8, reopened.NextSequence);
        Assert.Equal(Enumerable.Range(1, 6).Select(s => New(s).Payload.ToArray()), reopened.ReadFrom(0).Take(6).Select(r => r.Payload.ToArray()));
        AssertSame(Big(7), reopened.Read(7));
    }

    [Fact]
    public void The_open_segment_is_rewritten_and_appends_go_on_after_its_new_end()
    {
        StateChangeRecord Small(long s) => Big(s) with { Payload = Payload(s + 3000, 10) };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, TwoPerSegment))
        {
            for (long s = 1; s <= 3; s++)
            {
                log.Append(Big(s));
            }

            Assert.Equal(2, log.SegmentCount);
            Assert.True(log.IsDirty); // record 3 is not flushed yet: the copy puts it on the disk
            Assert.Equal(3, log.RewritePayloads(2, 3, record => Small(record.Sequence).Payload, out int rewritten));
            Assert.Equal(1, rewritten);
            AssertSame(Small(3), log.Read(3));

            // The open segment is shorter now: record 4 fits after the new record 3, record 5 rolls and seals it there.
            log.Append(Big(4));
            Assert.Equal(2, log.SegmentCount);
            log.Append(Big(5));
            Assert.Equal(3, log.SegmentCount);
            log.Flush();
            Assert.Equal([1L, 2, 3, 4, 5], log.ReadFrom(0).Select(r => r.Sequence));
        }

        Assert.Equal(new[] { Big(1), Big(2), Small(3), Big(4), Big(5) }.SelectMany(SegmentLogTestSupport.Encode).ToArray(), Bodies(Folder));
        using SegmentLog reopened = SegmentLog.Open(Folder, 5, TwoPerSegment); // the seal of segment 2 is checked here
        Assert.Equal(6, reopened.NextSequence);
        AssertSame(Small(3), reopened.Read(3));
        AssertSame(Big(4), reopened.Read(4));
        Assert.Equal([5L, 4, 3, 2, 1], reopened.ReadHistory("agent/a1", "k").Select(r => r.Sequence));
    }

    /// <summary>
    /// Opens <paramref name="images"/> at sequence 7 and asserts that each segment (records 1-2, 3-4, 5-6, 7) holds wholly
    /// old or wholly new payloads and that no copy is left; returns the number of segments found new.
    /// </summary>
    private static int AssertEachSegmentOldOrNew(IReadOnlyDictionary<string, byte[]> images, out SimulatedDisk survivor)
    {
        survivor = new SimulatedDisk(images);
        int newSegments = 0;
        using (SegmentLog reopened = SegmentLog.Open(SimulatedFolder, 7, TwoPerSegment, files: survivor.SegmentFiles))
        {
            Assert.Equal(8, reopened.NextSequence);
            foreach (long[] segment in new[] { new long[] { 1, 2 }, [3, 4], [5, 6], [7] })
            {
                bool isNew = reopened.Read(segment[0])!.Payload.Span.SequenceEqual(BigNew(segment[0]).Payload.Span);
                foreach (long s in segment)
                {
                    AssertSame(isNew ? BigNew(s) : Big(s), reopened.Read(s));
                }

                newSegments += isNew ? 1 : 0;
            }
        }

        Assert.DoesNotContain(survivor.Images().Keys, p => p.EndsWith(".tmp", StringComparison.Ordinal));
        return newSegments;
    }

    /// <summary>A log of records 1 to 7 (four segments, all flushed) on <paramref name="disk"/>.</summary>
    private static SegmentLog BuildFaultLog(SimulatedDisk disk)
    {
        SegmentLog log = SegmentLog.Open(SimulatedFolder, 0, TwoPerSegment, files: disk.SegmentFiles);
        for (long s = 1; s <= 7; s++)
        {
            log.Append(Big(s));
        }

        log.Flush();
        Assert.Equal(4, log.SegmentCount);
        return log;
    }

    private static ReadOnlyMemory<byte>? ToNew(StateChangeRecord record) => BigNew(record.Sequence).Payload;

    [Fact]
    public void A_failed_write_flush_or_rename_at_every_step_is_typed_and_leaves_each_segment_old_or_new()
    {
        foreach (bool atSync in new[] { false, true })
        {
            int faults = 0;
            bool sawMixed = false;
            for (int k = 1; ; k++)
            {
                var disk = new SimulatedDisk();
                using SegmentLog log = BuildFaultLog(disk);
                if (atSync)
                {
                    disk.FailAt(sync: k);
                }
                else
                {
                    disk.FailAt(write: k);
                }

                bool failed = false;
                try
                {
                    Assert.Equal(7, RewriteAll(log, 0, 7, ToNew).Rewritten);
                }
                catch (StateStoreException ex)
                {
                    Assert.IsNotType<StateStoreCorruptedException>(ex);
                    Assert.IsType<IOException>(ex.InnerException);
                    failed = true;
                }

                // The log goes on: what it reads is old or new per segment, and the power staying on or going now both reopen so.
                for (long s = 1; s <= 7; s++)
                {
                    StateChangeRecord? record = log.Read(s);
                    Assert.NotNull(record);
                    Assert.True(record.Payload.Span.SequenceEqual(Big(s).Payload.Span) || record.Payload.Span.SequenceEqual(BigNew(s).Payload.Span));
                }

                int atOpen = AssertEachSegmentOldOrNew(disk.Contents(), out _);
                AssertEachSegmentOldOrNew(disk.Images(), out _);
                sawMixed |= atOpen is > 0 and < 4;
                if (!failed)
                {
                    Assert.Equal(4, atOpen);
                    break;
                }

                faults++;

                // A rerun finishes the job, on the same log and on the reopened one alike.
                RewriteAll(log, 0, 7, ToNew);
                Assert.Equal(4, AssertEachSegmentOldOrNew(disk.Contents(), out _));
                Assert.DoesNotContain(disk.Contents().Keys, p => p.EndsWith(".tmp", StringComparison.Ordinal));
            }

            Assert.True(faults >= 4, $"only {faults} faults at {(atSync ? "flushes" : "writes")}");
            Assert.True(sawMixed, "no fault fell between two segments' rewrites");
        }
    }

    [Fact]
    public void A_power_cut_at_every_write_and_flush_of_a_rewrite_leaves_each_segment_old_or_new_and_a_rerun_finishes()
    {
        int cuts = 0;
        bool sawMixed = false;
        foreach (Random? torn in new Random?[] { null }.Concat(Enumerable.Range(1, 5).Select(seed => new Random(seed))))
        {
            foreach (bool atWrites in new[] { false, true })
            {
                for (int k = atWrites ? 0 : 1; ; k++)
                {
                    var disk = new SimulatedDisk(torn);
                    SegmentLog log = BuildFaultLog(disk);
                    CutPowerAt(disk, k, atWrites);
                    bool finished;
                    try
                    {
                        RewriteAll(log, 0, 7, ToNew);
                        finished = !disk.Crashed;
                    }
                    catch (StateStoreException)
                    {
                        finished = false; // the power went
                    }

                    IReadOnlyDictionary<string, byte[]> images = disk.Crash();
                    log.Dispose();
                    int newSegments = AssertEachSegmentOldOrNew(images, out SimulatedDisk survivor);
                    sawMixed |= newSegments is > 0 and < 4;
                    if (finished)
                    {
                        Assert.Equal(4, newSegments); // each copy was renamed and its folder flushed before the call returned
                        break;
                    }

                    cuts++;
                    using (SegmentLog reopened = SegmentLog.Open(SimulatedFolder, 7, TwoPerSegment, files: survivor.SegmentFiles))
                    {
                        RewriteAll(reopened, 0, 7, ToNew);
                    }

                    Assert.Equal(4, AssertEachSegmentOldOrNew(survivor.Crash(), out _));
                }
            }
        }

        Assert.True(cuts >= 6 * 8, $"only {cuts} cuts"); // four copies: each one's write and each one's flush, six crash models
        Assert.True(sawMixed, "no cut fell between two segments' rewrites");
    }

    [Fact]
    public void A_payload_over_the_limit_is_a_typed_error_naming_the_segment_and_sequence_and_changes_nothing()
    {
        var options = new SegmentLogOptions { MaxPayloadBytes = 1000 };
        using SegmentLog log = SegmentLog.Open(Folder, 0, options);
        for (long s = 1; s <= 4; s++)
        {
            log.Append(Write(s, s - 1, payloadLength: 100));
        }

        string segment = Segments(Folder).Single();
        byte[] before = File.ReadAllBytes(segment);
        byte[] secret = Payload(99, 1001);
        var error = Assert.Throws<StateStoreException>(() => log.RewritePayloads(0, 4, r => r.Sequence == 3 ? secret : NewPayload(r.Sequence), out _));
        Assert.IsNotType<StateStoreCorruptedException>(error);
        Assert.Contains(segment, error.Message, StringComparison.Ordinal);
        Assert.Contains("record 3 ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(secret[..8]), error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, File.ReadAllBytes(segment));
        Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));
        AssertSame(Write(1, 0, payloadLength: 100), log.Read(1));

        // The limit itself is fine.
        Assert.Equal(4, log.RewritePayloads(0, 4, r => r.Sequence == 3 ? Payload(99, 1000) : Keep, out int rewritten));
        Assert.Equal(1, rewritten);
        Assert.Equal(Payload(99, 1000), log.Read(3)!.Payload.ToArray());
    }

    [Fact]
    public void An_exception_from_the_function_comes_out_as_it_is_and_changes_nothing()
    {
        using SegmentLog log = SegmentLog.Open(Folder, 0);
        for (long s = 1; s <= 4; s++)
        {
            log.Append(Write(s, s - 1, payloadLength: 100));
        }

        string segment = Segments(Folder).Single();
        byte[] before = File.ReadAllBytes(segment);

        // An I/O error of the caller's own (reading a key, say) is not taken for the log's.
        foreach (Exception thrown in new Exception[] { new IOException("the caller's"), new InvalidOperationException("the caller's") })
        {
            Exception caught = Assert.ThrowsAny<Exception>(() => log.RewritePayloads(0, 4, r => r.Sequence == 3 ? throw thrown : NewPayload(r.Sequence), out _));
            Assert.Same(thrown, caught);
            Assert.Equal(before, File.ReadAllBytes(segment));
            Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));
        }

        Assert.Equal(4, log.RewritePayloads(0, 4, r => NewPayload(r.Sequence), out int rewritten));
        Assert.Equal(4, rewritten);
    }

    [Fact]
    public void A_damaged_record_is_a_corruption_error_and_the_segment_stays_as_it_was()
    {
        var disk = new SimulatedDisk();
        using SegmentLog log = SegmentLog.Open(SimulatedFolder, 0, files: disk.SegmentFiles);
        for (long s = 1; s <= 3; s++)
        {
            log.Append(Write(s, s - 1, payloadLength: 100));
        }

        log.Flush();
        string segment = Path.Combine(SimulatedFolder, SegmentFormat.FileName(1));
        int inSecond = SegmentFormat.HeaderSize + SegmentLogTestSupport.Encode(Write(1, 0, payloadLength: 100)).Length + 40;
        byte[] flipped = [(byte)(disk.Contents()[segment][inSecond] ^ 0x01)];
        disk.Open(segment).WriteAtOffset(inSecond, flipped); // record 2 is damaged under the open log
        Dictionary<string, byte[]> damaged = disk.Contents();
        var calls = 0;
        var error = Assert.Throws<StateStoreCorruptedException>(() => log.RewritePayloads(0, 3, r =>
        {
            calls++;
            return NewPayload(r.Sequence);
        }, out _));
        Assert.Contains("record 2", error.Failure, StringComparison.Ordinal);
        Assert.Equal(1, calls); // record 1 was read before the damage
        Dictionary<string, byte[]> after = disk.Contents();
        Assert.Equal(damaged.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal)); // no copy left
        Assert.Equal(damaged[segment], after[segment]);
    }

    [Fact]
    public async Task Readers_during_rewrites_never_see_a_damaged_record()
    {
        const int Records = 40;
        const int Rounds = 6;
        var options = new SegmentLogOptions { RollBytes = 2048 };
        StateChangeRecord Original(long s) => Write(s, s - 1, payloadLength: 200, correlation: "c");
        byte[] Version(long s, int round) => Payload(s + (round * 100), 50 + (round * 90));
        using SegmentLog log = SegmentLog.Open(Folder, 0, options);
        for (long s = 1; s <= Records; s++)
        {
            log.Append(Original(s));
        }

        Assert.True(log.SegmentCount > 3);
        void CheckRecord(StateChangeRecord? record)
        {
            Assert.NotNull(record);
            byte[] payload = record.Payload.ToArray();
            int round = Enumerable.Range(0, Rounds + 1).FirstOrDefault(r => Version(record.Sequence, r).AsSpan().SequenceEqual(payload), -1);
            Assert.True(round >= 0 || payload.AsSpan().SequenceEqual(Original(record.Sequence).Payload.Span), $"record {record.Sequence} has a payload no rewrite gave it");
            AssertSame(Original(record.Sequence) with { Payload = payload }, record);
        }

        void Read(Random random)
        {
            long expected = 1;
            foreach (StateChangeRecord record in log.ReadFrom(0))
            {
                Assert.Equal(expected++, record.Sequence);
                CheckRecord(record);
            }

            Assert.Equal(Records + 1, expected);
            CheckRecord(log.Read(random.Next(1, Records + 1)));
            Assert.Equal(Records, log.SequencesOf("c").Count);
            CheckRecord(log.ReadHistory("agent/a1", "k").First());
        }

        await WhileReadersAndAFlusherRun(log, 2, Read, reads =>
        {
            for (int round = 1; round <= Rounds; round++)
            {
                int current = round;
                Assert.Equal(Records, RewriteAll(log, 0, Records, r => Version(r.Sequence, current)).Rewritten);
                long target = reads() + 10;
                SpinWait.SpinUntil(() => reads() >= target, TimeSpan.FromSeconds(10));
            }
        });

        for (long s = 1; s <= Records; s++)
        {
            Assert.Equal(Version(s, Rounds), log.Read(s)!.Payload.ToArray());
        }
    }
}
