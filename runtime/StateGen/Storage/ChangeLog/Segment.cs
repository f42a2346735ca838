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

    private Segment(string path, long number, long firstSequence, bool afterGap, StoreFile file, bool afterSeal)
    {
        Path = path;
        Number = number;
        FirstSequence = firstSequence;
        AfterGap = afterGap;
        AfterSeal = afterSeal;
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

    /// <summary>Whether its header says the segment before it was sealed (<see cref="SegmentFormat.AfterSealFlag"/>).</summary>
    public bool AfterSeal { get; }

    /// <summary>Its header's flags.</summary>
    public ushort HeaderFlags => (ushort)((AfterGap ? SegmentFormat.AfterGapFlag : 0) | (AfterSeal ? SegmentFormat.AfterSealFlag : 0));

    /// <summary>
    /// Its seal, at <see cref="Length"/> (the log went on in a next segment; it takes no more records), or
    /// <see langword="null"/>: the last segment, or one written before seals existed.
    /// </summary>
    public SegmentSeal? Seal { get; set; }

    /// <summary>The offset of each record, in sequence order.</summary>
    public List<long> Offsets { get; } = [];

    /// <summary>The bytes of its header and complete records: where the next record goes.</summary>
    public long Length { get; set; }

    /// <summary>The newest record time (UTC ticks), <see cref="long.MinValue"/> while it has no record.</summary>
    public long NewestTicks { get; set; } = long.MinValue;

    /// <summary>The sequence of its last record, <c>FirstSequence - 1</c> while it has none.</summary>
    public long LastSequence => FirstSequence + Offsets.Count - 1;

    /// <summary>Wraps an open segment file whose header names <paramref name="number"/> and <paramref name="firstSequence"/>.</summary>
    public static Segment Attach(string path, long number, long firstSequence, bool afterGap, StoreFile file, bool afterSeal = false) => new(path, number, firstSequence, afterGap, file, afterSeal);

    /// <summary>Creates a new segment file with its header, flushed to the disk together with its directory entry.</summary>
    public static Segment Create(SegmentFileSystem files, string folder, long number, long firstSequence, bool afterGap = false, bool afterSeal = false)
    {
        string path = System.IO.Path.Combine(folder, SegmentFormat.FileName(number));
        StoreFile file = files.CreateNew(path);
        try
        {
            Span<byte> header = stackalloc byte[SegmentFormat.HeaderSize];
            SegmentFormat.WriteHeader(header, number, firstSequence, (ushort)((afterGap ? SegmentFormat.AfterGapFlag : 0) | (afterSeal ? SegmentFormat.AfterSealFlag : 0)));
            file.WriteAtOffset(0, header);
            file.Sync();
            files.SyncDirectory(path);
            return new Segment(path, number, firstSequence, afterGap, file, afterSeal);
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

    /// <summary>Cuts the file at <paramref name="length"/> (at most <see cref="Length"/>: its seal goes too) and flushes the cut to the disk.</summary>
    public void Truncate(long length)
    {
        _file.SetLength(length); // StoreFile.SetLength flushes the cut
        Length = length;
        Seal = null;
    }

    /// <summary>
    /// Writes its seal after its records (into the OS cache; the caller flushes it). The caller flushed the records first:
    /// a seal on the disk vouches that every record before it is there.
    /// </summary>
    public void WriteSeal(long gapTo)
    {
        Span<byte> seal = stackalloc byte[SegmentFormat.SealSize];
        SegmentFormat.WriteSeal(seal, Number, Length, LastSequence + 1, gapTo);
        _file.WriteAtOffset(Length, seal);
        Seal = new SegmentSeal(LastSequence + 1, gapTo);
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Release();
}

/// <summary>
/// A segment's seal (<see cref="SegmentFormat.WriteSeal"/>): the log goes on at <paramref name="NextSequence"/>, or after
/// the gap <paramref name="NextSequence"/> to <paramref name="GapTo"/> when <paramref name="GapTo"/> is not 0.
/// </summary>
internal readonly record struct SegmentSeal(long NextSequence, long GapTo)
{
    /// <summary>Whether the segment after it starts after a gap.</summary>
    public bool IsGap => GapTo != 0;
}
