using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Serialization;
using StateGen.Storage;

namespace StateGen;

/// <summary>
/// Several writes and deletes committed together, all or nothing, through one <see cref="StateManager"/>. Values are
/// serialized when they are added (the batch keeps a snapshot). Create one with <see cref="StateManager.CreateBatch"/>.
/// </summary>
/// <example>
/// <code>
/// StateBatchResult result = await manager.CreateBatch()
///     .Save(agent, scope)
///     .SetJson(scope, "plan", plan)
///     .Delete(scope, "draft")
///     .CommitAsync();
/// </code>
/// </example>
public sealed class StateBatch
{
    private readonly StateManager _manager;
    private readonly List<StateManager.BatchItem> _items = [];

    internal StateBatch(StateManager manager) => _manager = manager;

    /// <summary>How many operations the batch holds.</summary>
    public int Count => _items.Count;

    /// <summary>Adds a write of a persistent-type value under an explicit key.</summary>
    public StateBatch Set<T>(StateScope scope, string key, T value, long? expectedVersion = null)
        where T : IPersistentState<T>
    {
        ArgumentNullException.ThrowIfNull(value);
        key = StateKeys.Normalize(key);
        PersistentStateInfo info = T.StateInfo;
        ReadOnlyMemory<byte> payload = _manager.SerializeForBatch(value, scope, key, info.TypeName);
        _items.Add(new StateManager.BatchItem(new StateWrite(scope.Path, key, info.TypeName, info.SchemaVersion, payload, expectedVersion), StateManager.ValidatorFor<T>(), null));
        return this;
    }

    /// <summary>
    /// Adds a save of an instance under its key (<see cref="StateManager.KeyOf{T}"/>), expecting the version the manager
    /// last loaded or saved for it unless <paramref name="options"/> says otherwise.
    /// </summary>
    public StateBatch Save<T>(T state, StateScope scope, StateWriteOptions? options = null)
        where T : IPersistentState<T>
    {
        ArgumentNullException.ThrowIfNull(state);
        string key = StateManager.KeyOf(state);
        PersistentStateInfo info = T.StateInfo;
        long? expected = options?.ExpectedVersion ?? (options?.Overwrite == true ? null : _manager.GetTrackedVersion(state, scope));
        ReadOnlyMemory<byte> payload = _manager.SerializeForBatch(state, scope, key, info.TypeName);
        _items.Add(new StateManager.BatchItem(new StateWrite(scope.Path, key, info.TypeName, info.SchemaVersion, payload, expected), StateManager.ValidatorFor<T>(), state));
        return this;
    }

    /// <summary>Adds a write of a raw JSON value.</summary>
    public StateBatch SetJson(StateScope scope, string key, JsonElement value, long? expectedVersion = null)
    {
        key = StateKeys.Normalize(key);
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            throw new ArgumentException("The JSON value is undefined (default JsonElement).", nameof(value));
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptionsFor(StateJson.MaxDepth)))
        {
            value.WriteTo(writer);
        }

        _items.Add(new StateManager.BatchItem(new StateWrite(scope.Path, key, StateManager.JsonTypeName, 1, buffer.WrittenMemory, expectedVersion), StateManager.ValidatorForJson(), null));
        return this;
    }

    /// <summary>Adds a delete.</summary>
    public StateBatch Delete(StateScope scope, string key, long? expectedVersion = null)
    {
        key = StateKeys.Normalize(key);
        _items.Add(new StateManager.BatchItem(new StateDelete(scope.Path, key, expectedVersion), null, null));
        return this;
    }

    /// <summary>Commits every operation, all or nothing.</summary>
    /// <returns>One result per operation in order, or a canceled result when a hook canceled any of them.</returns>
    /// <exception cref="StateConcurrencyException">An expected version did not match; nothing was applied.</exception>
    /// <exception cref="Hooks.StateHookException">A hook failed under <see cref="Hooks.HookFailurePolicy.FailOperation"/>.</exception>
    public ValueTask<StateBatchResult> CommitAsync(CancellationToken cancellationToken = default)
        => _manager.CommitBatchAsync(_items.ToArray(), "batch", cancellationToken);
}

/// <summary>The outcome of a <see cref="StateBatch"/> commit.</summary>
/// <param name="Results">One result per operation, in order (empty when canceled).</param>
/// <param name="CorrelationId">The correlation id the changes were recorded with.</param>
/// <param name="CanceledBy">The hook that canceled the batch, when one did.</param>
/// <param name="CancelReason">The reason it gave.</param>
public sealed record StateBatchResult(IReadOnlyList<StateWriteResult> Results, string CorrelationId, string? CanceledBy = null, string? CancelReason = null)
{
    /// <summary>Whether a hook canceled the batch (nothing was applied).</summary>
    public bool IsCanceled => CanceledBy is not null;
}
