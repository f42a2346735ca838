using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using System.Threading;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Backups;

/// <summary>
/// <c>manifest.json</c>: what a backup holds and the SHA-256 of each of its files. Written last, inside the temporary
/// folder, so a backup folder with a manifest is complete.
/// </summary>
internal sealed class BackupManifest
{
    /// <summary>Format 1: an <see cref="BackupLayout.Entries"/> backup. Format 2: a <see cref="BackupLayout.Database"/> one.</summary>
    public const int EntriesFormat = 1;
    public const int DatabaseFormat = 2;
    public const string FileName = "manifest.json";

    public int Format { get; set; } = EntriesFormat;

    /// <summary>What the data file holds (absent in format 1 manifests: entries).</summary>
    public BackupLayout Layout { get; set; }

    public string Id { get; set; } = string.Empty;

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset SnapshotAt { get; set; }

    public long ChangeLogPosition { get; set; }

    public bool RecordsChanges { get; set; }

    public bool Encrypted { get; set; }

    public string StoreType { get; set; } = string.Empty;

    public string? Label { get; set; }

    public BackupCompression Compression { get; set; }

    public long DocumentCount { get; set; }

    public long UncompressedBytes { get; set; }

    public List<BackupTypeCount> Types { get; set; } = [];

    public List<BackupFileEntry> Files { get; set; } = [];
}

/// <summary>What a backup's data file holds.</summary>
internal enum BackupLayout
{
    /// <summary><c>data.sgb</c>: one record per entry (<see cref="BackupDataFile"/>); backups of the memory store.</summary>
    Entries = 0,

    /// <summary><c>database.sgdb</c>: the LiteDB data file itself (<see cref="BackupDatabaseFile"/>).</summary>
    Database = 1,
}

/// <summary>One file of a backup with its length and SHA-256 (lowercase hex).</summary>
internal sealed record BackupFileEntry(string Name, long Length, string Sha256);

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BackupManifest))]
internal sealed partial class BackupManifestJson : JsonSerializerContext;

/// <summary>
/// The data file (<c>data.sgb</c>): one stream, compressed as a whole, holding a header (<c>SGBACKUP</c>, format 1),
/// one record per document (in no promised order) and an end record with the document count. Strings are length-prefixed UTF-8
/// (<see cref="BinaryWriter"/>), numbers little-endian. A document record holds the entry (scope, key, stable type name,
/// schema version, version, update time in UTC ticks, payload bytes) and its current change record's sequence, previous
/// sequence, correlation id and origin, so a restore rebuilds the store as it was.
/// </summary>
internal static class BackupDataFile
{
    public const string FileName = "data.sgb";
    private const int Format = 1;
    private const byte DocumentTag = 1;
    private const byte EndTag = 0;
    private static readonly byte[] Magic = "SGBACKUP"u8.ToArray();

    public sealed class Summary
    {
        public long Count { get; set; }

        public long UncompressedBytes { get; set; }

        public SortedDictionary<(string Type, int Version), long> Types { get; } = new(Comparer<(string Type, int Version)>.Create(static (a, b) =>
        {
            int byName = string.CompareOrdinal(a.Type, b.Type);
            return byName != 0 ? byName : a.Version.CompareTo(b.Version);
        }));

        public void Add(StoredEntry entry)
        {
            Count++;
            var key = (entry.TypeName, entry.SchemaVersion);
            Types[key] = Types.TryGetValue(key, out long n) ? n + 1 : 1;
        }

        public List<BackupTypeCount> TypeCounts()
        {
            var list = new List<BackupTypeCount>(Types.Count);
            foreach (var ((type, version), count) in Types)
            {
                list.Add(new BackupTypeCount(type, version, count));
            }

            return list;
        }
    }

