using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// One file under a <see cref="LiteDbStateStore"/> (the data file or LiteDB's write-ahead log), handed to LiteDB as its
/// stream. Reads and writes are positional; <see cref="Sync()"/> flushes everything written so far to the disk.
/// </summary>
/// <remarks>
/// LiteDB 5.0.21 wraps each stream it is given in its own <c>ConcurrentStream</c>, which sets <see cref="Position"/> and
/// then reads or writes under a lock on this object, and which disposes this stream when LiteDB disposes the wrapper:
/// so <see cref="Stream.Dispose()"/> does nothing here and <see cref="Release"/> closes the file. LiteDB calls
/// <see cref="Flush"/> only where it means "to the disk" (file creation, checkpoint, trimming a torn file), so it syncs.
/// A store's own writers never call it: their flush is the group commit in <see cref="DurabilityBarrier"/>.
/// </remarks>
internal abstract class StoreFile : Stream
{
    private readonly object _syncLock = new();
    private long _position;
    private long _written; // completed writes and length changes
    private long _synced;  // the value of _written that the last finished flush covered
    private long _syncs;
    private volatile bool _syncFailed;

    /// <summary>The file's path.</summary>
    public abstract string Path { get; }

    /// <summary>
    /// Whether something was written (or the length changed) that no finished <see cref="Sync()"/> covers: true while a
    /// flush is still running, so a caller never takes a running flush for a finished one.
    /// </summary>
    public bool IsDirty => Interlocked.Read(ref _synced) != Interlocked.Read(ref _written);

    /// <summary>
    /// Whether a flush failed. After a failed fsync the operating system may have dropped the unflushed pages, so no later
    /// flush can vouch for what was written before it: the store refuses further changes.
    /// </summary>
    public bool SyncFailed => _syncFailed;

    /// <summary>How many times the file was flushed to the disk.</summary>
    public long SyncCount => Interlocked.Read(ref _syncs);

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => true;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override long Position
    {
        get => _position;
        set => _position = value;
    }

    /// <summary>Flushes everything written so far to the disk.</summary>
    public void Sync() => Sync(onlyIfDirty: false);

    /// <summary>Flushes to the disk if a write is not yet covered by a finished flush; waits for a running one.</summary>
    public void SyncIfDirty() => Sync(onlyIfDirty: true);

    private void Sync(bool onlyIfDirty)
    {
        lock (_syncLock)
        {
            // Read before the flush: a write that finishes meanwhile stays dirty and is covered by the next one.
            long written = Interlocked.Read(ref _written);
            if (onlyIfDirty && written == Interlocked.Read(ref _synced))
            {
                return;
            }

            try
            {
                SyncCore();
            }
            catch
            {
                _syncFailed = true;
                throw;
            }

            Interlocked.Exchange(ref _synced, written);
            Interlocked.Increment(ref _syncs);
        }
    }

    /// <summary>Closes the file.</summary>
    public abstract void Release();

    /// <summary>Reads at an offset; returns the bytes read (0 at the end).</summary>
    protected abstract int ReadAt(long offset, Span<byte> buffer);

    /// <summary>
    /// Reads at an offset without moving <see cref="Position"/>: safe while LiteDB uses the file (a backup copying the
    /// data file while checkpoints are off).
    /// </summary>
    public int ReadAtOffset(long offset, Span<byte> buffer) => ReadAt(offset, buffer);

    /// <summary>
    /// Copies the file's first <paramref name="length"/> bytes to <paramref name="destination"/> by positional reads of
    /// <paramref name="buffer"/>'s size (writes past them may go on meanwhile), calling <paramref name="afterChunk"/>
    /// with the bytes copied so far.
    /// </summary>
    /// <exception cref="EndOfStreamException">The file is shorter than <paramref name="length"/>; <paramref name="what"/> names it.</exception>
    public void CopyPrefix(long length, Stream destination, byte[] buffer, string what, Action<long>? afterChunk, CancellationToken cancellationToken)
    {
        long copied = 0;
        while (copied < length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int want = (int)Math.Min(buffer.Length, length - copied);
            int read = ReadAt(copied, buffer.AsSpan(0, want));
            if (read != want)
            {
                throw new EndOfStreamException($"{what} ended at {copied + read} bytes while {length} were being copied.");
            }

            destination.Write(buffer, 0, read);
            copied += read;
            afterChunk?.Invoke(copied);
        }
    }

    /// <summary>Writes at an offset, growing the file as needed.</summary>
    protected abstract void WriteAt(long offset, ReadOnlySpan<byte> buffer);

    /// <summary>Changes the file's length.</summary>
    protected abstract void SetLengthCore(long length);

    /// <summary>Flushes the file to the disk (fsync).</summary>
    protected abstract void SyncCore();

    /// <inheritdoc />
    public override void Flush() => Sync();

    /// <summary>
    /// Whether a whole page read from this (data) file must carry its own page number: LiteDB keeps page <c>n</c> at
    /// offset <c>n × 8192</c> and writes <c>n</c> in the page's first four bytes, but never checks it, so a page written to
    /// the wrong place (or copied over another) would be read as the page it replaced.
    /// </summary>
    public bool CheckPageIds { get; set; }

