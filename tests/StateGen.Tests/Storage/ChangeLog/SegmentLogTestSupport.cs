using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>Records whose every field follows from their sequence, so a reader can check what it got.</summary>
internal static class SegmentLogTestSupport
{
    /// <summary>Cuts the power of <paramref name="disk"/> after its <paramref name="k"/>-th write, or at its k-th flush.</summary>
    internal static void CutPowerAt(SimulatedDisk disk, long k, bool atWrites)
    {
        if (atWrites)
        {
            disk.CrashAfterWrites = k;
            return;
        }

        int flushes = 0;
        disk.BeforeSync = _ =>
        {
            if (++flushes == k)
            {
                disk.Crash();
            }
        };
    }

    public static readonly DateTimeOffset BaseTime = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A payload of <paramref name="length"/> bytes derived from <paramref name="sequence"/>.</summary>
    public static byte[] Payload(long sequence, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)((sequence * 31) + (i * 7));
        }

        return bytes;
    }

    /// <summary>A write of <paramref name="key"/> with a payload derived from the sequence.</summary>
    public static StateChangeRecord Write(long sequence, long previous, string key = "k", int payloadLength = 64, string? correlation = null, DateTimeOffset? time = null)
        => new(sequence, "agent/a1", key, StateChangeKind.Write, "test-type", 3, sequence, time ?? BaseTime.AddSeconds(sequence), Payload(sequence, payloadLength), previous, correlation, correlation is null ? null : "test");

    /// <summary>A delete of <paramref name="key"/>.</summary>
    public static StateChangeRecord Delete(long sequence, long previous, string key = "k", DateTimeOffset? time = null)
        => new(sequence, "agent/a1", key, StateChangeKind.Delete, "test-type", 3, sequence, time ?? BaseTime.AddSeconds(sequence), ReadOnlyMemory<byte>.Empty, previous, null, null);

    /// <summary>Appends <paramref name="count"/> writes of one key, chained, with the given payload size.</summary>
    public static void AppendWrites(SegmentLog log, int count, int payloadLength = 64, string key = "k")
    {
        for (int i = 0; i < count; i++)
        {
            long sequence = log.NextSequence;
            log.Append(Write(sequence, log.HeadOf("agent/a1", key), key, payloadLength));
        }
    }

    /// <summary>Asserts two records are the same field by field, payload bytes included.</summary>
    public static void AssertSame(StateChangeRecord expected, StateChangeRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Scope, actual.Scope);
        Assert.Equal(expected.Key, actual.Key);
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.TypeName, actual.TypeName);
        Assert.Equal(expected.SchemaVersion, actual.SchemaVersion);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Timestamp, actual.Timestamp);
        Assert.Equal(TimeSpan.Zero, actual.Timestamp.Offset);
        Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
        Assert.Equal(expected.PreviousSequence, actual.PreviousSequence);
        Assert.Equal(expected.CorrelationId, actual.CorrelationId);
        Assert.Equal(expected.Origin, actual.Origin);
    }

    /// <summary>The segment files of a log folder, oldest first.</summary>
    public static string[] Segments(string folder)
        => Directory.GetFiles(folder, "*.seg").OrderBy(p => p, StringComparer.Ordinal).ToArray();

    /// <summary>Encodes a record as the log writes it.</summary>
    public static byte[] Encode(StateChangeRecord record)
    {
        var bytes = new byte[SegmentFormat.Measure(record, int.MaxValue / 2)];
        SegmentFormat.Encode(record, bytes);
        return bytes;
    }

    /// <summary>
    /// Runs <paramref name="write"/> (the writer's part) on this thread while <paramref name="readerCount"/> threads call
    /// <paramref name="read"/> in a loop (each with its own seeded <see cref="Random"/>) and one thread flushes the log in
    /// a loop. <paramref name="write"/> is given the number of finished reads so far. Once it returns, every reader
    /// finishes some reads against the final log, then all stop; an exception on any thread fails the test.
    /// </summary>
    public static async Task WhileReadersAndAFlusherRun(SegmentLog log, int readerCount, Action<Random> read, Action<Func<long>> write)
    {
        var errors = new ConcurrentQueue<Exception>();
        using var done = new CancellationTokenSource();
        long reads = 0;
        void Loop(Action step)
        {
            try
            {
                while (!done.IsCancellationRequested)
                {
                    step();
                }
            }
            catch (Exception ex)
            {
                errors.Enqueue(ex);
            }
        }

        Task[] threads =
        [
            .. Enumerable.Range(0, readerCount).Select(seed => Task.Factory.StartNew(
                () =>
                {
                    var random = new Random(seed);
                    Loop(() =>
                    {
                        read(random);
                        Interlocked.Increment(ref reads);
                    });
                },
                TaskCreationOptions.LongRunning)),
            Task.Factory.StartNew(() => Loop(log.Flush), TaskCreationOptions.LongRunning),
        ];

        try
        {
            write(() => Interlocked.Read(ref reads));
            long target = Interlocked.Read(ref reads) + (readerCount * 20);
            SpinWait.SpinUntil(() => Interlocked.Read(ref reads) >= target || !errors.IsEmpty, TimeSpan.FromSeconds(30));
        }
        finally
        {
            done.Cancel();
            await Task.WhenAll(threads);
        }

        Assert.Empty(errors);
    }

    /// <summary>Encodes the tombstone <see cref="SegmentLog.Remove"/> puts in place of <paramref name="record"/>.</summary>
    public static byte[] EncodeTombstone(StateChangeRecord record)
    {
        var bytes = new byte[SegmentFormat.TombstoneSize(record.Scope, record.Key)];
        SegmentFormat.EncodeTombstone(record.Sequence, record.Kind, record.PreviousSequence, record.Scope, record.Key, bytes);
        return bytes;
    }

    /// <summary>
    /// Every segment file's bytes after its header and before its seal (if it has one), one after the other: the records
    /// and tombstones in order.
    /// </summary>
    public static byte[] Bodies(string folder)
        => Segments(folder).SelectMany(f => RecordBytes(File.ReadAllBytes(f))).ToArray();

    /// <summary>A segment's bytes after its header and before its seal (if it ends with one).</summary>
    public static byte[] RecordBytes(byte[] segment)
    {
        int end = segment.Length;
        if (end >= SegmentFormat.HeaderSize + SegmentFormat.SealSize
            && SegmentFormat.TryReadSeal(segment.AsSpan(end - SegmentFormat.SealSize), out _, out long offset, out _, out _, out _))
        {
            Assert.Equal(end - SegmentFormat.SealSize, offset);
            end = (int)offset;
        }

        return segment[SegmentFormat.HeaderSize..end];
    }
}

/// <summary>A temporary folder per test, with the log folder of a database in it.</summary>
public abstract class SegmentLogTestBase : IDisposable
{
    private readonly TempDirectory _dir = new();

    /// <summary>The log folder of <c>state.db</c> in the test's folder (not created).</summary>
    protected string Folder => SegmentLog.FolderFor(_dir.File("state.db"));

    /// <summary>Opening the log at <paramref name="committed"/> is a typed error, and changes no segment file.</summary>
    private protected void AssertCorrupt(long committed, SegmentLogOptions? options = null, bool keepLostTail = false)
    {
        byte[][] before = SegmentLogTestSupport.Segments(Folder).Select(File.ReadAllBytes).ToArray();
        var error = Assert.Throws<StateStoreCorruptedException>(() => SegmentLog.Open(Folder, committed, options, keepLostTail).Dispose());
        Assert.False(string.IsNullOrEmpty(error.Failure));
        byte[][] after = SegmentLogTestSupport.Segments(Folder).Select(File.ReadAllBytes).ToArray();
        Assert.Equal(before.Length, after.Length);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i], after[i]); // nothing was cut
        }
    }

    public void Dispose()
    {
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }
}
