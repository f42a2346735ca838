using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiteDB;
using LiteDB.Engine;
using StateGen.Storage.ChangeLog;

namespace StateGen.Storage.LiteDb;

/// <summary>What <see cref="LiteDbStateStore.Salvage(string)"/> read out of a damaged file.</summary>
/// <param name="FilePath">The database file.</param>
/// <param name="Entries">Current values whose documents (and change records) passed every check, in scope-then-key order.</param>
/// <param name="Recovered">
/// For keys whose current document could not be read, or is missing though the change log's newest intact record of the
/// key is a write: the newest intact write in the change log (the <c>changes</c> collection, or in a segmented file the
/// segment files), which may be older than the value that was lost (compare <see cref="StoredEntry.Version"/>).
/// </param>
/// <param name="Failures">What could not be read, one line each (never stored bytes).</param>
/// <param name="Verified">
/// Whether the file carries checksums on every document (created by a StateGen version with them); if not, documents
/// without one were taken as read.
/// </param>
public sealed record LiteDbSalvageResult(
    string FilePath,
    IReadOnlyList<StoredEntry> Entries,
    IReadOnlyList<StoredEntry> Recovered,
    IReadOnlyList<string> Failures,
    bool Verified);

public sealed partial class LiteDbStateStore
{
    // A salvage walk of the change log stops after this many sequences in a row that are not there.
    private const int SalvageGap = 1000;

    // Salvage only: the test hook's file system that holds the segments (null: the real one).
    private readonly SegmentFileSystem? _salvageSegmentFiles;

    /// <summary>
    /// Reads whatever is intact out of a damaged database, read-only: the data file and its log are opened for reading
    /// only, nothing is written (no checkpoint, no flag, never LiteDB's rebuild), and each document is checked as a normal
    /// read checks it. Keys are found through the primary index (from both ends) and the change log; a document that
    /// fails is reported and skipped, and LiteDB is reopened when it gave up after an error.
    /// <para>
    /// A file whose change log is in segment files (<c>name.ext.changes/</c>) has them read the same way: every intact
    /// record of every segment, damaged bytes skipped and reported, nothing cut, created or written, the files opened
    /// with sharing that lets a running store go on writing. Records after the newest sequence the database holds are
    /// commits written behind when a commit-end record ends them (their values are returned, as an open replays them),
    /// else appended for a commit that never happened (left out). A missing folder or damaged segment is a line in
    /// <see cref="LiteDbSalvageResult.Failures"/>, never an exception.
    /// </para>
    /// </summary>
    /// <param name="path">The database file (its log, <c>name-log.ext</c>, is read too if present).</param>
    /// <exception cref="StateStoreCorruptedException">The file is not a LiteDB v5 database, or LiteDB cannot open it at all.</exception>
    public static LiteDbSalvageResult Salvage(string path) => Salvage(path, null);

    /// <summary>Salvage over the test hook's files (wrapped read-only), or the real files.</summary>
    internal static LiteDbSalvageResult Salvage(string path, Func<string, StoreFile>? open)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = open is null ? System.IO.Path.GetFullPath(path) : path;
        if (open is null && !File.Exists(full))
        {
            throw new FileNotFoundException("The state database does not exist.", full);
        }

