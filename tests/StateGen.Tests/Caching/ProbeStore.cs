using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;

namespace StateGen.Tests.Caching;

/// <summary>
/// A store that forwards to another and lets a test step in: fail or hold a write before or after the inner store
/// applies it, hold a read after the inner store answered it, and count concurrent writes and disposals. It keeps no
/// history (it does not implement <see cref="IStateHistoryStore"/>).
/// </summary>
public sealed class ProbeStore(IStateStore inner) : IStateStore
{
    private int _activeWrites;
    private int _maxActiveWrites;
    private int _disposeCount;

    /// <summary>Awaited before a write, delete or commit reaches the inner store (throw here to fail it unapplied).</summary>
    public Func<Task>? BeforeWrite { get; set; }

    /// <summary>Awaited after the inner store applied a write, delete or commit, before it returns.</summary>
    public Func<Task>? AfterWrite { get; set; }

    /// <summary>Awaited after the inner store answered a read, before it returns (the answer is already taken).</summary>
    public Func<Task>? AfterRead { get; set; }

    public IStateStore Inner => inner;

    public int MaxConcurrentWrites => Volatile.Read(ref _maxActiveWrites);

    public int DisposeCount => Volatile.Read(ref _disposeCount);

    public int WriteCount;

    public async ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default)
    {
        StoredEntry? entry = await inner.GetAsync(scope, key, cancellationToken);
        if (AfterRead is { } after)
        {
            await after();
        }

        return entry;
    }

    public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default)
        => AroundWrite(() => inner.WriteAsync(write, cancellationToken));

    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default)
        => AroundWrite(() => inner.DeleteAsync(scope, key, cancellationToken));

    public ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
        => AroundWrite(() => inner.CommitAsync(operations, cancellationToken));

    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default)
        => inner.ExistsAsync(scope, key, cancellationToken);

    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default)
        => inner.ListKeysAsync(scope, cancellationToken);

    public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default)
        => inner.ScanAsync(after, limit, cancellationToken);

    public ValueTask DisposeAsync()
    {
        Interlocked.Increment(ref _disposeCount);
        return inner.DisposeAsync();
    }

    private async ValueTask<T> AroundWrite<T>(Func<ValueTask<T>> apply)
    {
        int active = Interlocked.Increment(ref _activeWrites);
        InterlockedMax(ref _maxActiveWrites, active);
        try
        {
            if (BeforeWrite is { } before)
            {
                await before();
            }

            T result = await apply();
            Interlocked.Increment(ref WriteCount);
            if (AfterWrite is { } after)
            {
                await after();
            }

            return result;
        }
        finally
        {
            Interlocked.Decrement(ref _activeWrites);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
