using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using StateGen.Storage.LiteDb;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// A copy of a segment log's files in one stream, for a physical backup: <c>SGSEGARC</c>, format 1 (int32), the number
/// of segments (int32); per segment its file name (int32 length and UTF-8 bytes, a name <see cref="SegmentFormat.FileName"/>
/// writes) and its length (int64) followed by that many bytes; then <c>SGSEGEND</c>. Little-endian. The archive carries
/// no checksum of its own (a backup hashes the whole file, and every record in a segment has its own checksum); it
/// checks its own shape so that a short or foreign stream is refused, and takes no name that could leave the folder.
/// </summary>
internal static class SegmentArchive
{
    private const int Format = 1;
    private const int MaxSegments = 1_000_000;
    private static readonly byte[] Magic = "SGSEGARC"u8.ToArray();
    private static readonly byte[] EndMagic = "SGSEGEND"u8.ToArray();

    /// <summary>
    /// Writes the first <c>Length</c> bytes of each segment in <paramref name="extent"/> (a <see cref="SegmentLog.Extent"/>
    /// taken while nothing was appended) to <paramref name="destination"/>. The files are read through their own read-only
    /// handles: appends past those lengths may go on meanwhile; the caller keeps the files from being compacted or removed.
    /// </summary>
    /// <returns>The bytes of segment files copied.</returns>
    /// <param name="destination">Receives the archive.</param>
    /// <param name="extent">The segments and how many bytes of each to copy.</param>
    /// <param name="files">Where the segments are.</param>
    /// <param name="copied">Receives the segment bytes copied so far (all segments), about once a megabyte; may be null.</param>
    /// <param name="cancellationToken">Stops the copy.</param>
    public static long Write(Stream destination, IReadOnlyList<(string Path, long Length)> extent, SegmentFileSystem files, Action<long>? copied, CancellationToken cancellationToken)
    {
        Span<byte> word = stackalloc byte[8];
        destination.Write(Magic);
        BinaryPrimitives.WriteInt32LittleEndian(word, Format);
        destination.Write(word[..4]);
        BinaryPrimitives.WriteInt32LittleEndian(word, extent.Count);
        destination.Write(word[..4]);
        byte[] buffer = new byte[1 << 20];
        long total = 0;
        foreach ((string path, long length) in extent)
        {
            byte[] name = Encoding.UTF8.GetBytes(Path.GetFileName(path));
            BinaryPrimitives.WriteInt32LittleEndian(word, name.Length);
            destination.Write(word[..4]);
            destination.Write(name);
            BinaryPrimitives.WriteInt64LittleEndian(word, length);
            destination.Write(word);
            StoreFile file = files.OpenForCopy(path);
            try
            {
                long before = total;
                file.CopyPrefix(length, destination, buffer, $"The change-log segment '{Path.GetFileName(path)}'", copied is null ? null : n => copied(before + n), cancellationToken);
            }
            finally
            {
                file.Release();
            }

            total += length;
        }

        destination.Write(EndMagic);
        return total;
    }

    /// <summary>
    /// Writes the segments held in <paramref name="archive"/> into <paramref name="folder"/>, which must not exist yet,
    /// each file and then the folder flushed to the disk.
    /// </summary>
    /// <returns>How many segments there were.</returns>
    /// <exception cref="InvalidDataException">The archive is short, foreign, or names a file that is not a segment.</exception>
    public static int Extract(Stream archive, string folder, CancellationToken cancellationToken)
    {
        if (Directory.Exists(folder) || File.Exists(folder))
        {
            throw new IOException($"The folder '{folder}' exists already.");
        }

        Span<byte> word = stackalloc byte[8];
        ReadExactly(archive, word);
        if (!word.SequenceEqual(Magic))
        {
            throw new InvalidDataException("The change-log archive does not start with its marker.");
        }

        ReadExactly(archive, word[..4]);
        int format = BinaryPrimitives.ReadInt32LittleEndian(word);
        if (format != Format)
        {
            throw new InvalidDataException($"The change-log archive is of format {format}; this version reads format {Format}.");
        }

        ReadExactly(archive, word[..4]);
        int count = BinaryPrimitives.ReadInt32LittleEndian(word);
        if (count is < 0 or > MaxSegments)
        {
            throw new InvalidDataException($"The change-log archive says it holds {count} segments.");
        }

        Directory.CreateDirectory(folder);
        byte[] buffer = new byte[1 << 20];
        long previous = 0;
        for (int i = 0; i < count; i++)
        {
            ReadExactly(archive, word[..4]);
            int nameLength = BinaryPrimitives.ReadInt32LittleEndian(word);
            if (nameLength is < 1 or > 64)
            {
                throw new InvalidDataException("The change-log archive names a segment with a name of an impossible length.");
            }

            byte[] nameBytes = new byte[nameLength];
            ReadExactly(archive, nameBytes);
            string name = Encoding.UTF8.GetString(nameBytes);

            // Only names the log itself writes, in increasing order: nothing can be written outside the folder or twice.
            if (!SegmentFormat.TryParseFileName(name, out long number) || SegmentFormat.FileName(number) != name || number <= previous)
            {
                throw new InvalidDataException("The change-log archive names a file that is not a segment, or names segments out of order.");
            }

            previous = number;
            ReadExactly(archive, word);
            long length = BinaryPrimitives.ReadInt64LittleEndian(word);
            if (length < SegmentFormat.HeaderSize)
            {
                throw new InvalidDataException($"The change-log archive gives segment '{name}' an impossible length.");
            }

            string path = Path.Combine(folder, name);
            using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                long copied = 0;
                while (copied < length)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int want = (int)Math.Min(buffer.Length, length - copied);
                    ReadExactly(archive, buffer.AsSpan(0, want));
                    output.Write(buffer, 0, want);
                    copied += want;
                }

                output.Flush(flushToDisk: true);
            }
        }

        ReadExactly(archive, word);
        if (!word.SequenceEqual(EndMagic) || archive.ReadByte() != -1)
        {
            throw new InvalidDataException("The change-log archive does not end where its contents say.");
        }

        // The names are on the disk, and the folder's own entry in its parent.
        OsStoreFile.SyncDirectory(Path.Combine(folder, SegmentFormat.FileName(1)));
        OsStoreFile.SyncDirectory(folder);
        return count;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("The change-log archive ends early.");
        }
    }
}
