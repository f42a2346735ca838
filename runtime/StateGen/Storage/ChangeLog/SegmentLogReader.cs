using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Hashing;
using StateGen.Storage.LiteDb;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// One record (or tombstone) that <see cref="SegmentLogReader"/> read intact. For a tombstone, <paramref name="Kind"/> is
/// the removed record's kind and <paramref name="Record"/> is <see langword="null"/>. <paramref name="EndsCommit"/>: the
/// record carries <see cref="SegmentFormat.CommitEndFlag"/> (the last record of its commit).
/// </summary>
internal readonly record struct SegmentLogEntry(long Sequence, string Scope, string Key, StateChangeKind Kind, bool IsTombstone, StateChangeRecord? Record, bool EndsCommit = false);

/// <summary>What <see cref="SegmentLogReader.ReadAll"/> read: the intact records in file order, and what failed (never stored bytes).</summary>
internal sealed record SegmentLogReadResult(IReadOnlyList<SegmentLogEntry> Records, IReadOnlyList<string> Failures);

/// <summary>
/// Reads whatever is intact out of a change-log segment folder, strictly read-only (salvage): unlike
/// <see cref="SegmentLog.Open"/> it never cuts, creates, renames, deletes or writes anything, opens every file for
/// reading with sharing that lets a running store keep appending to it and deleting it, and never throws on damage.
/// </summary>
/// <remarks>
/// Every <c>NNNNNN.seg</c> file is read in number order (other files, such as a lost tail kept aside, are not). A record
/// is taken when its checksum holds and it parses (<see cref="SegmentFormat.TryDecode"/>). At a damaged record the reader
/// resynchronises: it looks for the next record magic whose record is intact, and reports the bytes it skipped. A
/// record's length is checked against the format's largest record and the bytes left in the file before anything is
/// allocated, and the search after damage has a work limit (a few passes over the segment), so hostile bytes cannot
/// make it allocate much or run long. A torn or garbled header is reported and the records after it are still looked
/// for; a header of a format version this code does not know skips its segment.
/// </remarks>
internal static class SegmentLogReader
{
    private const int ScanChunk = 64 * 1024;

    // The largest record the format allows with the log's default payload limit (the store uses the default).
    private static readonly long MaxRecordSize = SegmentFormat.MaxRecordSize(new SegmentLogOptions().MaxPayloadBytes);

    /// <summary>Reads every intact record of the segments in <paramref name="folder"/>, with the failures.</summary>
    /// <param name="folder">The log's folder.</param>
    /// <param name="files">A test's file system (only listed and read); the real one, read-only, when <see langword="null"/>.</param>
    public static SegmentLogReadResult ReadAll(string folder, SegmentFileSystem? files = null)
    {
        var records = new List<SegmentLogEntry>();
        IReadOnlyList<string> failures = Read(folder, records.Add, files);
        return new SegmentLogReadResult(records, failures);
    }

