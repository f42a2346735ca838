using System;
using System.IO;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using static StateGen.Tests.Storage.ChangeLog.SegmentLogTestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>
/// What a change-log conversion writes with: a new log starting at any sequence (<see cref="SegmentLog.Create"/>) and
/// tombstones for sequences removed before the log held them (<see cref="SegmentLog.AppendTombstone"/>), read back after
/// a reopen, and refused with typed errors when misused.
/// </summary>
public sealed class SegmentLogCreateTests : SegmentLogTestBase
{
    [Fact]
    public void A_log_created_at_a_later_sequence_holds_tombstones_that_keep_a_key_chain_and_reopens_the_same()
    {
        using (SegmentLog log = SegmentLog.Create(Folder, 10, new SegmentLogOptions { RollBytes = 300 }))
        {
            Assert.Equal(10, log.FirstSequence);
            log.Append(Write(10, 0, key: "a"));
            log.AppendTombstone(11, StateChangeKind.Write, 10, "agent/a1", "a"); // a removed write of "a"
            log.AppendTombstone(12, StateChangeKind.Delete, 0, string.Empty, string.Empty); // a removed record of no known key
            log.Append(Write(13, 11, key: "a"));
            log.Flush();
        }

        using SegmentLog reopened = SegmentLog.Open(Folder, 13);
        Assert.Equal((10L, 14L), (reopened.FirstSequence, reopened.NextSequence));
        Assert.Null(reopened.Read(11));
        Assert.Null(reopened.Read(12));
        Assert.Equal(new long[] { 13, 10 }, reopened.ReadHistory("agent/a1", "a").Select(r => r.Sequence)); // through the tombstone
        Assert.Equal(new long[] { 10, 13 }, reopened.ReadFrom(0).Select(r => r.Sequence));
        Assert.Equal((0L, false), reopened.LastChangeOf("agent/a1", "b"));
        Assert.Equal((12L, true), reopened.LastChangeOf(string.Empty, string.Empty)); // a delete: no "write without a value"
        Assert.Empty(reopened.Gaps);
    }

    [Fact]
    public void Misuse_is_a_typed_error_and_writes_nothing()
    {
        Directory.CreateDirectory(Folder);
        Assert.Throws<InvalidOperationException>(() => SegmentLog.Create(Folder, 1)); // the folder exists
        Directory.Delete(Folder);
        Assert.Throws<ArgumentOutOfRangeException>(() => SegmentLog.Create(Folder, 0));
        Assert.False(Directory.Exists(Folder));

        SegmentLog log = SegmentLog.Create(Folder, 5);
        long length = new FileInfo(Path.Combine(Folder, "000001.seg")).Length;
        Assert.Throws<ArgumentException>(() => log.AppendTombstone(6, StateChangeKind.Write, 0, "s", "k")); // not the next sequence
        Assert.Throws<ArgumentOutOfRangeException>(() => log.AppendTombstone(5, StateChangeKind.Write, 5, "s", "k")); // previous not before it
        Assert.Throws<ArgumentException>(() => log.AppendTombstone(5, StateChangeKind.Write, 0, "s", new string('k', SegmentFormat.MaxKeyBytes + 1))); // would not read back
        Assert.Throws<ArgumentException>(() => log.AppendTombstone(5, StateChangeKind.Write, 0, new string('s', SegmentFormat.MaxScopeBytes + 1), "k"));
        Assert.Throws<ArgumentException>(() => log.AppendTombstone(5, StateChangeKind.Write, 0, "s", "\ud800")); // a lone surrogate
        Assert.Throws<ArgumentNullException>(() => log.AppendTombstone(5, StateChangeKind.Write, 0, null!, "k"));
        Assert.Equal(length, new FileInfo(Path.Combine(Folder, "000001.seg")).Length);
        log.AppendTombstone(5, StateChangeKind.Write, 0, "s", new string('k', SegmentFormat.MaxKeyBytes)); // the longest key reads back
        Assert.Equal(6, log.NextSequence);
        log.Flush();
        log.Dispose();
        using SegmentLog reopened = SegmentLog.Open(Folder, 5);
        Assert.Equal(6, reopened.NextSequence);
    }
}
