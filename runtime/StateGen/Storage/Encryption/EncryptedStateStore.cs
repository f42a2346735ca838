using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using StateGen.Security;

namespace StateGen.Storage.Encryption;

/// <summary>
/// Encryption at rest for any <see cref="IStateStore"/>: a decorator that replaces every stored payload with an
/// authenticated envelope (<see cref="StateEncryptor"/>) and decrypts on every read. The inner store only ever sees
/// envelopes, so its files, change log and hook history hold no plaintext.
/// </summary>
/// <remarks>
/// <para>
/// A document's associated data is <see cref="StateAssociatedData.ForDocument"/> of its scope, key, type name and
/// schema version, so an envelope copied to another record (at the inner-store level) fails to decrypt. Hook
/// execution values are bound to their record's scope and key and to the field they fill
/// (<see cref="StateAssociatedData.ForHookValue"/>), so they cannot be swapped with documents or with each other.
/// Empty hook values (meaning "none") stay empty.
/// </para>
/// <para>
/// A value that does not decrypt is a <see cref="StateDecryptionException"/> naming the scope, key and key id, never
/// garbage. A value stored in plaintext (encryption turned on for an existing store) is a
/// <see cref="StateDecryptionException"/> with <see cref="StateDecryptionFailureReason.NotEncrypted"/> unless
/// <see cref="EncryptedStateStoreOptions.AllowPlaintextReads"/> is set.
/// </para>
/// <para>
/// History members pass through to the inner store when it implements <see cref="IStateHistoryStore"/>. Otherwise
/// <see cref="RecordsChanges"/> is <see langword="false"/>, reads and appends throw
/// <see cref="History.StateHistoryUnavailableException"/>, and pruning removes nothing.
/// </para>
/// <para>
/// Key usage counts (the nonce limits of <see cref="StateEncryptor"/>) are durable when the inner store keeps them (the
/// LiteDB and memory stores do): while this store is open, every encryption with its key ring, through this store or
/// not, is covered by a reservation the inner store persisted first, in blocks of 2^16, and a key's count resumes from
/// it after a restart. Over another store the counts stay in memory, and a warning (106) is logged at construction.
/// </para>
/// <para>
/// Not covered: rolling one record back to an older envelope of the same record (for example its own change-log copy)
/// is not detected, since the version is assigned by the store after encryption.
/// </para>
/// </remarks>
public sealed partial class EncryptedStateStore : IStateStore, IStateHistoryStore, IDisposable
{
    /// <summary>The <see cref="StateOperation.Origin"/> recorded for writes of the re-encryption job.</summary>
    public const string ReEncryptOrigin = "reencrypt";

    internal const string OldValueField = "OldValue";
    internal const string NewValueField = "NewValue";
    internal const string ResultValueField = "ResultValue";

    private const int MinEnvelopeSize = 35; // header with a 1-character key id, empty ciphertext, tag

    private readonly IStateStore _inner;
    private readonly IStateHistoryStore? _history;
    private readonly StateEncryptor _encryptor;
    private readonly EncryptedStateStoreOptions _options;
    private readonly StateKeyRing? _ownedRing;
    private readonly StateKeyUsageLedger? _ledger;
    private int _disposed;

    /// <summary>Wraps a store. The encryptor's key ring stays owned by the caller.</summary>
    /// <param name="inner">The store that keeps the envelopes; owned (disposed with this store) unless <see cref="EncryptedStateStoreOptions.LeaveInnerStoreOpen"/>.</param>
    /// <param name="encryptor">Encrypts with the ring's active key and decrypts with any ring key.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    public EncryptedStateStore(IStateStore inner, StateEncryptor encryptor, EncryptedStateStoreOptions? options = null)
        : this(inner, encryptor, options, ownedRing: null)
    {
    }

