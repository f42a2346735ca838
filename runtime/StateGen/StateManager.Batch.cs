using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Diagnostics;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Internal;
using StateGen.Storage;

namespace StateGen;

/// <summary>Atomic multi-key commits: batches, forks and replays.</summary>
public sealed partial class StateManager
{
    /// <summary>Starts a batch of writes and deletes committed all or nothing.</summary>
    public StateBatch CreateBatch()
    {
        ThrowIfDisposed();
        return new StateBatch(this);
    }

    internal sealed record BatchItem(StateOperation Operation, IValueValidator? Validator, object? Instance);

    internal static IValueValidator ValidatorFor<T>()
        where T : IPersistentState<T>
        => TypedValidator<T>.Instance;

    internal static IValueValidator ValidatorForJson() => JsonValidator.Instance;

    /// <summary>Reads a document of <typeparamref name="T"/>'s current version into a new instance, as a load would; throws what a load would.</summary>
    internal void ValidateDocument<T>(StoredEntry entry)
        where T : IPersistentState<T>
        => ReadInto(T.CreateState(), entry, T.StateInfo);

    internal ReadOnlyMemory<byte> SerializeForBatch<T>(T value, StateScope scope, string key, string typeName)
        where T : IPersistentState<T>
    {
        ThrowIfDisposed();
        return Serialize(value, scope, key, typeName, _options.MaxDepth);
    }

