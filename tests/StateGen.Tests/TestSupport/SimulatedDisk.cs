using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;

namespace StateGen.Tests.TestSupport;

/// <summary>
/// Power-loss simulation, in the manner of SQLite's crash-test VFS: in-memory files that remember what was flushed to
/// the "disk" (<see cref="StoreFile.Sync"/>) apart from what was only written. <see cref="Crash"/> cuts the power: it
/// returns, for each file, the flushed image plus (in the torn model) a random in-order prefix of the writes made since
/// (a disk may have written some of them already), and from then on every flush fails, as it would with no power.
/// </summary>
/// <remarks>
/// <para>
/// Directory entries (for the change log's segment files, through <see cref="SegmentFiles"/>): a file created, deleted
/// or renamed there, and a folder created there, is so at once for the running store, but on the "disk" only once its
/// folder is flushed (<see cref="SegmentFileSystem.SyncDirectory"/>), as on Linux. A crash keeps the flushed names plus,
/// in the torn model, a random in-order prefix of the name changes made since; each name keeps the content of the file it
/// names (flushed bytes plus, torn, a prefix of its unflushed writes), so a deleted file's writes never reappear under
/// a new file of the same name, and a file whose deletion was not flushed comes back with what it had on the disk. A file
/// in a folder whose creation was not flushed is lost. A file opened with <see cref="Open"/> (LiteDB's files) has its
/// name on the disk at once, as <see cref="OsStoreFile"/> flushes the folder when it creates one.
/// </para>
/// <para>
/// Simplifications: a directory flush never fails (the real one is best effort), and after the crash it does nothing.
/// Creating, deleting and renaming count as writes for <see cref="FailAt"/> (they fail before changing anything), not
/// for <see cref="CrashAfterWrites"/>; a rename moves a file within its folder only; a deleted file that is still open
/// takes no space (<see cref="Capacity"/>).
/// </para>
/// </remarks>
internal sealed class SimulatedDisk
{
    private readonly object _gate = new();
    private readonly Dictionary<string, SimFile> _files = new(StringComparer.Ordinal); // the names the running store sees
    private readonly Dictionary<string, SimFile> _durable = new(StringComparer.Ordinal); // the names on the disk
    private readonly HashSet<string> _folders = new(StringComparer.Ordinal); // created through SegmentFiles
    private readonly HashSet<string> _volatileFolders = new(StringComparer.Ordinal); // created, not yet on the disk
    private readonly List<(string Folder, Action Apply)> _nameChanges = []; // not yet on the disk, in order
    private readonly Random? _torn;
    private long _writes;
    private long? _crashAfterWrites;
    private long _faultWrites;
    private long _faultSyncs;
    private long? _failWrite;
    private long? _failSync;

