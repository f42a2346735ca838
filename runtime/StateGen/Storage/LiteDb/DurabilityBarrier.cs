using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Group commit: writers commit under the store's lock (into the OS cache), take a commit number, then wait here until
/// a flush that began after their commit has finished. One flusher at a time runs the flush outside the store's lock
/// and releases every waiter whose commit it covered. A lone writer flushes on its own thread, once per commit; commits
/// that arrive during a flush are covered by the next one, which runs on the store's own flusher thread: a thread-pool
/// thread blocked in <c>fsync</c> is one fewer to commit on (half the pool on a 2-core machine).
/// </summary>
internal sealed class DurabilityBarrier
{
    private readonly Action _flush;
    private readonly object _lock = new();
    private readonly List<(long Sequence, TaskCompletionSource Turn)> _waiters = [];
    private long _committed;
    private long _durable;
    private bool _flushing;
    private bool _handover; // waiters are left after a flush: the flusher thread runs the next one
    private bool _closed;
    private Thread? _flusher;
    private Exception? _failure;

    /// <param name="flush">Flushes everything written so far to the disk; runs on one thread at a time.</param>
    public DurabilityBarrier(Action flush) => _flush = flush;

    /// <summary>How many flushes ran.</summary>
    public long FlushCount { get; private set; }

    /// <summary>Whether every commit so far is covered by a flush.</summary>
    public bool IsClean => Volatile.Read(ref _durable) == Interlocked.Read(ref _committed);

    /// <summary>Takes the next commit number: call once the commit is written (to the OS cache), before waiting.</summary>
    public long Committed() => Interlocked.Increment(ref _committed);

    /// <summary>The number of the last commit taken so far.</summary>
    public long LastCommitted => Interlocked.Read(ref _committed);

    /// <summary>Completes once commit <paramref name="sequence"/> (and every one before it) is on the disk.</summary>
    /// <exception cref="StateStoreException">A flush failed: the change may not be durable.</exception>
    public ValueTask WaitAsync(long sequence)
    {
        TaskCompletionSource turn;
        lock (_lock)
        {
            ThrowIfFailed();
            if (_durable >= sequence)
            {
                return default;
            }

            if (_flushing)
            {
                turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((sequence, turn));
            }
            else
            {
                _flushing = true;
                FlushAsLeader();
                return default;
            }
        }

        return new ValueTask(turn.Task);
    }

    /// <summary>The flusher thread: runs the flushes handed over by <see cref="FlushAsLeader"/> until the barrier closes.</summary>
    private void FlusherLoop()
    {
        lock (_lock)
        {
            while (true)
            {
                while (!_handover && !_closed)
                {
                    Monitor.Wait(_lock);
                }

                if (!_handover)
                {
                    return;
                }

                _handover = false;
                try
                {
                    FlushAsLeader();
                }
                catch (StateStoreException)
                {
                    // Recorded in _failure, and every waiter has it.
                }
            }
        }
    }

    /// <summary>Called holding <see cref="_lock"/> with <see cref="_flushing"/> set; flushes outside it.</summary>
    private void FlushAsLeader()
    {
        Monitor.Exit(_lock);
        long target = Interlocked.Read(ref _committed);
        Exception? error = null;
        try
        {
            _flush();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            error = ex;
        }
        finally
        {
            Monitor.Enter(_lock);
        }

        FlushCount++;
        var release = new List<TaskCompletionSource>();
        if (error is not null)
        {
            // After a failed fsync the OS may have dropped the dirty pages: nothing written since the last good flush
            // can be called durable, now or by a later flush.
            _failure = error;
            foreach (var waiter in _waiters)
            {
                waiter.Turn.TrySetException(Failure(error));
            }

            _waiters.Clear();
            _flushing = false;
            Monitor.PulseAll(_lock);
            throw Failure(error);
        }

        _durable = Math.Max(_durable, target);
        for (int i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_waiters[i].Sequence <= target)
            {
                release.Add(_waiters[i].Turn);
                _waiters.RemoveAt(i);
            }
        }

        if (_waiters.Count > 0)
        {
            // Their commits were taken before this point: the next flush covers them, on the flusher thread.
            _handover = true;
            if (_flusher is null)
            {
                _flusher = new Thread(FlusherLoop) { IsBackground = true, Name = "StateGen flusher" };
                _flusher.Start();
            }
        }
        else
        {
            _flushing = false;
        }

        Monitor.PulseAll(_lock);
        foreach (TaskCompletionSource waiter in release)
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>Flushes now if anything is not yet durable (the relaxed mode's timer, an explicit flush).</summary>
    public ValueTask FlushAsync() => WaitAsync(LastCommitted);

    /// <summary>Flushes once if anything is not covered yet and no flush is running; never waits. For the timer.</summary>
    public void TryFlushInBackground()
    {
        lock (_lock)
        {
            if (_flushing || _failure is not null || _durable >= Interlocked.Read(ref _committed))
            {
                return;
            }

            _flushing = true;
            try
            {
                FlushAsLeader();
            }
            catch (StateStoreException)
            {
                // Recorded in _failure: the next write or flush reports it.
            }
        }
    }

    /// <summary>Waits until no flush is running; later <see cref="WaitAsync"/> calls still work.</summary>
    public void WaitIdle()
    {
        lock (_lock)
        {
            while (_flushing)
            {
                Monitor.Wait(_lock);
            }
        }
    }

    /// <summary>
    /// At close: waits for a running flush, flushes what is left, and counts every commit as covered, so a writer still
    /// waiting after the files close returns instead of flushing closed files.
    /// </summary>
    public void Close(Action finalFlush)
    {
        lock (_lock)
        {
            while (_flushing)
            {
                Monitor.Wait(_lock);
            }

            // The flusher thread (if any) has nothing left to do: let it end.
            _closed = true;
            Monitor.PulseAll(_lock);
            if (_failure is not null)
            {
                return;
            }

            try
            {
                finalFlush();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _failure = ex;
                throw Failure(ex);
            }

            _durable = Interlocked.Read(ref _committed);
        }
    }

    /// <summary>Whether a flush failed; a store that saw one refuses further writes.</summary>
    public bool Failed
    {
        get
        {
            lock (_lock)
            {
                return _failure is not null;
            }
        }
    }

    private void ThrowIfFailed()
    {
        if (_failure is not null)
        {
            throw Failure(_failure);
        }
    }

    private static StateStoreException Failure(Exception error)
        => new("The state database could not be flushed to the disk: the change is written but may not survive a power loss or an operating-system crash.", error);
}
