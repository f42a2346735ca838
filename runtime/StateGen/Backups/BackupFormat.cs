using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;

namespace StateGen.Backups;

/// <summary>
/// <c>manifest.json</c>: what a backup holds and the SHA-256 of each of its files. Written last, inside the temporary
/// folder, so a backup folder with a manifest is complete.
/// </summary>
internal sealed class BackupManifest
{
    /// <summary>
    /// Format 1: an <see cref="BackupLayout.Entries"/> backup. Format 2: a <see cref="BackupLayout.Database"/> one. Format 3:
    /// a database backup of a file whose change log is in segment files, carried in a second file
    /// (<see cref="BackupLogFile"/>); a version that knows only formats 1 and 2 refuses it rather than restore values
    /// without their history.
    /// </summary>
    public const int EntriesFormat = 1;
    public const int DatabaseFormat = 2;
    public const int SegmentedDatabaseFormat = 3;
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

    /// <summary>Format 3: the first sequence the backed-up change log holds (a log missing its first segments fails verification).</summary>
    public long? LogFirstSequence { get; set; }
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

/// <summary>
/// <c>verified.json</c>: written by a verification that passed, naming the data file (length and SHA-256) it read in
/// full. A restore whose decompression recomputes the same hash restores the same bytes, so it does not read every entry
/// again (<see cref="BackupManagerOptions.FullCheckOnRestore"/>). Removed when a later verification fails.
/// </summary>
internal sealed class BackupVerificationRecord
{
    public const string FileName = "verified.json";

    public int Format { get; set; } = 1;

    public string BackupId { get; set; } = string.Empty;

    public string Sha256 { get; set; } = string.Empty;

    public long Length { get; set; }

    public long DocumentCount { get; set; }

    public DateTimeOffset VerifiedAt { get; set; }

    /// <summary>The change-log file's SHA-256, in a backup that has one (format 3).</summary>
    public string? LogSha256 { get; set; }

    /// <summary>The change-log file's length, in a backup that has one.</summary>
    public long? LogLength { get; set; }

    /// <summary>Whether this record vouches for <paramref name="manifest"/>'s files as they are described now.</summary>
    public bool Covers(BackupManifest manifest)
        => Format == 1 && BackupId == manifest.Id && manifest.Files.Count is 1 or 2 && Length == manifest.Files[0].Length
            && string.Equals(Sha256, manifest.Files[0].Sha256, StringComparison.OrdinalIgnoreCase)
            && (manifest.Files.Count == 1
                ? LogSha256 is null
                : LogLength == manifest.Files[1].Length && string.Equals(LogSha256, manifest.Files[1].Sha256, StringComparison.OrdinalIgnoreCase));
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BackupManifest))]
[JsonSerializable(typeof(BackupVerificationRecord))]
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

    /// <summary>
    /// A stream that decompresses <paramref name="stream"/>. Damaged compressed data is <see cref="InvalidDataException"/>
    /// whatever the decoder threw (<see cref="DecoderGuardStream"/>).
    /// </summary>
    internal static Stream Decompress(Stream stream, BackupCompression compression) => compression switch
    {
        BackupCompression.None => new ObservedStream(stream, hash: false, leaveOpen: true),
        BackupCompression.GZip => new DecoderGuardStream(new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true)),
        BackupCompression.Brotli => new DecoderGuardStream(new BrotliStream(stream, CompressionMode.Decompress, leaveOpen: true)),
        BackupCompression.Lz4 => new DecoderGuardStream(LZ4Stream.Decode(stream, leaveOpen: true)),
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
/// change-log position (<see cref="LiteDbStateStore.CopyDataFile"/>), in compressed chunks (<see cref="ChunkedCompression"/>).
/// It holds the change log and hook history too, and every document keeps its checksum. Taking it is a sequential read
/// of the file with the chunks compressed on every core, and restoring it a sequential write: far faster than reading
/// and rebuilding entry by entry (docs/benchmarks.md).
/// </summary>
internal static class BackupDatabaseFile
{
    public const string FileName = "database.sgdb";