    /// <summary>
    /// Commits operations all or nothing: the keys' locks (in a fixed order), before hooks per operation (any cancel
    /// cancels the batch), one store commit, then version tracking, events and after hooks per operation.
    /// </summary>
    /// <param name="items">The operations.</param>
    /// <param name="origin">What caused the changes, recorded with them.</param>
    /// <param name="cancellationToken">Cancels waiting for locks and the commit.</param>
    /// <param name="writePoint">The hook point of writes: <see cref="StateHookPoint.BeforeChange"/>, or <see cref="StateHookPoint.BeforeMigration"/> for migrations.</param>
    internal async ValueTask<StateBatchResult> CommitBatchAsync(BatchItem[] items, string origin, CancellationToken cancellationToken, StateHookPoint writePoint = StateHookPoint.BeforeChange)
    {
        using StateGenTelemetry.Operation operation = StateGenTelemetry.Start("batch", string.Empty, "custom");
        ThrowIfDisposed();
        string correlationId = StateCorrelation.CurrentOrNew();
        if (items.Length == 0)
        {
            operation.Complete("ok", 0);
            return new StateBatchResult([], correlationId);
        }

        foreach (BatchItem item in items)
        {
            if (item.Operation is StateWrite w && w.Payload.Length > _options.MaxValueBytes)
            {
                var tooLarge = new StateValueTooLargeException(w.Scope, w.Key, w.Payload.Length, _options.MaxValueBytes);
                operation.Fail(tooLarge);
                throw tooLarge;
            }
        }

        int[] stripes = KeyLocks.StripesOf(items.Select(i => (i.Operation.Scope, i.Operation.Key)));
        var entered = new List<int>(stripes.Length);
        List<HookExecutionRecord>? records = null;
        try
        {
            foreach (int stripe in stripes)
            {
                if (!_locks.IsHeld(stripe))
                {
                    await _locks.WaitAsync(stripe, cancellationToken).ConfigureAwait(false);
                    entered.Add(stripe);
                    _locks.MarkHeld(stripe);
                }
            }

            var operations = new StateOperation[items.Length];
            var contexts = new StateHookContext?[items.Length];
            var olds = new StoredEntry?[items.Length];
            var oldKnown = new bool[items.Length];
            for (int i = 0; i < items.Length; i++)
            {
                StateOperation op = items[i].Operation;
                StateHookPoint point = op is StateWrite ? writePoint : StateHookPoint.BeforeDelete;
                StateHookRegistration[] before = Hooks.For(point);
                StateHookRegistration[] after = Hooks.For(point + 1);
                if (before.Length > 0 || after.Length > 0)
                {
                    StoredEntry? old = await Store.GetAsync(op.Scope, op.Key, cancellationToken).ConfigureAwait(false);
                    olds[i] = old;
                    oldKnown[i] = true;
                    var write = op as StateWrite;
                    contexts[i] = new StateHookContext(point, op.Scope, op.Key, write?.TypeName ?? old?.TypeName, write?.SchemaVersion ?? old?.SchemaVersion ?? 0, old?.Version ?? 0, old?.Payload ?? NoDocument, write?.Payload ?? NoDocument, correlationId, origin, StateCorrelation.CurrentMetadata);
                    if (before.Length > 0)
                    {
                        HookRun run = await RunHooksAsync(before, contexts[i]!, write is null ? null : items[i].Validator, items[i].Instance, cancellationToken).ConfigureAwait(false);
                        records = Merge(records, run.Records);
                        if (run.Failure is not null)
                        {
                            throw run.Failure;
                        }

                        if (run.CanceledBy is not null)
                        {
                            operation.Complete("canceled", 0);
                            return new StateBatchResult([], correlationId, run.CanceledBy, run.CancelReason);
                        }

                        if (write is not null && !contexts[i]!.NewDocument.Equals(write.Payload))
                        {
                            op = write with { Payload = contexts[i]!.NewDocument }; // the caller's instance is updated once committed
                        }
                    }
                }

                operations[i] = op with { CorrelationId = correlationId, Origin = origin, ReturnPrevious = Events.HasSubscribers && !oldKnown[i] };
            }

            IReadOnlyList<StateOperationResult> results;
            try
            {
                results = await Store.CommitAsync(operations, cancellationToken).ConfigureAwait(false);
            }
            catch (StateConcurrencyException ex)
            {
                throw Conflict(ex);
            }

            Log.BatchCommitted(_logger, operations.Length);
            var outcomes = new StateWriteResult[operations.Length];
            bool wantEvent = Events.HasSubscribers;
            for (int i = 0; i < operations.Length; i++)
            {
                StateOperation op = operations[i];
                StateOperationResult result = results[i];
                StoredEntry? previous = oldKnown[i] ? olds[i] : result.Previous;
                if (op is StateWrite write)
                {
                    StoredEntry stored = result.Stored!;
                    if (items[i].Instance is { } instance)
                    {
                        if (!write.Payload.Equals(((StateWrite)items[i].Operation).Payload))
                        {
                            items[i].Validator!.Apply(this, write, instance); // a hook substituted the value: the instance matches what was stored
                        }

                        Track(instance, op.Scope, op.Key, stored.Version);
                    }

                    outcomes[i] = new StateWriteResult(StateWriteStatus.Written, stored.Version, correlationId);
                    if (wantEvent)
                    {
                        Events.Publish(new StateChangeEvent(StateChangeKind.Write, op.Scope, op.Key, write.TypeName, write.SchemaVersion, stored.Version, previous?.Version ?? 0, result.ChangeSequence, stored.UpdatedAt, correlationId, origin, write.Payload, previous?.Payload ?? NoDocument));
                    }
                }
                else
                {
                    outcomes[i] = new StateWriteResult(result.Existed ? StateWriteStatus.Deleted : StateWriteStatus.NotFound, previous?.Version ?? 0, correlationId);
                    if (wantEvent && result.Existed)
                    {
                        Events.Publish(new StateChangeEvent(StateChangeKind.Delete, op.Scope, op.Key, previous?.TypeName ?? string.Empty, previous?.SchemaVersion ?? 0, previous?.Version ?? 0, previous?.Version ?? 0, result.ChangeSequence, result.CommittedAt ?? DateTimeOffset.UtcNow, correlationId, origin, NoDocument, previous?.Payload ?? NoDocument));
                    }
                }
            }

            StateHookException? afterFailure = null;
            for (int i = 0; i < operations.Length; i++)
            {
                if (contexts[i] is not { } context)
                {
                    continue;
                }

                StateHookPoint point = operations[i] is StateWrite ? writePoint + 1 : StateHookPoint.AfterDelete;
                StateHookRegistration[] after = Hooks.For(point);
                if (after.Length == 0 || (operations[i] is StateDelete && !results[i].Existed))
                {
                    continue;
                }

                context.Point = point;
                context.CurrentVersion = results[i].Stored?.Version ?? 0;
                HookRun run = await RunHooksAsync(after, context, null, null, cancellationToken).ConfigureAwait(false);
                records = Merge(records, run.Records);
                afterFailure ??= run.Failure;
            }

            if (afterFailure is not null)
            {
                throw afterFailure;
            }

            operation.Complete("ok", 0);
            return new StateBatchResult(outcomes, correlationId);
        }
        catch (Exception ex)
        {
            operation.Fail(ex);
            throw;
        }
        finally
        {
            if (records is { Count: > 0 })
            {
                await AppendHookHistoryAsync(records, items[0].Operation.Scope, items[0].Operation.Key).ConfigureAwait(false);
            }

            foreach (int stripe in entered)
            {
                _locks.Release(stripe);
            }
        }
    }
}
