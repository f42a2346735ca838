using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using LiteDB.Engine;

namespace StateGen.Storage.LiteDb;

/// <summary>Where a LiteDB store file keeps its change log (<see cref="LiteDbStateStoreOptions.ChangeLogLayout"/>).</summary>
public enum LiteDbChangeLogLayout
{
    /// <summary>Append-only, checksummed segment files in a folder beside the database (<c>&lt;db&gt;.changes/</c>).</summary>
    SegmentFiles = 0,

    /// <summary>A collection inside the database file (the layout of files made before segment files were the default).</summary>
    Collection = 1,
}

/// <summary>Options of a <see cref="LiteDbStateStore"/>.</summary>
public sealed class LiteDbStateStoreOptions
{
    /// <summary>The default database file, relative to the current directory.</summary>
    public const string DefaultFileName = "stategen.db";

    /// <summary>The database file. Created, with its folder, when missing.</summary>
    public string Path { get; set; } = DefaultFileName;

    /// <summary>The clock for <see cref="StoredEntry.UpdatedAt"/>; the system clock by default.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Whether every write and delete is also recorded in the change log (<see cref="IStateHistoryStore"/>), which the
    /// timeline, point-in-time reads, fork and replay read. On by default. A document is then stored once, in its change
    /// record (the entry points to it; pruning keeps every current value's record); each save inserts a record.
    /// </summary>
    public bool RecordChanges { get; set; } = true;

    /// <summary>
    /// When a write, delete or batch returns: <see cref="StateDurability.Durable"/> (the default) once it is flushed to
    /// the disk, so it survives a power cut; <see cref="StateDurability.Relaxed"/> once it is in the operating system's
    /// cache, flushed every <see cref="RelaxedFlushInterval"/>.
    /// </summary>
    public StateDurability Durability { get; set; } = StateDurability.Durable;

    /// <summary>
    /// How often a <see cref="StateDurability.Relaxed"/> store flushes what was written since its last flush (1 second by
    /// default): the most a power cut or an operating-system crash can lose. Ignored by a durable store.
    /// </summary>
    public TimeSpan RelaxedFlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Test hook: opens the data and log files (a real file by default). The segment files of the change log go to the
    /// file system the data file names (<see cref="StoreFile.FileSystem"/>; the real one when it names none).
    /// </summary>
    internal Func<string, StoreFile>? OpenFile { get; set; }

    /// <summary>
    /// How many 8 KB pages LiteDB's log (<c>name-log.ext</c>) may hold before a commit copies them into the data file (a
    /// checkpoint, LiteDB's <c>CHECKPOINT</c> pragma), from 1 to 100,000; <see langword="null"/> (the default) means
    /// <see cref="LiteDbStateStore.DefaultCheckpointPages"/>. Each checkpoint flushes the log and the data file to the
    /// disk (so that a power cut in the middle of one cannot damage the file), and the commit that runs it waits for
    /// that: fewer, larger checkpoints make saves cheaper on average (docs/benchmarks.md) at the cost of a longer
    /// occasional pause, a larger log file and a longer replay when the file is opened after a crash.
    /// </summary>
    public int? CheckpointPages { get; set; }

    /// <summary>
    /// Whether the open walks the index of current values so that a damaged file fails there rather than on first use
    /// (on by default; about 1 ms per 1,000 entries). Restores turn it off for files they open only to check the
    /// header and the change-log position, or to take them over.
    /// </summary>
    internal bool WalkIndexOnOpen { get; set; } = true;

    /// <summary>
    /// Where a file this store <em>creates</em> keeps its change log: <see cref="LiteDbChangeLogLayout.SegmentFiles"/> (the
    /// default: append-only segment files beside it, <c>&lt;db&gt;.changes/</c>; a save is one LiteDB upsert plus one
    /// sequential append, a load one lookup) or <see cref="LiteDbChangeLogLayout.Collection"/> (a collection inside the
    /// database file, the layout of files made before segment files became the default). An existing file keeps its own layout: its format
    /// marker decides at every open. See docs/storage.md.
    /// </summary>
    public LiteDbChangeLogLayout ChangeLogLayout { get; set; } = LiteDbChangeLogLayout.SegmentFiles;

    /// <summary>
    /// Whether an existing file that keeps its change log in the <c>changes</c> collection (made before segment files
    /// were the default) is converted to segment files when it is opened (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>),
    /// when <see cref="ChangeLogLayout"/> is <see cref="LiteDbChangeLogLayout.SegmentFiles"/>. Off by default: the
    /// conversion reads the whole change log once, and a program built on a StateGen from before the segment layout
    /// cannot open the file after it. A file created before document checksums is not converted (it opens as before).
    /// </summary>
    public bool UpgradeChangeLog { get; set; }

    /// <summary>
    /// Whether a file whose change log is in segment files, with <see cref="RecordChanges"/> on, is written behind (on by
    /// default): a write, delete or batch is decided by its change records in the segment log (the last one
    /// flagged as the end of its commit) and returns without a LiteDB transaction (a durable one after the log's flush
    /// alone); the current values in the database file are brought up to date from an in-memory overlay in batches (at
    /// 256 keys, 16 MiB or 4,096 records, before any list, scan, count or backup, and at the close), and an open after
    /// a crash reads the commits the log holds past them. A save then costs about half the write floor instead of about
    /// 1.8 times it (docs/benchmarks.md). The file gets a format marker that a StateGen from before write behind
    /// (session 12) refuses. Off: each change is one LiteDB transaction as well (a file written behind opens either way).
    /// See docs/storage.md.
    /// </summary>
    public bool WriteBehind { get; set; } = true;

    /// <summary>Tests: <see cref="ChangeLogLayout"/> as a flag (<see langword="true"/>: segment files).</summary>
    internal bool SegmentChangeLog
    {
        get => ChangeLogLayout == LiteDbChangeLogLayout.SegmentFiles;
        set => ChangeLogLayout = value ? LiteDbChangeLogLayout.SegmentFiles : LiteDbChangeLogLayout.Collection;
    }

    /// <summary>Test hook: the segment log's settings (segment size).</summary>
    internal ChangeLog.SegmentLogOptions? SegmentLogOptions { get; set; }

    /// <summary>
    /// Restores and verifications: where a segmented file's change log is, instead of the folder the file names (they
    /// open a file taken out of a backup with its segments extracted elsewhere). Nothing is recorded in the file.
    /// </summary>
    internal string? SegmentLogFolder { get; set; }

    /// <summary>
    /// Restores and verifications: a damaged or missing tail of the segment change log is the typed corruption error
    /// (a backup's copy must be whole), not history lost to a power cut and reported as a gap.
    /// </summary>
    internal bool StrictChangeLog { get; set; }
}

/// <summary>
/// The embedded default store: one LiteDB file, opened once per process in direct mode, with an ordinal collation
/// (index lookups do not depend on the culture the file is opened under) and UTC tick timestamps.
/// </summary>
/// <remarks>
/// LiteDB v5 has no async API and binds explicit transactions to a thread, so every write (a single one or a
/// <see cref="CommitAsync"/> batch, with its change-log records) is one LiteDB transaction begun and committed
/// synchronously on one thread under this store's lock; no transaction spans an <c>await</c>.
/// Errors from a corrupt or truncated file surface as <see cref="StateStoreCorruptedException"/>.
/// <para>
/// LiteDB 5 never flushes its log to the disk on commit. This store hands LiteDB the data file and the log
/// (<c>name-log.ext</c>) as its own streams, and with <see cref="StateDurability.Durable"/> a change returns only after
/// the log was flushed (fsync) past its commit; concurrent writers share one flush (group commit), done outside the
/// store's lock so others keep committing meanwhile.
/// </para>
/// </remarks>
public sealed partial class LiteDbStateStore : IStateStore, IStateHistoryStore, IDisposable
{
    /// <summary>
    /// The checkpoint threshold in log pages when <see cref="LiteDbStateStoreOptions.CheckpointPages"/> is not set: 4,000
    /// pages (a log of up to 32 MB). LiteDB's own default is 1,000; each checkpoint here also pays two fsyncs, and at
    /// 1,000 pages those were most of what a save with the change log off costs over a raw LiteDB upsert.
    /// </summary>
    public const int DefaultCheckpointPages = 4000;

    /// <summary>The largest checkpoint threshold accepted (LiteDB computes the threshold in bytes in an <c>int</c>).</summary>
    public const int MaxCheckpointPages = 100_000;

    /// <summary>The largest payload one entry can hold: LiteDB documents are limited to about 16 MB.</summary>
    public const int MaxPayloadBytes = 16_000_000;

    private const string CollectionName = "state";
    private const string ChangesCollectionName = "changes";
    private const string HooksCollectionName = "hooks";
    private const string MetaCollectionName = "meta";
    private const char Separator = '\u001F'; // keys and scope ids may not contain control characters
    private const int PageSize = 8192;
    private const int HeaderInfoOffset = 32;
    private const int HeaderVersionOffset = 59;
    private const byte FileVersion = 8;
    private const int InvalidStateOffset = 191; // LiteDB flags a damaged file here when it gives up on it
    private static readonly byte[] HeaderInfo = System.Text.Encoding.ASCII.GetBytes("** This is a LiteDB file **");
    private static readonly ConcurrentDictionary<string, byte> OpenFiles = new(StringComparer.Ordinal);

    private readonly object _gate = new();
    private readonly StoreFile _dataFile;
    private readonly StoreFile? _logFile;
    private readonly DurabilityBarrier _barrier;
    private readonly ITimer? _flushTimer;
    private readonly TimeProvider _time;
    private readonly int? _checkpointPages;
    private readonly bool _walkIndexOnOpen;
    private readonly bool _segmentLogForNewFiles;
    private readonly ChangeLog.SegmentLogOptions? _segmentLogOptions;
    private readonly string? _segmentLogFolder; // the option's override of the folder the file names
    private readonly bool _strictChangeLog;
    private string? _logFolder; // the segment log's folder, once a segmented file is open
    private readonly object _logSwap = new(); // the group commit's flush and a reopen's replacement of the log

    // The change log in segment files (a file in DocumentIntegrity.SegmentedFormat), else null. Appended to only when
    // RecordsChanges.
    private ChangeLog.SegmentLog? _log;

    // Whether the file is in DocumentIntegrity.SegmentedFormat (its payloads are inline; its log, if any, in segments).
    private bool _segmented;

