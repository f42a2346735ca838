using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StateGen.Diagnostics;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Internal;
using StateGen.Secrets;
using StateGen.Serialization;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen;

/// <summary>
/// Reads and writes state in scopes. It is the one place that orders the steps of a save and a load: key
/// validation, serialization, size limits, type and schema checks, and the store call. Thread-safe.
/// </summary>
/// <remarks>
/// Generated <c>SaveStateAsync</c>/<c>LoadStateAsync</c> methods call <see cref="SaveAsync{T}(T, StateScope, CancellationToken)"/> and
/// <see cref="LoadAsync{T}"/>, which store an instance under the key <c>{StableTypeName}/{Id}</c> in the given scope.
/// </remarks>
public sealed partial class StateManager : IAsyncDisposable, IDisposable
{
    /// <summary>The type name recorded for raw JSON values written with <see cref="SetJsonAsync(StateScope, string, JsonElement, CancellationToken)"/>.</summary>
    public const string JsonTypeName = "json";

    private const int MaxCachedBufferBytes = 1024 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    private readonly StateManagerOptions _options;
    private readonly ILogger _logger;
    private readonly bool _ownsStore;
    private readonly KeyLocks _locks = new();
    private readonly ConditionalWeakTable<object, TrackedVersion> _tracked = new();
    private readonly IStateHistoryStore? _history;
    private readonly Security.StateEncryptor? _sensitiveEncryptor;
    private int _disposed;

    /// <summary>Creates a manager over a store.</summary>
    /// <param name="store">The store.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where log lines go; none when <see langword="null"/>.</param>
    /// <param name="ownsStore">Whether disposing the manager disposes the store.</param>
    public StateManager(IStateStore store, StateManagerOptions? options = null, ILogger<StateManager>? logger = null, bool ownsStore = true)
    {
        Store = store ?? throw new ArgumentNullException(nameof(store));
        _options = options ?? new StateManagerOptions();
        _options.Validate();
        _history = store as IStateHistoryStore;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _sensitiveEncryptor = _options.SensitiveKeyRing is { } ring
            ? new Security.StateEncryptor(ring, _options.SensitiveEncryption, _logger)
            : (store as Storage.Encryption.EncryptedStateStore)?.Encryptor;
        _ownsStore = ownsStore;
        foreach (StateHistoryGap gap in _history?.HistoryGaps ?? [])
        {
            Log.HistoryGap(_logger, gap.FromSequence, gap.ToSequence, gap.PreservedBytesPath ?? "(none)");
        }

        if (store is LiteDbStateStore { UpgradeChangeLogFailure: { } notConverted } lite)
        {
            Log.ChangeLogNotConverted(_logger, lite.FilePath, notConverted.Message);
        }
    }

