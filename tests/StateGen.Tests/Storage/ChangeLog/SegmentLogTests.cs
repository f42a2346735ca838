using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// The change log's segment files (docs/design/change-log-side-file.md) on real files: appends, reads, the in-memory
/// index, rolling, retention, discarding a failed commit's records and concurrent readers. Recovery is in
/// <see cref="SegmentLogRecoveryTests"/>.
/// </summary>
public sealed class SegmentLogTests : SegmentLogTestBase
{
    private static readonly StateChangeRecord[] EveryKind =
    [
        new(1, "agent/a1", "plan", StateChangeKind.Write, "agent-state", 2, 1, BaseTime, Payload(1, 11_000), 0, "corr-1", "Set"),
        new(2, "agent/a1/session/s9", "notes", StateChangeKind.Write, "notes", 1, 1, BaseTime.AddTicks(1), ReadOnlyMemory<byte>.Empty, 0, null, null),
        new(3, "agent/a1", "plan", StateChangeKind.Write, "agent-state", 3, 2, BaseTime.AddDays(1), Payload(3, 1), 1, "corr-1", null),
        new(4, "agent/a1", "plan", StateChangeKind.Delete, "agent-state", 3, 2, BaseTime.AddDays(2), ReadOnlyMemory<byte>.Empty, 3, null, "Delete"),
        new(5, "agent/ünïcødé/日本", new string('k', StateKeys.MaxKeyBytes), StateChangeKind.Write, "ns.Type`1[[x]]", int.MaxValue, long.MaxValue, DateTimeOffset.MaxValue, Payload(5, 3), 0, new string('c', 128), "Replay"),
        new(6, "agent/a1", "plan", StateChangeKind.Write, "agent-state", 3, 1, DateTimeOffset.MinValue, Payload(6, 100), 4, "corr-2", "Fork"),
    ];

    [Fact]
    public void Records_of_every_kind_read_back_equal_before_and_after_reopen()
    {
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            Assert.Equal(1, log.NextSequence);
            foreach (StateChangeRecord record in EveryKind)
            {
                log.Append(record);
            }

            foreach (StateChangeRecord record in EveryKind)
            {
                AssertSame(record, log.Read(record.Sequence));
            }
        }