    // Replaced together when LiteDB is reopened over the same files after an I/O error (see Reopen).
    private LiteDatabase _db = null!;
    private ILiteCollection<BsonDocument> _state = null!;
    private ILiteCollection<BsonDocument> _changes = null!;
    private ILiteCollection<BsonDocument> _hooks = null!;
    private ILiteCollection<BsonDocument> _meta = null!;
    private ILiteCollection<BsonDocument> _counts = null!;

    // Whether every document must carry a checksum (a file created with checksums); else one without is read unverified.
    private bool _checksumsRequired;

    // Whether the file keeps a count of current values per scope (its format marker says so): every create and delete
    // updates it and whole-scope lists and scans are checked against it. See LiteDbStateStore.Counts.cs.
    private bool _countsKept;

    // An I/O error left LiteDB's in-memory state in doubt: it is reopened over the files before the next operation.
    private bool _reopenPending;

    // The stored version and last change sequence of each key written or read so far (version 0: known absent). This
    // store is the file's only writer (one per file per process, direct mode), so a write needs no read of the whole
    // stored document first.
    private readonly Dictionary<string, (long Version, long Sequence, string? Type, int SchemaVersion)> _versions = new(StringComparer.Ordinal);
    private long _sequence;
    private bool _unloggedDeletes;

    // Segmented files: the newest sequence of a history gap that retention may have forgotten (meta "lostBefore"). A
    // current value whose record is before the log's first segment is damage, unless its record was lost in such a gap.
    private long _lostBefore;
    private bool _commitAttempted; // the last InTransaction reached LiteDB's Commit (its outcome then needs a reopen to know)
    private byte? _invalidStateByte;
    private bool _disposed;
    private bool _faulted;
    private bool _salvaging; // opened read-only by Salvage: the change sequence is not read
    private int _filesClosed;

    /// <summary>When changes return: flushed to the disk, or in the OS cache.</summary>
    public StateDurability Durability { get; }

    /// <summary>Opens (or creates) the database file.</summary>
    /// <exception cref="StateStoreCorruptedException">The file is corrupt, truncated or not a LiteDB database.</exception>
    /// <exception cref="StateStoreException">The file is already open in this process, or cannot be opened.</exception>
    public LiteDbStateStore(LiteDbStateStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            throw new ArgumentException("The database path is empty.", nameof(options));
        }

        FilePath = System.IO.Path.GetFullPath(options.Path);
        _time = options.TimeProvider ?? TimeProvider.System;
        if (!OpenFiles.TryAdd(FilePath, 0))
        {
            throw new StateStoreException($"The state database '{FilePath}' is already open in this process. Share one store (or StateManager) per file.");
        }

