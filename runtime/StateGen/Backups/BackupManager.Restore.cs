using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Diagnostics;
using StateGen.Hooks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;

namespace StateGen.Backups;

public sealed partial class BackupManager
{
    /// <summary>
    /// Restores a LiteDB database file from a backup. The backup is verified first and refused when it fails (the database
    /// is then not touched); a database backup that <see cref="VerifyAsync"/> already passed, and whose data file still
    /// hashes the same while it is decompressed, is not read entry by entry again (see
    /// <see cref="BackupManagerOptions.FullCheckOnRestore"/>). The store must be closed: the restored database is built
    /// in a new file next to it, the current file is kept as <c>{file}.pre-restore-{time}</c> (the safety copy: a hard
    /// link where the file system allows, a copy otherwise), and the new file replaces it with one atomic rename, so a
    /// crash leaves either the old state or the restored one, never a mix.
    /// </summary>
    /// <param name="backupId">The backup.</param>
    /// <param name="databasePath">The database file of the (closed) store; created when missing.</param>
    /// <param name="progress">Receives progress.</param>
    /// <param name="cancellationToken">Cancels the restore until the swap; the database is then unchanged.</param>
    /// <returns>What was restored and where the safety copy is.</returns>
    /// <exception cref="StateBackupVerificationException">The backup failed verification; nothing was changed.</exception>
    /// <exception cref="StateStoreException">The store is open (in this or another process) or the file cannot be written.</exception>
    /// <exception cref="StateBackupException">A before-restore hook canceled, or the restore failed; the database is unchanged.</exception>
    public async Task<BackupRestoreResult> RestoreAsync(string backupId, string databasePath, IProgress<BackupProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);

        // A database backup is checked where it is restored (it is decompressed once, then opened and read in full);
        // an entries backup is checked in a pass of its own before anything is built.
        BackupManifest? manifest = TryReadManifest(FolderOf(backupId));
        if (manifest is null || manifest.Layout != BackupLayout.Database || ManifestProblem(manifest, backupId) is not null)
        {
            manifest = await VerifiedManifestAsync(backupId, progress, cancellationToken).ConfigureAwait(false);
        }

        return await RestoreCoreAsync(manifest, databasePath, null, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Restores a LiteDB database file to its state at <paramref name="pointInTime"/>: the newest valid backup taken at or
    /// before that time, plus the change records committed after the backup up to that time, read from the database's own
    /// change log and replayed with their original versions, times and sequences. The result equals the state at that time
    /// exactly. The store must be closed; the swap is the one of <see cref="RestoreAsync"/> (safety copy, atomic rename).
    /// </summary>
    /// <param name="databasePath">The database file of the (closed) store.</param>
    /// <param name="pointInTime">The time to go back to.</param>
    /// <param name="progress">Receives progress.</param>
    /// <param name="cancellationToken">Cancels the restore until the swap.</param>
    /// <exception cref="StatePointInTimeUnavailableException">
    /// The time is before the oldest valid backup, in the future, or needs change records that were pruned; the message
    /// names the recoverable window.
    /// </exception>
    public async Task<BackupRestoreResult> RestoreToPointInTimeAsync(string databasePath, DateTimeOffset pointInTime, IProgress<BackupProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);
        (DateTimeOffset? start, DateTimeOffset end, IReadOnlyList<BackupInfo> usable) = await RecoveryWindowCoreAsync(cancellationToken).ConfigureAwait(false);
        if (pointInTime > end)
        {
            throw new StatePointInTimeUnavailableException(pointInTime, start, end, "it is in the future.");
        }

        foreach (BackupInfo candidate in usable.Where(b => b.SnapshotAt <= pointInTime).OrderByDescending(b => b.SnapshotAt))
        {
            BackupVerification verification = await VerifyAsync(candidate.Id, null, progress, cancellationToken).ConfigureAwait(false);
            if (verification.IsValid && TryReadManifest(candidate.Path) is { } manifest)
            {
                return await RestoreCoreAsync(manifest, databasePath, (pointInTime, start, end), progress, cancellationToken).ConfigureAwait(false);
            }
        }

        throw new StatePointInTimeUnavailableException(pointInTime, start, end, "there is no valid backup taken at or before it.");
    }