        _ = CheckHeader(full, open);
        StoreFile data = new ReadOnlyStoreFile(full, open) { CheckPageIds = true };
        StoreFile log = new ReadOnlyStoreFile(LogPath(full), open);
        var salvage = new LiteDbStateStore(full, data, log);
        try
        {
            return salvage.ReadIntact();
        }
        finally
        {
            RetireEngine(salvage._db);
            data.Release();
            log.Release();
        }
    }

    /// <summary>A store object for salvage only: read-only files, no writer, never registered as the file's store.</summary>
    private LiteDbStateStore(string path, StoreFile data, StoreFile log)
    {
        FilePath = path;
        _time = TimeProvider.System;
        _dataFile = data;
        _logFile = log;
        _barrier = new DurabilityBarrier(static () => { });
        _salvageSegmentFiles = (data as ReadOnlyStoreFile)?.InnerFileSystem;
        RecordsChanges = true;
        Durability = StateDurability.Relaxed;
        try
        {
            OpenReadOnlyEngine();
        }
        catch (Exception ex) when (ex is not StateGenException and not OutOfMemoryException)
        {
            throw Corrupted(path, null, ex);
        }
        catch (OutOfMemoryException oom)
        {
            // A damaged length in a document, or memory that really ran out (LiteDbStateStore.Lengths.cs).
            if (DamagedLengthFailure() is not { } failure)
            {
                throw;
            }

            throw new StateStoreCorruptedException(path, failure, oom);
        }
    }

    private void OpenReadOnlyEngine()
    {
        RetireEngine(_db);
        _salvaging = true;
        _db = new LiteDatabase(new LiteEngine(new EngineSettings
        {
            DataStream = _dataFile,
            LogStream = _logFile,
            Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
            ReadOnly = true,
            AutoRebuild = false,
        }));
        _checksumsRequired = DocumentIntegrity.RequiresChecksums(_db.UserVersion);
        _segmented = DocumentIntegrity.IsSegmented(_db.UserVersion);
        _state = _db.GetCollection(CollectionName);
        _changes = _db.GetCollection(ChangesCollectionName, BsonAutoId.Int64);
        _hooks = _db.GetCollection(HooksCollectionName, BsonAutoId.Int64);
        _meta = _db.GetCollection(MetaCollectionName);
    }

    private LiteDbSalvageResult ReadIntact()
    {
        var failures = new List<string>();
        var ids = new SortedSet<string>(StringComparer.Ordinal);

        // Ids through the primary index, from the front and from the back: a damaged document stops a walk.
        foreach (int order in new[] { Query.Ascending, Query.Descending })
        {
            int found = 0;
            if (!TrySalvage(() =>
                {
                    foreach (BsonDocument doc in _state.Find(Query.All("_id", order)))
                    {
                        if (doc["_id"].IsString)
                        {
                            ids.Add(doc["_id"].AsString);
                            found++;
                        }
                    }
                }, out string? error))
            {
                failures.Add($"walking the current values {(order == Query.Ascending ? "forward" : "backward")} stopped after {found} at a damaged page or document ({error})");
            }
        }

        // The change log: every key it names, and each key's newest intact write.
        var newestWrite = new Dictionary<string, StateChangeRecord>(StringComparer.Ordinal);
        Func<string, StateChangeRecord, bool> deletedLast;
        bool historyLost = false;
        var writtenBehind = new Dictionary<string, StateChangeRecord?>(StringComparer.Ordinal);
        if (_segmented)
        {
            Dictionary<string, long> newestDelete = ReadSegmentHistory(ids, newestWrite, writtenBehind, failures, out historyLost);
            deletedLast = (id, write) => newestDelete.TryGetValue(id, out long delete) && delete > write.Sequence;
        }
        else
        {
            ReadCollectionHistory(ids, newestWrite, failures);
            deletedLast = IsDeletedLast;
        }

        var entries = new List<StoredEntry>();
        var recovered = new List<StoredEntry>();
        foreach (string id in ids)
        {
            if (writtenBehind.TryGetValue(id, out StateChangeRecord? behind))
            {
                // Its newest change was written behind: the log holds it, the database did not yet.
                if (behind is not null)
                {
                    entries.Add(FromChange(behind));
                }

                continue;
            }

            StoredEntry? entry = null;
            bool missing = false;
            if (TrySalvage(() =>
                {
                    BsonDocument? doc = CheckedEntry(_state.FindById(id));
                    missing = doc is null;
                    entry = ToEntry(doc);
                }, out string? error))
            {
                if (entry is not null)
                {
                    entries.Add(entry);
                }
                else if (missing && newestWrite.ContainsKey(id) && !deletedLast(id, newestWrite[id]))
                {
                    // A segment log that lost records may have lost the key's delete: said so, the value is returned still.
                    failures.Add($"{Describe(id)}: no current document, though the change log's last record is a write"
                        + (historyLost ? " (records of the change log were lost: its delete may be one of them)" : string.Empty));
                    recovered.Add(FromChange(newestWrite[id]));
                }

                continue;
            }

            failures.Add($"{Describe(id)}: {error}");
            if (newestWrite.TryGetValue(id, out StateChangeRecord? change))
            {
                recovered.Add(FromChange(change));
            }
        }

        return new LiteDbSalvageResult(FilePath, entries, recovered, failures, _checksumsRequired);
    }

    /// <summary>
    /// The <c>changes</c> collection: every key it names, and each key's newest intact write. Walked through its index
    /// from the front; where a damaged page stops the walk, sequence by sequence onward (until a long run of absent
    /// ones), then from the back. A damaged record is skipped; no bound comes from a value read off the file.
    /// </summary>
    private void ReadCollectionHistory(SortedSet<string> ids, Dictionary<string, StateChangeRecord> newestWrite, List<string> failures)
    {
        var seen = new HashSet<long>();
        int badRecords = 0;
        void Take(BsonDocument? doc)
        {
            if (doc is null || !doc["_id"].IsInt64 || !seen.Add(doc["_id"].AsInt64))
            {
                return;
            }

            StateChangeRecord change;
            try
            {
                change = CheckedChange(doc);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                badRecords++;
                return;
            }

            string id = Id(change.Scope, change.Key);
            ids.Add(id);
            if (change.Kind == StateChangeKind.Write && (!newestWrite.TryGetValue(id, out StateChangeRecord? known) || known.Sequence < change.Sequence))
            {
                newestWrite[id] = change;
            }
        }

        long front = 0;
        bool walked = TrySalvage(() =>
        {
            foreach (BsonDocument doc in _changes.Find(Query.All("_id", Query.Ascending)))
            {
                Take(doc);
                front = Math.Max(front, doc["_id"].IsInt64 ? doc["_id"].AsInt64 : front);
            }
        }, out _);
        if (!walked)
        {
            for (long sequence = front + 1, gap = 0; gap < SalvageGap; sequence++)
            {
                BsonDocument? doc = null;
                if (!TrySalvage(() => doc = _changes.FindById(sequence), out _))
                {
                    badRecords++;
                    gap = 0;
                    continue;
                }

                gap = doc is null ? gap + 1 : 0;
                Take(doc);
            }

            TrySalvage(() =>
            {
                foreach (BsonDocument doc in _changes.Find(Query.All("_id", Query.Descending)))
                {
                    Take(doc);
                }
            }, out _);
        }

        if (badRecords > 0)
        {
            failures.Add($"{badRecords} change record(s) could not be read");
        }
    }

    /// <summary>
    /// The folder of the segment change log salvage reads: <c>&lt;db&gt;.changes</c> and the suffix a restored file
    /// records in <c>meta</c> (as an open resolves it). When that record cannot be read, or holds no suffix a restore
    /// writes, the failure is listed and the folder without a suffix is read.
    /// </summary>
    private string SalvageLogFolder(List<string> failures)
    {
        string folder = SegmentLog.FolderFor(FilePath);
        string? suffix = null;
        bool valid = true;
        if (!TrySalvage(
                () =>
                {
                    if (_meta.FindById(LogFolderId) is { } named && Checked(named, MetaCollectionName)["v"] is var value)
                    {
                        valid = value.IsString && IsLogFolderSuffix(value.AsString);
                        suffix = valid ? value.AsString : null;
                    }
                },
                out string? error))
        {
            failures.Add($"the change log's folder suffix could not be read ({error}): '{folder}' is read");
        }
        else if (!valid)
        {
            failures.Add($"the change log's folder suffix is not one a restore writes: '{folder}' is read");
        }

        return folder + suffix;
    }

    /// <summary>
    /// The segment change log of a segmented file (<see cref="SegmentLogReader"/>, read-only): every key it names, each
    /// key's newest intact write into <paramref name="newestWrite"/>; returns each key's newest delete sequence (a delete
    /// record, or the tombstone of one). Records after the newest sequence the database committed are left out.
    /// <paramref name="historyLost"/>: whether the segments had damage, missing parts or gaps. Whole commits after that
    /// sequence (ended by a commit-end record) were written behind: each key's newest change among them goes into
    /// <paramref name="writtenBehind"/> (the record of a write, null for a delete).
    /// </summary>
    private Dictionary<string, long> ReadSegmentHistory(SortedSet<string> ids, Dictionary<string, StateChangeRecord> newestWrite, Dictionary<string, StateChangeRecord?> writtenBehind, List<string> failures, out bool historyLost)
    {
        // Records after `meta`'s sequence were appended for a commit that never happened (a normal open cuts them).
        long? committed = null;
        if (!TrySalvage(
                () =>
                {
                    BsonDocument? meta = _meta.FindById(SequenceId);
                    committed = meta is null ? null : Checked(meta, MetaCollectionName)["v"].AsInt64;
                },
                out string? error))
        {
            failures.Add($"the newest committed change sequence could not be read ({error}): every intact record of the change log is read");
        }

        var newestDelete = new Dictionary<string, long>(StringComparer.Ordinal);
        long records = 0;
        long uncommitted = 0;

        // Records after it that end in a commit-end record are commits written behind (the log decided them; LiteDB did
        // not hold them yet): they count. Those after the last commit end were appended for a commit that never happened.
        // A commit is returned whole or not at all: one with a record the reader skipped (damaged) is left out.
        var unended = new List<SegmentLogEntry>();
        long next = committed + 1 ?? 0;
        bool broken = false;
        long brokenRecords = 0;
        IReadOnlyList<string> logFailures = SegmentLogReader.Read(
            SalvageLogFolder(failures),
            entry =>
            {
                records++;
                if (entry.Sequence > committed)
                {
                    broken |= entry.Sequence != next;
                    next = entry.Sequence + 1;
                    unended.Add(entry);
                    if (entry.EndsCommit)
                    {
                        if (broken)
                        {
                            brokenRecords += unended.Count;
                        }
                        else
                        {
                            foreach (SegmentLogEntry decided in unended)
                            {
                                Visit(decided);
                                writtenBehind[Id(decided.Scope, decided.Key)] = decided.Kind == StateChangeKind.Delete ? null : decided.Record;
                            }
                        }

                        unended.Clear();
                        broken = false;
                    }

                    return;
                }

                Visit(entry);
            },
            _salvageSegmentFiles);
        uncommitted = unended.Count;
        if (brokenRecords > 0)
        {
            failures.Add($"{brokenRecords} change record(s) after sequence {committed} belong to commits written behind that lost a record to damage: left out (a commit is returned whole or not at all)");
        }

        void Visit(SegmentLogEntry entry)
        {
            string id = Id(entry.Scope, entry.Key);
            if (entry.Kind == StateChangeKind.Delete)
            {
                newestDelete[id] = Math.Max(entry.Sequence, newestDelete.GetValueOrDefault(id));
            }

            if (entry.Record is not { } record)
            {
                return; // a tombstone: its record was removed by retention
            }

            ids.Add(id);
            if (record.Kind == StateChangeKind.Write && (!newestWrite.TryGetValue(id, out StateChangeRecord? known) || known.Sequence < record.Sequence))
            {
                newestWrite[id] = record;
            }
        }

        failures.AddRange(logFailures);
        historyLost = logFailures.Count > 0;

        if (committed is null && error is null && records > 0)
        {
            failures.Add("the database holds no newest committed change sequence: every intact record of the change log is read");
        }

        if (uncommitted > 0)
        {
            failures.Add($"{uncommitted} change record(s) after sequence {committed}, the newest the database committed, were appended for a commit that never happened: left out");
        }

        return newestDelete;
    }

    // Whether the key's last intact record is a delete after its newest write (then no current value is expected).
    private bool IsDeletedLast(string id, StateChangeRecord newest)
    {
        bool deleted = false;
        string prefix = IndexPrefix(id);
        TrySalvage(() => deleted = IndexWalk.Ascending(_changes, KeyIndex, prefix, k => k.IsString && k.AsString.StartsWith(prefix, StringComparison.Ordinal), FilePath)
            .Select(d => ToChange(d))
            .Any(c => c.Kind == StateChangeKind.Delete && c.Sequence > newest.Sequence && string.Equals(Id(c.Scope, c.Key), id, StringComparison.Ordinal)), out _);
        return deleted;
    }

    private static StoredEntry FromChange(StateChangeRecord c)
        => new(c.Scope, c.Key, c.TypeName, c.SchemaVersion, c.Version, c.Timestamp, c.Payload);

    private static string Describe(string id)
    {
        int separator = id.IndexOf(Separator, StringComparison.Ordinal);
        return separator < 0 ? "a current value" : $"'{id[..separator]}' / '{id[(separator + 1)..]}'";
    }

    /// <summary>Runs one salvage read; on failure says what failed and reopens LiteDB if it closed itself.</summary>
    private bool TrySalvage(Action read, out string? error)
    {
        try
        {
            read();
            error = null;
            return true;
        }
        catch (StateStoreCorruptedException ex)
        {
            error = ex.Failure;
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            error = $"LiteDB failed reading it: {ex.GetType().Name}";
            ReopenAfterDamage();
            return false;
        }
        catch (OutOfMemoryException)
        {
            // A damaged length in a document, or memory that really ran out (LiteDbStateStore.Lengths.cs).
            error = DamagedLengthFailure();
            if (error is null)
            {
                throw;
            }

            ReopenAfterDamage();
            return false;
        }
    }

    /// <summary>Reopens LiteDB after a salvage read failed (it may have closed itself).</summary>
    private void ReopenAfterDamage()
    {
        try
        {
            OpenReadOnlyEngine();
        }
        catch (Exception reopen) when (reopen is not OutOfMemoryException)
        {
            throw Corrupted(FilePath, "LiteDB could not reopen the file after a damaged page", reopen);
        }
    }

    /// <summary>A file opened for reading only: every write or length change throws, so salvage cannot change it.</summary>
    private sealed class ReadOnlyStoreFile : StoreFile
    {
        private readonly FileStream? _file;
        private readonly StoreFile? _inner;

        public ReadOnlyStoreFile(string path, Func<string, StoreFile>? open)
        {
            Path = path;
            if (open is not null)
            {
                _inner = open(path);
            }
            else if (File.Exists(path))
            {
                _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, FileOptions.RandomAccess);
            }
        }

        public override string Path { get; }

        /// <summary>The test hook's file system the wrapped file lives in (then the segments are there too), else null.</summary>
        public SegmentFileSystem? InnerFileSystem => _inner?.FileSystem;

        public override long Length => _inner?.Length ?? (_file is null ? 0 : RandomAccess.GetLength(_file.SafeFileHandle));

        public override void Release()
        {
            _file?.Dispose();
            _inner?.Release();
        }

        protected override int ReadAt(long offset, Span<byte> buffer)
        {
            if (_inner is not null)
            {
                lock (_inner)
                {
                    _inner.Position = offset;
                    return _inner.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                }
            }

            if (_file is null)
            {
                return 0;
            }

            int total = 0;
            while (total < buffer.Length)
            {
                int read = RandomAccess.Read(_file.SafeFileHandle, buffer[total..], offset + total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            return total;
        }

        protected override void WriteAt(long offset, ReadOnlySpan<byte> buffer)
            => throw new IOException("Salvage opens the database read-only.");

        protected override void SetLengthCore(long length)
            => throw new IOException("Salvage opens the database read-only.");

        protected override void SyncCore()
        {
        }
    }
}