        Durability = options.Durability;
        if (Durability is not StateDurability.Durable and not StateDurability.Relaxed)
        {
            OpenFiles.TryRemove(FilePath, out _);
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability, "Unknown durability level.");
        }

        if (Durability == StateDurability.Relaxed && options.RelaxedFlushInterval <= TimeSpan.Zero)
        {
            OpenFiles.TryRemove(FilePath, out _);
            throw new ArgumentOutOfRangeException(nameof(options), options.RelaxedFlushInterval, "The flush interval must be positive.");
        }

        if (options.ChangeLogLayout is not (LiteDbChangeLogLayout.SegmentFiles or LiteDbChangeLogLayout.Collection))
        {
            OpenFiles.TryRemove(FilePath, out _);
            throw new ArgumentOutOfRangeException(nameof(options), options.ChangeLogLayout, "Unknown change-log layout.");
        }

        if (options.CheckpointPages is < 1 or > MaxCheckpointPages)
        {
            OpenFiles.TryRemove(FilePath, out _);
            throw new ArgumentOutOfRangeException(nameof(options), options.CheckpointPages, $"The checkpoint threshold must be from 1 to {MaxCheckpointPages} pages.");
        }

        Func<string, StoreFile> open = options.OpenFile ?? (path => new OsStoreFile(path));
        _barrier = new DurabilityBarrier(SyncFiles);
        try
        {
            string? folder = System.IO.Path.GetDirectoryName(FilePath);
            if (!string.IsNullOrEmpty(folder))
            {
                Directory.CreateDirectory(folder);
            }

            // LiteDB trims a file that is not whole pages before it reads the header: check the header first, so a
            // foreign file is rejected untouched (a file that is not there is not created by the check).
            _invalidStateByte = CheckHeader(FilePath, options.OpenFile);
            bool creating = _invalidStateByte is null;
            if (creating && options.SegmentChangeLog)
            {
                // A database file deleted without its change log's folder: a new file must not take up another database's
                // log (its commits written behind would come back as this file's values; others would be cut).
                string logFolder = options.SegmentLogFolder is null ? ChangeLog.SegmentLog.FolderFor(FilePath) : System.IO.Path.GetFullPath(options.SegmentLogFolder);
                if (ChangeLog.SegmentLog.HoldsRecords(logFolder, options.OpenFile?.Invoke(FilePath) is { } probe ? ReleasedFileSystem(probe) : null))
                {
                    throw new StateStoreException($"The state database '{FilePath}' does not exist, but its change log's folder '{logFolder}' holds change records of another database. Move the folder aside (or put its database file back) before creating a new file here.");
                }
            }
            _dataFile = open(FilePath);
            _logFile = open(LogPath(FilePath));
            _dataFile.WriteAheadLog = _logFile;
            _dataFile.CheckPageIds = true;
            _checkpointPages = options.CheckpointPages;
            _walkIndexOnOpen = options.WalkIndexOnOpen;
            _segmentLogForNewFiles = options.SegmentChangeLog;
            _segmentLogOptions = options.SegmentLogOptions;
            _segmentLogFolder = options.SegmentLogFolder is null ? null : System.IO.Path.GetFullPath(options.SegmentLogFolder);
            _strictChangeLog = options.StrictChangeLog;
            RecordsChanges = options.RecordChanges;
            _writeBehindRequested = options.WriteBehind;
            OpenEngine(creating);
            if (options.UpgradeChangeLog && options.ChangeLogLayout == LiteDbChangeLogLayout.SegmentFiles && !_segmented && _checksumsRequired)
            {
                lock (_gate)
                {
                    try
                    {
                        UpgradeChangeLogCore(progress: null, CancellationToken.None);
                    }
                    catch (StateStoreException ex) when (ex is not StateStoreCorruptedException && !_segmented && !_reopenPending)
                    {
                        // A log the segment files cannot hold (a record over their limits, too sparse): nothing was
                        // switched, and the file opens in its own layout, as it works there. Said by UpgradeChangeLogFailure.
                        UpgradeChangeLogFailure = ex;
                    }
                }
            }

            // The new file and the indexes made above are on the disk before the store is used.
            SyncFiles();
            if (Durability == StateDurability.Relaxed)
            {
                _flushTimer = _time.CreateTimer(_ => _barrier.TryFlushInBackground(), null, options.RelaxedFlushInterval, options.RelaxedFlushInterval);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            try
            {
                RetireEngine(_db);
                if (ex is not StateGenException and not IOException and not UnauthorizedAccessException)
                {
                    RestoreInvalidStateFlag();
                }
            }
            finally
            {
                CloseFiles();
                OpenFiles.TryRemove(FilePath, out _);
            }

            if (ex is StateGenException)
            {
                throw;
            }

            if (ex is IOException or UnauthorizedAccessException)
            {
                throw new StateStoreException($"The state database '{FilePath}' could not be opened: {ex.GetType().Name}.", ex);
            }

            throw Corrupted(FilePath, null, ex);
        }
        catch (OutOfMemoryException oom)
        {
            // A damaged length in a document, or memory that really ran out (LiteDbStateStore.Lengths.cs). Either way the
            // files are released, so the path can be opened again.
            string? failure = DamagedLengthFailure();
            try
            {
                RetireEngine(_db);
                if (failure is not null)
                {
                    RestoreInvalidStateFlag();
                }
            }
            finally
            {
                CloseFiles();
                OpenFiles.TryRemove(FilePath, out _);
            }

            if (failure is null)
            {
                throw;
            }

            throw new StateStoreCorruptedException(FilePath, failure, oom);
        }
    }

    /// <summary>
    /// Opens LiteDB over the store's files (at construction, and again after an I/O error), checks the file's format and
    /// collections, and reads the change sequence. LiteDB's own rebuild of a damaged file stays off.
    /// </summary>
    private void OpenEngine(bool creating)
    {
        // What was written behind is in the log: the replay below puts it into LiteDB.
        _pendingValues.Clear();
        _pendingBytes = 0;
        var settings = new EngineSettings
        {
            DataStream = _dataFile,
            LogStream = _logFile,
            Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
            AutoRebuild = false,
        };
        _db = new LiteDatabase(new LiteEngine(settings));
        ApplyCheckpointPragma();

        int format = _db.UserVersion;
        bool newFile = creating && format == 0 && !_db.GetCollectionNames().Any();
        if (newFile)
        {
            // A new file: every document in it will carry a checksum, and every scope's values are counted.
            _db.UserVersion = format = !_segmentLogForNewFiles ? DocumentIntegrity.CountedFormat
                : _writeBehindRequested && RecordsChanges ? DocumentIntegrity.WriteBehindFormat
                : DocumentIntegrity.SegmentedFormat;
            _invalidStateByte = 0;
        }
        else if (format is DocumentIntegrity.ChecksummedFormat or DocumentIntegrity.CountedFormat or DocumentIntegrity.UncheckedCountedFormat || DocumentIntegrity.IsSegmented(format))
        {
            // A damaged collection list would otherwise let the EnsureIndex below create an empty collection.
            if (!_db.CollectionExists(CollectionName))
            {
                throw new StateStoreCorruptedException(FilePath, "the collection of current values is missing");
            }
        }
        else if (format != 0)
        {
            throw new StateStoreCorruptedException(FilePath, "the file's format marker is neither StateGen's nor empty");
        }
        else if (ChangeLog.SegmentLog.HoldsRecords(_segmentLogFolder ?? ChangeLog.SegmentLog.FolderFor(FilePath), _dataFile.FileSystem))
        {
            // A file from before format markers never had segment files: this one lost its marker and its collections (a
            // cut or replaced LiteDB log; found by the write-behind fuzz). Opened as an empty old file, every commit in
            // the segments, acknowledged and durable, would be silently ignored.
            throw new StateStoreCorruptedException(FilePath, "the file has no StateGen format marker, but its change log's folder holds change records: the file lost its commits");
        }

        _checksumsRequired = DocumentIntegrity.RequiresChecksums(format);
        _countsKept = DocumentIntegrity.KeepsCounts(format);
        _segmented = DocumentIntegrity.IsSegmented(format);
        _state = _db.GetCollection(CollectionName);
        _state.EnsureIndex("s");
        _changes = _db.GetCollection(ChangesCollectionName, BsonAutoId.Int64);
        _hooks = _db.GetCollection(HooksCollectionName, BsonAutoId.Int64);
        _meta = _db.GetCollection(MetaCollectionName);
        _counts = _db.GetCollection(CountsCollectionName);
        if (newFile)
        {
            InTransaction(CreateCountsCollection);
        }
        else if (_countsKept && !_db.CollectionExists(CountsCollectionName))
        {
            throw new StateStoreCorruptedException(FilePath, "the collection of scope counts is missing");
        }

        if (!_db.CollectionExists(MetaCollectionName))
        {
            // Created here, on its own, never by the first write into it (a prune, a delete with the change log off):
            // LiteDB creating a collection inside a write whose page writes fail left a file that would not reopen
            // (LiteException 999 in the fault test for the first meta record; "page type must be collection page" for
            // the counts, which are created up front for the same reason).
            InTransaction(() => CreateCollection(_meta, MetaCollectionName));
        }

        if (RecordsChanges && !_segmented)
        {
            // Index values end with the record's sequence, so they are unique: LiteDB's skip-list insert walks every
            // equal key, which made each save slower as one key's history grew. Queries are prefix ranges.
            _changes.DropIndex("sk");
            _changes.DropIndex("s");
            _changes.DropIndex("c");
            _changes.DropIndex(ScopeIndex); // scope queries use the key index: its values start with the scope
            _changes.EnsureIndex(KeyIndex);
            _changes.EnsureIndex(CorrelationIndex);
        }

        // Hook history is read by correlation id (replay) in either layout: through "ci" (correlation id and id, unique
        // values a read steps through, IndexWalk), or in a file whose older records lack it, by a walk of the whole history.
        _hooks.EnsureIndex("c");
        _hooks.EnsureIndex(CorrelationIndex);

        // Walks the index of current values, so a damaged file fails here, not on first use.
        long entries = _walkIndexOnOpen ? _state.Count() : -1;

        BsonDocument? meta = _meta.FindById(SequenceId);
        long floor = meta is null ? 0 : Checked(meta, MetaCollectionName)["v"].AsInt64;
        if (_segmented)
        {
            // Every commit that logs a change writes its last sequence here, in the same transaction: records after it were
            // appended for a commit that never happened, and the log's recovery (below) cuts them.
            _sequence = floor;
        }
        else
        {
            BsonDocument? last = _changes.Find(Query.All("_id", Query.Descending), limit: 1).FirstOrDefault();
            long lastLogged = last is null ? 0 : CheckedChange(last).Sequence;
            _sequence = Math.Max(lastLogged, floor);
        }

        // A damaged change-log index (or, in a segmented file, damage that hides or reverts the sequence record) can hide
        // the newest committed sequence: a few entries must not point past it. Reads check every entry they return the
        // same way. (A damaged entry is left to the read that meets it.) In a segmented file this comes before the log's
        // recovery, which would otherwise take the records after a wrong sequence for uncommitted ones and cut them.
        foreach (BsonDocument entry in _state.Find(Query.All(), limit: 16))
        {
            if (SequenceOf(entry) > _sequence && DocumentIntegrity.Verify(entry, _checksumsRequired))
            {
                throw new StateStoreCorruptedException(FilePath, "a current value points past the newest change record: the change log is damaged");
            }
        }

        if (_segmented)
        {
            // Opened with the change log off too: its history stays readable, and its recovery runs at every open.
            _logFolder = ResolveLogFolder();
            OpenSegmentLog(floor);

            // Commits written behind that LiteDB does not hold yet (the log kept them: each is whole) go back into the
            // overlay, without a write: an open after an I/O error (a full disk) must be able to read.
            LoadUnapplied(floor);

            // A conversion from the collection layout switched the file and a crash came before it dropped the old
            // collection: dropped only now that the segment log opened and checked out against the values.
            DropConvertedCollection();

            if (format == DocumentIntegrity.SegmentedFormat && _writeBehindRequested && RecordsChanges)
            {
                // Before this store writes behind: a StateGen from before write behind refuses the file from now on,
                // rather than cut the commits a crash leaves past meta.S as if they never happened.
                _db.UserVersion = DocumentIntegrity.WriteBehindFormat;
            }
        }
        _unloggedDeletes = _meta.FindById(UnloggedDeletesId) is { } unlogged && Checked(unlogged, MetaCollectionName) is not null;
        _lostBefore = _segmented && _meta.FindById(LostBeforeId) is { } lostBefore ? Checked(lostBefore, MetaCollectionName)["v"].AsInt64 : 0;
        if (_walkIndexOnOpen)
        {
            OpenCounts(format, entries);
            OpenHookCount();
            OpenKeyDeletesFrom();
        }

        _appliedSequence = _segmented ? floor : _sequence;
        _versions.Clear();
        ForgetTypeCounts();
    }

    /// <summary>
    /// After an I/O error (a failed write, a full disk) LiteDB's in-memory state may not match its files: it is closed
    /// and opened again over the same files, whose log holds every committed transaction and no part of a failed one.
    /// </summary>
    private void Reopen()
    {
        RetireEngine(_db);
        RestoreInvalidStateFlag();
        OpenEngine(creating: false);
        _reopenPending = false;
    }

    /// <summary>
    /// The typed error for a damaged file. LiteDB's own messages can quote bytes read from a damaged page, so a
    /// <see cref="LiteException"/> is named by its type and error code and not kept; other exceptions are kept.
    /// </summary>
    private static StateStoreCorruptedException Corrupted(string path, string? failure, Exception ex)
        => ex is LiteException lite
            ? new StateStoreCorruptedException(path, failure ?? $"LiteDB failed reading it: LiteException {lite.ErrorCode}")
            : new StateStoreCorruptedException(path, failure, ex);

    /// <summary>Returns <paramref name="doc"/> if its checksum holds (or, in a file from before checksums, it has none).</summary>
    private BsonDocument Checked(BsonDocument doc, string collection)
    {
        if (!DocumentIntegrity.Verify(doc, _checksumsRequired))
        {
            throw new StateStoreCorruptedException(FilePath, $"a document in '{collection}' failed its checksum");
        }

        return doc;
    }

    /// <summary>
    /// Rejects an existing file that is not a LiteDB v5 database before LiteDB touches it; returns the byte at the
    /// damaged-file flag so a failed open can put it back.
    /// </summary>
    private static byte? CheckHeader(string path, Func<string, StoreFile>? open)
    {
        byte[] header = new byte[InvalidStateOffset + 1];
        int read;
        long length;
        if (open is null)
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length == 0)
            {
                return null;
            }

            length = info.Length;
            using FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        else
        {
            StoreFile file = open(path);
            try
            {
                length = file.Length;
                if (length == 0)
                {
                    return null;
                }

                file.Position = 0;
                read = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            }
            finally
            {
                file.Release();
            }
        }

        if (length % PageSize != 0 || read < header.Length
            || !header.AsSpan(HeaderInfoOffset, HeaderInfo.Length).SequenceEqual(HeaderInfo)
            || header[HeaderVersionOffset] != FileVersion)
        {
            throw new StateStoreCorruptedException(path);
        }

        return header[InvalidStateOffset];
    }

    /// <summary>LiteDB marks a file it found damaged; the file was not ours to change, so the mark is undone.</summary>
    private void RestoreInvalidStateFlag()
    {
        if (_invalidStateByte is not byte original || _dataFile is null)
        {
            return;
        }

        // LiteDB writes the mark through the stream this store gave it, which stays open until CloseFiles.
        StoreFile stream = _dataFile;
        lock (stream)
        {
            if (stream.Length <= InvalidStateOffset)
            {
                return;
            }

            stream.Position = InvalidStateOffset;
            if (stream.ReadByte() != original)
            {
                stream.Position = InvalidStateOffset;
                stream.WriteByte(original);
                stream.Sync();
            }
        }
    }

    /// <summary>The file system a test hook's file names, the file released.</summary>
    private static ChangeLog.SegmentFileSystem? ReleasedFileSystem(StoreFile file)
    {
        ChangeLog.SegmentFileSystem? files = file.FileSystem;
        file.Release();
        return files;
    }

    /// <summary>LiteDB's log file next to the data file, named as LiteDB names it (<c>name-log.ext</c>).</summary>
    internal static string LogPath(string path)
        => System.IO.Path.Combine(
            System.IO.Path.GetDirectoryName(path) ?? string.Empty,
            System.IO.Path.GetFileNameWithoutExtension(path) + "-log" + System.IO.Path.GetExtension(path));

    /// <summary>Flushes every file with writes not yet on the disk: the group commit's one fsync (normally the log alone).</summary>
    private void SyncFiles()
    {
        // The change log first: a commit is never on the disk without the records appended before it.
        lock (_logSwap)
        {
            _log?.Flush();
        }

        _logFile?.SyncIfDirty();
        _dataFile?.SyncIfDirty();
    }

    /// <summary>
    /// Opens (again, after an I/O error) the segment change log of a <see cref="DocumentIntegrity.SegmentedFormat"/> file,
    /// cutting what was appended after <paramref name="committed"/>, the newest sequence LiteDB committed.
    /// </summary>
    private void OpenSegmentLog(long committed)
    {
        lock (_logSwap)
        {
            _log?.Dispose();
            _log = null;
            // A lost tail (a crash kept LiteDB's commit but not its records) keeps the values and is reported as a gap.
            // The test hook's files name the file system that holds the segments too (null: the real one).
            _log = ChangeLog.SegmentLog.Open(_logFolder!, committed, _segmentLogOptions, keepLostTail: !_strictChangeLog, _dataFile.FileSystem);
        }
    }

    /// <summary>Closes the files; deletes an empty log, as LiteDB does with its own files.</summary>
    private void CloseFiles()
    {
        if (Interlocked.Exchange(ref _filesClosed, 1) != 0)
        {
            return;
        }

        bool deleteLog = false;
        try
        {
            deleteLog = _logFile is not null && _logFile.Length == 0 && _logFile is OsStoreFile;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Then the log stays; an empty log left behind is harmless.
        }

        lock (_logSwap)
        {
            _log?.Dispose();
            _log = null;
        }

        _logFile?.Release();
        _dataFile?.Release();
        if (deleteLog)
        {
            try
            {
                File.Delete(LogPath(FilePath));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // An empty log left behind is harmless.
            }
        }
    }

    /// <summary>
    /// Makes everything written so far durable (flushed to the disk). A <see cref="StateDurability.Durable"/> store's
    /// changes already are when they return; a <see cref="StateDurability.Relaxed"/> store's are after this.
    /// </summary>
    /// <exception cref="StateStoreException">The flush failed.</exception>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }

        return _barrier.FlushAsync();
    }

    /// <summary>Test hook: how many group-commit flushes ran.</summary>
    internal long FlushCount => _barrier.FlushCount;

    /// <summary>Test hook: how many changes were committed (to the OS cache) so far.</summary>
    internal long CommitCount => _barrier.LastCommitted;

    /// <summary>
    /// Closes a LiteDB instance after an error. LiteDB 5.0.21 leaves a transaction whose commit or rollback failed (an
    /// I/O error mid-commit) in its transaction monitor, undisposed; its finalizer later throws on the finalizer thread
    /// ("discarded page must be writable") and ends the process. So the finalizers of the instance's transactions are
    /// suppressed (they only discard in-memory pages) before and after it is disposed.
    /// </summary>
    private static void RetireEngine(LiteDatabase? db)
    {
        if (db is null)
        {
            return;
        }

        object[] transactions = TransactionsOf(db);
        DisposeQuietly(db);
        foreach (object transaction in transactions.Concat(TransactionsOf(db)))
        {
            GC.SuppressFinalize(transaction);
        }
    }

    private static object[] TransactionsOf(LiteDatabase db)
    {
        try
        {
            object? engine = typeof(LiteDatabase).GetField("_engine", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(db);
            object? monitor = engine is null ? null : typeof(LiteEngine).GetField("_monitor", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(engine);
            Type? monitorType = Type.GetType("LiteDB.Engine.TransactionMonitor, LiteDB");
            if (monitor is null || monitorType?.GetField("_transactions", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(monitor) is not System.Collections.IDictionary map)
            {
                return [];
            }

            lock (map)
            {
                return map.Values.Cast<object>().ToArray();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return []; // another LiteDB version: nothing to suppress
        }
    }

    private static void DisposeQuietly(IDisposable? disposable)
    {
        try
        {
            disposable?.Dispose();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Closing a damaged file can fail too; the original error is the one to report.
        }
    }

    /// <summary>Opens (or creates) the database file at <paramref name="path"/>.</summary>
    public LiteDbStateStore(string path)
        : this(new LiteDbStateStoreOptions { Path = path })
    {
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath { get; }

    /// <inheritdoc />
    public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(
            () =>
        {
            string id = Id(scope, key);
            if (TryGetPending(id, out PendingValue pending))
            {
                return pending.Entry; // committed to the log, not yet applied to LiteDB
            }

            BsonDocument? doc = CheckedEntry(_state.FindById(id));
            if (doc is not null)
            {
                // An absent key is not cached here: its last change sequence (after a delete) is not in a document.
                _versions[id] = (doc["v"].AsInt64, SequenceOf(doc), doc["t"].AsString, doc["sv"].AsInt32);
            }
            else
            {
                _ = SequenceOfMissing(id);
            }

            return ToEntry(doc);
        },
            applyPending: false));
    }

    /// <inheritdoc />
    public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        cancellationToken.ThrowIfCancellationRequested();
        if (write.Payload.Length > MaxPayloadBytes)
        {
            throw new StateValueTooLargeException(write.Scope, write.Key, write.Payload.Length, MaxPayloadBytes);
        }

        CheckStorableKey(write);
        ValueTask<IReadOnlyList<StateOperationResult>> done = CommitGrouped([write]);
        return done.IsCompletedSuccessfully ? new(done.Result[0].Stored!) : StoredAsync(done);

        static async ValueTask<StoredEntry> StoredAsync(ValueTask<IReadOnlyList<StateOperationResult>> done)
            => (await done.ConfigureAwait(false))[0].Stored!;
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ValueTask<IReadOnlyList<StateOperationResult>> done = CommitGrouped([new StateDelete(scope, key)]);
        return done.IsCompletedSuccessfully ? new(done.Result[0].Existed) : ExistedAsync(done);

        static async ValueTask<bool> ExistedAsync(ValueTask<IReadOnlyList<StateOperationResult>> done)
            => (await done.ConfigureAwait(false))[0].Existed;
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        StoreRules.CheckBatch(operations, MaxPayloadBytes);
        foreach (StateOperation op in operations)
        {
            CheckStorableKey(op);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return CommitGrouped(operations);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        cancellationToken.ThrowIfCancellationRequested();

        // Ids are scope + U+001F + key and neither part holds control characters, so ordinal id order is scope-then-key order.
        return new(Run<IReadOnlyList<StoredEntry>>(() =>
        {
            // From the start, the guarded walk of the whole index; after a position, by steps (IndexWalk).
            IEnumerable<BsonDocument> docs = after is StateScanPosition position
                ? IndexWalk.Ascending(_state, "_id", Id(position.Scope, position.Key), _ => true, FilePath).Take(limit)
                : IndexWalk.FromEnd(_state, "_id", Query.Ascending, limit);
            StoredEntry[] page = docs.Select(d => ToEntry(CheckedEntry(d))!).ToArray();
            CheckScanCounts(after, page, exhausted: page.Length < limit);
            return page;
        }));
    }

    /// <inheritdoc />
    public bool RecordsChanges { get; }

    /// <inheritdoc />
    /// <remarks>
    /// Only a file whose change log is in segment files can have gaps: LiteDB's commit of a change and the segment
    /// record of it are two files, and a crash can keep the first without the second for a commit that was not yet
    /// acknowledged (or, with <see cref="StateDurability.Relaxed"/>, since the last flush). The open then keeps the values,
    /// cuts the log's unreadable tail (copied aside first) and goes on after the gap.
    /// </remarks>
    public IReadOnlyList<StateHistoryGap> HistoryGaps
        => _log?.Gaps.Select(g => new StateHistoryGap(g.FromSequence, g.ToSequence, g.PreservedTailPath)).ToArray() ?? [];

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StateChangeRecord>> ReadChangesAsync(StateChangeQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run<IReadOnlyList<StateChangeRecord>>(() =>
        {
            if (_log is not null)
            {
                return ReadSegmentChanges(query);
            }

            // Index walks that cannot hang on a damaged index (IndexWalk): a key's, a scope's or a correlation id's records by
            // steps through their unique index; the log after a sequence from its newest end, or by steps for a short page.
            (string Index, string Prefix)? range = query.Scope is not null && query.Key is not null ? (KeyIndex, IndexPrefix(Id(query.Scope, query.Key)))
                : query.CorrelationId is not null ? (CorrelationIndex, IndexPrefix(query.CorrelationId))
                : query.Scope is not null ? (KeyIndex, query.Scope + Separator)
                : null;
            // By steps, a short page after a position when every record there matches (no key or time filter: a filter that
            // rejects most records would step through the rest of the log one query each).
            bool paged = range is null && query.Limit <= ShortPage && query.Key is null && query.Since is null && query.Until is null;

            // Within one key's or one correlation id's range the index order is the sequence order (19 digits), so a limited
            // read stops at its limit; a scope's range is in key order and is read whole.
            bool inSequenceOrder = paged || (range is not null && (query.CorrelationId is not null || query.Key is not null));
            IEnumerable<BsonDocument> docs = range is var (index, prefix)
                ? IndexWalk.Ascending(_changes, index, prefix, k => k.IsString && k.AsString.StartsWith(prefix, StringComparison.Ordinal), FilePath)
                : paged
                    ? IndexWalk.Ascending(_changes, "_id", query.AfterSequence, _ => true, FilePath)
                    : IndexWalk.FromEnd(_changes, "_id", Query.Descending).TakeWhile(d => !d["_id"].IsNumber || d["_id"].AsInt64 > query.AfterSequence);
            List<StateChangeRecord> walked = [];
            bool byKey = range is not null && query.Scope is not null && query.Key is not null;
            List<long?>? links = range is not null && !byKey && query.CorrelationId is not null ? [] : null;
            int matched = 0;
            bool full = false;
            foreach (BsonDocument doc in docs)
            {
                StateChangeRecord record = CheckedChange(doc);
                walked.Add(record);
                links?.Add(doc.TryGetValue(PreviousInCorrelation, out BsonValue link) && link.IsInt64 ? link.AsInt64 : null);
                if (inSequenceOrder && Memory.MemoryStateStore.Matches(record, query) && ++matched == query.Limit)
                {
                    full = true; // the page is full: the records after it are not read
                    break;
                }
            }

            // A key's history: checked against its records' links and its current value (LiteDbStateStore.KeyHistory.cs); a
            // correlation id's, against its records' links and its stored newest (LiteDbStateStore.ChangeChains.cs).
            if (byKey)
            {
                CheckKeyHistory(Id(query.Scope!, query.Key!), walked, full);
            }
            else if (links is not null)
            {
                CheckCorrelationHistory(query.CorrelationId!, walked, links, full);
            }

            long walkedTo = walked.Count == 0 ? 0 : walked.Max(r => r.Sequence);
            StateChangeRecord[] found = walked
                .Where(r => Memory.MemoryStateStore.Matches(r, query))
                .OrderBy(r => r.Sequence)
                .Take(query.Limit)
                .ToArray();

            // A walk of the sequence index ends at the newest record. LiteDB pages have no checksums: a damaged link can
            // end it early and silently drop records. The newest record is found from the other end of the index.
            if (range is null && !full && walkedTo < _sequence && _sequence > query.AfterSequence
                && _changes.FindById(_sequence) is not null)
            {
                throw new StateStoreCorruptedException(FilePath, "a walk of the change log stopped before its newest record: its index is damaged");
            }

            // The walk from the newest end follows the other links: one that ends it early drops the oldest records. Its oldest
            // record must be the first after the position, found by one guarded descent.
            if (range is null && !paged && walked.Count > 0
                && IndexWalk.Next(_changes, "_id", query.AfterSequence, FilePath) is { } first
                && first["_id"].AsInt64 < walked.Min(r => r.Sequence))
            {
                throw new StateStoreCorruptedException(FilePath, "a walk of the change log stopped before its oldest record: its index is damaged");
            }

            return found;
        },
            applyPending: false));
    }

    /// <inheritdoc />
    public ValueTask<StateChangeRecord?> ReadChangeAsync(long sequence, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() => _log is not null ? _log.Read(sequence) : _changes.FindById(sequence) is { } doc ? CheckedChange(doc) : null, applyPending: false));
    }

    /// <inheritdoc />
    public ValueTask<long> PruneChangesAsync(DateTimeOffset? olderThan, int? keepPerKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return RunDurable(() =>
        {
            if (_log is not null)
            {
                return PruneSegmentChanges(olderThan, keepPerKey, cancellationToken);
            }

            var remove = new HashSet<long>();

            // "u" has no index: the whole log (the guarded walk), filtered; kept for the correlation records' update.
            List<StateChangeRecord> records = olderThan is null && keepPerKey is null ? []
                : IndexWalk.FromEnd(_changes, "_id", Query.Ascending).Select(d => CheckedChange(d)).ToList();
            if (olderThan is DateTimeOffset limit)
            {
                remove.UnionWith(records
                    .Where(c => c.Timestamp.UtcTicks < limit.UtcTicks)
                    .Select(c => c.Sequence));
            }

            if (keepPerKey is int keep)
            {
                foreach (var group in records.Select(c => (Id: c.Sequence, Key: Id(c.Scope, c.Key))).GroupBy(r => r.Key))
                {
                    remove.UnionWith(group.OrderByDescending(r => r.Id).Skip(Math.Max(0, keep)).Select(r => r.Id));
                }
            }

            // A current entry's own change record holds its document: never remove it.
            remove.ExceptWith(_state.FindAll().Select(d => SequenceOf(CheckedEntry(d)!)));
            InTransaction(() =>
            {
                foreach (long sequence in remove)
                {
                    _changes.Delete(sequence);
                }

                MovePrunedCorrelations(records, remove);
                ForgetPrunedKeys(records, remove);

                // Sequences are never reused, even when the newest records go.
                _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = SequenceId, ["v"] = _sequence }));
            });
            return (long)remove.Count;
        });
    }

    /// <inheritdoc />
    public ValueTask AppendHookExecutionsAsync(IReadOnlyList<HookExecutionRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        cancellationToken.ThrowIfCancellationRequested();
        ValueTask<int> done = RunDurable(() =>
        {
            // The hook history indexes the correlation id with the record's id (in both layouts): refused before the transaction.
            if (records.FirstOrDefault(r => r.CorrelationId is { } c && System.Text.Encoding.UTF8.GetByteCount(c) > MaxIndexedPrefixBytes) is { } tooLong)
            {
                throw new StateStoreException($"The hook records cannot be appended, so none was: the correlation id of '{tooLong.HookId}' is over the {MaxIndexedPrefixBytes} UTF-8 bytes the hook history's index holds.");
            }

            InTransaction(() =>
            {
                // Ids are assigned here, not by LiteDB at insert, so that "ci" (correlation id and id) is inside the checksum
                // (which leaves "_id" out): an id LiteDB reads back wrong no longer matches it. LiteDB keeps an explicit id.
                long first = NextHookId();
                long id = first - 1;

                // Each record with a correlation id links to the previous one with it, and the correlation's newest is
                // stored (LiteDbStateStore.HookChains.cs): one meta lookup and upsert per correlation id in the batch.
                var newest = new Dictionary<string, long>(StringComparer.Ordinal);
                foreach (HookExecutionRecord r in records)
                {
                    id++;
                    BsonValue previous = BsonValue.Null;
                    if (r.CorrelationId is { } correlationId)
                    {
                        previous = newest.TryGetValue(correlationId, out long before) ? before : StoredCorrelationNewest(correlationId) ?? 0;
                        newest[correlationId] = id;
                    }

                    _hooks.Insert(DocumentIntegrity.Seal(new BsonDocument
                    {
                        ["_id"] = id,
                        [CorrelationIndex] = r.CorrelationId is null ? BsonValue.Null : IndexValue(r.CorrelationId, id),
                        [PreviousInCorrelation] = previous,
                        ["h"] = r.HookId,
                        ["pt"] = r.Point,
                        ["s"] = r.Scope,
                        ["k"] = r.Key,
                        ["t"] = r.TypeName is null ? BsonValue.Null : r.TypeName,
                        ["o"] = r.Outcome,
                        ["e"] = r.Error is null ? BsonValue.Null : r.Error,
                        ["d"] = r.Duration.Ticks,
                        ["u"] = r.Timestamp.UtcTicks,
                        ["c"] = r.CorrelationId is null ? BsonValue.Null : r.CorrelationId,
                        ["ov"] = r.OldValue.ToArray(),
                        ["nv"] = r.NewValue.ToArray(),
                        ["rv"] = r.ResultValue.ToArray(),
                    }));
                }

                foreach ((string correlationId, long last) in newest)
                {
                    WriteCorrelationNewest(correlationId, last);
                }

                CountAppendedHooks(records.Count, first, id);
            });
            return 0;
        },
            applyPending: false);
        return done.IsCompletedSuccessfully ? default : new ValueTask(done.AsTask());
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<HookExecutionRecord>> ReadHookExecutionsAsync(HookExecutionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run<IReadOnlyList<HookExecutionRecord>>(() =>
        {
            static bool HookMatches(BsonDocument d, HookExecutionQuery q)
                => (q.HookId is null || d["h"].AsString == q.HookId) && (q.Scope is null || d["s"].AsString == q.Scope) && (q.Key is null || d["k"].AsString == q.Key);

            List<BsonDocument> docs;
            (bool indexed, long? chainedFrom) = query.CorrelationId is null ? (false, null) : HooksCorrelationIndexed();
            if (query.CorrelationId is { } correlationId && indexed)
            {
                // Every record carries "ci" (correlation id and id, unique): this correlation id's records by steps (IndexWalk)
                // from the position on, in id order, each checked against its value; the walk stops at the page's limit.
                // When every record also carries "pc", the steps are checked against the correlation's chain: a record the
                // index misses (a damaged key or link) breaks a link or the end (LiteDbStateStore.HookChains.cs).
                string prefix = IndexPrefix(correlationId);
                long newest = StoredHookCount()?.Last ?? long.MaxValue;
                long afterId = Math.Max(0, query.AfterId);
                long? chainEnd = chainedFrom is long from ? CorrelationChainEnd(correlationId, from) : null;
                long? previous = null;
                bool cut = false;
                docs = [];
                int matched = 0;
                foreach (BsonDocument doc in IndexWalk.Ascending(_hooks, CorrelationIndex, IndexValue(correlationId, Math.Max(0, query.AfterId)), k => k.IsString && k.AsString.StartsWith(prefix, StringComparison.Ordinal), FilePath))
                {
                    CheckedHook(doc);
                    if (!doc["c"].IsString || !string.Equals(doc["c"].AsString, correlationId, StringComparison.Ordinal) || !doc[CorrelationIndex].IsString)
                    {
                        throw new StateStoreCorruptedException(FilePath, "a hook record's correlation id does not match its correlation index value");
                    }

                    if (doc["_id"].AsInt64 > newest)
                    {
                        throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
                    }

                    if (chainEnd is long end)
                    {
                        CheckChainLink(doc, previous, afterId, chainedFrom!.Value, end);
                    }

                    previous = doc["_id"].AsInt64;
                    docs.Add(doc);
                    if (HookMatches(doc, query) && ++matched == query.Limit)
                    {
                        cut = true;
                        break;
                    }
                }

                if (chainEnd is long chainEndId && !cut)
                {
                    CheckChainEnd(previous, afterId, chainEndId);
                }
            }
            else if (query.CorrelationId is not null)
            {
                // Records from before "ci" remain (or the file is not counted): the whole log from one end (a cost in the size
                // of the hook history), its count and newest id checked like a read by id's, this correlation id's records kept.
                docs = [];
                long seen = 0, newest = 0;
                foreach (BsonDocument doc in IndexWalk.FromEnd(_hooks, "_id", Query.Ascending))
                {
                    seen++;
                    newest = Math.Max(newest, doc["_id"].IsNumber ? doc["_id"].AsInt64 : long.MaxValue);
                    if (doc["c"].IsString && string.Equals(doc["c"].AsString, query.CorrelationId, StringComparison.Ordinal))
                    {
                        docs.Add(CheckedHook(doc));
                    }
                }

                CheckHookTotals(seen, newest);
            }
            else
            {
                docs = IndexWalk.FromEnd(_hooks, "_id", Query.Descending)
                    .TakeWhile(d => !d["_id"].IsNumber || d["_id"].AsInt64 > query.AfterId)
                    .Select(d => CheckedHook(d)).ToList();
                CheckHookRead(docs, query.AfterId);

                // The walk from the newest end: its oldest record must be the first after the position (one guarded descent).
                if (docs.Count > 0 && IndexWalk.Next(_hooks, "_id", query.AfterId, FilePath) is { } first
                    && first["_id"].AsInt64 < docs.Min(d => d["_id"].AsInt64))
                {
                    throw new StateStoreCorruptedException(FilePath, HookCountMismatch);
                }
            }

            return docs
                .Select(ToHookRecord)
                .Where(r => r.Id > query.AfterId
                            && (query.HookId is null || r.HookId == query.HookId)
                            && (query.Scope is null || r.Scope == query.Scope)
                            && (query.Key is null || r.Key == query.Key))
                .OrderBy(r => r.Id)
                .Take(query.Limit)
                .ToArray();
        },
            applyPending: false)); // the hook history is its own collection
    }

    /// <inheritdoc />
    public ValueTask<long> PruneHookExecutionsAsync(DateTimeOffset? olderThan, int? keepNewest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return RunDurable(() =>
        {
            // "u" has no index: the whole history (the guarded walk), filtered; the walk also gives the correlation chains'
            // links, which the prune keeps exact.
            List<PrunedHook> records = olderThan is null && keepNewest is null ? []
                : IndexWalk.FromEnd(_hooks, "_id", Query.Ascending).Select(d => ToPrunedHook(CheckedHook(d))).ToList();
            var remove = new HashSet<long>();
            if (olderThan is DateTimeOffset limit)
            {
                remove.UnionWith(records.Where(r => r.Ticks < limit.UtcTicks).Select(r => r.Id));
            }

            if (keepNewest is int keep)
            {
                remove.UnionWith(records.Select(r => r.Id).OrderByDescending(i => i).Skip(Math.Max(0, keep)));
            }

            InTransaction(() =>
            {
                int removed = 0;
                foreach (long id in remove)
                {
                    removed += _hooks.Delete(id) ? 1 : 0;
                }

                RelinkPrunedHooks(records, remove);
                CountPrunedHooks(removed);
            });
            return (long)remove.Count;
        },
            applyPending: false);
    }

    /// <summary>
    /// Checks every operation against the stored versions, then applies them and their change records in one LiteDB
    /// transaction (begun and committed on this thread, under the lock: never across an <c>await</c>).
    /// </summary>
    private StateOperationResult[] Apply(IReadOnlyList<StateOperation> operations)
    {
        bool behind = WritesBehind;
        if (_pendingValues.Count > 0 && (!behind || PendingFull))
        {
            // Before this commit's checks: should it fail, nothing of the commit was done. A commit made directly (not
            // writing behind) moves meta.S past every record before it: the overlay must be in LiteDB first.
            ApplyPending();
        }

        var view = new Dictionary<string, (long Version, long Sequence, BsonDocument? Doc, bool Loaded, string? Type, int SchemaVersion)>(StringComparer.Ordinal);
        (long Version, long Sequence, BsonDocument? Doc, bool Loaded, string? Type, int SchemaVersion) Current(string id, bool needDocument)
        {
            if (view.TryGetValue(id, out var v) && (v.Loaded || !needDocument))
            {
                return v;
            }

            if (!needDocument && _versions.TryGetValue(id, out var cached))
            {
                return (cached.Version, cached.Sequence, null, false, cached.Type, cached.SchemaVersion);
            }

            if (TryGetPending(id, out PendingValue pending))
            {
                // Written behind: LiteDB does not hold it yet.
                return pending.Entry is not { } entry
                    ? (0, pending.Sequence, null, true, null, 0)
                    : (entry.Version, pending.Sequence, ToDocument(id, entry, pending.Payload!, pending.Sequence, payloadInLog: false), true, entry.TypeName, entry.SchemaVersion);
            }

            BsonDocument? doc = CheckedEntry(_state.FindById(id));
            return doc is null
                ? (0, SequenceOfMissing(id), null, true, null, 0)
                : (doc["v"].AsInt64, SequenceOf(doc), doc, true, doc["t"].AsString, doc["sv"].AsInt32);
        }

        DateTimeOffset now = _time.GetUtcNow();
        var results = new StateOperationResult[operations.Count];
        var staged = new (string Id, StoredEntry? After, byte[]? Payload, long Before, long BeforeSequence, BsonDocument? BeforeDoc)[operations.Count];
        var beforeTypes = new (string? Type, int SchemaVersion)[operations.Count];
        for (int i = 0; i < operations.Count; i++)
        {
            StateOperation op = operations[i];
            string id = Id(op.Scope, op.Key);

            // A delete and a previous-value request need the stored document (the log records the type deleted).
            var before = Current(id, op.ReturnPrevious || (op is StateDelete && RecordsChanges));
            StoreRules.CheckExpectedVersion(op, before.Version == 0 ? null : before.Version);
            if (RecordsChanges && !_segmented && (op is StateWrite || before.Version != 0))
            {
                CheckIndexable(op);
            }

            beforeTypes[i] = (before.Type, before.SchemaVersion);
            if (op is StateWrite w)
            {
                byte[] payload = w.Payload.ToArray();
                var after = new StoredEntry(w.Scope, w.Key, w.TypeName, w.SchemaVersion, before.Version + 1, now, payload);
                staged[i] = (id, after, payload, before.Version, before.Sequence, before.Doc);
                view[id] = (after.Version, before.Sequence, ToDocument(id, after, payload, 0, payloadInLog: false), true, after.TypeName, after.SchemaVersion);
            }
            else
            {
                staged[i] = (id, null, null, before.Version, before.Sequence, before.Doc);
                view[id] = (0, before.Sequence, null, true, null, 0);
            }
        }

        bool markUnlogged = false;
        if (behind)
        {
            CommitBehind(operations, staged, beforeTypes, results, now);
        }
        else
        {
            InTransaction(() =>
            {
                Dictionary<string, long>? counted = null;
                Dictionary<string, long>? correlationNewest = null; // collection layout: each correlation id's newest record
                long sequence = _sequence;
                for (int i = 0; i < staged.Length; i++)
                {
                    StateOperation op = operations[i];
                    var (id, after, payload, beforeVersion, beforeSequence, beforeDoc) = staged[i];
                    long changeSequence = 0;
                    if (RecordsChanges && (after is not null || beforeVersion != 0))
                    {
                        changeSequence = ++sequence;
                        if (_log is not null)
                        {
                            // Appended before the commit (which carries the sequence in meta): recovery cuts the records of a
                            // commit that never happened. A failed append cut its own bytes; the rollback below cuts the rest.
                            AppendToLog(SegmentRecord(changeSequence, op, after, payload, beforeVersion, beforeSequence, beforeTypes[i], now));
                            beforeSequence = changeSequence;
                        }
                        else
                        {
                        _changes.Insert(ChangeDocument(
                            changeSequence,
                            id,
                            op.Scope,
                            op.Key,
                            after is null ? StateChangeKind.Delete : StateChangeKind.Write,
                            after?.TypeName ?? beforeDoc?["t"].AsString ?? string.Empty,
                            after?.SchemaVersion ?? beforeDoc?["sv"].AsInt32 ?? 0,
                            after?.Version ?? beforeVersion,
                            now.UtcTicks,
                            payload ?? Array.Empty<byte>(),
                            beforeSequence,
                            op.CorrelationId,
                            op.Origin,
                            op.CorrelationId is { } correlationId ? ChangeCorrelationLink(correlationId, changeSequence, ref correlationNewest) : null));
                        beforeSequence = changeSequence;
                        }
                    }

                    if (after is null)
                    {
                        if (beforeVersion != 0)
                        {
                            if (_state.Delete(id))
                            {
                                Tally(ref counted, op.Scope, -1);
                            }

                            if (!_segmented && changeSequence != 0)
                            {
                                WriteKeyDeleted(id, changeSequence); // the deleted key's history ends here (KeyHistory.cs)
                            }

                            if (!RecordsChanges && !_unloggedDeletes)
                            {
                                // The change log no longer tells which keys exist: a later reader must not take its last
                                // write for a current value that went missing.
                                _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = UnloggedDeletesId, ["v"] = true }));
                                markUnlogged = true;
                            }
                        }
                    }
                    else
                    {
                        // With the change log on, the document lives once: in its change record, which the entry points to. In a
                        // segmented file the entry holds it, and the record in the segment log a copy.
                        if (_state.Upsert(DocumentIntegrity.Seal(ToDocument(id, after, payload!, beforeSequence, payloadInLog: changeSequence != 0 && !_segmented))))
                        {
                            Tally(ref counted, op.Scope, +1); // a created key; an update leaves the count alone
                            if (!_segmented)
                            {
                                WriteKeyDeleted(id, 0); // written again: no longer deleted (one lookup)
                            }
                        }
                    }

                    // Later operations on the same key chain from this one.
                    for (int j = i + 1; j < staged.Length; j++)
                    {
                        if (string.Equals(staged[j].Id, id, StringComparison.Ordinal))
                        {
                            staged[j].BeforeSequence = beforeSequence;
                        }
                    }

                    results[i] = new StateOperationResult(after, beforeVersion != 0, op.ReturnPrevious ? ToEntry(beforeDoc) : null, changeSequence, now);
                }

                AddCounts(counted); // in the same transaction: a failed commit changes no count
                foreach ((string correlationId, long newest) in correlationNewest ?? [])
                {
                    WriteChangeCorrelationNewest(correlationId, newest);
                }

                if (_log is not null && sequence != _sequence)
                {
                    _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = SequenceId, ["v"] = sequence }));
                }

                _sequence = sequence;
            }, rolledBack: _log is null ? null : DiscardUncommitted);
            _appliedSequence = _sequence; // LiteDB holds every commit (the overlay was applied before this one)
        }

        // Only once committed: the cache must not run ahead of the file.
        _unloggedDeletes |= markUnlogged;
        for (int i = 0; i < staged.Length; i++)
        {
            StoredEntry? after = staged[i].After;
            _versions[staged[i].Id] = (after?.Version ?? 0, results[i].ChangeSequence != 0 ? results[i].ChangeSequence : staged[i].BeforeSequence, after?.TypeName, after?.SchemaVersion ?? 0);
            if (_typeCounts is not null)
            {
                if (staged[i].Before != 0)
                {
                    if (beforeTypes[i].Type is { } type)
                    {
                        CountType(type, beforeTypes[i].SchemaVersion, -1);
                    }
                    else
                    {
                        ForgetTypeCounts();
                        continue;
                    }
                }

                if (after is not null)
                {
                    CountType(after.TypeName, after.SchemaVersion, +1);
                }
            }
        }

        return results;
    }

    /// <summary>
    /// The change log's collection indexes each record's correlation id (with its sequence, <see cref="IndexValue"/>), and
    /// LiteDB refuses an index key over 1,023 bytes with a <see cref="LiteException"/> that the store would take for
    /// damage. A correlation id that long is refused before the batch's transaction begins, as a
    /// <see cref="StateStoreException"/>: nothing is made and the store goes on. Origins are not indexed.
    /// </summary>
    private static void CheckIndexable(StateOperation op)
    {
        int limit = MaxIndexedPrefixBytes;
        if (op.CorrelationId is { } correlationId && System.Text.Encoding.UTF8.GetByteCount(correlationId) is var bytes && bytes > limit)
        {
            throw new StateStoreException($"The change to '{op.Scope}'/'{op.Key}' cannot be recorded in the change log, so it was not made: its correlation id is {bytes} UTF-8 bytes, over the {limit} the change log's index holds.");
        }
    }

    // LiteDB 5 (IndexNode.GetKeyLength): an index key is a type byte, a length byte and the string's UTF-8, at most 1,023 bytes.
    private const int MaxIndexedStringBytes = 1023 - 2;

    /// <summary>The most UTF-8 bytes of a string indexed with a separator and the 19-digit sequence after it (<see cref="IndexValue"/>).</summary>
    private static readonly int MaxIndexedPrefixBytes = MaxIndexedStringBytes - IndexValue(string.Empty, 0).Length;

    /// <summary>
    /// The most UTF-8 bytes of a scope and key together: the id (scope, separator, key) is an index key of the current
    /// values, and in the change log's key index it is followed by a separator and the 19-digit sequence.
    /// </summary>
    internal static readonly int MaxIdBytes = MaxIndexedPrefixBytes;

    /// <summary>
    /// Refuses, before it reaches the writer, a write whose scope and key this store cannot hold: missing, with a control
    /// character (the id joins them with one, so "a" + "b\u001Fc" and "a\u001Fb" + "c" would be one record), not valid
    /// UTF-16, or together longer than LiteDB's index keys (<see cref="MaxIdBytes"/>), which LiteDB would refuse inside
    /// the transaction with an error the store cannot tell from damage. The <see cref="StateManager"/>'s keys and scopes
    /// always pass (<see cref="StateKeys"/>); this guards direct callers of the store. A delete or read of such a key
    /// needs no check: no record can have it.
    /// </summary>
    /// <exception cref="InvalidStateKeyException">The scope or key is not storable.</exception>
    private static void CheckStorableKey(StateOperation op)
    {
        if (op is not StateWrite)
        {
            return;
        }

        CheckPart(op.Scope, "scope");
        CheckPart(op.Key, "key");

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(op.Scope) + 1 + StrictUtf8.GetByteCount(op.Key);
        }
        catch (System.Text.EncoderFallbackException)
        {
            throw new InvalidStateKeyException("key", "the scope or key is not valid UTF-16 (a lone surrogate).");
        }

        if (bytes > MaxIdBytes)
        {
            throw new InvalidStateKeyException("key", $"the scope and key are {bytes} UTF-8 bytes together, over the {MaxIdBytes} this store's indexes hold.");
        }
    }

    private static void CheckPart(string? part, string name)
    {
        if (string.IsNullOrEmpty(part))
        {
            throw new InvalidStateKeyException(name, $"the {name} is missing.");
        }

        foreach (char c in part)
        {
            if (char.IsControl(c))
            {
                throw new InvalidStateKeyException(name, $"the {name} holds the control character U+{(int)c:X4}.");
            }
        }
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The segment log's record of <paramref name="op"/> (a write of <paramref name="after"/>, or a delete).</summary>
    private StateChangeRecord SegmentRecord(long sequence, StateOperation op, StoredEntry? after, byte[]? payload, long beforeVersion, long beforeSequence, (string? Type, int SchemaVersion) before, DateTimeOffset now)
        => new(
            sequence,
            op.Scope,
            op.Key,
            after is null ? StateChangeKind.Delete : StateChangeKind.Write,
            after?.TypeName ?? before.Type ?? string.Empty,
            after?.SchemaVersion ?? before.SchemaVersion,
            after?.Version ?? beforeVersion,
            now,
            payload ?? Array.Empty<byte>(),
            // A value whose own record was lost in a gap chains on from the key's newest surviving one.
            _log!.IsLost(beforeSequence) ? _log.HeadOf(op.Scope, op.Key) : beforeSequence,
            op.CorrelationId,
            op.Origin);

    /// <summary>
    /// Appends a change record to the segment log. A field the log cannot hold (a correlation id or origin over 1 KiB,
    /// a string that is not valid UTF-16) is refused before anything is written; it becomes a
    /// <see cref="StateStoreException"/>, so the commit is rolled back without the store taking it for damage.
    /// </summary>
    private void AppendToLog(StateChangeRecord record, bool endsCommit = false)
    {
        try
        {
            _log!.Append(record, endsCommit);
        }
        catch (ArgumentException ex)
        {
            throw new StateStoreException($"The change to '{record.Scope}'/'{record.Key}' cannot be recorded in the change log, so it was not made: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// After a rolled-back commit in a segmented file: cuts the records appended for it. Should the cut fail, the store
    /// reopens the file and its log (whose recovery cuts them) before the next operation.
    /// </summary>
    private void DiscardUncommitted()
    {
        try
        {
            _log!.DiscardAfter(_sequence);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The commit's own error is the one reported.
            _reopenPending = true;
        }
    }

    /// <param name="action">The transaction's work.</param>
    /// <param name="rolledBack">
    /// Called when <paramref name="action"/> failed and the transaction was rolled back (not when the commit itself failed:
    /// then whether it happened is known only after a reopen).
    /// </param>
    private void InTransaction(Action action, Action? rolledBack = null)
    {
        if (!_db.BeginTrans())
        {
            throw new InvalidOperationException("A LiteDB transaction is already open on this thread.");
        }

        bool acted = false;
        _commitAttempted = false;
        try
        {
            action();
            acted = true;
            _commitAttempted = true;
            _db.Commit();
        }
        catch
        {
            try
            {
                _db.Rollback();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The original error is the one to report.
            }

            if (!acted)
            {
                rolledBack?.Invoke();
            }

            throw;
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(
            () => TryGetPending(Id(scope, key), out PendingValue pending) ? pending.Entry is not null : _state.Exists(BsonExpression.Create("_id = @0", Id(scope, key))),
            applyPending: false));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run<IReadOnlyList<string>>(() => CountedScopeKeys(scope)));
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            // A backup copying the data file finishes first: the closing checkpoint writes to that file.
            while (_fileCopies > 0)
            {
                Monitor.Wait(_gate);
            }

            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _flushTimer?.Dispose();

            // After a failed write or flush the close cannot be trusted to finish: the log keeps every committed change
            // and the next open replays it.
            bool broken = _faulted || _reopenPending || _logFile!.SyncFailed || _dataFile.SyncFailed || _barrier.Failed;
            try
            {
                // LiteDB checkpoints on close: it copies the log into the data file, flushes that, and empties the log.
                if (broken)
                {
                    RetireEngine(_db);
                }
                else
                {
                    // A segment change log reaches the disk before the data file holds the commits its records belong to.
                    try
                    {
                        lock (_logSwap)
                        {
                            _log?.Flush();
                        }

                        // What was written behind goes into the data file (else the next open replays it from the log).
                        ApplyPending();
                    }
                    catch (StateStoreException)
                    {
                        // As after a failed fsync of LiteDB's files: the next open recovers from what is on the disk.
                        broken = true;
                        RetireEngine(_db);
                        throw;
                    }

                    _db.Dispose();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                broken = true;
                RetireEngine(_db);
                throw new StateStoreException($"The state database '{FilePath}' was closed, but its final checkpoint failed: {ex.GetType().Name}. Every committed change is in its log; the next open replays it.", ex);
            }
            catch (Exception ex) when (ex is not StateGenException and not OutOfMemoryException)
            {
                // A damaged page met by the closing checkpoint.
                broken = true;
                RetireEngine(_db);
                RestoreInvalidStateFlag();
                throw Corrupted(FilePath, "the closing checkpoint met a damaged page", ex);
            }
            finally
            {
                try
                {
                    // Whatever a relaxed store (or a failed close) left unflushed goes to the disk before the files close.
                    if (!broken)
                    {
                        _barrier.Close(SyncFiles);
                    }
                }
                finally
                {
                    CloseFiles();
                    OpenFiles.TryRemove(FilePath, out _);
                }
            }
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    private static string Id(string scope, string key) => scope + Separator + key;

    /// <summary>
    /// The last change of a key that has no document (never written, or deleted): from the change log. If that change is
    /// a write, the document should be there: the index that lost it is damaged (LiteDB pages have no checksums).
    /// </summary>
    private long SequenceOfMissing(string id)
    {
        if (!RecordsChanges)
        {
            return 0;
        }

        if (_log is not null)
        {
            int split = id.IndexOf(Separator, StringComparison.Ordinal);
            (long sequence, bool isDelete) = _log.LastChangeOf(id[..split], id[(split + 1)..]);
            if (sequence != 0 && !isDelete && !_unloggedDeletes && !_log.HasGapAfter(sequence))
            {
                throw new StateStoreCorruptedException(FilePath, "a current value's index entry is missing: its last change record is a write");
            }

            return sequence;
        }

        // A key deleted since the deleted keys' records: its delete is its newest record (even when a prune removed it).
        if (StoredKeyDeleted(id) is long deleted)
        {
            return deleted;
        }

        // LiteDB's prefix match ignores case: keep the records of this exact key.
        // The key's newest record is the last of its key-index range (the sequence is written with 19 digits): one guarded
        // step back from the first value after the range (the separator plus one, which no key-index value holds).
        StateChangeRecord? last = IndexWalk.Last(_changes, KeyIndex, id + (char)(IndexSeparator + 1), FilePath) is { } doc
            && CheckedChange(doc) is var change && string.Equals(Id(change.Scope, change.Key), id, StringComparison.Ordinal)
            ? change
            : null;
        if (last is { Kind: StateChangeKind.Write } && !_unloggedDeletes)
        {
            throw new StateStoreCorruptedException(FilePath, "a current value's index entry is missing: its last change record is a write");
        }

        return last?.Sequence ?? 0;
    }

    private const string UnloggedDeletesId = "unlogged-deletes";

    /// <summary>The <c>meta</c> record of <see cref="_lostBefore"/>.</summary>
    private const string LostBeforeId = "lostBefore";

    /// <summary>The <c>meta</c> record of the newest change sequence (kept by prunes; in a segmented file, by every logged commit).</summary>
    private const string SequenceId = "sequence";

    /// <summary>A change record, checked: its checksum, and its id against the key index value that repeats it.</summary>
    private StateChangeRecord CheckedChange(BsonDocument doc)
    {
        StateChangeRecord change = ToChange(Checked(doc, ChangesCollectionName));
        if (!doc[KeyIndex].IsString || !string.Equals(doc[KeyIndex].AsString, IndexValue(Id(change.Scope, change.Key), change.Sequence), StringComparison.Ordinal))
        {
            throw new StateStoreCorruptedException(FilePath, "a change record's id does not match its key");
        }

        return change;
    }

    /// <summary>
    /// Checks a current-value document: its checksum, and that its id is the scope and key it holds (an id LiteDB found
    /// through a damaged index could lead to another document).
    /// </summary>
    private BsonDocument? CheckedEntry(BsonDocument? doc)
    {
        if (doc is null)
        {
            return null;
        }

        Checked(doc, CollectionName);
        if (!doc["_id"].IsString || !doc["s"].IsString || !doc["k"].IsString
            || !string.Equals(doc["_id"].AsString, Id(doc["s"].AsString, doc["k"].AsString), StringComparison.Ordinal))
        {
            throw new StateStoreCorruptedException(FilePath, "a current value's id does not match its scope and key");
        }

        if (SequenceOf(doc) > _sequence && !_salvaging)
        {
            // Every change record is committed with its entry: the change log lost records the entries still point to.
            throw new StateStoreCorruptedException(FilePath, "a current value points past the newest change record: the change log is damaged");
        }

        if (_log is not null && !_salvaging && SequenceOf(doc) is long cs and > 0 && cs < _log.FirstSequence && cs > _lostBefore && !_log.IsLost(cs))
        {
            // Retention never deletes a segment holding a current value's record (nor one before a gap it may have lost).
            throw new StateStoreCorruptedException(FilePath, "a current value's change record is missing: the oldest segments of the change log were deleted");
        }

        if (_log is not null && !_salvaging && _log.HeadOf(doc["s"].AsString, doc["k"].AsString) > SequenceOf(doc))
        {
            // A value is written with its record (or, unlogged, keeps its key's newest one): a newer record of its key in
            // the segments means LiteDB read back a mix of commits (a damaged log page from an older one).
            throw new StateStoreCorruptedException(FilePath, "a current value is older than its key's newest change record: the database file or its log is damaged");
        }

        return doc;
    }

    private const string KeyIndex = "ski";

    /// <summary>The largest page of a change-log read taken by steps (<see cref="IndexWalk.Ascending"/>); a larger one reads from the newest end.</summary>
    private const int ShortPage = 4096;
    private const string ScopeIndex = "si";
    private const string CorrelationIndex = "ci";
    private const char IndexSeparator = '\u001E'; // scopes, keys and correlation ids hold no control characters

    private static string IndexPrefix(string value) => value + IndexSeparator;

    private static string IndexValue(string value, long sequence) => value + IndexSeparator + sequence.ToString("D19", CultureInfo.InvariantCulture);

    private static long SequenceOf(BsonDocument doc) => doc.TryGetValue("cs", out BsonValue value) && value.IsNumber ? value.AsInt64 : 0;

    private static StateChangeRecord ToChange(BsonDocument d) => new(
        d["_id"].AsInt64,
        d["s"].AsString,
        d["k"].AsString,
        (StateChangeKind)d["x"].AsInt32,
        d["t"].AsString,
        d["sv"].AsInt32,
        d["v"].AsInt64,
        new DateTimeOffset(d["u"].AsInt64, TimeSpan.Zero),
        d["p"].AsBinary,
        d["ps"].AsInt64,
        d["c"].IsNull ? null : d["c"].AsString,
        d["o"].IsNull ? null : d["o"].AsString);

    /// <summary>
    /// The stored form of an entry. With the change log on, the payload is not repeated here: it is in the change record
    /// <c>cs</c> points to (pruning never removes a record an entry points to), so a write stores its document once.
    /// </summary>
    /// <summary>A change record as stored (sealed with its checksum): the one layout every writer of the change log uses.</summary>
    /// <remarks>
    /// <paramref name="correlationLink"/>: the previous record of the correlation id (<c>pc</c>, LiteDbStateStore.ChangeChains.cs),
    /// for a record with one written by a commit; null otherwise (a restore's records carry none).
    /// </remarks>
    private static BsonDocument ChangeDocument(long sequence, string id, string scope, string key, StateChangeKind kind, string typeName, int schemaVersion, long version, long ticks, byte[] payload, long previousSequence, string? correlationId, string? origin, long? correlationLink = null)
    {
        var doc = new BsonDocument
        {
            ["_id"] = sequence,
            [KeyIndex] = IndexValue(id, sequence),
            [CorrelationIndex] = correlationId is null ? BsonValue.Null : IndexValue(correlationId, sequence),
            ["s"] = scope,
            ["k"] = key,
            ["x"] = (int)kind,
            ["t"] = typeName,
            ["sv"] = schemaVersion,
            ["v"] = version,
            ["u"] = ticks,
            ["p"] = payload,
            ["ps"] = previousSequence,
            ["c"] = correlationId is null ? BsonValue.Null : correlationId,
            ["o"] = origin is null ? BsonValue.Null : origin,
        };
        if (correlationLink is long link)
        {
            doc[PreviousInCorrelation] = link;
        }

        return DocumentIntegrity.Seal(doc);
    }

    private static BsonDocument ToDocument(string id, StoredEntry entry, byte[] payload, long changeSequence, bool payloadInLog)
    {
        var doc = new BsonDocument
        {
            ["_id"] = id,
            ["s"] = entry.Scope,
            ["k"] = entry.Key,
            ["t"] = entry.TypeName,
            ["sv"] = entry.SchemaVersion,
            ["v"] = entry.Version,
            ["u"] = entry.UpdatedAt.UtcTicks,
            ["cs"] = changeSequence,
        };
        if (!payloadInLog)
        {
            doc["p"] = payload;
        }

        return doc;
    }

    private StoredEntry? ToEntry(BsonDocument? doc)
    {
        if (doc is null)
        {
            return null;
        }

        byte[] payload;
        if (doc.TryGetValue("p", out BsonValue inline))
        {
            payload = inline.AsBinary;
        }
        else if (_segmented)
        {
            throw new StateStoreCorruptedException(FilePath, "a current value has no payload");
        }
        else
        {
            // The entry points at its change record; a missing or different one means the file was damaged or edited.
            BsonDocument change = _changes.FindById(SequenceOf(doc)) is { } found
                ? Checked(found, ChangesCollectionName)
                : throw new StateStoreCorruptedException(FilePath, "a current value's change record is missing");
            if (!change["p"].IsBinary || change["v"] != doc["v"] || change["s"] != doc["s"] || change["k"] != doc["k"])
            {
                throw new StateStoreCorruptedException(FilePath, "a current value's change record is another change");
            }

            payload = change["p"].AsBinary;
        }

        return EntryOf(doc, payload);
    }

    /// <summary>The entry a current-value document holds, with its payload (inline, or from its change record).</summary>
    private static StoredEntry EntryOf(BsonDocument doc, byte[] payload) => new(
        doc["s"].AsString,
        doc["k"].AsString,
        doc["t"].AsString,
        doc["sv"].AsInt32,
        doc["v"].AsInt64,
        new DateTimeOffset(doc["u"].AsInt64, TimeSpan.Zero),
        payload);

    /// <summary>Refuses a change after a failed flush (under the lock, before the change).</summary>
    private void ThrowIfFlushFailed()
    {
        if (_barrier.Failed)
        {
            // A failed fsync leaves nothing written since the last good one trustworthy; refuse further changes.
            _barrier.WaitAsync(long.MaxValue).AsTask().GetAwaiter().GetResult();
        }

        if (_logFile!.SyncFailed || _dataFile.SyncFailed)
        {
            // The same for a flush LiteDB asked for itself (in a checkpoint).
            throw new StateStoreException($"The state database '{FilePath}' could not be flushed to the disk; it takes no further changes until it is reopened.");
        }
    }

    /// <summary>
    /// Runs a change under the lock (committed to the OS cache), then, for a durable store, waits outside the lock until
    /// a flush covers it (group commit). No LiteDB transaction is open while waiting.
    /// </summary>
    /// <param name="action">The change.</param>
    /// <param name="applyPending">Whether values written behind are applied to LiteDB first (see <see cref="Run{T}"/>).</param>
    private ValueTask<T> RunDurable<T>(Func<T> action, bool applyPending = true)
    {
        long sequence = 0;
        T result = Run(
            () =>
            {
                ThrowIfFlushFailed();
                T value = action();
                sequence = _barrier.Committed();
                return value;
            },
            applyPending);
        if (Durability == StateDurability.Relaxed)
        {
            return new(result);
        }

        ValueTask durable = _barrier.WaitAsync(sequence);
        return durable.IsCompletedSuccessfully ? new(result) : AwaitDurable(durable, result);
    }

    private static async ValueTask<T> AwaitDurable<T>(ValueTask durable, T result)
    {
        await durable.ConfigureAwait(false);
        return result;
    }

    /// <param name="action">The operation, under the store's lock.</param>
    /// <param name="applyPending">
    /// Whether values written behind (<see cref="ApplyPending"/>) go into LiteDB before <paramref name="action"/>, so that it
    /// can read LiteDB alone. Only point reads, commits and the change and hook logs (which never read LiteDB's documents
    /// for a key without looking in the overlay) pass <see langword="false"/>.
    /// </param>
    private T Run<T>(Func<T> action, bool applyPending = true)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_faulted)
            {
                throw new StateStoreCorruptedException(FilePath, "an earlier operation found the file damaged; the store was closed");
            }

            try
            {
                if (_reopenPending)
                {
                    Reopen();
                }

                if (applyPending)
                {
                    ApplyPending();
                }

                return action();
            }
            catch (Exception ex) when (ex is not StateGenException and not OutOfMemoryException and not OperationCanceledException
                && !(ex is ObjectDisposedException && _disposed))
            {
                // LiteDB reports damaged pages as LiteException, IndexOutOfRange, InvalidCast, NotImplemented, ...
                // (A cancellation, such as a prune's while it waits for a backup, is not damage: it passes. Nor is the
                // store being closed while such a wait released its lock.)
                if (ex is IOException or UnauthorizedAccessException)
                {
                    // A failed write (a full disk, a device error) left no part of its transaction committed, but LiteDB's
                    // in-memory pages may not match the files any more: it is reopened before the next operation.
                    _reopenPending = true;
                    throw new StateStoreException($"The state database '{FilePath}' failed: {ex.GetType().Name}. It was committed wholly or not at all (a failure in the checkpoint that can follow a commit leaves the commit in place).", ex);
                }

                CloseDamaged();
                throw Corrupted(FilePath, null, ex);
            }
            catch (OutOfMemoryException oom)
            {
                // A damaged length in a document, or memory that really ran out: the file tells (LiteDbStateStore.Lengths.cs).
                if (DamagedLengthFailure() is not { } failure)
                {
                    throw;
                }

                CloseDamaged();
                throw new StateStoreCorruptedException(FilePath, failure, oom);
            }
        }
    }

    /// <summary>After an operation met damage: LiteDB's engine and the files are closed, and the store refuses further use.</summary>
    private void CloseDamaged()
    {
        // LiteDB closes a file it found damaged and marks it; close ours, undo the mark, refuse further use.
        _faulted = true;
        RetireEngine(_db);
        RestoreInvalidStateFlag();

        // Release the file now, as LiteDB did when it closed it: it can be moved aside or restored at once.
        _barrier.WaitIdle();
        CloseFiles();
    }
}