        using (SegmentLog reopened = SegmentLog.Open(Folder, EveryKind.Length))
        {
            Assert.Equal(EveryKind.Length + 1, reopened.NextSequence);
            Assert.Equal(1, reopened.FirstSequence);
            foreach (StateChangeRecord record in EveryKind)
            {
                AssertSame(record, reopened.Read(record.Sequence));
            }

            Assert.Null(reopened.Read(0));
            Assert.Null(reopened.Read(EveryKind.Length + 1));
            List<StateChangeRecord> all = reopened.ReadFrom(0).ToList();
            Assert.Equal(EveryKind.Select(r => r.Sequence), all.Select(r => r.Sequence));
            Assert.Equal([4L, 5, 6], reopened.ReadFrom(3).Select(r => r.Sequence));
        }
    }

    [Fact]
    public void The_index_rebuilt_at_open_matches_the_one_kept_on_append()
    {
        (long Plan, long Notes, long Unicode, long[] Corr1, long[] Corr2, long[] History) Snapshot(SegmentLog log)
            => (log.HeadOf("agent/a1", "plan"), log.HeadOf("agent/a1/session/s9", "notes"), log.HeadOf("agent/ünïcødé/日本", EveryKind[4].Key),
                log.SequencesOf("corr-1").ToArray(), log.SequencesOf("corr-2").ToArray(), log.ReadHistory("agent/a1", "plan").Select(r => r.Sequence).ToArray());

        (long, long, long, long[], long[], long[]) live;
        using (SegmentLog log = SegmentLog.Open(Folder, 0))
        {
            foreach (StateChangeRecord record in EveryKind)
            {
                log.Append(record);
            }

            live = Snapshot(log);
            Assert.Equal(6, live.Item1);
            Assert.Equal(2, live.Item2);
            Assert.Equal(5, live.Item3);
            Assert.Equal([1L, 3], live.Item4);
            Assert.Equal([6L], live.Item5);
            Assert.Equal([6L, 4, 3, 1], live.Item6);
            Assert.Equal(0, log.HeadOf("agent/a1", "nothing"));
            Assert.Empty(log.SequencesOf("corr-none"));
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, EveryKind.Length);
        var rebuilt = Snapshot(reopened);
        Assert.Equal(live.Item1, rebuilt.Plan);
        Assert.Equal(live.Item2, rebuilt.Notes);
        Assert.Equal(live.Item3, rebuilt.Unicode);
        Assert.Equal(live.Item4, rebuilt.Corr1);
        Assert.Equal(live.Item5, rebuilt.Corr2);
        Assert.Equal(live.Item6, rebuilt.History);
    }

    [Fact]
    public void The_log_rolls_into_numbered_segments_and_reads_across_them_after_reopen()
    {
        var options = new SegmentLogOptions { RollBytes = 4096 };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            AppendWrites(log, 40, payloadLength: 1000);
            Assert.True(log.SegmentCount >= 10, $"{log.SegmentCount} segments");
        }

        string[] files = Segments(Folder);
        Assert.Equal(Enumerable.Range(1, files.Length).Select(n => n.ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + ".seg"), files.Select(Path.GetFileName));
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 4096, $"{f} is {new FileInfo(f).Length} bytes"));

        using SegmentLog reopened = SegmentLog.Open(Folder, 40, options);
        Assert.Equal(files.Length, reopened.SegmentCount);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), reopened.ReadFrom(0).Select(r => r.Sequence));
        for (long sequence = 1; sequence <= 40; sequence++)
        {
            AssertSame(Write(sequence, sequence - 1, payloadLength: 1000), reopened.Read(sequence));
        }

        // Appends after a reopen continue in the last segment and roll from there.
        AppendWrites(reopened, 10, payloadLength: 1000);
        AssertSame(Write(50, 49, payloadLength: 1000), reopened.Read(50));
    }

    [Fact]
    public void A_record_larger_than_the_roll_size_gets_a_segment_of_its_own()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            log.Append(Write(1, 0, payloadLength: 10));
            log.Append(Write(2, 1, payloadLength: 5000));
            log.Append(Write(3, 2, payloadLength: 10));
            Assert.Equal(3, log.SegmentCount);
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 3, options);
        AssertSame(Write(2, 1, payloadLength: 5000), reopened.Read(2));
    }

    [Fact]
    public void Appends_out_of_sequence_or_over_a_limit_are_refused_and_write_nothing()
    {
        using SegmentLog log = SegmentLog.Open(Folder, 0, new SegmentLogOptions { MaxPayloadBytes = 100 });
        log.Append(Write(1, 0));
        long length = new FileInfo(Segments(Folder)[0]).Length;

        Assert.Throws<ArgumentException>(() => log.Append(Write(3, 1)));
        Assert.Throws<ArgumentException>(() => log.Append(Write(1, 0)));
        Assert.Throws<ArgumentException>(() => log.Append(Write(2, 1, payloadLength: 101)));
        Assert.Throws<ArgumentException>(() => log.Append(Write(2, 1, key: new string('k', SegmentFormat.MaxKeyBytes + 1))));
        Assert.Throws<ArgumentException>(() => log.Append(Write(2, 1, key: "bad\uD800surrogate")));
        Assert.Throws<ArgumentException>(() => log.Append(Write(2, 2)));
        Assert.Throws<ArgumentException>(() => log.Append(Write(2, 1) with { Kind = (StateChangeKind)7 }));

        Assert.Equal(2, log.NextSequence);
        Assert.Equal(length, new FileInfo(Segments(Folder)[0]).Length);
        log.Append(Write(2, 1, payloadLength: 100));
        AssertSame(Write(2, 1, payloadLength: 100), log.Read(2));
    }

    [Fact]
    public void Flush_clears_the_dirty_flag_that_an_append_sets()
    {
        using SegmentLog log = SegmentLog.Open(Folder, 0);
        Assert.False(log.IsDirty);
        log.Append(Write(1, 0));
        Assert.True(log.IsDirty);
        log.Flush();
        Assert.False(log.IsDirty);
        log.Flush(); // nothing to do
        Assert.False(log.IsDirty);
    }

    [Fact]
    public void Discarding_a_failed_commits_records_restores_the_index_and_the_file()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 };
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            log.Append(Write(1, 0, key: "a", correlation: "c1"));
            log.Append(Write(2, 0, key: "b"));
            log.Append(Delete(3, 1, key: "a"));
            int segments = log.SegmentCount;

            // The batch whose commit fails: a rewrite of a, a new key c, a write of b; it rolls into new segments.
            log.Append(Write(4, 3, key: "a", payloadLength: 900, correlation: "c1"));
            log.Append(Write(5, 0, key: "c", payloadLength: 900, correlation: "c2"));
            log.Append(Write(6, 2, key: "b", payloadLength: 900));
            Assert.True(log.SegmentCount > segments);

            log.DiscardAfter(3);
            Assert.Equal(4, log.NextSequence);
            Assert.Equal(segments, log.SegmentCount);
            Assert.Null(log.Read(4));
            Assert.Equal(3, log.HeadOf("agent/a1", "a"));
            Assert.Equal(2, log.HeadOf("agent/a1", "b"));
            Assert.Equal(0, log.HeadOf("agent/a1", "c"));
            Assert.Equal([1L], log.SequencesOf("c1"));
            Assert.Empty(log.SequencesOf("c2"));

            log.Append(Write(4, 2, key: "b"));
            AssertSame(Write(4, 2, key: "b"), log.Read(4));
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 4, options);
        Assert.Equal([1L, 2, 3, 4], reopened.ReadFrom(0).Select(r => r.Sequence));
        Assert.Equal(4, reopened.HeadOf("agent/a1", "b"));
        Assert.Throws<ArgumentOutOfRangeException>(() => reopened.DiscardAfter(-1));
    }

    [Fact]
    public void Retention_deletes_old_segments_but_keeps_every_current_values_record()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 };
        DateTimeOffset old = BaseTime;
        DateTimeOffset recent = BaseTime.AddDays(30);
        using (SegmentLog log = SegmentLog.Open(Folder, 0, options))
        {
            // Segments 1-4: old writes of "a" (rewritten later) and a key "gone" written then deleted.
            log.Append(Write(1, 0, key: "a", payloadLength: 900, time: old, correlation: "c"));
            log.Append(Write(2, 0, key: "gone", payloadLength: 900, time: old));
            log.Append(Delete(3, 2, key: "gone", time: old));
            // Segment 5: the only write of "kept", old too: its current value's record.
            log.Append(Write(4, 1, key: "a", payloadLength: 900, time: old));
            log.Append(Write(5, 0, key: "kept", payloadLength: 900, time: old, correlation: "c"));
            // Later segments: recent rewrites of "a".
            log.Append(Write(6, 4, key: "a", payloadLength: 900, time: recent));
            log.Append(Write(7, 6, key: "a", payloadLength: 900, time: recent));
            Assert.Equal(7, log.SegmentCount); // a 900-byte record fills a 1 KiB segment

            int removed = log.RemoveSegments(BaseTime.AddDays(10));
            Assert.Equal(4, removed); // 1-4 go; 5 holds "kept"'s only record
            Assert.Equal(5, log.FirstSequence);
            Assert.Null(log.Read(4));
            AssertSame(Write(5, 0, key: "kept", payloadLength: 900, time: old, correlation: "c"), log.Read(5));
            Assert.Equal(0, log.HeadOf("agent/a1", "gone"));
            Assert.Equal(5, log.HeadOf("agent/a1", "kept"));
            Assert.Equal(7, log.HeadOf("agent/a1", "a"));
            Assert.Equal([5L], log.SequencesOf("c"));
            Assert.Equal([7L, 6], log.ReadHistory("agent/a1", "a").Select(r => r.Sequence));

            // Nothing else is old enough, and the active segment always stays.
            Assert.Equal(0, log.RemoveSegments(BaseTime.AddDays(10)));
            Assert.Equal(0, log.RemoveSegments(DateTimeOffset.MaxValue));
        }

        Assert.Equal(["000005.seg", "000006.seg", "000007.seg"], Segments(Folder).Select(Path.GetFileName));
        using SegmentLog reopened = SegmentLog.Open(Folder, 7, options);
        Assert.Equal(5, reopened.FirstSequence);
        Assert.Equal([5L, 6, 7], reopened.ReadFrom(0).Select(r => r.Sequence));
    }

    [Fact]
    public void Retention_keeps_segments_newer_than_the_limit()
    {
        var options = new SegmentLogOptions { RollBytes = 1024 };
        using SegmentLog log = SegmentLog.Open(Folder, 0, options);
        for (long s = 1; s <= 4; s++)
        {
            log.Append(Write(s, s - 1, payloadLength: 900, time: BaseTime.AddDays(s)));
        }

        Assert.Equal(0, log.RemoveSegments(BaseTime.AddDays(1)));
        Assert.Equal(1, log.RemoveSegments(BaseTime.AddDays(1).AddTicks(1)));
        Assert.Equal(2, log.RemoveSegments(BaseTime.AddDays(100))); // 4 is "k"'s current value, in the active segment
        Assert.Equal(4, log.FirstSequence);
    }

    [Fact]
    public async Task Readers_see_only_whole_records_while_a_writer_appends_rolls_and_flushes()
    {
        const int Records = 1500;
        var options = new SegmentLogOptions { RollBytes = 8192 };
        using SegmentLog log = SegmentLog.Open(Folder, 0, options);

        void Read(Random random)
        {
            long next = log.NextSequence;
            if (next > 1)
            {
                long sequence = 1 + random.NextInt64(next - 1);
                AssertSame(Write(sequence, sequence - 1, payloadLength: (int)(sequence % 700)), log.Read(sequence));
                long head = log.HeadOf("agent/a1", "k");
                Assert.True(head >= next - 1, $"head {head} behind {next - 1}");
                long expected = Math.Max(1, next - 5);
                foreach (StateChangeRecord record in log.ReadFrom(expected - 1).Take(5))
                {
                    Assert.Equal(expected++, record.Sequence);
                    Assert.Equal(Payload(record.Sequence, (int)(record.Sequence % 700)), record.Payload.ToArray());
                }
            }
        }

        await WhileReadersAndAFlusherRun(log, 3, Read, _ =>
        {
            for (long sequence = 1; sequence <= Records; sequence++)
            {
                log.Append(Write(sequence, sequence - 1, payloadLength: (int)(sequence % 700)));
            }
        });

        Assert.True(log.SegmentCount > 10);
        log.Flush();
        Assert.False(log.IsDirty);
    }

    [Fact]
    public void A_disposed_log_refuses_every_call()
    {
        SegmentLog log = SegmentLog.Open(Folder, 0);
        log.Append(Write(1, 0));
        log.Dispose();
        log.Dispose();
        Assert.Throws<ObjectDisposedException>(() => log.Read(1));
        Assert.Throws<ObjectDisposedException>(() => log.Append(Write(2, 1)));
        Assert.Throws<ObjectDisposedException>(() => log.Flush());
        Assert.Throws<ObjectDisposedException>(() => log.ReadFrom(0).ToList());
    }
}