    /// <summary>
    /// Passes every intact record of the segments in <paramref name="folder"/> to <paramref name="visit"/>, in file order
    /// (segment by segment, each from its start), and returns what failed, one line each. A missing or unreadable folder
    /// is a failure line, not an exception.
    /// </summary>
    /// <param name="folder">The log's folder.</param>
    /// <param name="visit">Called once per intact record or tombstone.</param>
    /// <param name="files">A test's file system (only listed and read); the real one, read-only, when <see langword="null"/>.</param>
    public static IReadOnlyList<string> Read(string folder, Action<SegmentLogEntry> visit, SegmentFileSystem? files = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(visit);
        var failures = new List<string>();
        var segments = new List<(long Number, string Path)>();
        try
        {
            if (!(files?.DirectoryExists(folder) ?? Directory.Exists(folder)))
            {
                failures.Add($"the change-log folder '{folder}' is missing: no history could be read");
                return failures;
            }

            foreach (string path in files?.EnumerateFiles(folder) ?? Directory.EnumerateFiles(folder))
            {
                if (SegmentFormat.TryParseFileName(System.IO.Path.GetFileName(path), out long number))
                {
                    segments.Add((number, path));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            failures.Add($"the change-log folder '{folder}' could not be listed ({ex.GetType().Name})");
            return failures;
        }

        segments.Sort((a, b) => a.Number.CompareTo(b.Number));
        long previousLast = 0; // the last sequence read from the segment before, 0 when none
        for (int i = 0; i < segments.Count; i++)
        {
            (long number, string path) = segments[i];
            string name = SegmentFormat.FileName(number);
            if (i > 0 && number != segments[i - 1].Number + 1)
            {
                failures.Add($"change-log segment {SegmentFormat.FileName(segments[i - 1].Number + 1)}" + (number - segments[i - 1].Number > 2 ? $" to {SegmentFormat.FileName(number - 1)}" : string.Empty) + " is missing");
            }

            try
            {
                using Source source = new StoreFileSource((files ?? SegmentFileSystem.Os).OpenForCopy(path));
                previousLast = ReadSegment(source, name, number, previousLast, visit, failures);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failures.Add($"change-log segment {name} could not be read ({ex.GetType().Name})");
            }
        }

        return failures;
    }

    /// <summary>Reads one segment; returns the last sequence read from it (or <paramref name="previousLast"/> when none).</summary>
    private static long ReadSegment(Source source, string name, long number, long previousLast, Action<SegmentLogEntry> visit, List<string> failures)
    {
        long length = source.Length;
        Span<byte> header = stackalloc byte[SegmentFormat.HeaderSize];
        int read = source.Read(0, header);
        string? headerFailure = SegmentFormat.ReadHeader(header[..read], out long headerNumber, out long first, out ushort flags);
        if (headerFailure is not null)
        {
            if (read == SegmentFormat.HeaderSize && BinaryPrimitives.ReadUInt32LittleEndian(header) == SegmentFormat.SegmentMagic
                && BinaryPrimitives.ReadUInt64LittleEndian(header[24..]) == XxHash3.HashToUInt64(header[..24]))
            {
                // An intact header this code does not understand: its records may be laid out otherwise.
                failures.Add($"change-log segment {name}: {headerFailure}; skipped");
                return previousLast;
            }

            failures.Add($"change-log segment {name}: {headerFailure}; looking for intact records after it");
            first = 0;
        }
        else
        {
            if (headerNumber != number)
            {
                failures.Add($"change-log segment {name}: its header names segment {headerNumber}");
            }

            if (previousLast > 0 && first > previousLast + 1)
            {
                bool afterGap = (flags & SegmentFormat.AfterGapFlag) != 0;
                failures.Add(afterGap
                    ? $"change-log records {previousLast + 1} to {first - 1} were lost before segment {name} (a gap the store recorded after a power cut)"
                    : $"change-log records {previousLast + 1} to {first - 1} are missing before segment {name}");
            }
        }

        long last = previousLast;
        long offset = SegmentFormat.HeaderSize;
        // The bytes this segment's reads may cost: intact records cost one pass, the search after damage a few more; a
        // hostile segment (many record magics with long lengths) runs out and the search gives up.
        long budget = (4 * length) + (4L * ScanChunk);
        bool searching = headerFailure is not null;
        while (offset < length)
        {
            string? failure = null;
            int recordLength = 0;
            if (!searching && length - offset == SegmentFormat.SealSize && IsSealAt(source, offset, number))
            {
                break; // the segment's seal: the log went on in the next segment
            }

            if (!searching)
            {
                failure = TryRead(source, offset, length, visit, out recordLength, out long sequence, ref budget);
                if (failure is null)
                {
                    last = sequence;
                    offset += recordLength;
                    continue;
                }
            }

            long damagedAt = offset;
            long next = Search(source, searching ? offset : offset + 1, length, visit, ref budget, out recordLength, out long found);
            string where = searching ? $"from offset {damagedAt}" : $"at offset {damagedAt} (after sequence {Math.Max(last, first - 1)}): {failure}";
            if (next < 0)
            {
                failures.Add(next == -2
                    ? $"change-log segment {name}: damaged {where}; the search for intact records after it gave up (too much damage)"
                    : $"change-log segment {name}: damaged {where}; no intact record after it");
                break;
            }

            failures.Add($"change-log segment {name}: damaged {where}; {next - damagedAt} bytes skipped to the intact record {found}");
            searching = false;
            last = found;
            offset = next + recordLength;
        }

        return last;
    }

    /// <summary>Whether the last <see cref="SegmentFormat.SealSize"/> bytes, at <paramref name="offset"/>, are segment <paramref name="number"/>'s seal.</summary>
    private static bool IsSealAt(Source source, long offset, long number)
    {
        Span<byte> seal = stackalloc byte[SegmentFormat.SealSize];
        return source.Read(offset, seal) == SegmentFormat.SealSize
               && SegmentFormat.TryReadSeal(seal, out long sealNumber, out long sealOffset, out _, out _, out _)
               && sealNumber == number && sealOffset == offset;
    }

    /// <summary>
    /// Looks for the first intact record at or after <paramref name="from"/> (a record magic whose record checks), passes it
    /// to <paramref name="visit"/> and returns its offset; -1 when there is none, -2 when the work limit ran out.
    /// </summary>
    private static long Search(Source source, long from, long length, Action<SegmentLogEntry> visit, ref long budget, out int recordLength, out long sequence)
    {
        recordLength = 0;
        sequence = 0;
        Span<byte> magic = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(magic, SegmentFormat.RecordMagic);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ScanChunk);
        try
        {
            long at = from;
            while (at + SegmentFormat.RecordPrefixSize <= length)
            {
                int read = source.Read(at, chunk.AsSpan(0, (int)Math.Min(ScanChunk, length - at)));
                budget -= read;
                if (read < magic.Length)
                {
                    return -1;
                }

                ReadOnlySpan<byte> bytes = chunk.AsSpan(0, read);
                int start = 0;
                while (true)
                {
                    int hit = bytes[start..].IndexOf(magic);
                    if (hit < 0)
                    {
                        break;
                    }

                    long candidate = at + start + hit;
                    if (TryRead(source, candidate, length, visit, out recordLength, out sequence, ref budget) is null)
                    {
                        return candidate;
                    }

                    if (budget < 0)
                    {
                        return -2;
                    }

                    start += hit + 1;
                }

                if (budget < 0)
                {
                    return -2;
                }

                // The next chunk overlaps this one by a magic's length less one, so a magic across the boundary is found.
                at += Math.Max(1, read - (magic.Length - 1));
            }

            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Reads, checks and passes on the record at <paramref name="offset"/>; returns why it is not one, or <see langword="null"/>.</summary>
    private static string? TryRead(Source source, long offset, long length, Action<SegmentLogEntry> visit, out int recordLength, out long sequence, ref long budget)
    {
        recordLength = 0;
        sequence = 0;
        Span<byte> prefix = stackalloc byte[SegmentFormat.RecordPrefixSize];
        if (length - offset < prefix.Length || source.Read(offset, prefix) < prefix.Length)
        {
            return "the file ends inside a record's length";
        }

        int size = SegmentFormat.CheckPrefix(prefix, MaxRecordSize, length - offset, out string? failure);
        if (failure is not null)
        {
            return failure;
        }

        budget -= size;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            Span<byte> bytes = buffer.AsSpan(0, size);
            if (source.Read(offset, bytes) < size)
            {
                return "the file ends inside it";
            }

            failure = SegmentFormat.TryDecode(bytes, out DecodedRecord record);
            if (failure is not null)
            {
                return failure;
            }

            recordLength = size;
            sequence = record.Sequence;
            visit(new SegmentLogEntry(record.Sequence, record.Scope, record.Key, record.Kind, record.IsTombstone, record.IsTombstone ? null : record.ToRecord(bytes), record.EndsCommit));
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A segment file opened for reading only.</summary>
    private abstract class Source : IDisposable
    {
        public abstract long Length { get; }

        /// <summary>Reads until <paramref name="buffer"/> is full or the file ends; returns the bytes read.</summary>
        public abstract int Read(long offset, Span<byte> buffer);

        public abstract void Dispose();
    }

    /// <summary>
    /// A segment opened by <see cref="SegmentFileSystem.OpenForCopy"/> (a real file: read-only, every sharing flag, so a
    /// running store may go on writing, cutting and deleting it); only read.
    /// </summary>
    private sealed class StoreFileSource(StoreFile file) : Source
    {
        public override long Length => file.Length;

        public override int Read(long offset, Span<byte> buffer) => file.ReadAtOffset(offset, buffer);

        public override void Dispose() => file.Release();
    }
}
