using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using StateGen.Storage.LiteDb;

namespace StateGen.Tests.TestSupport;

/// <summary>
/// Power-loss simulation, in the manner of SQLite's crash-test VFS: in-memory files that remember what was flushed to
/// the "disk" (<see cref="StoreFile.Sync"/>) apart from what was only written. <see cref="Crash"/> cuts the power: it
/// returns, for each file, the flushed image plus (in the torn model) a random in-order prefix of the writes made since
/// (a disk may have written some of them already), and from then on every flush fails, as it would with no power.
/// </summary>
internal sealed class SimulatedDisk
{
    private readonly object _gate = new();
    private readonly Dictionary<string, SimFile> _files = new(StringComparer.Ordinal);
    private readonly Random? _torn;
    private long _writes;
    private long? _crashAfterWrites;
    private long _faultWrites;
    private long _faultSyncs;
    private long? _failWrite;
    private long? _failSync;

    /// <param name="torn">When set, a crash keeps a random prefix of the unflushed writes of each file; else none.</param>
    public SimulatedDisk(Random? torn = null) => _torn = torn;

    /// <summary>A disk holding these files (from <see cref="Crash"/> or <see cref="Images"/>), all of them flushed.</summary>
    public SimulatedDisk(IReadOnlyDictionary<string, byte[]> images, Random? torn = null)
        : this(torn)
    {
        foreach (var (path, image) in images)
        {
            var file = new SimFile();
            file.Content.AddRange(image);
            file.Durable = image.ToArray();
            _files[path] = file;
        }
    }

    /// <summary>The page write after which the power goes (counted from when it is set); null: never.</summary>
    public long? CrashAfterWrites
    {
        get => _crashAfterWrites;
        set
        {
            lock (_gate)
            {
                _crashAfterWrites = value;
                _writes = 0;
            }
        }
    }

    /// <summary>
    /// I/O errors: the <paramref name="write"/>-th page write (or length change) and the <paramref name="sync"/>-th flush
    /// from now throw an <see cref="IOException"/> and change nothing; the others work (a transient device error).
    /// </summary>
    public void FailAt(long? write = null, long? sync = null)
    {
        lock (_gate)
        {
            _failWrite = write;
            _failSync = sync;
            _faultWrites = 0;
            _faultSyncs = 0;
        }
    }

    /// <summary>Page writes and flushes since the last <see cref="FailAt"/> (to size the k of a fault sweep).</summary>
    public (long Writes, long Syncs) FaultCounts
    {
        get
        {
            lock (_gate)
            {
                return (_faultWrites, _faultSyncs);
            }
        }
    }

    /// <summary>
    /// A full disk: a write or length change that would make the files together larger than this throws an
    /// <see cref="IOException"/> ("No space left on device") and changes nothing. Null: no limit.
    /// </summary>
    public long? Capacity { get; set; }

    /// <summary>The size of all files together.</summary>
    public long UsedBytes
    {
        get
        {
            lock (_gate)
            {
                return _files.Values.Sum(f => (long)f.Content.Count);
            }
        }
    }

    /// <summary>Every file as written so far, flushed or not (what a reopen sees when the power stayed on).</summary>
    public Dictionary<string, byte[]> Contents()
    {
        lock (_gate)
        {
            return _files.ToDictionary(f => f.Key, f => f.Value.Content.ToArray(), StringComparer.Ordinal);
        }
    }

    /// <summary>Called under the lock before a write that would make <paramref name="file"/> <paramref name="newLength"/> long.</summary>
    private void CheckWrite(SimFile file, long newLength)
    {
        if (++_faultWrites == _failWrite)
        {
            throw new IOException("Simulated I/O error on write.");
        }

        long grow = newLength - file.Content.Count;
        if (Capacity is long capacity && grow > 0 && _files.Values.Sum(f => (long)f.Content.Count) + grow > capacity)
        {
            throw new IOException("No space left on device (simulated).");
        }
    }

    /// <summary>Runs before every flush (outside the disk's lock): a test can hold a flush here.</summary>
    public Action<string>? BeforeSync { get; set; }

    /// <summary>Whether the power is off.</summary>
    public bool Crashed { get; private set; }

    /// <summary>The flushed images captured by the crash.</summary>
    public IReadOnlyDictionary<string, byte[]>? CrashImages { get; private set; }

    /// <summary>Opens (or creates) a file: the store's test hook.</summary>
    public StoreFile Open(string path)
    {
        lock (_gate)
        {
            if (!_files.TryGetValue(path, out SimFile? file))
            {
                file = new SimFile();
                _files[path] = file;
            }

            return new Handle(this, path, file);
        }
    }

