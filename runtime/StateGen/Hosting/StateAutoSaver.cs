using System;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Hosting;

/// <summary>Options of a <see cref="StateAutoSaver{T}"/>.</summary>
public sealed class StateAutoSaveOptions
{
    /// <summary>How often the state is saved. 30 seconds by default.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock that drives the interval; the system clock by default (tests pass a fake one).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Whether <see cref="StateAutoSaver{T}.DisposeAsync"/> saves one last time. On by default.</summary>
    public bool SaveOnDispose { get; set; } = true;

    /// <summary>
    /// The options of every save: <see langword="null"/> (the default) keeps optimistic concurrency against the version the
    /// manager tracked for the instance; <see cref="StateWriteOptions.LastWriterWins"/> overwrites whatever is stored.
    /// </summary>
    public StateWriteOptions? WriteOptions { get; set; }
}

/// <summary>What <see cref="StateAutoSaver{T}.SaveFailed"/> reports.</summary>
public sealed class StateAutoSaveFailedEventArgs : EventArgs
{
    internal StateAutoSaveFailedEventArgs(Exception error, long failureCount)
    {
        Error = error;
        FailureCount = failureCount;
    }

    /// <summary>Why the save failed (for example <see cref="StateConcurrencyException"/>).</summary>
    public Exception Error { get; }

    /// <summary>How many saves of this saver have failed so far, this one included.</summary>
    public long FailureCount { get; }
}