    /// <param name="torn">When set, a crash keeps a random prefix of the unflushed writes of each file; else none.</param>
    public SimulatedDisk(Random? torn = null)
    {
        _torn = torn;
        SegmentFiles = new SegmentDirectory(this);
    }

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
            _durable[path] = file;
        }
    }

    /// <summary>
    /// The same disk as the change log's file system: a store opened with <see cref="Open"/> as its hook keeps its segment
    /// files here (<see cref="StoreFile.FileSystem"/>).
    /// </summary>
    public SegmentFileSystem SegmentFiles { get; }

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

    /// <summary>
    /// Called under the lock before a write that would make <paramref name="file"/> <paramref name="newLength"/> long, or
    /// (with no file) before a name change.
    /// </summary>
    private void CheckWrite(SimFile? file, long newLength)
    {
        if (++_faultWrites == _failWrite)
        {
            throw new IOException("Simulated I/O error on write.");
        }

        long grow = file is null ? 0 : newLength - file.Content.Count;
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
                _durable[path] = file;
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

    /// <summary>Every file whose name is on the disk, as flushed so far (no crash).</summary>
    public Dictionary<string, byte[]> Images()
    {
        lock (_gate)
        {
            return DurableFiles().ToDictionary(f => f.Key, f => f.Value.Durable.ToArray(), StringComparer.Ordinal);
        }
    }

    /// <summary>The files whose names are on the disk: not in a folder whose own creation is not.</summary>
    private IEnumerable<KeyValuePair<string, SimFile>> DurableFiles()
        => _durable.Where(f => !_volatileFolders.Contains(Path.GetDirectoryName(f.Key) ?? string.Empty));

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
            string fromFolder = SegmentLog.FolderFor(fromDataPath) + Path.DirectorySeparatorChar;
            if (path.StartsWith(fromFolder, StringComparison.Ordinal))
            {
                target = SegmentLog.FolderFor(toDataPath) + Path.DirectorySeparatorChar + path[fromFolder.Length..];
            }

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

        // Name changes not flushed: in the torn model, the first few may have reached the disk.
        int names = _torn is null || _nameChanges.Count == 0 ? 0 : _torn.Next(_nameChanges.Count + 1);
        foreach (var (_, apply) in _nameChanges.Take(names))
        {
            apply();
        }

        _nameChanges.Clear();
        var images = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (path, file) in DurableFiles())
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

        public override SegmentFileSystem FileSystem => disk.SegmentFiles;

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

    /// <summary>Records a name change in <paramref name="folder"/>: on the disk once the folder is flushed (not after the crash).</summary>
    private void ChangeName(string folder, Action apply)
    {
        if (!Crashed)
        {
            _nameChanges.Add((folder, apply));
        }
    }

    private static string FolderOf(string path) => Path.GetDirectoryName(path) ?? string.Empty;

    /// <summary>The disk as the change log's file system: names change at once, and reach the disk with their folder's flush.</summary>
    private sealed class SegmentDirectory(SimulatedDisk disk) : SegmentFileSystem
    {
        public override bool DirectoryExists(string folder)
        {
            lock (disk._gate)
            {
                return disk._folders.Contains(folder) || disk._files.Keys.Any(p => FolderOf(p) == folder);
            }
        }

        public override void CreateDirectory(string folder)
        {
            lock (disk._gate)
            {
                if (disk._folders.Contains(folder) || disk._files.Keys.Any(p => FolderOf(p) == folder))
                {
                    return;
                }

                disk.CheckWrite(null, 0);
                disk._folders.Add(folder);
                if (!disk.Crashed)
                {
                    disk._volatileFolders.Add(folder);
                }

                disk.ChangeName(FolderOf(folder), () => disk._volatileFolders.Remove(folder));
            }
        }

        public override IEnumerable<string> EnumerateFiles(string folder)
        {
            lock (disk._gate)
            {
                if (!disk._folders.Contains(folder) && !disk._files.Keys.Any(p => FolderOf(p) == folder))
                {
                    throw new DirectoryNotFoundException($"Simulated: no folder '{folder}'.");
                }

                // A copy: the caller may delete files while it goes through them.
                return disk._files.Keys.Where(p => FolderOf(p) == folder).ToArray();
            }
        }

        public override StoreFile OpenExisting(string path)
        {
            lock (disk._gate)
            {
                return disk._files.TryGetValue(path, out SimFile? file)
                    ? new Handle(disk, path, file)
                    : throw new FileNotFoundException("Simulated: no such file.", path);
            }
        }

        public override StoreFile CreateNew(string path)
        {
            lock (disk._gate)
            {
                if (disk._files.ContainsKey(path))
                {
                    throw new IOException($"Simulated: the file '{path}' already exists.");
                }

                return Add(path);
            }
        }

        public override StoreFile Create(string path)
        {
            lock (disk._gate)
            {
                if (!disk._files.TryGetValue(path, out SimFile? file))
                {
                    return Add(path);
                }

                // The same file, emptied: a write like any other (on the disk at the file's next flush).
                disk.CheckWrite(file, 0);
                Apply(file.Content, 0, null, 0);
                if (!disk.Crashed)
                {
                    file.Pending.Add((0, null, 0));
                }

                return new Handle(disk, path, file);
            }
        }

        private Handle Add(string path)
        {
            disk.CheckWrite(null, 0);
            var file = new SimFile();
            disk._files[path] = file;
            disk.ChangeName(FolderOf(path), () => disk._durable[path] = file);
            return new Handle(disk, path, file);
        }

        public override void Delete(string path)
        {
            lock (disk._gate)
            {
                if (!disk._files.ContainsKey(path))
                {
                    return;
                }

                disk.CheckWrite(null, 0);
                disk._files.Remove(path);
                disk.ChangeName(FolderOf(path), () => disk._durable.Remove(path));
            }
        }

        public override void MoveOver(string source, string destination)
        {
            if (FolderOf(source) != FolderOf(destination))
            {
                throw new NotSupportedException("The simulated disk renames a file within its folder only.");
            }

            lock (disk._gate)
            {
                if (!disk._files.TryGetValue(source, out SimFile? file))
                {
                    throw new FileNotFoundException("Simulated: no such file.", source);
                }

                disk.CheckWrite(null, 0);
                disk._files.Remove(source);
                disk._files[destination] = file;
                disk.ChangeName(FolderOf(source), () =>
                {
                    // One step: the old name goes and the new one names this file, whatever it named before.
                    disk._durable.Remove(source);
                    disk._durable[destination] = file;
                });
            }
        }

        public override void SyncDirectory(string pathInFolder)
        {
            string folder = FolderOf(pathInFolder);
            lock (disk._gate)
            {
                if (disk.Crashed)
                {
                    return; // no power: nothing reaches the disk (the real flush is best effort and reports nothing)
                }

                foreach (var (_, apply) in disk._nameChanges.Where(c => c.Folder == folder))
                {
                    apply();
                }

                disk._nameChanges.RemoveAll(c => c.Folder == folder);
            }
        }
    }
}