    /// <summary>
    /// Copies the store's data file into <paramref name="file"/> and, for a store whose change log is in segment files,
    /// the log into <paramref name="logFile"/> (<see cref="BackupLogFile"/>), both at one change-log position; flushes
    /// them to the disk.
    /// </summary>
    public static (DataFileCopy Copy, BackupFileEntry File, BackupFileEntry? Log) Write(string file, string? logFile, BackupCompression compression, LiteDbStateStore store, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        using var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        using var hashed = new ObservedStream(output, hash: true);
        using FileStream? logOutput = logFile is null ? null : new FileStream(logFile, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        using ObservedStream? logHashed = logOutput is null ? null : new ObservedStream(logOutput, hash: true);
        DataFileCopy copy;
        using (var compressed = new ChunkedCompression.Writer(hashed, compression))
        using (ChunkedCompression.Writer? logCompressed = logHashed is null ? null : new ChunkedCompression.Writer(logHashed, compression))
        {
            copy = store.CopyDataFile(compressed, logCompressed, progress, cancellationToken);
            compressed.Complete();
            logCompressed?.Complete();
        }

        output.Flush(flushToDisk: true);
        logOutput?.Flush(flushToDisk: true);
        BackupFileEntry? log = logOutput is null ? null : new BackupFileEntry(BackupLogFile.FileName, logOutput.Length, logHashed!.HashHex());
        return (copy, new BackupFileEntry(FileName, output.Length, hashed.HashHex()), log);
    }

    /// <summary>
    /// Decompresses <paramref name="file"/> into the new file <paramref name="destination"/> and flushes it to the disk;
    /// returns the length and SHA-256 of <paramref name="file"/> as read. Damaged data throws
    /// <see cref="InvalidDataException"/>, a short file <see cref="EndOfStreamException"/>.
    /// </summary>
    public static BackupFileEntry Extract(string file, BackupCompression compression, string destination, CancellationToken cancellationToken)
    {
        using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20);
        using var hashed = new ObservedStream(input, hash: true);
        using (var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            ChunkedCompression.Read(hashed, compression, output, cancellationToken);
            output.Flush(flushToDisk: true);
        }

        hashed.Drain();
        return new BackupFileEntry(FileName, hashed.Length, hashed.HashHex());
    }
}

/// <summary>
/// The change-log file (<c>changes.sglog</c>) of a backup of a store whose change log is in segment files: the segments
/// as of the backup's change-log position, in one <see cref="SegmentArchive"/>, compressed in chunks as
/// <c>database.sgdb</c> is.
/// </summary>
internal static class BackupLogFile
{
    public const string FileName = "changes.sglog";

    /// <summary>
    /// Decompresses <paramref name="file"/> and, when the file's length and SHA-256 are <paramref name="expected"/>'s,
    /// writes its segments into the new folder <paramref name="folder"/>, each flushed to the disk. Returns
    /// <see langword="null"/> then, or the file's length and hash as read when they differ (nothing is extracted).
    /// Damaged or foreign data throws <see cref="InvalidDataException"/> (a short file <see cref="EndOfStreamException"/>);
    /// the folder is then left for the caller to delete.
    /// </summary>
    public static BackupFileEntry? Extract(string file, BackupCompression compression, BackupFileEntry expected, string folder, CancellationToken cancellationToken)
    {
        // Decompressed into a file of its own first (the archive is read as a stream of known lengths, and only once its
        // hash is known to be the manifest's), next to the folder; a restore removes one a crash left.
        string archive = folder + ".archive";
        try
        {
            using var output = new FileStream(archive, FileMode.Create, FileAccess.ReadWrite, FileShare.None, bufferSize: 1 << 20, FileOptions.DeleteOnClose);
            using (var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20))
            using (var hashed = new ObservedStream(input, hash: true))
            {
                ChunkedCompression.Read(hashed, compression, output, cancellationToken);
                hashed.Drain();
                if (hashed.Length != expected.Length || !string.Equals(hashed.HashHex(), expected.Sha256, StringComparison.OrdinalIgnoreCase))
                {
                    return new BackupFileEntry(FileName, hashed.Length, hashed.HashHex());
                }
            }

            output.Position = 0;
            SegmentArchive.Extract(output, folder, cancellationToken);
            return null;
        }
        finally
        {
            try
            {
                File.Delete(archive);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Deleted on close already; a leftover is removed by the next restore.
            }
        }
    }
}

/// <summary>
/// A stream cut into chunks of up to 4 MB, each compressed on its own, so that several cores compress at once (one
/// stream of GZip or LZ4 runs on one core, slower than a disk copies). Layout: <c>SGCHUNKS</c>, format 1 (int32), the
/// compression (int32), then per chunk its length before and after compression (int32 each) and its compressed bytes
/// (a GZip member, a Brotli stream, an LZ4 block, or the bytes themselves), then a zero length. Little-endian.
/// </summary>
internal static class ChunkedCompression
{
    public const int ChunkSize = 4 << 20;
    private const int Format = 1;
    private static readonly byte[] Magic = "SGCHUNKS"u8.ToArray();

