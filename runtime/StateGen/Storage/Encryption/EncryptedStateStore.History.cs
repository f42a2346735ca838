using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using StateGen.History;
using StateGen.Security;

namespace StateGen.Storage.Encryption;

/// <summary>The <see cref="IStateHistoryStore"/> members: pass-through to the inner store, decrypting what it returns.</summary>
public sealed partial class EncryptedStateStore
{
    /// <summary>Whether the inner store records changes; <see langword="false"/> when it keeps no history at all.</summary>
    public bool RecordsChanges => _history?.RecordsChanges ?? false;

    /// <inheritdoc/>
    public IReadOnlyList<StateHistoryGap> HistoryGaps => _history?.HistoryGaps ?? Array.Empty<StateHistoryGap>();

    /// <inheritdoc/>
    /// <exception cref="StateHistoryUnavailableException">The inner store keeps no history (it does not implement <see cref="IStateHistoryStore"/>).</exception>
    /// <exception cref="StateDecryptionException">A record's document could not be decrypted.</exception>
    public async ValueTask<IReadOnlyList<StateChangeRecord>> ReadChangesAsync(StateChangeQuery query, CancellationToken cancellationToken = default)
    {
        IStateHistoryStore history = RequireHistory();
        IReadOnlyList<StateChangeRecord> records = await history.ReadChangesAsync(query, cancellationToken).ConfigureAwait(false);
        var opened = new StateChangeRecord[records.Count];
        for (int i = 0; i < records.Count; i++)
        {
            opened[i] = Decrypt(records[i]);
        }

        return opened;
    }

    /// <inheritdoc/>
    /// <exception cref="StateHistoryUnavailableException">The inner store keeps no history.</exception>
    /// <exception cref="StateDecryptionException">The record's document could not be decrypted.</exception>
    public async ValueTask<StateChangeRecord?> ReadChangeAsync(long sequence, CancellationToken cancellationToken = default)
    {
        IStateHistoryStore history = RequireHistory();
        StateChangeRecord? record = await history.ReadChangeAsync(sequence, cancellationToken).ConfigureAwait(false);
        return record is null ? null : Decrypt(record);
    }

    /// <inheritdoc/>
    /// <remarks>Removes nothing (returns 0) when the inner store keeps no history.</remarks>
    public ValueTask<long> PruneChangesAsync(DateTimeOffset? olderThan, int? keepPerKey, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _history is null ? new(0L) : _history.PruneChangesAsync(olderThan, keepPerKey, cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Each non-empty value is encrypted, bound to the record's scope, key and field.</remarks>
    /// <exception cref="StateHistoryUnavailableException">The inner store keeps no history.</exception>
    public ValueTask AppendHookExecutionsAsync(IReadOnlyList<HookExecutionRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        IStateHistoryStore history = RequireHistory();
        var sealedRecords = new HookExecutionRecord[records.Count];
        for (int i = 0; i < records.Count; i++)
        {
            HookExecutionRecord record = records[i] ?? throw new ArgumentException($"Record {i} is null.", nameof(records));
            sealedRecords[i] = record with
            {
                OldValue = SealHookValue(record, OldValueField, record.OldValue),
                NewValue = SealHookValue(record, NewValueField, record.NewValue),
                ResultValue = SealHookValue(record, ResultValueField, record.ResultValue),
            };
        }

        return history.AppendHookExecutionsAsync(sealedRecords, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="StateHistoryUnavailableException">The inner store keeps no history.</exception>
    /// <exception cref="StateDecryptionException">A value could not be decrypted.</exception>
    public async ValueTask<IReadOnlyList<HookExecutionRecord>> ReadHookExecutionsAsync(HookExecutionQuery query, CancellationToken cancellationToken = default)
    {
        IStateHistoryStore history = RequireHistory();
        IReadOnlyList<HookExecutionRecord> records = await history.ReadHookExecutionsAsync(query, cancellationToken).ConfigureAwait(false);
        var opened = new HookExecutionRecord[records.Count];
        for (int i = 0; i < records.Count; i++)
        {
            HookExecutionRecord record = records[i];
            opened[i] = record with
            {
                OldValue = OpenHookValue(record, OldValueField, record.OldValue),
                NewValue = OpenHookValue(record, NewValueField, record.NewValue),
                ResultValue = OpenHookValue(record, ResultValueField, record.ResultValue),
            };
        }

        return opened;
    }

    /// <inheritdoc/>
    /// <remarks>Removes nothing (returns 0) when the inner store keeps no history.</remarks>
    public ValueTask<long> PruneHookExecutionsAsync(DateTimeOffset? olderThan, int? keepNewest, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _history is null ? new(0L) : _history.PruneHookExecutionsAsync(olderThan, keepNewest, cancellationToken);
    }

    private IStateHistoryStore RequireHistory()
    {
        ThrowIfDisposed();
        return _history ?? throw new StateHistoryUnavailableException($"The store wrapped by the encrypted store ({_inner.GetType().Name}) keeps no change log or hook history (it does not implement IStateHistoryStore).");
    }

    /// <summary>A write record carries the document as written, so it opens with the document's associated data.</summary>
    private StateChangeRecord Decrypt(StateChangeRecord record)
    {
        if (record.Kind == StateChangeKind.Delete && record.Payload.IsEmpty)
        {
            return record;
        }

        byte[] aad = StateAssociatedData.ForDocument(record.Scope, record.Key, record.TypeName, record.SchemaVersion);
        return record with { Payload = Open(record.Payload, aad, record.Scope, record.Key) };
    }

    private ReadOnlyMemory<byte> SealHookValue(HookExecutionRecord record, string field, ReadOnlyMemory<byte> value)
        => value.IsEmpty ? value : _encryptor.Encrypt(value.Span, StateAssociatedData.ForHookValue(record.Scope, record.Key, field));

    private ReadOnlyMemory<byte> OpenHookValue(HookExecutionRecord record, string field, ReadOnlyMemory<byte> value)
        => value.IsEmpty ? value : Open(value, StateAssociatedData.ForHookValue(record.Scope, record.Key, field), record.Scope, record.Key);
}
