using System;
using System.IO;
using System.Linq;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage.ChangeLog;

/// <summary>Records whose every field follows from their sequence, so a reader can check what it got.</summary>
internal static class SegmentLogTestSupport
{
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
}

/// <summary>A temporary folder per test, with the log folder of a database in it.</summary>
public abstract class SegmentLogTestBase : IDisposable
{
    private readonly TempDirectory _dir = new();

    /// <summary>The log folder of <c>state.db</c> in the test's folder (not created).</summary>
    protected string Folder => SegmentLog.FolderFor(_dir.File("state.db"));

    public void Dispose()
    {
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }
}
