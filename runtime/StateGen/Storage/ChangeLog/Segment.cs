using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Win32.SafeHandles;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// One open segment file of a <see cref="SegmentLog"/> and its part of the in-memory index: the offset of each record
/// (record <c>FirstSequence + i</c> is at <c>Offsets[i]</c>), the length of its complete records and its newest time.
/// Written only by the log's writer path; read under the log's read lock.
/// </summary>
internal sealed class Segment : IDisposable
{
    private readonly FileStream _file;

    private Segment(string path, long number, long firstSequence, bool afterGap, FileStream file)
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

    /// <summary>The handle positional reads and writes use.</summary>
    public SafeFileHandle Handle => _file.SafeFileHandle;

    /// <summary>Opens an existing segment file (unbuffered, as <c>OsStoreFile</c>); the header is read by the caller.</summary>
    public static FileStream OpenFile(string path)
        => new(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete, bufferSize: 0, FileOptions.RandomAccess);

    /// <summary>Wraps an open segment file whose header names <paramref name="number"/> and <paramref name="firstSequence"/>.</summary>
    public static Segment Attach(string path, long number, long firstSequence, bool afterGap, FileStream file) => new(path, number, firstSequence, afterGap, file);

    /// <summary>Creates a new segment file with its header, flushed to the disk together with its directory entry.</summary>
    public static Segment Create(string folder, long number, long firstSequence, bool afterGap = false)
    {
        string path = System.IO.Path.Combine(folder, SegmentFormat.FileName(number));
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete, bufferSize: 0, FileOptions.RandomAccess);
        try
        {
            Span<byte> header = stackalloc byte[SegmentFormat.HeaderSize];
            SegmentFormat.WriteHeader(header, number, firstSequence, afterGap ? SegmentFormat.AfterGapFlag : (ushort)0);
            RandomAccess.Write(file.SafeFileHandle, header, 0);
            file.Flush(flushToDisk: true);
            LiteDb.OsStoreFile.SyncDirectory(path);
            return new Segment(path, number, firstSequence, afterGap, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>'s length at <paramref name="offset"/>; returns the bytes read.</summary>
    public int ReadAt(long offset, Span<byte> buffer) => ReadFully(Handle, offset, buffer);

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends; returns the bytes read.</summary>
    public static int ReadFully(SafeFileHandle handle, long offset, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    /// <summary>Flushes the file to the disk (fsync).</summary>
    public void Sync() => _file.Flush(flushToDisk: true);

    /// <summary>Cuts the file at <paramref name="length"/> and flushes the cut to the disk.</summary>
    public void Truncate(long length)
    {
        _file.SetLength(length);
        _file.Flush(flushToDisk: true);
        Length = length;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Dispose();
}