    private const int PageSize = 8192;
    private const int PageHeaderSize = 32;

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count)
    {
        long position = _position;
        int read = ReadAt(position, buffer.AsSpan(offset, count));
        _position += read;
        if (CheckPageIds && read == PageSize && position % PageSize == 0)
        {
            CheckPageId(buffer.AsSpan(offset, PageHeaderSize), position / PageSize);
        }

        return read;
    }

    private static void CheckPageId(ReadOnlySpan<byte> header, long expected)
    {
        uint id = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (id != expected && header.ContainsAnyExcept((byte)0))
        {
            // Not an IOException: the store reports this as a damaged file, not as a device error.
            throw new InvalidDataException($"The page at offset {expected * PageSize} carries another page's number.");
        }
    }

    /// <summary>
    /// The log that must be on the disk before this (data) file changes: the write-ahead rule. LiteDB 5 checkpoints by
    /// copying log pages into the data file without flushing the log first; a power cut after the data file got pages
    /// of a commit whose log pages were not yet flushed would replay older log pages over newer data pages on reopen.
    /// </summary>
    public StoreFile? WriteAheadLog { get; set; }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        WriteAtOffset(_position, buffer.AsSpan(offset, count));
        _position += count;
    }

    /// <summary>Writes at an offset without moving <see cref="Position"/> (the change log's appends), growing the file as needed.</summary>
    public void WriteAtOffset(long offset, ReadOnlySpan<byte> buffer)
    {
        WriteAheadLog?.SyncIfDirty();
        WriteAt(offset, buffer);
        Interlocked.Increment(ref _written);
    }

    /// <summary>
    /// Test hook: the file system this file lives in, which then holds the files a store keeps beside it too (the change
    /// log's segments); <see langword="null"/> for a real file (the segments are real files too).
    /// </summary>
    public virtual ChangeLog.SegmentFileSystem? FileSystem => null;

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin)
    {
        _position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => Length + offset,
        };
        return _position;
    }

    /// <summary>
    /// Changes the length and syncs at once: LiteDB truncates its log after a checkpoint and then reuses transaction
    /// ids from 1, so the truncation must reach the disk before new log pages do, or a crash could mix old and new pages.
    /// </summary>
    public override void SetLength(long value)
    {
        SetLengthCore(value);
        Interlocked.Increment(ref _written);
        Sync();
    }

    /// <summary>LiteDB disposes the streams it wraps; the store closes the file itself (<see cref="Release"/>).</summary>
    protected override void Dispose(bool disposing)
    {
    }
}

/// <summary>A real file: positional reads and writes on one handle, <c>fsync</c> on <see cref="StoreFile.Sync()"/>.</summary>
internal sealed class OsStoreFile : StoreFile
{
    private readonly FileStream _file;
    private readonly SafeFileHandle _handle;

    public OsStoreFile(string path)
        : this(path, FileMode.OpenOrCreate, FileShare.Read, syncNewEntry: !File.Exists(path))
    {
    }

    /// <summary>A file opened with <paramref name="mode"/> and <paramref name="share"/>; the caller flushes its directory.</summary>
    internal OsStoreFile(string path, FileMode mode, FileShare share, FileAccess access = FileAccess.ReadWrite)
        : this(path, mode, share, syncNewEntry: false, access)
    {
    }

    private OsStoreFile(string path, FileMode mode, FileShare share, bool syncNewEntry, FileAccess access = FileAccess.ReadWrite)
    {
        Path = path;

        // Unbuffered: every write goes straight to the OS, and Flush(true) is exactly one fsync of the handle.
        _file = new FileStream(path, mode, access, share, bufferSize: 0, FileOptions.RandomAccess);
        _handle = _file.SafeFileHandle;
        if (syncNewEntry)
        {
            SyncDirectory(path);
        }
    }

    public override string Path { get; }

    public override long Length => RandomAccess.GetLength(_handle);

    public override void Release() => _file.Dispose();

    protected override int ReadAt(long offset, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(_handle, buffer[total..], offset + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    protected override void WriteAt(long offset, ReadOnlySpan<byte> buffer) => RandomAccess.Write(_handle, buffer, offset);

    protected override void SetLengthCore(long length) => _file.SetLength(length);

    protected override void SyncCore() => _file.Flush(flushToDisk: true);

    /// <summary>
    /// On Linux, a new file's directory entry reaches the disk only when the directory is flushed: without this a power
    /// cut right after creating the database could lose the whole file. Best effort (Windows and macOS journal it).
    /// </summary>
    internal static void SyncDirectory(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (string.IsNullOrEmpty(folder))
        {
            return;
        }

        int fd = Open(folder, 0); // O_RDONLY
        if (fd < 0)
        {
            return;
        }

        _ = FSync(fd);
        _ = Close(fd);
    }

    /// <summary>
    /// Gives the existing file <paramref name="existing"/> a second name, <paramref name="link"/> (a hard link: no data
    /// is copied). <see langword="false"/> when the file system or platform cannot (the caller then copies).
    /// </summary>
    internal static bool TryCreateHardLink(string existing, string link)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                return CreateHardLink(link, existing, IntPtr.Zero);
            }

            return (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()) && Link(existing, link) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "link", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string link);

    [DllImport("kernel32", EntryPoint = "CreateHardLinkW", CharSet = CharSet.Unicode)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool CreateHardLink(string link, string existing, IntPtr securityAttributes);

    [DllImport("libc", EntryPoint = "open", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync")]
    private static extern int FSync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