    /// <summary>
    /// The times <see cref="RestoreToPointInTimeAsync"/> can go back to: from the oldest backup (of a store that keeps a
    /// change log) to now. <see langword="null"/> start when there is no such backup. Pruned change records can make
    /// parts of the window unrecoverable; the restore then says so.
    /// </summary>
    public async Task<(DateTimeOffset? Start, DateTimeOffset End)> GetRecoverableWindowAsync(CancellationToken cancellationToken = default)
    {
        (DateTimeOffset? start, DateTimeOffset end, _) = await RecoveryWindowCoreAsync(cancellationToken).ConfigureAwait(false);
        return (start, end);
    }

    private async Task<(DateTimeOffset? Start, DateTimeOffset End, IReadOnlyList<BackupInfo> Usable)> RecoveryWindowCoreAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<BackupInfo> usable = (await ListAsync(cancellationToken).ConfigureAwait(false)).Where(b => b.RecordsChanges).ToArray();
        DateTimeOffset? start = usable.Count == 0 ? null : usable.Min(b => b.SnapshotAt);
        return (start, _time.GetUtcNow(), usable);
    }

    private async Task<BackupManifest> VerifiedManifestAsync(string backupId, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
    {
        BackupVerification verification = await VerifyAsync(backupId, null, progress, cancellationToken).ConfigureAwait(false);
        if (!verification.IsValid)
        {
            throw new StateBackupVerificationException(backupId, verification.Problems);
        }

        return TryReadManifest(FolderOf(backupId)) ?? throw new StateBackupVerificationException(backupId, ["the manifest is missing or unreadable"]);
    }

    private async Task<BackupRestoreResult> RestoreCoreAsync(BackupManifest manifest, string databasePath, (DateTimeOffset Time, DateTimeOffset? Start, DateTimeOffset End)? pointInTime, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
    {
        string path = Path.GetFullPath(databasePath);
        string origin = pointInTime is null ? "restore" : "point-in-time";
        using var activity = StateGenTelemetry.Source.StartActivity("stategen.backup.restore");
        activity?.SetTag("stategen.backup_id", manifest.Id);
        string correlationId = StateCorrelation.CurrentOrNew();
        await _hooks.RunAsync(StateHookPoint.BeforeRestore, manifest.Id, manifest.ChangeLogPosition, origin, correlationId, cancellationToken).ConfigureAwait(false);
        Raise(new BackupEvent(BackupEventKind.RestoreStarting, manifest.Id, manifest.ChangeLogPosition, correlationId, origin, _time.GetUtcNow(), path));

        // LiteDB is synchronous: build and swap on a thread of our own.
        BackupRestoreResult result;
        try
        {
            result = await Task.Factory.StartNew(
                () => RestoreFile(manifest, path, pointInTime, progress, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Raise(new BackupEvent(BackupEventKind.RestoreFailed, manifest.Id, manifest.ChangeLogPosition, correlationId, origin, _time.GetUtcNow(), path, Error: ex.GetType().Name));
            throw;
        }

        Log.Restored(_logger, path, manifest.Id, result.DocumentCount, result.ReplayedChanges, result.SafetyCopyPath ?? "(none)");
        progress?.Report(new BackupProgress(BackupPhase.Completed, result.DocumentCount, result.DocumentCount));
        Raise(new BackupEvent(BackupEventKind.RestoreCompleted, manifest.Id, result.ChangeLogPosition, correlationId, origin, _time.GetUtcNow(), path, result.DocumentCount));
        await _hooks.RunAsync(StateHookPoint.AfterRestore, manifest.Id, result.ChangeLogPosition, origin, correlationId, cancellationToken).ConfigureAwait(false);
        return result;
    }

    private BackupRestoreResult RestoreFile(BackupManifest manifest, string path, (DateTimeOffset Time, DateTimeOffset? Start, DateTimeOffset End)? pointInTime, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
    {
        // One restore of a path at a time (in this process and others): they share the temporary names below.
        using FileStream restoreLock = LockForRestore(path);

        // 1. Open the current file once: it must not be open elsewhere, its log is folded into it on close (so the data
        //    file alone is the whole state), and a point-in-time restore reads the changes to replay from it.
        IReadOnlyList<StateChangeRecord> replay = [];
        string? currentLog = null; // the current file's segment log folder, if it has one
        string currentSuffix = string.Empty; // and the suffix it records after <file>.changes
        bool currentOpened = false;
        if (File.Exists(path) || pointInTime is not null)
        {
            // Not a walk of its entries: the restore replaces them (a point-in-time restore reads the ones it replays).
            using var current = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, WalkIndexOnOpen = false, WriteBehind = false });
            currentOpened = true;
            currentLog = current.ChangeLogFolder;
            currentSuffix = current.ChangeLogFolderSuffix ?? string.Empty;
            if (pointInTime is { } point)
            {
                replay = ChangesToReplay(current, manifest, point);
            }
        }

        if (currentOpened)
        {
            RemoveOrphanLogFolders(path, currentLog);
        }

        string log = LiteDbStateStore.LogPath(path);
        if (File.Exists(log) && new FileInfo(log).Length != 0)
        {
            throw new StateStoreException($"The state database '{path}' still has a write-ahead log after it was closed; it was not restored.");
        }

        // 2. Build the restored database in a new file, reading the backup again and checking its hash on the way. A
        //    change log in segment files goes into a new folder beside it, which the new file names: the rename below
        //    then switches values and history together, and the current file keeps its own folder.
        string temp = path + ".restore-tmp";
        DeleteFileQuietly(temp);
        DeleteFileQuietly(LiteDbStateStore.LogPath(temp));
        string? logSuffix = HasLogFile(manifest)
            ? LiteDbStateStore.NewLogFolderSuffix("-", _time.GetUtcNow())
            : null;
        string? logFolder = logSuffix is null ? null : SegmentLog.FolderFor(path) + logSuffix;
        long documents = manifest.DocumentCount;
        try
        {
            if (manifest.Layout == BackupLayout.Database)
            {
                BuildFromDatabase(manifest, temp, logFolder, logSuffix, replay, progress, cancellationToken);
            }
            else
            {
                var check = new BackupDataFile.ReadCheck();
                BackupFileEntry expected = manifest.Files[0];
                Action<long>? report = progress is null ? null
                    : n => progress.Report(n <= manifest.DocumentCount
                        ? new BackupProgress(BackupPhase.Restoring, n, manifest.DocumentCount)
                        : new BackupProgress(BackupPhase.Replaying, n - manifest.DocumentCount, replay.Count));
                IEnumerable<SnapshotDocument> source = BackupDataFile.Read(Path.Combine(FolderOf(manifest.Id), expected.Name), manifest.Compression, check);
                LiteDbStateStore.BuildRestoredFile(temp, manifest.ChangeLogPosition, source, replay, report, cancellationToken);
                if (!string.Equals(check.Sha256, expected.Sha256, StringComparison.OrdinalIgnoreCase) || check.Length != expected.Length)
                {
                    throw new StateBackupVerificationException(manifest.Id, ["the data file changed while it was restored"]);
                }
            }

            using (var file = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                file.Flush(flushToDisk: true);
            }

            cancellationToken.ThrowIfCancellationRequested();
            documents = manifest.DocumentCount + replay.Count(r => r.Kind == StateChangeKind.Write) - replay.Count(r => r.Kind == StateChangeKind.Delete);
        }
        catch (Exception ex)
        {
            DeleteFileQuietly(temp);
            DeleteFileQuietly(LiteDbStateStore.LogPath(temp));
            if (logFolder is not null)
            {
                DeleteQuietly(logFolder);
            }

            if (ex is StateGenException or OperationCanceledException)
            {
                throw;
            }

            throw new StateBackupException($"The backup '{manifest.Id}' could not be restored to '{path}': {ex.GetType().Name}.", ex) { BackupId = manifest.Id };
        }

        // 3. Keep the current file, then swap the new one in with one rename (atomic: a crash leaves one or the other).
        string? safety = null;
        try
        {
            if (File.Exists(path))
            {
                string stamp = path + ".pre-restore-" + _time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
                safety = stamp;
                for (int n = 2; File.Exists(safety) || System.IO.Directory.Exists(SegmentLog.FolderFor(safety) + currentSuffix); n++)
                {
                    safety = stamp + "-" + n.ToString(CultureInfo.InvariantCulture); // never overwrite an earlier safety copy
                }

                // A second name for the current file costs nothing and keeps its bytes: the rename below gives the path a
                // new file and leaves the old one, unchanged, under the safety name. A copy where links are not possible.
                // Its segment change log, if any, gets second names the same way, in the folder the safety copy opens
                // (with the suffix the file records, if any).
                if (currentLog is not null)
                {
                    LinkOrCopyFolder(currentLog, SegmentLog.FolderFor(safety) + currentSuffix);
                }

                LinkOrCopy(path, safety);
                OsStoreFile.SyncDirectory(safety);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            DeleteFileQuietly(temp);
            DeleteFileQuietly(LiteDbStateStore.LogPath(temp));
            if (logFolder is not null)
            {
                DeleteQuietly(logFolder);
            }

            throw new StateBackupException($"The safety copy of '{path}' could not be made, so the backup '{manifest.Id}' was not restored: {ex.GetType().Name}.", ex) { BackupId = manifest.Id };
        }

        File.Move(temp, path, overwrite: true);
        OsStoreFile.SyncDirectory(path);
        DeleteFileQuietly(LiteDbStateStore.LogPath(temp));
        if (currentLog is not null && !string.Equals(currentLog, logFolder, PathComparison))
        {
            // No file names it now (the safety copy has its own names for its segments). Should this fail, the next
            // restore to this path removes it.
            DeleteQuietly(currentLog);
        }
        long position = replay.Count > 0 ? Math.Max(manifest.ChangeLogPosition, replay[^1].Sequence) : manifest.ChangeLogPosition;
        return new BackupRestoreResult(manifest.Id, path, safety, documents, replay.Count, position);
    }

    /// <summary>
    /// Decompresses a database backup into <paramref name="temp"/>, checks it as <see cref="VerifyAsync"/> does (its hash,
    /// then every entry read with its checksum, the counts against the manifest) and replays <paramref name="replay"/>
    /// into it. Throws <see cref="StateBackupVerificationException"/> when the check fails.
    /// </summary>
    private void BuildFromDatabase(BackupManifest manifest, string temp, string? logFolder, string? logSuffix, IReadOnlyList<StateChangeRecord> replay, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
    {
        BackupFileEntry expected = manifest.Files[0];
        progress?.Report(new BackupProgress(BackupPhase.Copying, 0, manifest.UncompressedBytes));
        BackupFileEntry actual;
        try
        {
            actual = BackupDatabaseFile.Extract(Path.Combine(FolderOf(manifest.Id), expected.Name), manifest.Compression, temp, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            throw new StateBackupVerificationException(manifest.Id, [$"{expected.Name} could not be read to its end ({ex.GetType().Name})"]);
        }

        if (!string.Equals(actual.Sha256, expected.Sha256, StringComparison.OrdinalIgnoreCase) || actual.Length != expected.Length)
        {
            throw new StateBackupVerificationException(manifest.Id, [$"{expected.Name} has SHA-256 {actual.Sha256} ({actual.Length} bytes), the manifest says {expected.Sha256} ({expected.Length} bytes)"]);
        }

        if (logFolder is not null && ExtractLog(manifest, logFolder, cancellationToken) is { } logProblem)
        {
            throw new StateBackupVerificationException(manifest.Id, [logProblem]);
        }

        progress?.Report(new BackupProgress(BackupPhase.Copying, manifest.UncompressedBytes, manifest.UncompressedBytes));
        var problems = new List<string>();
        if (!_options.FullCheckOnRestore && TryReadVerification(FolderOf(manifest.Id), manifest) is { } verified)
        {
            // The bytes just decompressed hash to what a passed verification read in full: check only that they open
            // as a database at the backup's change-log position.
            Log.RestoreTrustsVerification(_logger, manifest.Id, verified.VerifiedAt);
            CheckOpens(manifest, temp, logFolder, problems);
        }
        else
        {
            CheckDatabase(manifest, temp, logFolder, null, progress, problems, cancellationToken);
        }

        if (problems.Count > 0)
        {
            Log.BackupInvalid(_logger, manifest.Id, string.Join("; ", problems));
            throw new StateBackupVerificationException(manifest.Id, problems);
        }

        if (replay.Count > 0 || logFolder is not null)
        {
            using LiteDbStateStore restored = OpenExtracted(temp, manifest, logFolder);
            if (replay.Count > 0)
            {
                Action<long>? report = progress is null ? null : n => progress.Report(new BackupProgress(BackupPhase.Replaying, n, replay.Count));
                restored.ReplayChanges(manifest.ChangeLogPosition, replay, report, cancellationToken);
            }

            if (logSuffix is not null)
            {
                // Where the restored file finds its log from now on: <file>.changes<suffix>, beside it.
                restored.NameLogFolder(logSuffix);
            }
        }
    }

    /// <summary>
    /// The change records after the backup's position up to the point in time, checked to be complete: sequences follow on
    /// from the backup without a gap, and the first record left out (if any) is after the point in time.
    /// </summary>
    private static IReadOnlyList<StateChangeRecord> ChangesToReplay(LiteDbStateStore store, BackupManifest manifest, (DateTimeOffset Time, DateTimeOffset? Start, DateTimeOffset End) point)
    {
        long position = store.ChangeLogPosition;
        if (position < manifest.ChangeLogPosition)
        {
            throw new StatePointInTimeUnavailableException(point.Time, point.Start, point.End, $"the database's change log ends at {position}, before backup '{manifest.Id}' (position {manifest.ChangeLogPosition}); it is not the store the backup was taken of.");
        }

        IReadOnlyList<StateChangeRecord> changes = store.ReadChangesAsync(new StateChangeQuery { AfterSequence = manifest.ChangeLogPosition, Until = point.Time }).AsTask().GetAwaiter().GetResult();
        long expected = manifest.ChangeLogPosition + 1;
        foreach (StateChangeRecord change in changes)
        {
            if (change.Sequence != expected)
            {
                throw Pruned(point, manifest, expected);
            }

            expected++;
        }

        if (expected <= position && store.ReadChangeAsync(expected).AsTask().GetAwaiter().GetResult() is null)
        {
            throw Pruned(point, manifest, expected);
        }

        return changes;
    }

    private static StatePointInTimeUnavailableException Pruned(
        (DateTimeOffset Time, DateTimeOffset? Start, DateTimeOffset End) point, BackupManifest manifest, long missing)
        => new(point.Time, point.Start, point.End, $"change record {missing}, needed after backup '{manifest.Id}', was pruned from the change log.");

    /// <summary>How paths compare on this system's usual disks: ignoring case on Windows and macOS.</summary>
    private static StringComparison PathComparison
        => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>Holds <c>{file}.restore-lock</c> exclusively for one restore (deleted when it ends).</summary>
    /// <exception cref="StateStoreException">Another restore of the same file is running.</exception>
    private static FileStream LockForRestore(string path)
    {
        try
        {
            return new FileStream(path + ".restore-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1, FileOptions.DeleteOnClose);
        }
        catch (IOException ex)
        {
            throw new StateStoreException($"The state database '{path}' is being restored by another restore; it was not restored again.", ex);
        }
    }

    /// <summary>
    /// Removes the segment log folders beside <paramref name="path"/> that no file names: <c>{file}.changes</c> and
    /// <c>{file}.changes-{suffix}</c> folders (and their extraction leftovers) other than <paramref name="currentLog"/>,
    /// the current file's. An interrupted restore leaves them: one built for a file that never replaced the current
    /// one, or the replaced file's old folder when its deletion after the swap failed (its safety copy has its own).
    /// </summary>
    private static void RemoveOrphanLogFolders(string path, string? currentLog)
    {
        string folder = SegmentLog.FolderFor(path);
        string name = Path.GetFileName(folder);
        foreach (string entry in System.IO.Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(path) ?? "."))
        {
            string entryName = Path.GetFileName(entry);
            if (!entryName.StartsWith(name, PathComparison))
            {
                continue;
            }

            string rest = entryName[name.Length..];
            bool isArchive = rest.EndsWith(".archive", StringComparison.Ordinal);
            string suffix = isArchive ? rest[..^".archive".Length] : rest;
            if (suffix.Length != 0 && !LiteDbStateStore.IsLogFolderSuffix(suffix))
            {
                continue; // not a log folder of this file (another database's, or the user's)
            }

            if (isArchive)
            {
                DeleteFileQuietly(entry);
            }
            else if (System.IO.Directory.Exists(entry) && (currentLog is null || !string.Equals(Path.GetFullPath(entry), currentLog, PathComparison)))
            {
                DeleteQuietly(entry);
            }
        }
    }

    /// <summary>A second name for <paramref name="source"/> (a hard link), or a flushed copy where links are not possible.</summary>
    private static void LinkOrCopy(string source, string destination)
    {
        if (!OsStoreFile.TryCreateHardLink(source, destination))
        {
            File.Copy(source, destination);
            using var copy = new FileStream(destination, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            copy.Flush(flushToDisk: true);
        }
    }

    /// <summary>A new folder holding a second name (or copy) of every file in <paramref name="source"/>, flushed to the disk.</summary>
    private static void LinkOrCopyFolder(string source, string destination)
    {
        System.IO.Directory.CreateDirectory(destination);
        string? any = null;
        foreach (string file in System.IO.Directory.EnumerateFiles(source))
        {
            any = Path.Combine(destination, Path.GetFileName(file));
            LinkOrCopy(file, any);
        }

        if (any is not null)
        {
            OsStoreFile.SyncDirectory(any);
        }

        OsStoreFile.SyncDirectory(destination);
    }

    private static void DeleteFileQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A stale temporary file is replaced next time.
        }
    }
}