    /// <summary>Writes the documents to <paramref name="file"/> and flushes it to the disk; returns what was written and the file's hash.</summary>
    public static (Summary Summary, BackupFileEntry File) Write(string file, BackupCompression compression, IEnumerable<SnapshotDocument> documents, Action<long>? progress, CancellationToken cancellationToken)
    {
        var summary = new Summary();
        using var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        using var hashed = new ObservedStream(output, hash: true);
        using (Stream compressed = Compress(hashed, compression))
        using (var counted = new ObservedStream(compressed, hash: false))
        using (var buffered = new BufferedStream(counted, 1 << 20))
        using (var writer = new BinaryWriter(buffered))
        {
            writer.Write(Magic);
            writer.Write(Format);
            foreach (SnapshotDocument d in documents)
            {
                if ((summary.Count & 255) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }

                StoredEntry e = d.Entry;
                writer.Write(DocumentTag);
                writer.Write(e.Scope);
                writer.Write(e.Key);
                writer.Write(e.TypeName);
                writer.Write(e.SchemaVersion);
                writer.Write(e.Version);
                writer.Write(e.UpdatedAt.UtcTicks);
                writer.Write(d.ChangeSequence);
                writer.Write(d.PreviousSequence);
                WriteOptional(writer, d.CorrelationId);
                WriteOptional(writer, d.Origin);
                writer.Write(e.Payload.Length);
                writer.Write(e.Payload.Span);
                summary.Add(e);
                if (progress is not null && summary.Count % 1000 == 0)
                {
                    progress(summary.Count);
                }
            }

            writer.Write(EndTag);
            writer.Write(summary.Count);
            writer.Flush();
            buffered.Flush();
            summary.UncompressedBytes = counted.Length;
        }

        output.Flush(flushToDisk: true);
        return (summary, new BackupFileEntry(FileName, output.Length, hashed.HashHex()));
    }

    /// <summary>
    /// Reads every document of a data file. When the enumeration completes, <paramref name="check"/> holds the file's
    /// SHA-256 and length as read; a file that is not a whole, well-formed data file throws <see cref="InvalidDataException"/>.
    /// </summary>
    public static IEnumerable<SnapshotDocument> Read(string file, BackupCompression compression, ReadCheck check)
    {
        using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        using var hashed = new ObservedStream(input, hash: true);
        using Stream decompressed = Decompress(hashed, compression);
        using var buffered = new BufferedStream(decompressed, 1 << 20);
        using var reader = new BinaryReader(buffered);
        byte[] magic = reader.ReadBytes(Magic.Length);
        if (!magic.AsSpan().SequenceEqual(Magic) || reader.ReadInt32() != Format)
        {
            throw new InvalidDataException("not a StateGen backup data file (format 1)");
        }

        long count = 0;
        while (true)
        {
            byte tag = reader.ReadByte();
            if (tag == EndTag)
            {
                break;
            }

            if (tag != DocumentTag)
            {
                throw new InvalidDataException($"unknown record tag {tag} after {count} documents");
            }

            string scope = reader.ReadString();
            string key = reader.ReadString();
            string type = reader.ReadString();
            int schemaVersion = reader.ReadInt32();
            long version = reader.ReadInt64();
            long ticks = reader.ReadInt64();
            long sequence = reader.ReadInt64();
            long previous = reader.ReadInt64();
            string? correlation = ReadOptional(reader);
            string? origin = ReadOptional(reader);
            int length = reader.ReadInt32();
            if (length < 0 || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
            {
                throw new InvalidDataException($"document {count + 1} is malformed");
            }

            byte[] payload = ReadPayload(reader, length);

            count++;
            yield return new SnapshotDocument(new StoredEntry(scope, key, type, schemaVersion, version, new DateTimeOffset(ticks, TimeSpan.Zero), payload), sequence, previous, correlation, origin);
        }

        if (reader.ReadInt64() != count)
        {
            throw new InvalidDataException("the end record's document count does not match the documents read");
        }

        if (buffered.ReadByte() != -1)
        {
            throw new InvalidDataException("data follows the end record");
        }

        hashed.Drain();
        check.Sha256 = hashed.HashHex();
        check.Length = hashed.Length;
    }

    /// <summary>The file's hash and length as read, set when a <see cref="Read"/> enumeration completes.</summary>
    public sealed class ReadCheck
    {
        public string? Sha256 { get; set; }

        public long Length { get; set; }
    }

    /// <summary>The SHA-256 (lowercase hex) and length of a file.</summary>
    public static BackupFileEntry HashFile(string path, string name)
    {
        using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        byte[] hash = SHA256.HashData(input);
        return new BackupFileEntry(name, input.Length, Convert.ToHexString(hash).ToLowerInvariant());
    }

    internal static Stream Compress(Stream stream, BackupCompression compression) => compression switch
    {
        BackupCompression.None => new ObservedStream(stream, hash: false, leaveOpen: true),
        BackupCompression.GZip => new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true),
        BackupCompression.Brotli => new BrotliStream(stream, CompressionLevel.Fastest, leaveOpen: true),
        BackupCompression.Lz4 => LZ4Stream.Encode(stream, LZ4Level.L00_FAST, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "Unknown compression."),
    };

