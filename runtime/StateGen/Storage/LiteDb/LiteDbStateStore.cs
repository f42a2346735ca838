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
    private const string CollectionName = "state";
    private const char Separator = '\u001F'; // keys and scope ids may not contain control characters
    private static readonly ConcurrentDictionary<string, byte> OpenFiles = new(StringComparer.Ordinal);

    private readonly object _gate = new();
    private readonly LiteDatabase _db;
    private readonly ILiteCollection<BsonDocument> _state;
    private readonly TimeProvider _time;
    private bool _disposed;

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
            OpenFiles.TryRemove(FilePath, out _);
            _db?.Dispose();
            if (ex is IOException or UnauthorizedAccessException)
            {
                throw new StateStoreException($"The state database '{FilePath}' could not be opened: {ex.GetType().Name}.", ex);
            }

            throw new StateStoreCorruptedException(FilePath, ex);
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
        return new(Run(() => ToEntry(_state.FindById(Id(scope, key)))));
    }

    /// <inheritdoc />
    public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() =>
        {
            string id = Id(write.Scope, write.Key);
            BsonDocument? current = _state.FindById(id);
            long? currentVersion = current?["v"].AsInt64;
            StoreRules.CheckExpectedVersion(write, currentVersion);
            var entry = new StoredEntry(
                write.Scope,
                write.Key,
                write.TypeName,
                write.SchemaVersion,
                (currentVersion ?? 0) + 1,
                _time.GetUtcNow(),
                write.Payload.ToArray());
            _state.Upsert(ToDocument(id, entry));
            return entry;
        }));
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() => _state.Delete(Id(scope, key))));
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
                _db.Dispose();
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

    private static BsonDocument ToDocument(string id, StoredEntry entry) => new()
    {
        ["_id"] = id,
        ["s"] = entry.Scope,
        ["k"] = entry.Key,
        ["t"] = entry.TypeName,
        ["sv"] = entry.SchemaVersion,
        ["v"] = entry.Version,
        ["u"] = entry.UpdatedAt.UtcTicks,
        ["p"] = entry.Payload.ToArray(),
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

                throw new StateStoreCorruptedException(FilePath, ex);
            }
        }
    }
}
