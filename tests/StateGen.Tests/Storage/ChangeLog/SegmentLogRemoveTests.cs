using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// <see cref="SegmentLog.Remove"/>: chosen records become tombstones (sequences stay consecutive), the segments holding
/// them are rewritten and swapped in; reads, the index, appends, discards and retention go on around the tombstones,
/// before and after a reopen. Also <see cref="SegmentLog.LastChangeOf"/>. Recovery of tombstones and of a compaction cut
/// short is in <see cref="SegmentLogRemoveRecoveryTests"/>.
/// </summary>
public sealed class SegmentLogRemoveTests : SegmentLogTestBase
{
    private static readonly SegmentLogOptions TwoPerSegment = new() { RollBytes = 1024 };

    /// <summary>Ten changes of keys a, b, c (300-byte payloads: two or three records a segment, five segments).</summary>
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

    private static readonly long[] Chosen = [1, 4, 5, 6, 8];

    private static byte[] ExpectedBodies(StateChangeRecord[] records, IReadOnlyCollection<long> removed)
        => records.SelectMany(r => removed.Contains(r.Sequence) ? EncodeTombstone(r) : Encode(r)).ToArray();

    private void AssertChosenRemoved(SegmentLog log)
    {
        foreach (StateChangeRecord record in Ten)
        {
            if (Chosen.Contains(record.Sequence))
            {
                Assert.Null(log.Read(record.Sequence));
            }
            else
            {
                AssertSame(record, log.Read(record.Sequence));
            }
        }

        Assert.Equal([2L, 3, 7, 9, 10], log.ReadFrom(0).Select(r => r.Sequence));
        Assert.Equal([7L, 9, 10], log.ReadFrom(4).Select(r => r.Sequence)); // starting on a tombstone
        Assert.Equal([7L, 9, 10], log.ReadFrom(5).Select(r => r.Sequence));
        Assert.Equal([9L, 3], log.ReadHistory("agent/a1", "a").Select(r => r.Sequence)); // through 6; 1 gone too
        Assert.Equal([7L, 2], log.ReadHistory("agent/a1", "b").Select(r => r.Sequence)); // through the removed delete 4
        Assert.Equal([10L], log.ReadHistory("agent/a1", "c").Select(r => r.Sequence));
        AssertSame(Ten[2], log.ReadHistory("agent/a1", "a").Last());
        Assert.Equal([3L, 9], log.SequencesOf("c1"));
        Assert.Empty(log.SequencesOf("c2"));
        Assert.Equal((9L, false), log.LastChangeOf("agent/a1", "a"));
        Assert.Equal((7L, false), log.LastChangeOf("agent/a1", "b"));
        Assert.Equal(10, log.HeadOf("agent/a1", "c"));
        Assert.Equal(1, log.FirstSequence);
        Assert.Equal(11, log.NextSequence);
        Assert.Equal(5, log.SegmentCount);
    }