    internal static Stream Decompress(Stream stream, BackupCompression compression) => compression switch
    {
        BackupCompression.None => new ObservedStream(stream, hash: false, leaveOpen: true),
        BackupCompression.GZip => new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true),
        BackupCompression.Brotli => new BrotliStream(stream, CompressionMode.Decompress, leaveOpen: true),
        BackupCompression.Lz4 => LZ4Stream.Decode(stream, leaveOpen: true),
        _ => throw new InvalidDataException($"unknown compression {compression}"),
    };

    /// <summary>Reads a payload; a damaged length cannot make it allocate more than the bytes that are really there (plus 1 MB).</summary>
    private static byte[] ReadPayload(BinaryReader reader, int length)
    {
        const int Chunk = 1 << 20;
        if (length <= Chunk)
        {
            byte[] small = reader.ReadBytes(length);
            return small.Length == length ? small : throw new EndOfStreamException();
        }

        using var buffer = new MemoryStream();
        while (buffer.Length < length)
        {
            byte[] part = reader.ReadBytes((int)Math.Min(Chunk, length - buffer.Length));
            if (part.Length == 0)
            {
                throw new EndOfStreamException();
            }

            buffer.Write(part);
        }

        return buffer.ToArray();
    }

    private static void WriteOptional(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
        {
            writer.Write(value);
        }
    }

    private static string? ReadOptional(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadString() : null;
}

/// <summary>
/// The data file of a LiteDB store's backup (<c>database.sgdb</c>): the store's LiteDB data file as it was at the backup's
/// change-log position (<see cref="LiteDbStateStore.CopyDataFile"/>), compressed as a whole. It holds the change log and
/// hook history too, and every document keeps its checksum. Taking it is a sequential read of the file, and restoring it a
/// sequential write: about as fast as copying the file, where reading and rebuilding entry by entry was 10-20 times slower.
/// </summary>
internal static class BackupDatabaseFile
{
    public const string FileName = "database.sgdb";
    private const int BufferSize = 1 << 20;

    /// <summary>Copies the store's data file into <paramref name="file"/> and flushes it to the disk.</summary>
    public static (DataFileCopy Copy, BackupFileEntry File) Write(string file, BackupCompression compression, LiteDbStateStore store, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        using var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize);
        using var hashed = new ObservedStream(output, hash: true);
        DataFileCopy copy;
        using (Stream compressed = BackupDataFile.Compress(hashed, compression))
        {
            copy = store.CopyDataFile(compressed, progress, cancellationToken);
        }

        output.Flush(flushToDisk: true);
        return (copy, new BackupFileEntry(FileName, output.Length, hashed.HashHex()));
    }

    /// <summary>
    /// Decompresses <paramref name="file"/> into the new file <paramref name="destination"/> and flushes it to the disk;
    /// returns the length and SHA-256 of <paramref name="file"/> as read. Damaged compressed data throws
    /// <see cref="InvalidDataException"/>.
    /// </summary>
    public static BackupFileEntry Extract(string file, BackupCompression compression, string destination, CancellationToken cancellationToken)
    {
        using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        using var hashed = new ObservedStream(input, hash: true);
        using (Stream decompressed = BackupDataFile.Decompress(hashed, compression))
        using (var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            byte[] buffer = new byte[BufferSize];
            int read;
            while ((read = decompressed.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                output.Write(buffer, 0, read);
            }

            output.Flush(flushToDisk: true);
        }

        hashed.Drain();
        return new BackupFileEntry(FileName, hashed.Length, hashed.HashHex());
    }
}

/// <summary>A pass-through stream that counts the bytes written or read and, optionally, hashes them (SHA-256).</summary>
internal sealed class ObservedStream : Stream
{
    private readonly Stream _inner;
    private readonly IncrementalHash? _hash;
    private readonly bool _leaveOpen;
    private long _length;

    public ObservedStream(Stream inner, bool hash, bool leaveOpen = false)
    {
        _inner = inner;
        _hash = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        _leaveOpen = leaveOpen;
    }

    public override bool CanRead => _inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => _inner.CanWrite;

    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    public string HashHex() => Convert.ToHexString(_hash!.GetHashAndReset()).ToLowerInvariant();

    /// <summary>Reads (and hashes) whatever is left of the inner stream.</summary>
    public void Drain()
    {
        byte[] buffer = new byte[1 << 16];
        while (Read(buffer, 0, buffer.Length) > 0)
        {
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read = _inner.Read(buffer);
        _hash?.AppendData(buffer[..read]);
        _length += read;
        return read;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _inner.Write(buffer);
        _hash?.AppendData(buffer);
        _length += buffer.Length;
    }

    public override void Flush() => _inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash?.Dispose();
            if (!_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