/// <summary>
/// Saves one <see cref="PersistentStateAttribute">[PersistentState]</see> instance through
/// <see cref="StateManager.SaveAsync{T}(T, StateScope, StateWriteOptions?, CancellationToken)"/> on an interval and when
/// disposed, for the lifetime of an agent. Never runs two saves at once. A failed save is recorded
/// (<see cref="LastError"/>, <see cref="SaveFailed"/>) and does not stop later saves.
/// </summary>
/// <remarks>
/// <para>A save serializes the instance on the saver's thread. The agent must not change the instance on another thread at
/// that moment: change it from one logical flow (and call <see cref="SaveNowAsync"/> from it), or guard it.</para>
/// <para>Saves use optimistic concurrency: when something else wrote the entry after this manager last loaded or saved the
/// instance, every save fails with <see cref="StateConcurrencyException"/> until that is resolved, either by loading the
/// stored state again (<c>LoadStateAsync</c>, which takes the stored version; the instance's unsaved changes are lost) or
/// by saving with <see cref="StateWriteOptions.LastWriterWins"/> (<see cref="StateAutoSaveOptions.WriteOptions"/>, or
/// once with the manager), which overwrites the other writer's change.</para>
/// </remarks>
/// <typeparam name="T">The generated state type.</typeparam>
public sealed class StateAutoSaver<T> : IAsyncDisposable
    where T : IPersistentState<T>
{
    private readonly StateManager _manager;
    private readonly StateAutoSaveOptions _options;
    private readonly SemaphoreSlim _saving = new(1, 1);
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly PeriodicTimer _timer;
    private readonly Task _loop;
    private long _saveCount;
    private long _failureCount;
    private DateTimeOffset? _lastSavedAt;
    private Exception? _lastError;
    private int _disposed;

    /// <summary>Starts saving <paramref name="state"/> in <paramref name="scope"/> every <see cref="StateAutoSaveOptions.Interval"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The interval is not positive.</exception>
    public StateAutoSaver(StateManager manager, T state, StateScope scope, StateAutoSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(state);
        _ = StateManager.KeyOf(state); // an instance without an id fails here, not on the first tick
        _options = options ?? new StateAutoSaveOptions();
        if (_options.Interval <= TimeSpan.Zero || _options.Interval == Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _options.Interval, "The auto-save interval must be positive and finite.");
        }

        _manager = manager;
        State = state;
        Scope = scope;
        _timer = new PeriodicTimer(_options.Interval, _options.TimeProvider ?? TimeProvider.System);
        _loop = RunAsync();
    }

    /// <summary>The instance being saved.</summary>
    public T State { get; }

    /// <summary>The scope it is saved in.</summary>
    public StateScope Scope { get; }

    /// <summary>How many saves succeeded.</summary>
    public long SaveCount => Interlocked.Read(ref _saveCount);

    /// <summary>How many saves failed.</summary>
    public long FailureCount => Interlocked.Read(ref _failureCount);

    /// <summary>When the last successful save finished (by <see cref="StateAutoSaveOptions.TimeProvider"/>), or <see langword="null"/>.</summary>
    public DateTimeOffset? LastSavedAt
    {
        get
        {
            lock (_gate)
            {
                return _lastSavedAt;
            }
        }
    }

    /// <summary>Why the most recent save failed; <see langword="null"/> when it succeeded (or none ran yet).</summary>
    public Exception? LastError => Volatile.Read(ref _lastError);

    /// <summary>Raised after a save fails (on the thread that saved). A handler's exception is ignored.</summary>
    public event EventHandler<StateAutoSaveFailedEventArgs>? SaveFailed;

    /// <summary>Raised after a save succeeds (on the thread that saved). A handler's exception is ignored.</summary>
    public event EventHandler? Saved;

    /// <summary>Saves now, after any save in progress finishes. Unlike interval saves, a failure is also thrown here.</summary>
    /// <returns>What the save did: written, or canceled by a hook.</returns>
    /// <exception cref="ObjectDisposedException">The saver was disposed.</exception>
    public async ValueTask<StateWriteResult> SaveNowAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        (StateWriteResult result, Exception? error) = await SaveAsync(cancellationToken, cancellationToken).ConfigureAwait(false);
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }

        return result;
    }

    /// <summary>Stops the interval, waits for a save in progress, then saves once more (<see cref="StateAutoSaveOptions.SaveOnDispose"/>).</summary>
    /// <remarks>Never throws: a failed last save is in <see cref="LastError"/> and raised as <see cref="SaveFailed"/>.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _timer.Dispose();
        await _loop.ConfigureAwait(false);
        if (_options.SaveOnDispose)
        {
            await SaveAsync(CancellationToken.None, CancellationToken.None).ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        await Task.Yield(); // the constructor returns at once
        try
        {
            while (await _timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                // Stopping cancels waiting for a turn, not a save that has started: dispose waits for it.
                await SaveAsync(_stop.Token, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private async Task<(StateWriteResult Result, Exception? Error)> SaveAsync(CancellationToken waitToken, CancellationToken cancellationToken)
    {
        await _saving.WaitAsync(waitToken).ConfigureAwait(false);
        try
        {
            StateWriteResult result = await _manager.SaveAsync(State, Scope, _options.WriteOptions, cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _lastSavedAt = (_options.TimeProvider ?? TimeProvider.System).GetUtcNow();
            }

            Volatile.Write(ref _lastError, null);
            Interlocked.Increment(ref _saveCount);
            Raise(() => Saved?.Invoke(this, EventArgs.Empty));
            return (result, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw; // stopping: not a failure
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _lastError, ex);
            long failures = Interlocked.Increment(ref _failureCount);
            Raise(() => SaveFailed?.Invoke(this, new StateAutoSaveFailedEventArgs(ex, failures)));
            return (default, ex);
        }
        finally
        {
            _saving.Release();
        }
    }

    private static void Raise(Action raise)
    {
        try
        {
            raise();
        }
        catch (Exception)
        {
            // A subscriber's failure must not stop the saver.
        }
    }
}

/// <summary>Starts auto-saving for a state instance.</summary>
public static class StateAutoSaveExtensions
{
    /// <summary>
    /// Saves <paramref name="state"/> in <paramref name="scope"/> every <paramref name="interval"/> and when the returned
    /// saver is disposed (<c>await using var saver = manager.AutoSave(agent, scope, TimeSpan.FromSeconds(30));</c>).
    /// </summary>
    /// <param name="manager">The manager that saves.</param>
    /// <param name="state">The generated state instance.</param>
    /// <param name="scope">The scope to save it in.</param>
    /// <param name="interval">How often to save.</param>
    /// <param name="timeProvider">The clock driving the interval; the system clock when <see langword="null"/>.</param>
    public static StateAutoSaver<T> AutoSave<T>(this StateManager manager, T state, StateScope scope, TimeSpan interval, TimeProvider? timeProvider = null)
        where T : IPersistentState<T>
        => new(manager, state, scope, new StateAutoSaveOptions { Interval = interval, TimeProvider = timeProvider ?? TimeProvider.System });
}