    [Fact]
    public void Removed_records_read_as_gone_and_the_others_stay_byte_identical_before_and_after_reopen()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0, TwoPerSegment))
        {
            foreach (StateChangeRecord record in Ten)
            {
                log.Append(record);
            }

            Assert.Equal(5, log.SegmentCount);
            byte[][] headers = Segments(Folder).Select(f => File.ReadAllBytes(f)[..SegmentFormat.HeaderSize]).ToArray();

            // Duplicates, sequences before or after the log and a repeat count once or not at all.
            Assert.Equal(5, log.Remove([8, 1, 4, 5, 6, 4, 0, -3, 11, 99]));
            AssertChosenRemoved(log);
            Assert.Equal(ExpectedBodies(Ten, Chosen), Bodies(Folder));
            Assert.Equal(headers, Segments(Folder).Select(f => File.ReadAllBytes(f)[..SegmentFormat.HeaderSize]).ToArray());
            Assert.Empty(Directory.GetFiles(Folder, "*.tmp"));

            Assert.Equal(0, log.Remove(Chosen));
            Assert.Equal(0, log.Remove([1, 0, 12]));
            Assert.Equal(0, log.Remove([]));
            AssertChosenRemoved(log);
        }

        byte[] bodies = Bodies(Folder);
        using (SegmentLog reopened = SegmentLog.Open(Folder, 10, TwoPerSegment))
        {
            AssertChosenRemoved(reopened);
            Assert.Equal(0, reopened.Remove([1, 4, 5, 6, 8]));
        }

        Assert.Equal(bodies, Bodies(Folder));
    }

    [Fact]
    public void A_current_values_record_is_refused_and_nothing_changes()
    {
        using SegmentLog log = SegmentLog.Open(Folder, 0, TwoPerSegment);
        foreach (StateChangeRecord record in Ten)
        {
            log.Append(record);
        }

        byte[] before = Bodies(Folder);
        Assert.Throws<ArgumentException>(() => log.Remove([1, 9])); // 9 is a's newest record, a write
        Assert.Throws<ArgumentException>(() => log.Remove([7]));
        Assert.Throws<ArgumentNullException>(() => log.Remove(null!));
        Assert.Equal(before, Bodies(Folder));
        AssertSame(Ten[0], log.Read(1));
        Assert.Equal([1L, 3, 9], log.SequencesOf("c1"));
    }

    [Fact]
    public void A_deleted_keys_records_can_all_go_and_its_head_stays_a_delete()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            log.Append(Write(1, 0, key: "x", correlation: "c"));
            log.Append(Write(2, 1, key: "x"));
            log.Append(Delete(3, 2, key: "x"));
            log.Append(Write(4, 0, key: "y", correlation: "c"));
            Assert.Equal(3, log.Remove([1, 2, 3]));
            Assert.Equal((3L, true), log.LastChangeOf("agent/a1", "x"));
            Assert.Equal(3, log.HeadOf("agent/a1", "x"));
            Assert.Empty(log.ReadHistory("agent/a1", "x"));
            Assert.Equal([4L], log.ReadFrom(0).Select(r => r.Sequence));
            Assert.Equal([4L], log.SequencesOf("c"));
        }

        using (SegmentLog log = SegmentLog.Open(Folder, 4))
        {
            Assert.Equal((3L, true), log.LastChangeOf("agent/a1", "x"));
            Assert.Empty(log.ReadHistory("agent/a1", "x"));
            Assert.Equal([4L], log.SequencesOf("c"));

            // The key is written again, chained from its removed delete.
            log.Append(Write(5, log.HeadOf("agent/a1", "x"), key: "x"));
            Assert.Equal((5L, false), log.LastChangeOf("agent/a1", "x"));
            Assert.Equal([5L], log.ReadHistory("agent/a1", "x").Select(r => r.Sequence));
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 5);
        Assert.Equal([4L, 5], reopened.ReadFrom(0).Select(r => r.Sequence));
        AssertSame(Write(5, 3, key: "x"), reopened.Read(5));
    }

    [Fact]
    public void Appends_after_a_remove_continue_the_sequence_in_the_compacted_active_segment()
    {
        var options = new SegmentLogOptions { RollBytes = 1300 }; // three records fit, a fourth only after the remove
        StateChangeRecord[] records = [Write(1, 0, key: "a", payloadLength: 300), Write(2, 0, key: "b", payloadLength: 300), Write(3, 2, key: "b", payloadLength: 300)];
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            foreach (StateChangeRecord record in records)
            {
                log.Append(record);
            }

            Assert.Equal(1, log.SegmentCount);
            Assert.True(log.IsDirty);
            Assert.Equal(1, log.Remove([2]));
            log.Flush();
            Assert.False(log.IsDirty);

            // The active segment is shorter now: the next record fits in it, the one after rolls.
            log.Append(Write(4, 1, key: "a", payloadLength: 300));
            Assert.Equal(1, log.SegmentCount);
            log.Append(Write(5, 4, key: "a", payloadLength: 300));
            Assert.Equal(2, log.SegmentCount);
            log.Flush();
            Assert.Equal([1L, 3, 4, 5], log.ReadFrom(0).Select(r => r.Sequence));
            Assert.Equal([3L], log.ReadHistory("agent/a1", "b").Select(r => r.Sequence));
        }

        StateChangeRecord[] all = [.. records, Write(4, 1, key: "a", payloadLength: 300), Write(5, 4, key: "a", payloadLength: 300)];
        Assert.Equal(ExpectedBodies(all, [2]), Bodies(Folder));
        using SegmentLog reopened = SegmentLog.Open(Folder, 5, options);
        Assert.Equal(6, reopened.NextSequence);
        Assert.Equal([1L, 3, 4, 5], reopened.ReadFrom(0).Select(r => r.Sequence));
        Assert.Equal([5L, 4, 1], reopened.ReadHistory("agent/a1", "a").Select(r => r.Sequence));
        AssertSame(all[4], reopened.Read(5));
    }

    [Fact]
    public void DiscardAfter_a_remove_walks_heads_back_through_tombstones()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0, TwoPerSegment))
        {
            log.Append(Write(1, 0, key: "a", payloadLength: 300));
            log.Append(Write(2, 1, key: "a", payloadLength: 300));
            log.Append(Delete(3, 2, key: "a"));
            log.Append(Write(4, 3, key: "a", payloadLength: 300));
            log.Append(Write(5, 0, key: "b", payloadLength: 300, correlation: "c"));
            log.Append(Write(6, 5, key: "b", payloadLength: 300, correlation: "c"));
            log.Append(Write(7, 0, key: "k", payloadLength: 300));
            Assert.Equal(4, log.Remove([1, 2, 3, 5])); // 5 is among the records discarded next
            Assert.Equal([6L], log.SequencesOf("c"));

            log.DiscardAfter(3);
            Assert.Equal(4, log.NextSequence);
            Assert.Equal((3L, true), log.LastChangeOf("agent/a1", "a")); // back to the removed delete
            Assert.Equal((0L, false), log.LastChangeOf("agent/a1", "b")); // back through the tombstone 5 to nothing
            Assert.Equal(0, log.HeadOf("agent/a1", "k"));
            Assert.Empty(log.SequencesOf("c"));
            Assert.Empty(log.ReadFrom(0));
            Assert.Empty(log.ReadHistory("agent/a1", "a"));

            log.Append(Write(4, 3, key: "a", payloadLength: 300));
            Assert.Equal([4L], log.ReadHistory("agent/a1", "a").Select(r => r.Sequence));
        }

        using (SegmentLog log = SegmentLog.Open(Folder, 4, TwoPerSegment))
        {
            Assert.Equal((4L, false), log.LastChangeOf("agent/a1", "a"));
            Assert.Equal([4L], log.ReadFrom(0).Select(r => r.Sequence));

            // A discard can make a removed write a key's newest record: it is reported as it was, with no record.
            log.Append(Write(5, 4, key: "a", payloadLength: 300));
            Assert.Equal(1, log.Remove([4]));
            log.DiscardAfter(4);
            Assert.Equal((4L, false), log.LastChangeOf("agent/a1", "a"));
            Assert.Null(log.Read(4));
            Assert.Empty(log.ReadHistory("agent/a1", "a"));
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 4, TwoPerSegment);
        Assert.Equal((4L, false), reopened.LastChangeOf("agent/a1", "a"));
        Assert.Empty(reopened.ReadFrom(0));
        Assert.Equal(5, reopened.NextSequence);

        // A removed newest record holds no segment back in retention (there is no record to keep): it leaves with it.
        // (The first discard left segment 1 sealed and last: record 4 went to a new segment 2, which holds only its
        // tombstone now, and record 5 rolls to segment 3. Both leading segments hold only tombstones.)
        reopened.Append(Write(5, 0, key: "k", payloadLength: 900));
        Assert.Equal(3, reopened.SegmentCount);
        Assert.Equal(2, reopened.RemoveSegments(DateTimeOffset.MinValue));
        Assert.Equal(5, reopened.FirstSequence);
        Assert.Equal((0L, false), reopened.LastChangeOf("agent/a1", "a"));
    }

    [Fact]
    public void Retention_drops_leading_segments_that_hold_only_tombstones()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 }; // one 900-byte record a segment
        DateTimeOffset recent = BaseTime.AddDays(30);
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            log.Append(Write(1, 0, key: "a", payloadLength: 900, time: recent));
            log.Append(Write(2, 0, key: "x", payloadLength: 900, time: recent, correlation: "c"));
            log.Append(Delete(3, 2, key: "x", time: recent));
            log.Append(Write(4, 1, key: "a", payloadLength: 900, time: recent));
            log.Append(Write(5, 0, key: "b", payloadLength: 900, time: recent));
            log.Append(Write(6, 4, key: "a", payloadLength: 900, time: recent));
            Assert.Equal(6, log.SegmentCount);

            // Nothing is old: no segment goes.
            Assert.Equal(0, log.RemoveSegments(BaseTime));

            Assert.Equal(4, log.Remove([1, 2, 3, 4]));
            Assert.Equal((3L, true), log.LastChangeOf("agent/a1", "x"));

            // 1-4 hold only tombstones: they go whatever the limit; 5 holds b's current value.
            Assert.Equal(4, log.RemoveSegments(DateTimeOffset.MinValue));
            Assert.Equal(5, log.FirstSequence);
            Assert.Equal(2, log.SegmentCount);
            Assert.Equal((0L, false), log.LastChangeOf("agent/a1", "x")); // a deleted key leaves the index with its segment
            Assert.Equal([6L], log.ReadHistory("agent/a1", "a").Select(r => r.Sequence));
            Assert.Empty(log.SequencesOf("c"));
            Assert.Equal([5L, 6], log.ReadFrom(0).Select(r => r.Sequence));
        }

        Assert.Equal(["000005.seg", "000006.seg"], Segments(Folder).Select(Path.GetFileName));
        using SegmentLog reopened = SegmentLog.Open(Folder, 6, options);
        Assert.Equal(5, reopened.FirstSequence);
        Assert.Equal([5L, 6], reopened.ReadFrom(0).Select(r => r.Sequence));

        // A segment keeps its place while a segment before it must stay.
        reopened.Append(Write(7, 6, key: "a", payloadLength: 900, time: recent));
        Assert.Equal(1, reopened.Remove([6]));
        Assert.Equal(0, reopened.RemoveSegments(DateTimeOffset.MaxValue)); // 5 is b's current value
    }

    [Fact]
    public void LastChangeOf_gives_the_newest_record_and_whether_it_is_a_delete()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            Assert.Equal((0L, false), log.LastChangeOf("agent/a1", "k"));
            log.Append(Write(1, 0, key: "k"));
            Assert.Equal((1L, false), log.LastChangeOf("agent/a1", "k"));
            log.Append(Delete(2, 1, key: "k"));
            Assert.Equal((2L, true), log.LastChangeOf("agent/a1", "k"));
            log.Append(Write(3, 0, key: "other"));
            Assert.Equal((2L, true), log.LastChangeOf("agent/a1", "k"));
            Assert.Equal((3L, false), log.LastChangeOf("agent/a1", "other"));
            Assert.Equal((0L, false), log.LastChangeOf("agent/a2", "k")); // another scope
            log.Append(Write(4, 2, key: "k"));
            Assert.Equal((4L, false), log.LastChangeOf("agent/a1", "k"));

            log.DiscardAfter(3);
            Assert.Equal((2L, true), log.LastChangeOf("agent/a1", "k"));
            log.DiscardAfter(1);
            Assert.Equal((1L, false), log.LastChangeOf("agent/a1", "k"));
            Assert.Equal((0L, false), log.LastChangeOf("agent/a1", "other"));
            log.Append(Delete(2, 1, key: "k"));
        }

        using (SegmentLog reopened = SegmentLog.Open(Folder, 2))
        {
            Assert.Equal((2L, true), reopened.LastChangeOf("agent/a1", "k"));
            Assert.Equal((0L, false), reopened.LastChangeOf("agent/a1", "other"));
            reopened.DiscardAfter(0);
            Assert.Equal((0L, false), reopened.LastChangeOf("agent/a1", "k"));
        }

        using SegmentLog empty = SegmentLog.Open(Folder, 0);
        Assert.Equal((0L, false), empty.LastChangeOf("agent/a1", "k"));
    }

    [Fact]
    public async Task Readers_and_a_flusher_see_a_record_or_nothing_while_segments_are_compacted()
    {
        const int Records = 600;
        var options = new SegmentLogOptions { RollBytes = 8192 };
        using SegmentLog log = SegmentLog.Open(Folder, 0, options);
        StateChangeRecord Record(long sequence) => Write(sequence, sequence - 1, payloadLength: (int)(sequence % 300), correlation: "c");
        for (long sequence = 1; sequence <= Records; sequence++)
        {
            log.Append(Record(sequence));
        }

        void Read(Random random)
        {
            long sequence = 1 + random.NextInt64(Records);
            if (log.Read(sequence) is { } record)
            {
                AssertSame(Record(sequence), record);
            }

            long previous = random.NextInt64(Records);
            foreach (StateChangeRecord next in log.ReadFrom(previous).Take(20))
            {
                Assert.True(next.Sequence > previous);
                AssertSame(Record(next.Sequence), next);
                previous = next.Sequence;
            }

            long[] correlated = [.. log.SequencesOf("c")];
            Assert.Equal(correlated.Order(), correlated);
        }

        // Remove every record but the head in rounds: each round rewrites every segment.
        var removed = new List<long>();
        await WhileReadersAndAFlusherRun(log, 2, Read, reads =>
        {
            for (int round = 0; round < 5; round++)
            {
                long[] chosen = [.. Enumerable.Range(1, Records - 1).Where(s => s % 5 == round).Select(s => (long)s)];
                Assert.Equal(chosen.Length, log.Remove(chosen));
                removed.AddRange(chosen);
                long target = reads() + 20;
                SpinWait.SpinUntil(() => reads() >= target, TimeSpan.FromSeconds(10));
            }
        });

        Assert.Equal(Records - 1, removed.Distinct().Count());
        Assert.Equal([(long)Records], log.ReadFrom(0).Select(r => r.Sequence));
        Assert.Equal([(long)Records], log.SequencesOf("c"));
        Assert.Equal([(long)Records], log.ReadHistory("agent/a1", "k").Select(r => r.Sequence));
    }
}
