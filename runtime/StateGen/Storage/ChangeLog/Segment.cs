using System;
using System.Collections.Generic;
using StateGen.Storage.LiteDb;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// One open segment file of a <see cref="SegmentLog"/> and its part of the in-memory index: the offset of each record
/// (record <c>FirstSequence + i</c> is at <c>Offsets[i]</c>), the length of its complete records and its newest time.
/// Written only by the log's writer path; read under the log's read lock.
/// </summary>
internal sealed class Segment : IDisposable
{
    private readonly StoreFile _file;

    private Segment(string path, long number, long firstSequence, bool afterGap, StoreFile file)
    {
        Path = path;
        Number = number;
        FirstSequence = firstSequence;
        AfterGap = afterGap;
        _file = file;
        Length = SegmentFormat.HeaderSize;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>The segment number (its file name).</summary>
    public long Number { get; }

    /// <summary>The sequence of its first record (or of the first record it will take, while it has none).</summary>
    public long FirstSequence { get; }

    /// <summary>
    /// Whether it starts after a gap (<see cref="SegmentFormat.AfterGapFlag"/>): records before <see cref="FirstSequence"/>
    /// that the previous segment does not hold were lost.
    /// </summary>
    public bool AfterGap { get; }

    /// <summary>The offset of each record, in sequence order.</summary>
    public List<long> Offsets { get; } = [];

    /// <summary>The bytes of its header and complete records: where the next record goes.</summary>
    public long Length { get; set; }

    /// <summary>The newest record time (UTC ticks), <see cref="long.MinValue"/> while it has no record.</summary>
    public long NewestTicks { get; set; } = long.MinValue;

    /// <summary>The sequence of its last record, <c>FirstSequence - 1</c> while it has none.</summary>
    public long LastSequence => FirstSequence + Offsets.Count - 1;

    /// <summary>Wraps an open segment file whose header names <paramref name="number"/> and <paramref name="firstSequence"/>.</summary>
    public static Segment Attach(string path, long number, long firstSequence, bool afterGap, StoreFile file) => new(path, number, firstSequence, afterGap, file);

    /// <summary>Creates a new segment file with its header, flushed to the disk together with its directory entry.</summary>
    public static Segment Create(SegmentFileSystem files, string folder, long number, long firstSequence, bool afterGap = false)
    {
        string path = System.IO.Path.Combine(folder, SegmentFormat.FileName(number));
        StoreFile file = files.CreateNew(path);
        try
        {
            Span<byte> header = stackalloc byte[SegmentFormat.HeaderSize];
            SegmentFormat.WriteHeader(header, number, firstSequence, afterGap ? SegmentFormat.AfterGapFlag : (ushort)0);
            file.WriteAtOffset(0, header);
            file.Sync();
            files.SyncDirectory(path);
            return new Segment(path, number, firstSequence, afterGap, file);
        }
        catch
        {
            // A whole header naming a first sequence the log never reaches (its flush failed, the roll is undone) would
            // read as a misplaced segment at the next open: the file goes, if it can.
            file.Release();
            try
            {
                files.Delete(path);
            }
            catch (Exception cleanup) when (cleanup is System.IO.IOException or UnauthorizedAccessException)
            {
                // Then the next open finds it.
            }

            throw;
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends; returns the bytes read.</summary>
    public int ReadAt(long offset, Span<byte> buffer) => _file.ReadAtOffset(offset, buffer);

    /// <summary>Writes <paramref name="buffer"/> at <paramref name="offset"/> (into the OS cache).</summary>
    public void WriteAt(long offset, ReadOnlySpan<byte> buffer) => _file.WriteAtOffset(offset, buffer);

    /// <summary>Flushes the file to the disk (fsync).</summary>
    public void Sync() => _file.Sync();

    /// <summary>Cuts the file at <paramref name="length"/> and flushes the cut to the disk.</summary>
    public void Truncate(long length)
    {
        _file.SetLength(length); // StoreFile.SetLength flushes the cut
        Length = length;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Release();
}