    /// <summary>
    /// Opens the embedded default: a LiteDB file at <paramref name="path"/>
    /// (<see cref="LiteDbStateStoreOptions.DefaultFileName"/> in the current directory when <see langword="null"/>).
    /// </summary>
    /// <exception cref="StateStoreCorruptedException">The file is corrupt, truncated or not a LiteDB database.</exception>
    public static StateManager OpenLiteDb(string? path = null, StateManagerOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path ?? LiteDbStateStoreOptions.DefaultFileName });
        return new StateManager(store, options, loggerFactory?.CreateLogger<StateManager>());
    }

    /// <summary>
    /// Opens the embedded default with <b>encryption at rest</b>: every stored value (and its change-log copy) is an
    /// AES-256-GCM envelope under the active key of <paramref name="keys"/>, bound to its scope, key, type and schema
    /// version (see <see cref="Storage.Encryption.EncryptedStateStore"/>). A wrong or missing key is a
    /// <see cref="StateDecryptionException"/>, never garbage.
    /// </summary>
    /// <exception cref="StateStoreCorruptedException">The file is corrupt, truncated or not a LiteDB database.</exception>
    /// <exception cref="StateKeyConfigurationException">The key provider's keys are missing or malformed.</exception>
    public static async ValueTask<StateManager> OpenLiteDbAsync(string? path, Security.IStateKeyProvider keys, StateManagerOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var inner = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path ?? LiteDbStateStoreOptions.DefaultFileName });
        try
        {
            var store = await Storage.Encryption.EncryptedStateStore.CreateAsync(inner, keys, logger: loggerFactory?.CreateLogger<Storage.Encryption.EncryptedStateStore>(), cancellationToken: cancellationToken).ConfigureAwait(false);
            return new StateManager(store, options, loggerFactory?.CreateLogger<StateManager>());
        }
        catch
        {
            inner.Dispose();
            throw;
        }
    }

    /// <summary>The store behind this manager.</summary>
    public IStateStore Store { get; }

    /// <summary>This manager's logger, for the jobs that work through it (migrations).</summary>
    internal ILogger Logger => _logger;

    /// <summary>The hooks run around every write, delete and upgrade write-back. Register and remove at any time.</summary>
    public StateHooks Hooks { get; } = new();

    /// <summary>The change events: every committed change, to subscribers that filter by scope, key and correlation id.</summary>
    public StateChangeEvents Events { get; } = new();

    /// <summary>The key under which <paramref name="state"/> is stored: <c>{StableTypeName}/{Id}</c>, normalized.</summary>
    /// <exception cref="InvalidStateKeyException">The instance's id is null, empty or not a valid key.</exception>
    public static string KeyOf<T>(T state)
        where T : IPersistentState<T>
    {
        ArgumentNullException.ThrowIfNull(state);
        string? id = state.GetStateId();
        if (string.IsNullOrEmpty(id))
        {
            throw new InvalidStateKeyException("key", $"the {T.StateInfo.TypeName} instance has no id (its id member is null or empty).");
        }

        return StateKeys.Normalize(T.StateInfo.TypeName + "/" + id);
    }

    /// <summary>
    /// Saves an instance under <see cref="KeyOf{T}"/> in <paramref name="scope"/>. Generated <c>SaveStateAsync</c> calls this.
    /// When this manager loaded or saved the instance under that key before, the save expects the version it saw then
    /// (optimistic concurrency): a change made meanwhile by anyone else raises <see cref="StateConcurrencyException"/>.
    /// </summary>
    /// <returns>What happened: written (with the new version), or canceled by a hook.</returns>
    /// <exception cref="StateConcurrencyException">The stored version is not the one this instance last saw.</exception>
    /// <exception cref="StateHookException">A hook failed under <see cref="HookFailurePolicy.FailOperation"/>.</exception>
    public ValueTask<StateWriteResult> SaveAsync<T>(T state, StateScope scope, CancellationToken cancellationToken = default)
        where T : IPersistentState<T>
        => SaveAsync(state, scope, null, cancellationToken);

    /// <summary>Saves an instance with per-call options (an expected version, or last-writer-wins).</summary>
    /// <inheritdoc cref="SaveAsync{T}(T, StateScope, CancellationToken)"/>
    public ValueTask<StateWriteResult> SaveAsync<T>(T state, StateScope scope, StateWriteOptions? options, CancellationToken cancellationToken = default)
        where T : IPersistentState<T>
    {
        string key = KeyOf(state);
        long? expected = options?.ExpectedVersion ?? (options?.Overwrite == true ? null : TrackedVersionOf(state, scope.Path, key));
        return SetNormalizedAsync(scope, key, state, expected, "save", state, cancellationToken);
    }

    /// <summary>
    /// The version this manager last loaded or saved for <paramref name="state"/> in <paramref name="scope"/>
    /// (0: it found nothing stored), or <see langword="null"/> when it has not loaded or saved the instance there.
    /// </summary>
    public long? GetTrackedVersion<T>(T state, StateScope scope)
        where T : IPersistentState<T>
        => TrackedVersionOf(state, scope.Path, KeyOf(state));

    /// <summary>
    /// Loads the stored state of an instance into it. Generated <c>LoadStateAsync</c> calls this.
    /// </summary>
    /// <returns><see langword="false"/> when nothing is stored; the instance is then unchanged.</returns>
    /// <exception cref="StateSerializationException">The stored document is not valid JSON or not of the type's shape; the instance is unchanged.</exception>
    /// <exception cref="StateTypeMismatchException">The stored document belongs to another type.</exception>
    /// <exception cref="StateSchemaVersionException">The stored document has a schema version this program cannot read.</exception>
    public async ValueTask<bool> LoadAsync<T>(T state, StateScope scope, CancellationToken cancellationToken = default)
        where T : IPersistentState<T>
    {
        using StateGenTelemetry.Operation operation = StateGenTelemetry.Start("load", T.StateInfo.TypeName, scope);
        try
        {
            string key = KeyOf(state);
            StoredEntry? entry = await GetEntryAsync(scope, key, cancellationToken).ConfigureAwait(false);
            long version = entry?.Version ?? 0;
            bool loaded = false;
            if (entry is not null)
            {
                (loaded, version) = await ReadIntoAsync(state, entry, cancellationToken).ConfigureAwait(false);
            }

            Track(state, scope.Path, key, version);
            operation.Complete(loaded ? "ok" : entry is null ? "not_found" : "discarded", entry?.Payload.Length ?? 0);
            WarnIfSlow("load", scope.Path, key, operation.Elapsed);
            return loaded;
        }
        catch (Exception ex)
        {
            operation.Fail(ex);
            throw;
        }
    }

    /// <summary>Deletes the stored state of an instance. Generated <c>DeleteStateAsync</c> calls this.</summary>
    /// <returns><see langword="false"/> when nothing was stored.</returns>
    public async ValueTask<bool> DeleteAsync<T>(T state, StateScope scope, CancellationToken cancellationToken = default)
        where T : IPersistentState<T>
    {
        string key = KeyOf(state);
        StateWriteResult result = await DeleteCoreAsync(scope.Path, key, null, "delete", cancellationToken).ConfigureAwait(false);
        if (result.Status is StateWriteStatus.Deleted or StateWriteStatus.NotFound)
        {
            Track(state, scope.Path, key, 0);
        }

        return result.Status == StateWriteStatus.Deleted;
    }

    /// <summary>Stores a persistent-type value under an explicit key (whatever is stored is replaced).</summary>
    /// <returns>What happened: written (with the new version), or canceled by a hook.</returns>
    /// <exception cref="InvalidStateKeyException">The key is not valid.</exception>
    /// <exception cref="StateValueTooLargeException">The serialized value exceeds <see cref="StateManagerOptions.MaxValueBytes"/>.</exception>
    /// <exception cref="StateSerializationException">The value could not be written (for example, a reference cycle).</exception>
    /// <exception cref="StateHookException">A hook failed under <see cref="HookFailurePolicy.FailOperation"/>.</exception>
    public ValueTask<StateWriteResult> SetAsync<T>(StateScope scope, string key, T value, CancellationToken cancellationToken = default)
        where T : IPersistentState<T>
        => SetNormalizedAsync(scope, StateKeys.Normalize(key), value, null, "set", null, cancellationToken);

    /// <summary>Stores a persistent-type value under an explicit key, with an expected version.</summary>
    /// <inheritdoc cref="SetAsync{T}(StateScope, string, T, CancellationToken)"/>
    /// <exception cref="StateConcurrencyException">The stored version is not <see cref="StateWriteOptions.ExpectedVersion"/>.</exception>
    public ValueTask<StateWriteResult> SetAsync<T>(StateScope scope, string key, T value, StateWriteOptions? options, CancellationToken cancellationToken = default)
        where T : IPersistentState<T>
        => SetNormalizedAsync(scope, StateKeys.Normalize(key), value, options?.ExpectedVersion, "set", null, cancellationToken);

    private ValueTask<StateWriteResult> SetNormalizedAsync<T>(StateScope scope, string key, T value, long? expectedVersion, string origin, object? instance, CancellationToken cancellationToken)
        where T : IPersistentState<T>
    {
        ArgumentNullException.ThrowIfNull(value);
        PersistentStateInfo info = T.StateInfo;
        ReadOnlyMemory<byte> payload = Serialize(value, scope, key, info.TypeName, _options.MaxDepth);
        var write = new StateWrite(scope.Path, key, info.TypeName, info.SchemaVersion, payload, expectedVersion);
        return WriteCoreAsync(write, origin, TypedValidator<T>.Instance, instance, StateHookPoint.BeforeChange, cancellationToken);
    }

    /// <summary>Reads a persistent-type value stored under an explicit key.</summary>
    /// <returns>The value, or <see langword="null"/> when nothing is stored.</returns>
    /// <exception cref="StateSerializationException">The stored document is not valid JSON or not of the type's shape.</exception>
    /// <exception cref="StateTypeMismatchException">The stored document belongs to another type.</exception>
    /// <exception cref="StateSchemaVersionException">The stored document has a schema version this program cannot read.</exception>
    public async ValueTask<T?> GetAsync<T>(StateScope scope, string key, CancellationToken cancellationToken = default)
        where T : class, IPersistentState<T>
    {
        using StateGenTelemetry.Operation operation = StateGenTelemetry.Start("get", T.StateInfo.TypeName, scope);
        try
        {
            StoredEntry? entry = await GetEntryAsync(scope, StateKeys.Normalize(key), cancellationToken).ConfigureAwait(false);
            T? result = null;
            if (entry is not null)
            {
                T value = T.CreateState();
                result = (await ReadIntoAsync(value, entry, cancellationToken).ConfigureAwait(false)).Loaded ? value : null;
            }

            operation.Complete(result is not null ? "ok" : entry is null ? "not_found" : "discarded", entry?.Payload.Length ?? 0);
            return result;
        }
        catch (Exception ex)
        {
            operation.Fail(ex);
            throw;
        }
    }

    /// <summary>Stores a raw JSON value (whatever is stored is replaced).</summary>
    /// <returns>What happened: written (with the new version), or canceled by a hook.</returns>
    public ValueTask<StateWriteResult> SetJsonAsync(StateScope scope, string key, JsonElement value, CancellationToken cancellationToken = default)
        => SetJsonAsync(scope, key, value, null, cancellationToken);

    /// <summary>Stores a raw JSON value, with an expected version.</summary>
    /// <returns>What happened: written (with the new version), or canceled by a hook.</returns>
    /// <exception cref="StateConcurrencyException">The stored version is not <see cref="StateWriteOptions.ExpectedVersion"/>.</exception>
    public ValueTask<StateWriteResult> SetJsonAsync(StateScope scope, string key, JsonElement value, StateWriteOptions? options, CancellationToken cancellationToken = default)
    {
        key = StateKeys.Normalize(key);
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            throw new ArgumentException("The JSON value is undefined (default JsonElement).", nameof(value));
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptionsFor(_options.MaxDepth)))
        {
            value.WriteTo(writer);
        }

        var write = new StateWrite(scope.Path, key, JsonTypeName, 1, buffer.WrittenMemory, options?.ExpectedVersion);
        return WriteCoreAsync(write, "set", JsonValidator.Instance, null, StateHookPoint.BeforeChange, cancellationToken);
    }

    /// <summary>Reads a stored value as raw JSON, whatever type wrote it.</summary>
    /// <returns>The value, or <see langword="null"/> when nothing is stored.</returns>
    /// <exception cref="StateSerializationException">The stored document is not valid JSON.</exception>
    public async ValueTask<JsonElement?> GetJsonAsync(StateScope scope, string key, CancellationToken cancellationToken = default)
    {
        StoredEntry? entry = await GetEntryAsync(scope, StateKeys.Normalize(key), cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return null;
        }

        try
        {
            if (!System.Text.Unicode.Utf8.IsValid(entry.Payload.Span))
            {
                throw new JsonException("The document is not valid UTF-8.");
            }

            using JsonDocument document = JsonDocument.Parse(entry.Payload, new JsonDocumentOptions { MaxDepth = _options.MaxDepth });
            EnsureStringsDecode(entry.Payload.Span);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw ReadError(entry, entry.TypeName, ex);
        }
    }

    /// <summary>
    /// Throws when a string or name escapes an unpaired surrogate (<c>"\udc00"</c>): JSON syntax, but text that the
    /// caller's <see cref="JsonElement.GetString"/> would refuse later with an untyped error. Only a document with a
    /// <c>\ud</c> escape is read again.
    /// </summary>
    private void EnsureStringsDecode(ReadOnlySpan<byte> payload)
    {
        if (payload.IndexOf("\\ud"u8) < 0 && payload.IndexOf("\\uD"u8) < 0)
        {
            return;
        }

        var reader = new Utf8JsonReader(payload, StateJson.ReaderOptionsFor(_options.MaxDepth));
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
                {
                    _ = reader.GetString();
                }
            }
        }
        catch (InvalidOperationException)
        {
            throw new Serialization.StateJsonShapeException("A string in the document escapes an unpaired surrogate");
        }
    }

    /// <summary>Deletes a stored value.</summary>
    /// <returns><see langword="false"/> when nothing was stored or a hook canceled the delete.</returns>
    public async ValueTask<bool> DeleteAsync(StateScope scope, string key, CancellationToken cancellationToken = default)
        => (await DeleteCoreAsync(scope.Path, StateKeys.Normalize(key), null, "delete", cancellationToken).ConfigureAwait(false)).Status == StateWriteStatus.Deleted;

    /// <summary>Deletes a stored value, with an expected version.</summary>
    /// <returns>Deleted (with the version deleted), not found, or canceled by a hook.</returns>
    /// <exception cref="StateConcurrencyException">The stored version is not <see cref="StateWriteOptions.ExpectedVersion"/>.</exception>
    public ValueTask<StateWriteResult> DeleteAsync(StateScope scope, string key, StateWriteOptions? options, CancellationToken cancellationToken = default)
        => DeleteCoreAsync(scope.Path, StateKeys.Normalize(key), options?.ExpectedVersion, "delete", cancellationToken);

    /// <summary>Whether a value is stored.</summary>
    public ValueTask<bool> ExistsAsync(StateScope scope, string key, CancellationToken cancellationToken = default)
    {
        key = StateKeys.Normalize(key);
        ThrowIfDisposed();
        return Store.ExistsAsync(scope.Path, key, cancellationToken);
    }

    /// <summary>The keys stored in a scope, in ordinal order.</summary>
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(StateScope scope, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Store.ListKeysAsync(scope.Path, cancellationToken);
    }

    /// <summary>
    /// The keys stored in a scope that start with <paramref name="keyPrefix"/>, in ordinal order: for example
    /// <c>"Note/"</c> for every key a generated type <c>Note</c> is stored under. The prefix is normalized to NFC, as keys
    /// are, and compared ordinally (case-sensitive) with the stored, normalized keys; an empty prefix lists the whole scope.
    /// </summary>
    /// <remarks>
    /// A prefix matches text, not characters: <c>"cafe"</c> does not list <c>"café"</c>, whose NFC form ends in one
    /// character <c>é</c>. The LiteDB store walks the whole scope for it (see <c>docs/storage.md</c>).
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidStateKeyException">
    /// No valid key starts with <paramref name="keyPrefix"/>: it has a control or invisible formatting character, a lone
    /// surrogate or <c>\</c>, starts with <c>/</c>, has <c>//</c> or a whole <c>.</c> or <c>..</c> segment, or is longer
    /// than <see cref="StateKeys.MaxKeyBytes"/> UTF-8 bytes.
    /// </exception>
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(StateScope scope, string keyPrefix, CancellationToken cancellationToken = default)
    {
        keyPrefix = StateKeys.NormalizePrefix(keyPrefix);
        ThrowIfDisposed();
        return Store.ListKeysAsync(scope.Path, keyPrefix, cancellationToken);
    }

    /// <summary>Disposes the store when the manager owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Events.CompleteAll();
            if (_ownsStore)
            {
                await Store.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Disposes the store when the manager owns it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Events.CompleteAll();
        }
        else
        {
            return;
        }

        if (_ownsStore)
        {
            if (Store is IDisposable disposable)
            {
                disposable.Dispose();
            }
            else
            {
                Store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    private ValueTask<StoredEntry?> GetEntryAsync(StateScope scope, string key, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        return Store.GetAsync(scope.Path, key, cancellationToken);
    }

    private ReadOnlyMemory<byte> Serialize<T>(T value, StateScope scope, string key, string typeName, int maxDepth)
        where T : IPersistentState<T>
    {
        // One buffer and writer per thread, reused: serialization is synchronous and done before any await, so the only
        // allocation per save is the exact-size payload.
        ArrayBufferWriter<byte> buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        Utf8JsonWriter? writer = t_writer;
        if (writer is null || writer.Options.MaxDepth != maxDepth)
        {
            t_writer = writer = new Utf8JsonWriter(buffer, StateJson.WriterOptionsFor(maxDepth));
        }

        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        try
        {
            // Generated writers pass every stored string through the secret scanner of this ambient scan. It does not
            // follow where the writer is; only when it found something is the value written again to learn the paths.
            using (SecretScanScope scan = SecretScan.BeginUntracked(_options.SecretScanning))
            using (BeginSensitive(scope.Path, key))
            {
                value.WriteState(writer);
                writer.Flush();
                if (scan.Count != 0)
                {
                    (SecretFinding[] findings, int count) = SecretScan.Locate(value, scan.Policy, writer.Options);
                    SecretScanReport.Apply(scan.Policy, findings, count, _logger, scope.Path, key, typeName); // warns, or throws before anything is stored
                }
            }

            return buffer.WrittenSpan.ToArray();
        }
        catch (StateCycleException ex)
        {
            throw new StateCycleException(scope.Path, key, ex.Path);
        }
        catch (Exception ex) when (ex is StateGenException or ObjectDisposedException)
        {
            CycleGuard.Reset(); // refused halfway (no key ring, a disposed ring, a key at its limit): no half-walked graph stays on this thread
            throw;
        }
        catch (InvalidOperationException ex)
        {
            CycleGuard.Reset();

            // Utf8JsonWriter reports depth overflow (a reference cycle or runaway nesting) this way.
            throw new StateSerializationException(
                $"The state at '{scope.Path}' key '{key}' of type '{typeName}' could not be written: {ex.GetType().Name} (nesting deeper than {maxDepth} levels, StateManagerOptions.MaxDepth: a reference cycle or runaway nesting).")
            {
                Scope = scope.Path,
                Key = key,
                TypeName = typeName,
            };
        }
        finally
        {
            if (buffer.Capacity > MaxCachedBufferBytes)
            {
                t_buffer = null; // do not keep one huge document's buffer alive per thread
                t_writer = null;
            }
        }
    }

    /// <summary>
    /// Reads an entry into an instance: type and version checks, the upgrade chain for older documents, the generated
    /// reader, and the optional write-back of an upgraded document. False only when the type opted into
    /// <see cref="PersistentStateAttribute.ResetWhenUnreadable"/> and the entry could not be read.
    /// </summary>
    private async ValueTask<(bool Loaded, long Version)> ReadIntoAsync<T>(T state, StoredEntry entry, CancellationToken cancellationToken)
        where T : IPersistentState<T>
    {
        PersistentStateInfo info = T.StateInfo;
        byte[]? upgraded;
        try
        {
            upgraded = ReadInto(state, entry, info);
        }
        catch (StateGenException ex) when (info.ResetWhenUnreadable && ex is StateSerializationException or StateSchemaVersionException or StateMigrationException or StateTypeMismatchException)
        {
            Log.Discarded(_logger, entry.Scope, entry.Key, info.TypeName, entry.SchemaVersion, ex.GetType().Name);
            return (false, entry.Version);
        }

        long version = entry.Version;
        if (upgraded is not null && _options.WriteBackUpgrades)
        {
            try
            {
                var write = new StateWrite(entry.Scope, entry.Key, info.TypeName, info.SchemaVersion, upgraded, ExpectedVersion: entry.Version);
                StateWriteResult result = await WriteCoreAsync(write, "upgrade", TypedValidator<T>.Instance, null, StateHookPoint.BeforeMigration, cancellationToken).ConfigureAwait(false);
                if (result.Status == StateWriteStatus.Written)
                {
                    version = result.Version;
                    Log.WroteBackUpgrade(_logger, entry.Scope, entry.Key, info.TypeName, entry.SchemaVersion, info.SchemaVersion);
                }
            }
            catch (StateConcurrencyException)
            {
                // Someone wrote it meanwhile: their newer document wins; the next load upgrades again if needed.
            }
        }

        return (true, version);
    }

    /// <summary>Returns the upgraded payload when the entry was of an older schema version, else null.</summary>
    private byte[]? ReadInto<T>(T state, StoredEntry entry, PersistentStateInfo info)
        where T : IPersistentState<T>
    {
        if (!string.Equals(entry.TypeName, info.TypeName, StringComparison.Ordinal))
        {
            throw new StateTypeMismatchException(entry.Scope, entry.Key, info.TypeName, entry.TypeName);
        }

        ReadOnlySpan<byte> payload = entry.Payload.Span;
        byte[]? upgraded = null;
        if (entry.SchemaVersion != info.SchemaVersion)
        {
            if (entry.SchemaVersion < 1 || entry.SchemaVersion > info.SchemaVersion)
            {
                throw new StateSchemaVersionException(entry.Scope, entry.Key, info.TypeName, entry.SchemaVersion, info.SchemaVersion);
            }

            try
            {
                upgraded = T.UpgradeState(entry.SchemaVersion, payload);
            }
            catch (StateMigrationException ex)
            {
                throw new StateMigrationException($"The state at '{entry.Scope}' key '{entry.Key}' could not be upgraded: {ex.Message} The stored document is left as it is.")
                {
                    Scope = entry.Scope,
                    Key = entry.Key,
                    TypeName = ex.TypeName,
                    FromVersion = ex.FromVersion,
                    Member = ex.Member,
                    Transformer = ex.Transformer,
                };
            }

            if (upgraded is null)
            {
                throw new StateSchemaVersionException(entry.Scope, entry.Key, info.TypeName, entry.SchemaVersion, info.SchemaVersion);
            }

            payload = upgraded;
        }

        try
        {
            if (!System.Text.Unicode.Utf8.IsValid(payload))
            {
                throw new JsonException("The document is not valid UTF-8.");
            }

            var reader = new Utf8JsonReader(payload, StateJson.ReaderOptionsFor(_options.MaxDepth));
            StateJson.Read(ref reader);
            StateJson.Expect(ref reader, JsonTokenType.StartObject);
            using (BeginSensitive(entry.Scope, entry.Key))
            {
                state.ReadState(ref reader); // checks for trailing data itself, before it assigns anything
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or OverflowException or ArgumentException)
        {
            throw ReadError(entry, info.TypeName, ex);
        }

        Log.Loaded(_logger, entry.Scope, entry.Key, info.TypeName, entry.Version);
        return upgraded;
    }

    private StateSerializationException ReadError(StoredEntry entry, string typeName, Exception ex)
    {
        // The inner exception is not attached: reader messages can quote bytes of the document, which may be secret.
        string reason = ex switch
        {
            Serialization.MemberJsonException member => member.Message.TrimEnd('.'), // names a member, never quotes the document
            Serialization.StateJsonShapeException shape => shape.Message.TrimEnd('.'), // StateGen's own fixed text

            // The reader's own depth error ("The maximum configured depth of N has been exceeded"): say which limit.
            JsonException { BytePositionInLine: long position } json when json.Message.Contains("depth", StringComparison.OrdinalIgnoreCase)
                => $"it nests deeper than the limit of {_options.MaxDepth} levels (StateManagerOptions.MaxDepth) (line {json.LineNumber}, byte {position})",
            JsonException { BytePositionInLine: long position } json => $"it is not valid JSON or not of the type's shape (line {json.LineNumber}, byte {position})",
            _ => $"a member is not of the type's shape ({ex.GetType().Name})",
        };
        Log.ReadFailed(_logger, entry.Scope, entry.Key, typeName, reason);
        return new StateSerializationException(
            $"The state at '{entry.Scope}' key '{entry.Key}' could not be read as type '{typeName}' (schema version {entry.SchemaVersion}): {reason}. The stored document is left as it is.")
        {
            Scope = entry.Scope,
            Key = entry.Key,
            TypeName = typeName,
            Member = (ex as Serialization.MemberJsonException)?.Member,
        };
    }

    /// <summary>The keys, scope and key that generated code uses for encrypted and fingerprinted [Sensitive] members.</summary>
    private Security.SensitiveDataScope BeginSensitive(string scope, string key) => Security.SensitiveData.Begin(_sensitiveEncryptor, scope, key);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