    /// <summary>How many flushes reached a file.</summary>
    public long SyncCount(string path)
    {
        lock (_gate)
        {
            return _files.TryGetValue(path, out SimFile? file) ? file.Syncs : 0;
        }
    }

    /// <summary>Every file as flushed so far (no crash).</summary>
    public Dictionary<string, byte[]> Images()
    {
        lock (_gate)
        {
            return _files.ToDictionary(f => f.Key, f => f.Value.Durable.ToArray(), StringComparer.Ordinal);
        }
    }

    /// <summary>Cuts the power now (if not already) and returns what survives.</summary>
    public IReadOnlyDictionary<string, byte[]> Crash()
    {
        lock (_gate)
        {
            CrashLocked();
            return CrashImages!;
        }
    }

    /// <summary>The same files under other names (to reopen an image while the original store is still open).</summary>
    public static Dictionary<string, byte[]> Rename(IReadOnlyDictionary<string, byte[]> images, string fromDataPath, string toDataPath)
    {
        var renamed = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (path, image) in images)
        {
            string target = path == fromDataPath ? toDataPath
                : path == LiteDbStateStore.LogPath(fromDataPath) ? LiteDbStateStore.LogPath(toDataPath)
                : path;
            renamed[target] = image;
        }

        return renamed;
    }

    private void CrashLocked()
    {
        if (Crashed)
        {
            return;
        }

        Crashed = true;
        var images = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (path, file) in _files)
        {
            var image = new List<byte>(file.Durable);
            int keep = _torn is null ? 0 : _torn.Next(file.Pending.Count + 1);
            foreach (var op in file.Pending.Take(keep))
            {
                Apply(image, op.Offset, op.Data, op.Length);
            }

            images[path] = image.ToArray();
        }

        CrashImages = images;
    }

    private static void Apply(List<byte> content, long offset, byte[]? data, long length)
    {
        if (data is null)
        {
            if (length < content.Count)
            {
                content.RemoveRange((int)length, content.Count - (int)length);
            }
            else
            {
                content.AddRange(new byte[length - content.Count]);
            }

            return;
        }

        if (offset + data.Length > content.Count)
        {
            content.AddRange(new byte[offset + data.Length - content.Count]);
        }

        data.CopyTo(CollectionsMarshal.AsSpan(content).Slice((int)offset, data.Length));
    }

    private sealed class SimFile
    {
        public List<byte> Content { get; } = [];

        public byte[] Durable { get; set; } = [];

        public List<(long Offset, byte[]? Data, long Length)> Pending { get; } = [];

        public long Syncs { get; set; }
    }

    private sealed class Handle(SimulatedDisk disk, string path, SimFile file) : StoreFile
    {
        public override string Path => path;

        public override long Length
        {
            get
            {
                lock (disk._gate)
                {
                    return file.Content.Count;
                }
            }
        }

        public override void Release()
        {
        }

        protected override int ReadAt(long offset, Span<byte> buffer)
        {
            lock (disk._gate)
            {
                int n = (int)Math.Max(0, Math.Min(buffer.Length, file.Content.Count - offset));
                CollectionsMarshal.AsSpan(file.Content).Slice((int)offset, n).CopyTo(buffer);

                return n;
            }
        }

        protected override void WriteAt(long offset, ReadOnlySpan<byte> buffer)
        {
            lock (disk._gate)
            {
                // The write that the power cut interrupts is not on the disk, nor is anything after it.
                if (disk._crashAfterWrites is long limit && ++disk._writes > limit)
                {
                    disk.CrashLocked();
                }

                disk.CheckWrite(file, Math.Max(file.Content.Count, offset + buffer.Length));
                byte[] data = buffer.ToArray();
                Apply(file.Content, offset, data, 0);
                if (!disk.Crashed)
                {
                    file.Pending.Add((offset, data, 0));
                }
            }
        }

        protected override void SetLengthCore(long length)
        {
            lock (disk._gate)
            {
                disk.CheckWrite(file, length);
                Apply(file.Content, 0, null, length);
                if (!disk.Crashed)
                {
                    file.Pending.Add((0, null, length));
                }
            }
        }

        protected override void SyncCore()
        {
            disk.BeforeSync?.Invoke(path);
            lock (disk._gate)
            {
                if (disk.Crashed)
                {
                    throw new IOException("Simulated power loss: the disk is gone.");
                }

                if (++disk._faultSyncs == disk._failSync)
                {
                    throw new IOException("Simulated I/O error on flush.");
                }

                file.Durable = file.Content.ToArray();
                file.Pending.Clear();
                file.Syncs++;
            }
        }
    }
}
