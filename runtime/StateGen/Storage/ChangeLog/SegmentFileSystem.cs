using System.Collections.Generic;
using System.IO;
using StateGen.Storage.LiteDb;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// Every file-system operation of a <see cref="SegmentLog"/> and its <see cref="Segment"/>s: the real file system
/// (<see cref="Os"/>), or a test's simulated disk, so that power-loss and fault tests cover the segment files too.
/// </summary>
/// <remarks>
/// Files are <see cref="StoreFile"/>s, closed with <see cref="StoreFile.Release"/> (their <c>Dispose</c> does nothing).
/// Creating, deleting and renaming a file reach the disk only with <see cref="SyncDirectory"/>, as on Linux.
/// </remarks>
internal abstract class SegmentFileSystem
{
    /// <summary>The real file system.</summary>
    public static SegmentFileSystem Os { get; } = new OsSegmentFileSystem();

    /// <summary>Whether the folder exists.</summary>
    public abstract bool DirectoryExists(string folder);

    /// <summary>Creates the folder (and its parents); its entry in its parent needs a <see cref="SyncDirectory"/> of it.</summary>
    public abstract void CreateDirectory(string folder);

    /// <summary>The paths of the files in <paramref name="folder"/>, as <see cref="Directory.EnumerateFiles(string)"/>.</summary>
    public abstract IEnumerable<string> EnumerateFiles(string folder);

    /// <summary>Opens an existing file for positional reads and writes.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public abstract StoreFile OpenExisting(string path);

    /// <summary>
    /// Opens an existing file for positional reads only, while the log may still write to it (a backup's copy). The
    /// simulated disk of the tests opens it as <see cref="OpenExisting"/> does.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public virtual StoreFile OpenForCopy(string path) => OpenExisting(path);

    /// <summary>Creates a file that must not exist yet.</summary>
    /// <exception cref="IOException">The file exists.</exception>
    public abstract StoreFile CreateNew(string path);

    /// <summary>Creates a file, or empties an existing one.</summary>
    public abstract StoreFile Create(string path);

    /// <summary>Deletes a file (no error when it is not there).</summary>
    public abstract void Delete(string path);

    /// <summary>Renames <paramref name="source"/> over <paramref name="destination"/> in one atomic step.</summary>
    public abstract void MoveOver(string source, string destination);

    /// <summary>
    /// Flushes the folder holding <paramref name="pathInFolder"/> to the disk, so that the files created, deleted and
    /// renamed in it stay so after a power cut (<see cref="OsStoreFile.SyncDirectory"/>).
    /// </summary>
    public abstract void SyncDirectory(string pathInFolder);

    /// <summary>Real files, opened as the segment log always opened them: unbuffered, shared for reading and deleting.</summary>
    private sealed class OsSegmentFileSystem : SegmentFileSystem
    {
        private const FileShare Share = FileShare.Read | FileShare.Delete;

        public override bool DirectoryExists(string folder) => Directory.Exists(folder);

        public override void CreateDirectory(string folder) => Directory.CreateDirectory(folder);

        public override IEnumerable<string> EnumerateFiles(string folder) => Directory.EnumerateFiles(folder);

        public override StoreFile OpenExisting(string path) => new OsStoreFile(path, FileMode.Open, Share);

        public override StoreFile OpenForCopy(string path)
            => new OsStoreFile(path, FileMode.Open, FileShare.ReadWrite | FileShare.Delete, FileAccess.Read);

        public override StoreFile CreateNew(string path) => new OsStoreFile(path, FileMode.CreateNew, Share);

        public override StoreFile Create(string path) => new OsStoreFile(path, FileMode.Create, Share);

        public override void Delete(string path) => File.Delete(path);

        public override void MoveOver(string source, string destination) => File.Move(source, destination, overwrite: true);

        public override void SyncDirectory(string pathInFolder) => OsStoreFile.SyncDirectory(pathInFolder);
    }
}
