using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StateGen.Caching;
using StateGen.Diagnostics;
using StateGen.Hooks;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;

namespace StateGen.Backups;

/// <summary>
/// Backups of a store in one folder: <see cref="CreateAsync"/> (a consistent snapshot while writers continue),
/// <see cref="VerifyAsync"/>, <see cref="ListAsync"/>, <see cref="RestoreAsync"/>, <see cref="DeleteAsync"/>,
/// <see cref="CleanupAsync"/> (retention) and <see cref="RestoreToPointInTimeAsync"/>. See docs/backups.md.
/// </summary>
/// <remarks>
/// A LiteDB store's backup is its database file as of one change-log position (copied while its automatic checkpoints
/// are held off, compressed in chunks); a memory store's is every entry with its current change record. It is built in
/// a temporary folder (<c>.tmp-{id}</c>), flushed to the disk,
/// and renamed into place, so a crash never leaves a folder that is listed as a backup. Use one folder per store.
/// Safe to use from several threads; backups of one folder from several processes at once are not coordinated beyond
/// the atomic rename.
/// </remarks>
public sealed partial class BackupManager
{
    /// <summary>The scope path backup and restore hooks see (the key is the backup id).</summary>
    public const string HookScope = "$backups";

    private const string TempPrefix = ".tmp-";
    private const string DeletingPrefix = ".deleting-";
    private const string VerifyPrefix = ".verify-"; // a verification's extraction (a process killed during one leaves it)
    private readonly BackupManagerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly BackupHookRunner _hooks;

    /// <summary>Creates a manager of the backups in <see cref="BackupManagerOptions.Directory"/> (created when missing).</summary>
    /// <exception cref="ArgumentException">No folder was given.</exception>
    public BackupManager(BackupManagerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            throw new ArgumentException("The backup folder is empty.", nameof(options));
        }