    private EncryptedStateStore(IStateStore inner, StateEncryptor encryptor, EncryptedStateStoreOptions? options, StateKeyRing? ownedRing)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(encryptor);
        _options = (options ?? new EncryptedStateStoreOptions()).Validated();
        _inner = inner;
        _history = inner as IStateHistoryStore;
        _encryptor = encryptor;
        _ownedRing = ownedRing;
        if (KeyUsageRecordsOf(inner) is { } records)
        {
            _ledger = new StateKeyUsageLedger(records, encryptor.KeyRing, _options.KeyUsageReservation);
            encryptor.KeyRing.AttachUsageLedger(_ledger);
        }
        else if (encryptor.Logger is { } logger)
        {
            SecurityLog.KeyUsageNotDurable(logger, inner.GetType().Name);
        }
    }

    /// <summary>Test hook: how many durable reservations of key usage counts this store wrote.</summary>
    internal long KeyUsageReservations => _ledger?.Reservations ?? 0;

    /// <summary>Whether this store keeps its key usage counts durable in the inner store.</summary>
    internal bool KeepsKeyUsageCounts => _ledger is not null;

    /// <summary>The store that keeps the envelopes.</summary>
    public IStateStore Inner => _inner;

    /// <summary>The encryptor (and through it the key ring).</summary>
    public StateEncryptor Encryptor => _encryptor;

    /// <summary>Whether values stored in plaintext are read as they are (<see cref="EncryptedStateStoreOptions.AllowPlaintextReads"/>).</summary>
    public bool AllowPlaintextReads => _options.AllowPlaintextReads;

    /// <summary>
    /// Loads the keys from <paramref name="keyProvider"/> and wraps <paramref name="inner"/>. The store owns the loaded
    /// key ring and disposes (zeroes) it with itself.
    /// </summary>
    /// <param name="inner">The store that keeps the envelopes.</param>
    /// <param name="keyProvider">Where the keys come from (options, environment, key file, or your own).</param>
    /// <param name="options">Options of the store; defaults when <see langword="null"/>.</param>
    /// <param name="encryptionOptions">The algorithm and limits; defaults (AES-256-GCM) when <see langword="null"/>.</param>
    /// <param name="logger">Receives key usage warnings and decryption failures; never key material or data.</param>
    /// <param name="cancellationToken">Cancels loading the keys.</param>
    /// <exception cref="StateKeyConfigurationException">The keys are missing or malformed.</exception>
    public static async ValueTask<EncryptedStateStore> CreateAsync(
        IStateStore inner,
        IStateKeyProvider keyProvider,
        EncryptedStateStoreOptions? options = null,
        StateEncryptionOptions? encryptionOptions = null,
        ILogger? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(keyProvider);
        StateKeyRing ring = await keyProvider.GetKeyRingAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return new EncryptedStateStore(inner, new StateEncryptor(ring, encryptionOptions, logger), options, ring);
        }
        catch
        {
            ring.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="StateDecryptionException">The stored value could not be decrypted.</exception>
    public async ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        StoredEntry? entry = await _inner.GetAsync(scope, key, cancellationToken).ConfigureAwait(false);
        return entry is null ? null : Decrypt(entry);
    }

    /// <inheritdoc/>
    public async ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        ThrowIfDisposed();
        StateWrite sealedWrite = write with { Payload = EncryptDocument(write) };
        byte[] plaintext = write.Payload.ToArray();
        StoredEntry stored = await _inner.WriteAsync(sealedWrite, cancellationToken).ConfigureAwait(false);
        return stored with { Payload = plaintext };
    }

    /// <inheritdoc/>
    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.DeleteAsync(scope, key, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.ExistsAsync(scope, key, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.ListKeysAsync(scope, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, string keyPrefix, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _inner.ListKeysAsync(scope, keyPrefix, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="StateDecryptionException">A replaced entry asked for with <see cref="StateOperation.ReturnPrevious"/> could not be decrypted.</exception>
    public async ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ThrowIfDisposed();
        var sealedOperations = new StateOperation[operations.Count];
        var plaintexts = new byte[]?[operations.Count];
        for (int i = 0; i < operations.Count; i++)
        {
            StateOperation operation = operations[i] ?? throw new ArgumentException($"Operation {i} is null.", nameof(operations));
            if (operation is StateWrite write)
            {
                sealedOperations[i] = write with { Payload = EncryptDocument(write) };
                plaintexts[i] = write.Payload.ToArray();
            }
            else
            {
                sealedOperations[i] = operation;
            }
        }

        IReadOnlyList<StateOperationResult> results = await _inner.CommitAsync(sealedOperations, cancellationToken).ConfigureAwait(false);
        var opened = new StateOperationResult[results.Count];
        for (int i = 0; i < results.Count; i++)
        {
            StateOperationResult result = results[i];
            StoredEntry? stored = result.Stored is null ? null : result.Stored with { Payload = plaintexts[i] ?? Decrypt(result.Stored).Payload };
            StoredEntry? previous = result.Previous is null ? null : Decrypt(result.Previous);
            opened[i] = result with { Stored = stored, Previous = previous };
        }

        return opened;
    }

    /// <inheritdoc/>
    /// <exception cref="StateDecryptionException">An entry of the page could not be decrypted.</exception>
    public async ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        IReadOnlyList<StoredEntry> page = await _inner.ScanAsync(after, limit, cancellationToken).ConfigureAwait(false);
        var opened = new StoredEntry[page.Count];
        for (int i = 0; i < page.Count; i++)
        {
            opened[i] = Decrypt(page[i]);
        }

        return opened;
    }

    /// <summary>Disposes the inner store (unless <see cref="EncryptedStateStoreOptions.LeaveInnerStoreOpen"/>) and a key ring loaded by <see cref="CreateAsync"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        DetachLedger();
        try
        {
            if (!_options.LeaveInnerStoreOpen)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _ownedRing?.Dispose();
        }
    }

    /// <summary>Disposes the inner store (unless <see cref="EncryptedStateStoreOptions.LeaveInnerStoreOpen"/>) and a key ring loaded by <see cref="CreateAsync"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        DetachLedger();
        try
        {
            if (!_options.LeaveInnerStoreOpen)
            {
                if (_inner is IDisposable disposable)
                {
                    disposable.Dispose();
                }
                else
                {
                    _inner.DisposeAsync().AsTask().GetAwaiter().GetResult();
                }
            }
        }
        finally
        {
            _ownedRing?.Dispose();
        }
    }

    /// <summary>
    /// The inner store's key usage records: its own, or, through caches (<see cref="Caching.CachingStateStore"/>), those
    /// of the store it wraps.
    /// </summary>
    private static IStateKeyUsageRecords? KeyUsageRecordsOf(IStateStore inner) => InnerAs<IStateKeyUsageRecords>(inner);

    /// <summary>The inner store as a <typeparamref name="T"/>, or through caches the store they wrap as one; or <see langword="null"/>.</summary>
    private static T? InnerAs<T>(IStateStore inner)
        where T : class
    {
        for (IStateStore? store = inner; store is not null; store = (store as Caching.CachingStateStore)?.Inner)
        {
            if (store is T found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>Before the inner store closes: the ring stops reserving there.</summary>
    private void DetachLedger()
    {
        if (_ledger is not null)
        {
            _encryptor.KeyRing.DetachUsageLedger(_ledger);
        }
    }

    private byte[] EncryptDocument(StateWrite write)
        => _encryptor.Encrypt(write.Payload.Span, StateAssociatedData.ForDocument(write.Scope, write.Key, write.TypeName, write.SchemaVersion));

    private StoredEntry Decrypt(StoredEntry entry)
        => entry with { Payload = Open(entry.Payload, StateAssociatedData.ForDocument(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion), entry.Scope, entry.Key) };

    /// <summary>Decrypts a stored value, or returns it as it is when it is plaintext and plaintext reads are allowed.</summary>
    private ReadOnlyMemory<byte> Open(ReadOnlyMemory<byte> stored, byte[] associatedData, string scope, string key)
    {
        ReadOnlySpan<byte> span = stored.Span;
        switch (Classify(span))
        {
            case StoredForm.Envelope:
                return _encryptor.Decrypt(span, associatedData, scope, key);
            case StoredForm.DamagedEnvelope:
                throw new StateDecryptionException(StateDecryptionFailureReason.Malformed, null, scope, key, "Its envelope marker is damaged.");
            default:
                if (_options.AllowPlaintextReads)
                {
                    return stored;
                }

                throw new StateDecryptionException(StateDecryptionFailureReason.NotEncrypted, null, scope, key);
        }
    }

    /// <summary>
    /// Tells an envelope from plaintext. An envelope whose marker was altered keeps the shape of its header (format
    /// version 1, a known algorithm, a key id length of 1 to 64 at bytes 3 to 5), which UTF-8 JSON never has (control
    /// bytes are not allowed there), so it is reported as damaged rather than read as plaintext.
    /// </summary>
    internal static StoredForm Classify(ReadOnlySpan<byte> stored)
    {
        if (StateEncryptor.LooksLikeEnvelope(stored))
        {
            return StoredForm.Envelope;
        }

        return stored.Length >= MinEnvelopeSize && stored[3] == 1 && stored[4] is 1 or 2 && stored[5] is >= 1 and <= StateKeyRing.MaxKeyIdLength
            ? StoredForm.DamagedEnvelope
            : StoredForm.Plaintext;
    }

    private static void Zero(ReadOnlyMemory<byte> plaintext, ReadOnlyMemory<byte> stored)
    {
        if (!plaintext.Equals(stored) && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(plaintext, out ArraySegment<byte> segment))
        {
            CryptographicOperations.ZeroMemory(segment);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    internal enum StoredForm
    {
        Plaintext,
        Envelope,
        DamagedEnvelope,
    }
}
