using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>Options of a <see cref="LiteDbStateStore"/>.</summary>
public sealed class LiteDbStateStoreOptions
{
    /// <summary>The default database file, relative to the current directory.</summary>
    public const string DefaultFileName = "stategen.db";

    /// <summary>The database file. Created, with its folder, when missing.</summary>
    public string Path { get; set; } = DefaultFileName;

    /// <summary>The clock for <see cref="StoredEntry.UpdatedAt"/>; the system clock by default.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>
/// The embedded default store: one LiteDB file, opened once per process in direct mode, with an ordinal collation
/// (index lookups do not depend on the culture the file is opened under) and UTC tick timestamps.
/// </summary>
/// <remarks>
/// LiteDB v5 has no async API and binds explicit transactions to a thread, so every operation here is one
/// synchronous auto-committed LiteDB call made under this store's lock; no transaction spans an <c>await</c>.
/// Errors from a corrupt or truncated file surface as <see cref="StateStoreCorruptedException"/>.
/// </remarks>
public sealed class LiteDbStateStore : IStateStore, IDisposable
{
    /// <summary>The largest payload one entry can hold: LiteDB documents are limited to about 16 MB.</summary>
    public const int MaxPayloadBytes = 16_000_000;

    private const string CollectionName = "state";
    private const char Separator = '\u001F'; // keys and scope ids may not contain control characters
    private const int PageSize = 8192;
    private const int HeaderInfoOffset = 32;
    private const int HeaderVersionOffset = 59;
    private const byte FileVersion = 8;
    private const int InvalidStateOffset = 191; // LiteDB flags a damaged file here when it gives up on it
    private static readonly byte[] HeaderInfo = System.Text.Encoding.ASCII.GetBytes("** This is a LiteDB file **");
    private static readonly ConcurrentDictionary<string, byte> OpenFiles = new(StringComparer.Ordinal);

    private readonly object _gate = new();
    private readonly LiteDatabase _db;
    private readonly ILiteCollection<BsonDocument> _state;
    private readonly TimeProvider _time;

    // The stored version of each key written or read so far (0: known absent). This store is the file's only writer
    // (one per file per process, direct mode), so a write needs no read of the whole stored document first.
    private readonly Dictionary<string, long> _versions = new(StringComparer.Ordinal);
    private readonly byte? _invalidStateByte;
    private bool _disposed;
    private bool _faulted;

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

        try
        {
            string? folder = System.IO.Path.GetDirectoryName(FilePath);
            if (!string.IsNullOrEmpty(folder))
            {
                Directory.CreateDirectory(folder);
            }

            // LiteDB trims a file that is not whole pages before it reads the header: check the header first, so a
            // foreign file is rejected untouched.
            _invalidStateByte = CheckHeader(FilePath);

            var connection = new ConnectionString
            {
                Filename = FilePath,
                Connection = ConnectionType.Direct,
                Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal),
            };
            _db = new LiteDatabase(connection);
            _state = _db.GetCollection(CollectionName);
            _state.EnsureIndex("s");
            _ = _state.Count(); // touch the data pages so a damaged file fails here, not on first use
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            try
            {
                DisposeQuietly(_db);
                if (ex is not StateGenException and not IOException and not UnauthorizedAccessException)
                {
                    RestoreInvalidStateFlag();
                }
            }
            finally
            {
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

            throw new StateStoreCorruptedException(FilePath, ex);
        }
    }

    /// <summary>
    /// Rejects an existing file that is not a LiteDB v5 database before LiteDB touches it; returns the byte at the
    /// damaged-file flag so a failed open can put it back.
    /// </summary>
    private static byte? CheckHeader(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length == 0)
        {
            return null;
        }

        byte[] header = new byte[InvalidStateOffset + 1];
        int read;
        using (FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }

        if (info.Length % PageSize != 0 || read < header.Length
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
        if (_invalidStateByte is not byte original || !File.Exists(FilePath))
        {
            return;
        }

        using FileStream stream = new(FilePath, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        if (stream.Length <= InvalidStateOffset)
        {
            return;
        }

        stream.Position = InvalidStateOffset;
        if (stream.ReadByte() != original)
        {
            stream.Position = InvalidStateOffset;
            stream.WriteByte(original);
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
        return new(Run(() =>
        {
            string id = Id(scope, key);
            StoredEntry? entry = ToEntry(_state.FindById(id));
            _versions[id] = entry?.Version ?? 0;
            return entry;
        }));
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

        return new(Run(() =>
        {
            string id = Id(write.Scope, write.Key);
            if (!_versions.TryGetValue(id, out long stored))
            {
                stored = _state.FindById(id)?["v"].AsInt64 ?? 0;
            }

            StoreRules.CheckExpectedVersion(write, stored == 0 ? null : stored);
            byte[] payload = write.Payload.ToArray();
            var entry = new StoredEntry(write.Scope, write.Key, write.TypeName, write.SchemaVersion, stored + 1, _time.GetUtcNow(), payload);
            _state.Upsert(ToDocument(id, entry, payload));
            _versions[id] = entry.Version;
            return entry;
        }));
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() =>
        {
            string id = Id(scope, key);
            bool deleted = _state.Delete(id);
            _versions[id] = 0;
            return deleted;
        }));
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() => _state.Exists(Query.EQ("_id", Id(scope, key)))));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run<IReadOnlyList<string>>(() => _state.Find(Query.EQ("s", scope))
            .Select(d => d["k"].AsString)
            .OrderBy(k => k, StringComparer.Ordinal)
            .ToArray()));
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            try
            {
                if (_faulted)
                {
                    DisposeQuietly(_db);
                }
                else
                {
                    _db.Dispose();
                }
            }
            finally
            {
                OpenFiles.TryRemove(FilePath, out _);
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

    private static BsonDocument ToDocument(string id, StoredEntry entry, byte[] payload) => new()
    {
        ["_id"] = id,
        ["s"] = entry.Scope,
        ["k"] = entry.Key,
        ["t"] = entry.TypeName,
        ["sv"] = entry.SchemaVersion,
        ["v"] = entry.Version,
        ["u"] = entry.UpdatedAt.UtcTicks,
        ["p"] = payload,
    };

    private static StoredEntry? ToEntry(BsonDocument? doc)
    {
        if (doc is null)
        {
            return null;
        }

        return new StoredEntry(
            doc["s"].AsString,
            doc["k"].AsString,
            doc["t"].AsString,
            doc["sv"].AsInt32,
            doc["v"].AsInt64,
            new DateTimeOffset(doc["u"].AsInt64, TimeSpan.Zero),
            doc["p"].AsBinary);
    }

    private T Run<T>(Func<T> action)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_faulted)
            {
                throw new StateStoreCorruptedException(FilePath);
            }

            try
            {
                return action();
            }
            catch (Exception ex) when (ex is not StateGenException and not OutOfMemoryException)
            {
                // LiteDB reports damaged pages as LiteException, IndexOutOfRange, InvalidCast, NotImplemented, ...
                if (ex is IOException or UnauthorizedAccessException)
                {
                    throw new StateStoreException($"The state database '{FilePath}' failed: {ex.GetType().Name}.", ex);
                }

                // LiteDB closes a file it found damaged and marks it; close ours, undo the mark, refuse further use.
                _faulted = true;
                DisposeQuietly(_db);
                RestoreInvalidStateFlag();
                throw new StateStoreCorruptedException(FilePath, ex);
            }
        }
    }
}