    /// <summary>Compresses what is written to it, a chunk per task, and writes the chunks in order.</summary>
    public sealed class Writer : Stream
    {
        private readonly Stream _inner;
        private readonly BackupCompression _compression;
        private readonly Queue<Task> _inFlight = new(); // each chunk's write, in order (a write awaits the one before it)
        private readonly int _parallel = Math.Max(1, Environment.ProcessorCount);
        private Task _written = Task.CompletedTask;
        private byte[] _chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        private int _filled;
        private bool _completed;

        public Writer(Stream inner, BackupCompression compression)
        {
            _inner = inner;
            _compression = compression;
            Span<byte> header = stackalloc byte[16];
            Magic.CopyTo(header);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header[8..], Format);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header[12..], (int)compression);
            _inner.Write(header);
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_chunk.Length == 0, this); // completed or disposed
            while (!buffer.IsEmpty)
            {
                int take = Math.Min(buffer.Length, ChunkSize - _filled);
                buffer[..take].CopyTo(_chunk.AsSpan(_filled));
                _filled += take;
                buffer = buffer[take..];
                if (_filled == ChunkSize)
                {
                    Submit();
                }
            }
        }

        /// <summary>Compresses and writes what is left, then the end marker. Without it the output has no end and reads as damaged.</summary>
        public void Complete()
        {
            if (_filled > 0)
            {
                Submit();
            }

            _written.GetAwaiter().GetResult();
            _inFlight.Clear();
            Span<byte> end = stackalloc byte[8];
            end.Clear();
            _inner.Write(end);
            _completed = true;
            ReturnChunk();
        }

        /// <summary>Gives the chunk being filled back to the pool (once): nothing more is written after completion or disposal.</summary>
        private void ReturnChunk()
        {
            if (_chunk.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_chunk);
                _chunk = [];
            }
        }

        /// <summary>
        /// Compresses the chunk on the thread pool and writes it when the chunks before it are written, so reading,
        /// compressing and writing overlap. At most one chunk per core plus one is in flight.
        /// </summary>
        private void Submit()
        {
            byte[] chunk = _chunk;
            int length = _filled;
            BackupCompression compression = _compression;
            Task<(byte[] Data, int Length, int RawLength, bool Pooled)> compressed = Task.Run(() =>
            {
                var result = Compress(chunk, length, compression);
                if (!ReferenceEquals(result.Data, chunk))
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                }

                return result;
            });
            _written = WriteAfterAsync(_written, compressed);
            _inFlight.Enqueue(_written);
            _chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            _filled = 0;
            while (_inFlight.Count > _parallel)
            {
                _inFlight.Dequeue().GetAwaiter().GetResult();
            }
        }

        private async Task WriteAfterAsync(Task previous, Task<(byte[] Data, int Length, int RawLength, bool Pooled)> compressed)
        {
            await previous.ConfigureAwait(false);
            var (data, length, raw, pooled) = await compressed.ConfigureAwait(false);
            byte[] lengths = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengths, raw);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(lengths.AsSpan(4), length);
            _inner.Write(lengths);
            _inner.Write(data, 0, length);
            if (pooled)
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_completed)
            {
                // Abandoned (an error or a cancellation): let running compressions and writes finish, write nothing more.
                try
                {
                    _written.Wait();
                }
                catch (AggregateException)
                {
                    // The writer's caller reports the first error.
                }

                ReturnChunk();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Compresses a chunk; the result is pooled (to be returned once written) unless it is a GZip buffer.</summary>
    private static (byte[] Data, int Length, int RawLength, bool Pooled) Compress(byte[] chunk, int length, BackupCompression compression)
    {
        ReadOnlySpan<byte> source = chunk.AsSpan(0, length);
        switch (compression)
        {
            case BackupCompression.None:
                return (chunk, length, length, true);
            case BackupCompression.Lz4:
            {
                byte[] target = ArrayPool<byte>.Shared.Rent(LZ4Codec.MaximumOutputSize(length));
                int written = LZ4Codec.Encode(source, target, LZ4Level.L00_FAST);
                return written > 0 ? (target, written, length, true) : throw new InvalidOperationException("LZ4 could not compress a chunk.");
            }

            case BackupCompression.Brotli:
            {
                byte[] target = ArrayPool<byte>.Shared.Rent(BrotliEncoder.GetMaxCompressedLength(length));
                return BrotliEncoder.TryCompress(source, target, out int written, quality: 1, window: 22)
                    ? (target, written, length, true)
                    : throw new InvalidOperationException("Brotli could not compress a chunk.");
            }

            case BackupCompression.GZip:
            {
                using var target = new MemoryStream(length / 2);
                using (var gzip = new GZipStream(target, CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(source);
                }

                return (target.GetBuffer(), (int)target.Length, length, false);
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(compression), compression, "Unknown compression.");
        }
    }

    /// <summary>Reads chunked data from <paramref name="input"/> and writes it, decompressed, to <paramref name="output"/>.</summary>
    public static void Read(Stream input, BackupCompression compression, Stream output, CancellationToken cancellationToken)
    {
        Span<byte> header = stackalloc byte[16];
        input.ReadExactly(header);
        if (!header[..8].SequenceEqual(Magic)
            || System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != Format
            || System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(header[12..]) != (int)compression)
        {
            throw new InvalidDataException("not a chunked StateGen backup file of the manifest's compression");
        }

        // Two chunk buffers: one chunk is written on a pool thread while the next is read and decompressed into the
        // other. The writes stay in order: each starts after the one before it finished.
        byte[] stored = [];
        byte[] raw = new byte[ChunkSize];
        byte[] spare = new byte[ChunkSize];
        Task writing = Task.CompletedTask;
        Span<byte> lengths = stackalloc byte[8];
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                input.ReadExactly(lengths);
                int rawLength = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(lengths);
                int storedLength = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(lengths[4..]);
                if (rawLength == 0 && storedLength == 0)
                {
                    break;
                }

                // Bounded before anything is allocated: a damaged length cannot ask for more than a chunk's worst case.
                if (rawLength <= 0 || rawLength > ChunkSize || storedLength <= 0 || storedLength > LZ4Codec.MaximumOutputSize(ChunkSize) + 4096)
                {
                    throw new InvalidDataException("a chunk has an impossible length");
                }

                if (stored.Length < storedLength)
                {
                    stored = new byte[storedLength];
                }

                input.ReadExactly(stored, 0, storedLength);
                if (Decompress(stored, storedLength, raw.AsSpan(0, rawLength), compression) != rawLength)
                {
                    throw new InvalidDataException("a chunk did not decompress to its recorded length");
                }

                writing.GetAwaiter().GetResult(); // the chunk before is written: its buffer is free again
                writing = WriteAsync(output, raw, rawLength);
                (raw, spare) = (spare, raw);
            }
        }
        catch
        {
            // Never leave while a write still uses the output; the first error is the one that surfaces.
            try
            {
                writing.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
            }

            throw;
        }

        writing.GetAwaiter().GetResult();
        if (input.ReadByte() != -1)
        {
            throw new InvalidDataException("data follows the end of the chunks");
        }

        static Task WriteAsync(Stream output, byte[] chunk, int length) => Task.Run(() => output.Write(chunk, 0, length), CancellationToken.None);
    }

    private static int Decompress(byte[] stored, int storedLength, Span<byte> target, BackupCompression compression)
    {
        ReadOnlySpan<byte> source = stored.AsSpan(0, storedLength);
        switch (compression)
        {
            case BackupCompression.None:
                if (source.Length != target.Length)
                {
                    return -1;
                }

                source.CopyTo(target);
                return target.Length;
            case BackupCompression.Lz4:
                return LZ4Codec.Decode(source, target);
            case BackupCompression.Brotli:
                return BrotliDecoder.TryDecompress(source, target, out int written) ? written : -1;
            case BackupCompression.GZip:
            {
                using var memory = new MemoryStream(stored, 0, source.Length, writable: false);
                using var gzip = new GZipStream(memory, CompressionMode.Decompress);
                int total = gzip.ReadAtLeast(target, target.Length, throwOnEndOfStream: false);
                return total == target.Length && gzip.ReadByte() == -1 ? total : -1;
            }

            default:
                throw new InvalidDataException($"unknown compression {compression}");
        }
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

/// <summary>
/// Reads through a decoder and reports anything it throws on damaged input as <see cref="InvalidDataException"/>: the
/// decoders throw more than that (GZip <see cref="InvalidDataException"/>, Brotli <see cref="InvalidOperationException"/>,
/// K4os LZ4 <see cref="InvalidOperationException"/>, <see cref="ArgumentException"/> and, for a frame header asking for
/// a predefined dictionary, <see cref="NotImplementedException"/>: found by the long backup fuzz run, seed
/// <c>a314VmAyfv9e</c>). Errors of the file underneath (<see cref="IOException"/>) and cancellations pass unchanged.
/// </summary>
internal sealed class DecoderGuardStream(Stream decoder) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return decoder.Read(buffer);
        }
        catch (Exception ex) when (ex is not IOException and not OperationCanceledException and not OutOfMemoryException)
        {
            throw new InvalidDataException($"the compressed data is damaged ({ex.GetType().Name})", ex);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            decoder.Dispose();
        }

        base.Dispose(disposing);
    }
}
