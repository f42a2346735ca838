using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiteDB;
using LiteDB.Engine;

namespace StateGen.Storage.LiteDb;

/// <summary>What <see cref="LiteDbStateStore.Salvage(string)"/> read out of a damaged file.</summary>
/// <param name="FilePath">The database file.</param>
/// <param name="Entries">Current values whose documents (and change records) passed every check, in scope-then-key order.</param>
/// <param name="Recovered">
/// For keys whose current document could not be read: the newest intact write in the change log, which may be older
/// than the value that was lost (compare <see cref="StoredEntry.Version"/>).
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

    /// <summary>
    /// Reads whatever is intact out of a damaged database, read-only: the data file and its log are opened for reading
    /// only, nothing is written (no checkpoint, no flag, never LiteDB's rebuild), and each document is checked as a normal
    /// read checks it. Keys are found through the primary index (from both ends) and the change log; a document that
    /// fails is reported and skipped, and LiteDB is reopened when it gave up after an error.
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

        // The change log: every key it names, and each key's newest intact write. Walked through its index from the
        // front; where a damaged page stops the walk, sequence by sequence onward (until a long run of absent ones),
        // then from the back. A damaged record is skipped; no bound comes from a value read off the file.
        var newestWrite = new Dictionary<string, StateChangeRecord>(StringComparer.Ordinal);
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

        var entries = new List<StoredEntry>();
        var recovered = new List<StoredEntry>();
        foreach (string id in ids)
        {
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
                else if (missing && newestWrite.ContainsKey(id) && !IsDeletedLast(id, newestWrite[id]))
                {
                    failures.Add($"{Describe(id)}: no current document, though the change log's last record is a write");
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

    // Whether the key's last intact record is a delete after its newest write (then no current value is expected).
    private bool IsDeletedLast(string id, StateChangeRecord newest)
    {
        bool deleted = false;
        TrySalvage(() => deleted = _changes.Find(Query.StartsWith(KeyIndex, IndexPrefix(id)))
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
            try
            {
                OpenReadOnlyEngine();
            }
            catch (Exception reopen) when (reopen is not OutOfMemoryException)
            {
                throw Corrupted(FilePath, "LiteDB could not reopen the file after a damaged page", reopen);
            }

            return false;
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