        if (options.Compression is not (BackupCompression.None or BackupCompression.GZip or BackupCompression.Brotli or BackupCompression.Lz4))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Compression, "Unknown compression.");
        }

        _options = options;
        Directory = Path.GetFullPath(options.Directory);
        System.IO.Directory.CreateDirectory(Directory);
        _time = options.TimeProvider ?? TimeProvider.System;
        _logger = options.LoggerFactory?.CreateLogger<BackupManager>() ?? (ILogger)NullLogger.Instance;
        _hooks = new BackupHookRunner(options.Hooks, options.HookTimeout, _logger);
    }

    /// <summary>The full path of the backup folder.</summary>
    public string Directory { get; }

    /// <summary>
    /// Raised before and after each backup and restore, and when one fails (<see cref="BackupEvent"/>). Handlers run
    /// on the operation's thread and should return quickly; one that throws is logged (event 67) and does not stop
    /// the operation.
    /// </summary>
    public event EventHandler<BackupEvent>? EventOccurred;

    private void Raise(BackupEvent e)
    {
        EventHandler<BackupEvent>? handlers = EventOccurred;
        if (handlers is null)
        {
            return;
        }

        foreach (EventHandler<BackupEvent> handler in handlers.GetInvocationList().Cast<EventHandler<BackupEvent>>())
        {
            try
            {
                handler(this, e);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.BackupEventHandlerFailed(_logger, e.Kind.ToString(), e.BackupId, ex.GetType().Name);
            }
        }
    }

    /// <summary>
    /// Backs up <paramref name="store"/> while its writers continue: the backup holds exactly the changes committed up to
    /// one change-log position (<see cref="BackupInfo.ChangeLogPosition"/>). A cache in front of the store is skipped; an
    /// <see cref="EncryptedStateStore"/>'s envelopes are backed up as stored, so the backup holds ciphertext only.
    /// </summary>
    /// <param name="store">The store (an open LiteDB or memory store, possibly behind a cache or encryption).</param>
    /// <param name="label">An optional label kept in the manifest (no secrets: it is plain text).</param>
    /// <param name="progress">Receives progress about every 1,000 documents.</param>
    /// <param name="cancellationToken">Cancels the backup; nothing of it is left behind.</param>
    /// <returns>The new backup.</returns>
    /// <exception cref="StateBackupException">The store cannot be backed up, a before-backup hook canceled, or writing failed.</exception>
    /// <exception cref="StateHookException">A hook failed with <see cref="HookFailurePolicy.FailOperation"/>.</exception>
    public async Task<BackupInfo> CreateAsync(IStateStore store, string? label = null, IProgress<BackupProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        (IStateSnapshotSource source, bool encrypted, string storeType) = Unwrap(store);
        DateTimeOffset createdAt = _time.GetUtcNow();
        string id = createdAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture) + "-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        using Activity? activity = StateGenTelemetry.Source.StartActivity("stategen.backup.create");
        activity?.SetTag("stategen.backup_id", id);

        string correlationId = StateCorrelation.CurrentOrNew();
        await _hooks.RunAsync(StateHookPoint.BeforeBackup, id, 0, "backup", correlationId, cancellationToken).ConfigureAwait(false);
        Raise(new BackupEvent(BackupEventKind.BackupStarting, id, 0, correlationId, "backup", _time.GetUtcNow()));
        string temp = Path.Combine(Directory, TempPrefix + id);
        string final = Path.Combine(Directory, id);
        BackupManifest manifest;
        try
        {
            System.IO.Directory.CreateDirectory(temp);
            // The snapshot may be a database read transaction bound to one thread: read and write on a thread of its own.
            manifest = await Task.Factory.StartNew(
                () => source is LiteDbStateStore database
                    ? WriteDatabase(database, temp, id, createdAt, encrypted, storeType, label, progress, cancellationToken)
                    : WriteEntries(source, temp, id, createdAt, encrypted, storeType, label, progress, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();

            string manifestPath = Path.Combine(temp, BackupManifest.FileName);
            using (var stream = new FileStream(manifestPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                JsonSerializer.Serialize(stream, manifest, BackupManifestJson.Default.BackupManifest);
                stream.Flush(flushToDisk: true);
            }

            // The files are on the disk; make their names durable, then publish the folder with one atomic rename.
            OsStoreFile.SyncDirectory(manifestPath);
            System.IO.Directory.Move(temp, final);
            OsStoreFile.SyncDirectory(final);
        }
        catch (Exception ex)
        {
            DeleteQuietly(temp);
            Log.BackupFailed(_logger, id, ex.GetType().Name);
            Raise(new BackupEvent(BackupEventKind.BackupFailed, id, 0, correlationId, "backup", _time.GetUtcNow(), Error: ex.GetType().Name));
            if (ex is OperationCanceledException or StateGenException)
            {
                throw;
            }

            throw new StateBackupException($"The backup '{id}' could not be written to '{Directory}': {ex.GetType().Name}.", ex) { BackupId = id };
        }

        BackupInfo backup = ToInfo(manifest, final);
        Log.BackupCreated(_logger, id, backup.DocumentCount, backup.SizeBytes, backup.ChangeLogPosition);
        progress?.Report(new BackupProgress(BackupPhase.Completed, backup.DocumentCount, backup.DocumentCount));
        Raise(new BackupEvent(BackupEventKind.BackupCompleted, id, backup.ChangeLogPosition, correlationId, "backup", _time.GetUtcNow(), DocumentCount: backup.DocumentCount));
        await _hooks.RunAsync(StateHookPoint.AfterBackup, id, backup.ChangeLogPosition, "backup", correlationId, cancellationToken).ConfigureAwait(false);
        return backup;
    }

    private BackupManifest WriteEntries(IStateSnapshotSource source, string temp, string id, DateTimeOffset createdAt, bool encrypted, string storeType, string? label, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
        => source.ReadSnapshot((info, documents) =>
        {
            Action<long>? report = progress is null ? null : n => progress.Report(new BackupProgress(BackupPhase.Writing, n, info.DocumentCount));
            var (summary, file) = BackupDataFile.Write(Path.Combine(temp, BackupDataFile.FileName), _options.Compression, documents, report, cancellationToken);
            return new BackupManifest
            {
                Id = id,
                CreatedAt = createdAt,
                SnapshotAt = info.CapturedAt,
                ChangeLogPosition = info.ChangeLogPosition,
                RecordsChanges = info.RecordsChanges,
                Encrypted = encrypted,
                StoreType = storeType,
                Label = label,
                Compression = _options.Compression,
                DocumentCount = summary.Count,
                UncompressedBytes = summary.UncompressedBytes,
                Types = summary.TypeCounts(),
                Files = [file],
            };
        });

    private BackupManifest WriteDatabase(LiteDbStateStore store, string temp, string id, DateTimeOffset createdAt, bool encrypted, string storeType, string? label, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
    {
        Action<long, long>? report = progress is null ? null : (n, total) => progress.Report(new BackupProgress(BackupPhase.Copying, n, total));
        string? logFile = store.ChangeLogFolder is null ? null : Path.Combine(temp, BackupLogFile.FileName);
        var (copy, file, log) = BackupDatabaseFile.Write(Path.Combine(temp, BackupDatabaseFile.FileName), logFile, _options.Compression, store, report, cancellationToken);
        var summary = new BackupDataFile.Summary();
        foreach (var ((type, version), count) in copy.Types)
        {
            summary.Types[(type, version)] = count;
        }

        return new BackupManifest
        {
            Format = log is null ? BackupManifest.DatabaseFormat : BackupManifest.SegmentedDatabaseFormat,
            Layout = BackupLayout.Database,
            Id = id,
            CreatedAt = createdAt,
            SnapshotAt = copy.Info.CapturedAt,
            ChangeLogPosition = copy.Info.ChangeLogPosition,
            RecordsChanges = copy.Info.RecordsChanges,
            Encrypted = encrypted,
            StoreType = storeType,
            Label = label,
            Compression = _options.Compression,
            DocumentCount = copy.Info.DocumentCount,
            UncompressedBytes = copy.Length,
            Types = summary.TypeCounts(),
            Files = log is null ? [file] : [file, log],
            LogFirstSequence = copy.LogFirstSequence,
        };
    }

    /// <summary>
    /// The backups in the folder that look complete (a readable manifest, and data files of the sizes it records), oldest
    /// first. Temporary folders of unfinished backups are never listed. Use <see cref="VerifyAsync"/> to check checksums.
    /// </summary>
    public Task<IReadOnlyList<BackupInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var found = new List<BackupInfo>();
        foreach (string folder in System.IO.Directory.EnumerateDirectories(Directory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            string name = Path.GetFileName(folder);
            if (name.StartsWith('.') || TryReadManifest(folder) is not { } manifest || manifest.Id != name)
            {
                continue;
            }

            if (manifest.Files.All(f => File.Exists(Path.Combine(folder, f.Name)) && new FileInfo(Path.Combine(folder, f.Name)).Length == f.Length))
            {
                found.Add(ToInfo(manifest, folder));
            }
        }

        found.Sort(static (a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : string.CompareOrdinal(a.Id, b.Id));
        return Task.FromResult<IReadOnlyList<BackupInfo>>(found);
    }

    /// <summary>
    /// Checks a backup: the manifest parses, every file has the length and SHA-256 the manifest records, and the data file
    /// reads to its end record with the document counts per type the manifest records; unencrypted documents must be
    /// valid JSON. <paramref name="checkDocument"/> can check more (for example deserialize into the current types).
    /// </summary>
    /// <param name="backupId">The backup.</param>
    /// <param name="checkDocument">Optional: returns a problem for a document (no stored value in it), or <see langword="null"/>.</param>
    /// <param name="progress">Receives progress.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    public Task<BackupVerification> VerifyAsync(string backupId, Func<StoredEntry, string?>? checkDocument = null, IProgress<BackupProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string folder = FolderOf(backupId);
        return Task.Factory.StartNew(
            () => Verify(backupId, folder, checkDocument, progress, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    /// <summary>Deletes a backup (its folder disappears at once, by a rename, and is then removed).</summary>
    /// <returns><see langword="false"/> when there is no such backup.</returns>
    public Task<bool> DeleteAsync(string backupId, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string folder = FolderOf(backupId);
        if (!System.IO.Directory.Exists(folder))
        {
            return Task.FromResult(false);
        }

        string doomed = Path.Combine(Directory, DeletingPrefix + backupId + "-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            System.IO.Directory.Move(folder, doomed);
            OsStoreFile.SyncDirectory(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StateBackupException($"The backup '{backupId}' could not be deleted: {ex.GetType().Name}.", ex) { BackupId = backupId };
        }

        DeleteQuietly(doomed);
        Log.BackupDeleted(_logger, backupId);
        return Task.FromResult(true);
    }

    private BackupVerification Verify(string backupId, string folder, Func<StoredEntry, string?>? checkDocument, IProgress<BackupProgress>? progress, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        long documents = 0;
        BackupManifest? manifest = TryReadManifest(folder);
        if (ManifestProblem(manifest, backupId) is { } problem)
        {
            problems.Add(problem);
        }
        else
        {
            BackupFileEntry expected = manifest!.Files[0];
            string dataPath = Path.Combine(folder, expected.Name);
            try
            {
                foreach (BackupFileEntry entry in manifest.Files)
                {
                    string path = Path.Combine(folder, entry.Name);
                    if (!File.Exists(path))
                    {
                        expected = entry;
                        throw new FileNotFoundException("missing");
                    }

                    long length = new FileInfo(path).Length;
                    if (length != entry.Length)
                    {
                        problems.Add($"{entry.Name} is {length} bytes, the manifest says {entry.Length}");
                    }
                }

                documents = manifest.Layout == BackupLayout.Database
                    ? VerifyDatabase(manifest, dataPath, checkDocument, progress, problems, cancellationToken)
                    : VerifyEntries(manifest, dataPath, checkDocument, progress, problems, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or FormatException or ArgumentException or OverflowException or InvalidOperationException)
            {
                // Damaged compressed data surfaces as InvalidDataException (GZip) or InvalidOperationException (the Brotli and
                // LZ4 streams), a short file as EndOfStreamException (an IOException).
                problems.Add($"{expected.Name} could not be read to its end ({ex.GetType().Name})");
            }
        }

        if (problems.Count > 0)
        {
            Log.BackupInvalid(_logger, backupId, string.Join("; ", problems));
            DeleteFileQuietly(Path.Combine(folder, BackupVerificationRecord.FileName));
        }
        else if (manifest!.Layout == BackupLayout.Database)
        {
            RecordVerification(folder, manifest, documents);
        }

        return new BackupVerification(backupId, problems, documents);
    }

    /// <summary>Why a manifest cannot be used for <paramref name="backupId"/>, or <see langword="null"/>.</summary>
    private static string? ManifestProblem(BackupManifest? manifest, string backupId)
    {
        if (manifest is null)
        {
            return "the manifest is missing or unreadable";
        }

        (int format, string[] files) = manifest.Layout switch
        {
            BackupLayout.Entries => (BackupManifest.EntriesFormat, new[] { BackupDataFile.FileName }),
            BackupLayout.Database when manifest.Format == BackupManifest.SegmentedDatabaseFormat
                => (BackupManifest.SegmentedDatabaseFormat, new[] { BackupDatabaseFile.FileName, BackupLogFile.FileName }),
            BackupLayout.Database => (BackupManifest.DatabaseFormat, new[] { BackupDatabaseFile.FileName }),
            _ => (0, Array.Empty<string>()),
        };
        if (manifest.Format != format || manifest.Id != backupId)
        {
            return $"the manifest is of format {manifest.Format} for backup '{manifest.Id}'";
        }

        return !manifest.Files.Select(f => f.Name).SequenceEqual(files) ? "the manifest does not list the data files" : null;
    }

    private long VerifyEntries(BackupManifest manifest, string dataPath, Func<StoredEntry, string?>? checkDocument, IProgress<BackupProgress>? progress, List<string> problems, CancellationToken cancellationToken)
    {
        BackupFileEntry expected = manifest.Files[0];
        var check = new BackupDataFile.ReadCheck();

        // A document's problem names its scope and key as read from the file. From a damaged file those can be any bytes,
        // a stored value's too (a damaged length), so they are reported only when the file hashes as the manifest says.
        var documentProblems = new List<string>();
        BackupDataFile.Summary summary = CheckDocuments(manifest, BackupDataFile.Read(dataPath, manifest.Compression, check), checkDocument, progress, documentProblems, cancellationToken);
        if (!string.Equals(check.Sha256, expected.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"{expected.Name} has SHA-256 {check.Sha256}, the manifest says {expected.Sha256}");
        }
        else
        {
            problems.AddRange(documentProblems);
        }

        return summary.Count;
    }

    /// <summary>
    /// A database backup is checked by decompressing it into a temporary file (hashing it on the way), opening that as a
    /// store, and reading every entry with its checksum.
    /// </summary>
    private long VerifyDatabase(BackupManifest manifest, string dataPath, Func<StoredEntry, string?>? checkDocument, IProgress<BackupProgress>? progress, List<string> problems, CancellationToken cancellationToken)
    {
        // A folder of its own: the database and, for a segmented store, its log folder, named apart from any store's.
        string folder = Path.Combine(Directory, VerifyPrefix + manifest.Id + "-" + Guid.NewGuid().ToString("N")[..8]);
        string temp = Path.Combine(folder, "database");
        string? logFolder = HasLogFile(manifest) ? Path.Combine(folder, "changes") : null;
        try
        {
            System.IO.Directory.CreateDirectory(folder);
            BackupFileEntry actual = BackupDatabaseFile.Extract(dataPath, manifest.Compression, temp, cancellationToken);
            if (!string.Equals(actual.Sha256, manifest.Files[0].Sha256, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{actual.Name} has SHA-256 {actual.Sha256}, the manifest says {manifest.Files[0].Sha256}");
                return 0;
            }

            if (logFolder is not null && ExtractLog(manifest, logFolder, cancellationToken) is { } logProblem)
            {
                problems.Add(logProblem);
                return 0;
            }

            return CheckDatabase(manifest, temp, logFolder, checkDocument, progress, problems, cancellationToken);
        }
        finally
        {
            DeleteQuietly(folder);
        }
    }

    /// <summary>Whether the backup carries a segment change log (<see cref="BackupLogFile"/>).</summary>
    private static bool HasLogFile(BackupManifest manifest) => manifest.Files.Count == 2;

    /// <summary>
    /// Writes the backup's change-log segments into <paramref name="logFolder"/> (which must not exist); returns why they
    /// cannot be used (a damaged file, a hash that is not the manifest's), or <see langword="null"/>.
    /// </summary>
    private string? ExtractLog(BackupManifest manifest, string logFolder, CancellationToken cancellationToken)
    {
        BackupFileEntry expected = manifest.Files[1];
        try
        {
            // The segments are written out only from a file whose hash is the manifest's.
            BackupFileEntry? actual = BackupLogFile.Extract(Path.Combine(FolderOf(manifest.Id), expected.Name), manifest.Compression, expected, logFolder, cancellationToken);
            return actual is null ? null
                : $"{expected.Name} has SHA-256 {actual.Sha256} ({actual.Length} bytes), the manifest says {expected.Sha256} ({expected.Length} bytes)";
        }
        catch (FileNotFoundException)
        {
            return $"{expected.Name} is missing";
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            // Damaged data, a short file (EndOfStreamException), or the disk (full, failing).
            return $"{expected.Name} could not be read to its end or extracted ({ex.GetType().Name})";
        }
    }

    /// <summary>
    /// Opens an extracted database file (header, format marker, collections, the newest change record; not a walk of
    /// every entry: the bytes are ones a verification read in full) and checks its change-log position.
    /// </summary>
    private static void CheckOpens(BackupManifest manifest, string path, string? logFolder, List<string> problems)
    {
        try
        {
            using LiteDbStateStore store = OpenExtracted(path, manifest, logFolder, walkIndex: false);
            CheckLogExtent(store, manifest, problems);
        }
        catch (StateStoreCorruptedException ex)
        {
            problems.Add($"{BackupDatabaseFile.FileName} holds a damaged database: {ex.Failure}");
        }
        catch (StateStoreException ex)
        {
            problems.Add($"{BackupDatabaseFile.FileName} could not be opened as a database ({ex.InnerException?.GetType().Name ?? ex.GetType().Name})");
        }
    }

    /// <summary>The extracted database's change log must end at the manifest's position and, segmented, start where it says.</summary>
    private static void CheckLogExtent(LiteDbStateStore store, BackupManifest manifest, List<string> problems)
    {
        if (store.ChangeLogPosition != manifest.ChangeLogPosition)
        {
            problems.Add($"the database's change log ends at {store.ChangeLogPosition}, the manifest says {manifest.ChangeLogPosition}");
        }

        if (manifest.LogFirstSequence is long first && store.ChangeLogFirstSequence is long actual && actual != first)
        {
            problems.Add($"{BackupLogFile.FileName} holds a change log that starts at sequence {actual}, the manifest says {first}");
        }
    }

    /// <summary>Opens an extracted database file and checks every entry in it against the manifest.</summary>
    private static long CheckDatabase(BackupManifest manifest, string path, string? logFolder, Func<StoredEntry, string?>? checkDocument, IProgress<BackupProgress>? progress, List<string> problems, CancellationToken cancellationToken)
    {
        try
        {
            using LiteDbStateStore store = OpenExtracted(path, manifest, logFolder);
            CheckLogExtent(store, manifest, problems);

            return ((IStateSnapshotSource)store).ReadSnapshot((_, documents) => CheckDocuments(manifest, documents, checkDocument, progress, problems, cancellationToken).Count);
        }
        catch (StateStoreCorruptedException ex)
        {
            problems.Add($"{BackupDatabaseFile.FileName} holds a damaged database: {ex.Failure}");
            return 0;
        }
        catch (StateStoreException ex)
        {
            problems.Add($"{BackupDatabaseFile.FileName} could not be opened as a database ({ex.InnerException?.GetType().Name ?? ex.GetType().Name})");
            return 0;
        }
    }

    /// <summary>
    /// Opens a database file taken out of a backup the way its store kept it (change log on or off), for a short job; a
    /// segmented file with its segments in <paramref name="logFolder"/>, which must be whole (no lost tail taken for a
    /// power cut), and which must be there: a file that is segmented while the backup carries no log is refused.
    /// </summary>
    private static LiteDbStateStore OpenExtracted(string path, BackupManifest manifest, string? logFolder, bool walkIndex = true)
    {
        string unexpected = path + ".unexpected-log";
        LiteDbStateStore store;
        try
        {
            store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = path,
            Durability = StateDurability.Relaxed,
            RelaxedFlushInterval = TimeSpan.FromDays(1),
            RecordChanges = manifest.RecordsChanges,
            WalkIndexOnOpen = walkIndex,
            // Never the folder the file names: that could be the live store's, whose records after the backup's
            // position the open would cut. A file that turns out segmented without a log is refused below.
            SegmentLogFolder = logFolder ?? unexpected,
            StrictChangeLog = true,
            WriteBehind = false, // an extracted copy keeps the format marker it was taken with
        });
        }
        catch
        {
            DeleteQuietly(unexpected);
            throw;
        }

        if ((store.ChangeLogFolder is null) != (logFolder is null))
        {
            store.Dispose();
            DeleteQuietly(unexpected);
            throw new StateStoreCorruptedException(path, logFolder is null
                ? "the database keeps its change log in segment files, which the backup does not carry"
                : "the backup carries change-log segments, but the database keeps its change log in itself");
        }

        return store;
    }

    /// <summary>Reads every document: valid JSON unless encrypted, <paramref name="checkDocument"/>'s check, and the manifest's counts.</summary>
    private static BackupDataFile.Summary CheckDocuments(BackupManifest manifest, IEnumerable<SnapshotDocument> documents, Func<StoredEntry, string?>? checkDocument, IProgress<BackupProgress>? progress, List<string> problems, CancellationToken cancellationToken)
    {
        var summary = new BackupDataFile.Summary();
        foreach (SnapshotDocument d in documents)
        {
            if ((summary.Count & 255) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            summary.Add(d.Entry);
            if (!manifest.Encrypted && !IsJson(d.Entry.Payload.Span))
            {
                problems.Add($"the document at '{d.Entry.Scope}' key '{d.Entry.Key}' is not valid JSON");
            }
            else if (checkDocument?.Invoke(d.Entry) is { } problem)
            {
                problems.Add($"the document at '{d.Entry.Scope}' key '{d.Entry.Key}': {problem}");
            }

            if (progress is not null && summary.Count % 1000 == 0)
            {
                progress.Report(new BackupProgress(BackupPhase.Verifying, summary.Count, manifest.DocumentCount));
            }
        }

        if (summary.Count != manifest.DocumentCount || !summary.TypeCounts().SequenceEqual(manifest.Types))
        {
            problems.Add($"the data file holds {summary.Count} documents of {summary.Types.Count} type versions; the manifest says {manifest.DocumentCount} of {manifest.Types.Count}");
        }

        return summary;
    }

    private static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8);
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static (IStateSnapshotSource Source, bool Encrypted, string StoreType) Unwrap(IStateStore store)
    {
        bool encrypted = false;
        while (true)
        {
            switch (store)
            {
                case CachingStateStore cache:
                    store = cache.Inner;
                    continue;
                case EncryptedStateStore encryptedStore:
                    encrypted = true;
                    store = encryptedStore.Inner;
                    continue;
                case IStateSnapshotSource source:
                    return (source, encrypted, store.GetType().Name);
                default:
                    throw new StateBackupException($"A store of type '{store.GetType().Name}' cannot be backed up: it offers no consistent snapshot (the LiteDB and memory stores do).");
            }
        }
    }

    private string FolderOf(string backupId)
    {
        ArgumentException.ThrowIfNullOrEmpty(backupId);
        if (backupId.StartsWith('.') || backupId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || backupId.Contains('/') || backupId.Contains('\\'))
        {
            throw new ArgumentException($"'{backupId}' is not a backup id.", nameof(backupId));
        }

        return Path.Combine(Directory, backupId);
    }

    private static BackupManifest? TryReadManifest(string folder)
    {
        try
        {
            using var stream = new FileStream(Path.Combine(folder, BackupManifest.FileName), FileMode.Open, FileAccess.Read, FileShare.Read);
            BackupManifest? manifest = JsonSerializer.Deserialize(stream, BackupManifestJson.Default.BackupManifest);

            // A JSON null where a list, an entry or a name belongs (a damaged manifest) makes it unreadable, not a crash later.
            return manifest is { Id: not null, Files: not null, Types: not null }
                && manifest.Files.TrueForAll(static f => f is { Name: not null, Sha256: not null })
                && manifest.Types.TrueForAll(static t => t is not null)
                ? manifest
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes <c>verified.json</c> for a backup that just passed (temporary name, flush, rename). Best effort: a backup
    /// folder that cannot be written only means the next restore checks every entry again.
    /// </summary>
    private void RecordVerification(string folder, BackupManifest manifest, long documents)
    {
        var record = new BackupVerificationRecord
        {
            BackupId = manifest.Id,
            Sha256 = manifest.Files[0].Sha256,
            Length = manifest.Files[0].Length,
            LogSha256 = HasLogFile(manifest) ? manifest.Files[1].Sha256 : null,
            LogLength = HasLogFile(manifest) ? manifest.Files[1].Length : null,
            DocumentCount = documents,
            VerifiedAt = _time.GetUtcNow(),
        };
        string path = Path.Combine(folder, BackupVerificationRecord.FileName);
        string temp = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                JsonSerializer.Serialize(stream, record, BackupManifestJson.Default.BackupVerificationRecord);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
            OsStoreFile.SyncDirectory(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            DeleteFileQuietly(temp);
        }
    }

    /// <summary>The verification record of a backup, when it vouches for the data file the manifest describes now.</summary>
    private static BackupVerificationRecord? TryReadVerification(string folder, BackupManifest manifest)
    {
        try
        {
            using var stream = new FileStream(Path.Combine(folder, BackupVerificationRecord.FileName), FileMode.Open, FileAccess.Read, FileShare.Read);
            BackupVerificationRecord? record = JsonSerializer.Deserialize(stream, BackupManifestJson.Default.BackupVerificationRecord);
            return record is not null && record.Covers(manifest) ? record : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    private static BackupInfo ToInfo(BackupManifest manifest, string folder) => new()
    {
        VerifiedAt = manifest.Layout == BackupLayout.Database ? TryReadVerification(folder, manifest)?.VerifiedAt : null,
        Id = manifest.Id,
        Path = folder,
        CreatedAt = manifest.CreatedAt,
        SnapshotAt = manifest.SnapshotAt,
        ChangeLogPosition = manifest.ChangeLogPosition,
        RecordsChanges = manifest.RecordsChanges,
        Encrypted = manifest.Encrypted,
        DocumentCount = manifest.DocumentCount,
        SizeBytes = manifest.Files.Sum(f => f.Length) + SafeLength(Path.Combine(folder, BackupManifest.FileName)),
        Types = manifest.Types,
        Compression = manifest.Compression,
        Label = manifest.Label,
    };

    private static long SafeLength(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }

    private static void DeleteQuietly(string folder)
    {
        try
        {
            if (System.IO.Directory.Exists(folder))
            {
                System.IO.Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left behind under a dot name: never listed, removed by the next cleanup.
        }
    }
}
