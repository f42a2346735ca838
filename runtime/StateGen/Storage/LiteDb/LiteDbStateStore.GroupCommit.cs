using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Write batching: concurrent commits share one LiteDB transaction. LiteDB 5 takes one writer at a time, and each of its
/// transactions pays a fixed cost (the header page, the log's bookkeeping, the commit itself) beside its own pages. A
/// commit queues its operations and awaits its turn to lead (asynchronously: a queued writer holds no thread); whoever
/// gets the turn (the leader) takes every commit queued so far and applies them, in queue order, as one batch under the
/// store's lock, as RocksDB's write group leader does. The others find their results waiting when their turn comes. Each commit keeps its own all-or-nothing: a commit whose own check fails
/// (a version conflict, a change the log cannot hold) made the batch fail before LiteDB's commit, so the leader then
/// applies each commit on its own and only that one fails.
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <summary>The most commits one shared transaction takes.</summary>
    internal const int MaxGroupCommits = 64;

    /// <summary>The most payload bytes one shared transaction takes (it always takes at least one commit).</summary>
    internal const long MaxGroupBytes = 8L << 20;

    private readonly object _pendingLock = new();
    private readonly SemaphoreSlim _commitTurn = new(1, 1); // waited for asynchronously: queued writers hold no thread
    private readonly List<PendingCommit> _pending = [];

    /// <summary>Shared transactions of more than one commit so far (for tests and figures).</summary>
    internal long GroupedTransactions { get; private set; }

    /// <summary>Commits queued and not yet taken by a leader (for tests).</summary>
    internal int PendingCommits
    {
        get
        {
            lock (_pendingLock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>The writer's lock, for a test that holds it to make commits queue up.</summary>
    internal object WriterLockForTests => _gate;

    /// <summary>A commit waiting for the writer. Written and read under the store's lock.</summary>
    private sealed class PendingCommit(IReadOnlyList<StateOperation> operations, long bytes)
    {
        public IReadOnlyList<StateOperation> Operations { get; } = operations;

        public long Bytes { get; } = bytes;

        public bool Done { get; set; }

        public IReadOnlyList<StateOperationResult>? Results { get; set; }

        public ExceptionDispatchInfo? Error { get; set; }

        public long BarrierSequence { get; set; }

        /// <summary>Put back in the queue untried (another commit's failure needs a reopen first): its caller leads it again.</summary>
        public bool Requeued { get; set; }
    }

    /// <summary>Queues <paramref name="operations"/> for the writer, then waits (outside the lock) until a flush covers them.</summary>
    private ValueTask<IReadOnlyList<StateOperationResult>> CommitGrouped(IReadOnlyList<StateOperation> operations)
    {
        long bytes = 0;
        foreach (StateOperation op in operations)
        {
            bytes += op is StateWrite w ? w.Payload.Length : 0;
        }

        var mine = new PendingCommit(operations, bytes);
        lock (_pendingLock)
        {
            _pending.Add(mine);
        }

        // The turn to lead is awaited, not blocked on: while a leader commits, the writers that arrive queue up without
        // holding a thread each (a blocked thread-pool thread per writer would cap a group at the pool's few threads).
        Task turn = _commitTurn.WaitAsync();
        return turn.IsCompletedSuccessfully ? CommitInTurn(mine) : CommitAfterTurnAsync(mine, turn);
    }

    private async ValueTask<IReadOnlyList<StateOperationResult>> CommitAfterTurnAsync(PendingCommit mine, Task turn)
    {
        await turn.ConfigureAwait(false);
        return await CommitInTurn(mine).ConfigureAwait(false);
    }

    /// <summary>With the turn to lead held (released here): leads a group unless a leader already did this commit.</summary>
    private ValueTask<IReadOnlyList<StateOperationResult>> CommitInTurn(PendingCommit mine)
    {
        try
        {
            LeadOrFollow(mine);
        }
        finally
        {
            _commitTurn.Release();
        }

        mine.Error?.Throw();
        IReadOnlyList<StateOperationResult> results = mine.Results!;
        if (Durability == StateDurability.Relaxed)
        {
            return new(results);
        }

        ValueTask durable = _barrier.WaitAsync(mine.BarrierSequence);
        return durable.IsCompletedSuccessfully ? new(results) : AwaitDurable(durable, results);
    }

    private void LeadOrFollow(PendingCommit mine)
    {
        // Until it is done: a commit put back untried (see ApplyGroup) is led again, after the store's reopen.
        while (true)
        {
            lock (_gate)
            {
                // A leader may have done it while this caller waited (Monitor is re-entrant: Run takes it again).
                if (mine.Done)
                {
                    return;
                }

                mine.Requeued = false;
                List<PendingCommit>? group = null;
                try
                {
                    Run(
                        () =>
                        {
                            ThrowIfFlushFailed();
                            group = TakeGroup(mine);
                            ApplyGroup(group);
                            long sequence = _barrier.Committed();
                            foreach (PendingCommit pending in group)
                            {
                                if (!pending.Done && !pending.Requeued)
                                {
                                    pending.BarrierSequence = sequence;
                                    pending.Done = true;
                                }
                            }

                            return 0;
                        },
                        applyPending: false); // a commit applies the overlay itself when it is full (Apply)
                }
                catch when (group is null)
                {
                    // Refused before anything was taken (a closed or faulted store, a failed flush): only this commit.
                    lock (_pendingLock)
                    {
                        _pending.Remove(mine);
                    }

                    throw;
                }
                catch (Exception ex)
                {
                    // Every commit of the group gets the error its leader got (as Run mapped it, or whatever Run's own
                    // handling threw), still under the lock: a follower finds it when it gets the lock.
                    Fail(group, ex);
                }
            }
        }
    }

    /// <summary>Every commit of <paramref name="group"/> not yet done (and not put back) gets <paramref name="error"/>.</summary>
    private static void Fail(List<PendingCommit>? group, Exception error)
    {
        foreach (PendingCommit pending in group ?? [])
        {
            if (!pending.Done && !pending.Requeued)
            {
                pending.Error = ExceptionDispatchInfo.Capture(error);
                pending.Done = true;
            }
        }
    }

    /// <summary>The queued commits from the oldest, up to the group's limits, always with <paramref name="mine"/>.</summary>
    private List<PendingCommit> TakeGroup(PendingCommit mine)
    {
        lock (_pendingLock)
        {
            var group = new List<PendingCommit>();
            long bytes = 0;
            int taken = 0;
            foreach (PendingCommit pending in _pending)
            {
                if (group.Count > 0 && (group.Count >= MaxGroupCommits || bytes + pending.Bytes > MaxGroupBytes))
                {
                    break;
                }

                group.Add(pending);
                bytes += pending.Bytes;
                taken++;
            }

            _pending.RemoveRange(0, taken);
            if (!group.Contains(mine))
            {
                // Older commits filled the group: this one goes in too (the limits bound a group, not a caller's wait).
                _pending.Remove(mine);
                group.Add(mine);
            }

            return group;
        }
    }

    /// <summary>Puts <paramref name="untried"/> back at the front of the queue, in order.</summary>
    private void Requeue(List<PendingCommit> untried)
    {
        foreach (PendingCommit pending in untried)
        {
            pending.Requeued = true;
        }

        lock (_pendingLock)
        {
            _pending.InsertRange(0, untried);
        }
    }

    /// <summary>Applies the group as one transaction, or each commit on its own when one of them failed its own checks.</summary>
    private void ApplyGroup(List<PendingCommit> group)
    {
        if (group.Count == 1)
        {
            group[0].Results = Apply(group[0].Operations);
            return;
        }

        var all = new List<StateOperation>();
        foreach (PendingCommit pending in group)
        {
            all.AddRange(pending.Operations);
        }

        StateOperationResult[] results;
        _commitAttempted = false; // a check that fails before the transaction leaves it so
        try
        {
            results = Apply(all);
        }
        catch (StateGenException error) when (!_commitAttempted && _reopenPending)
        {
            // Rolled back, but undoing it failed too (the store reopens before the next change). Which commit's own check
            // failed is not known: each gets an error of its own that names none of the others.
            foreach (PendingCommit pending in group)
            {
                pending.Error = ExceptionDispatchInfo.Capture(new StateStoreException(
                    $"The change was not made: the write batch it was in was rolled back ({error.GetType().Name}), and the store reopens its files before the next change. Nothing of it was written; it can be retried."));
                pending.Done = true;
            }

            return;
        }
        catch (StateGenException) when (!_commitAttempted && !_reopenPending && !_faulted)
        {
            // Rolled back before LiteDB's commit (nothing of it happened): one commit's own error, such as a version
            // conflict. Each on its own, in order, so that only the failing ones fail.
            foreach (PendingCommit pending in group)
            {
                _commitAttempted = false;
                try
                {
                    pending.Results = Apply(pending.Operations);

                    // Done now: should a later one fail the store, this one committed and must not get its error.
                    pending.BarrierSequence = _barrier.Committed();
                    pending.Done = true;
                }
                catch (StateGenException error) when (!_commitAttempted && !_faulted)
                {
                    pending.Error = ExceptionDispatchInfo.Capture(error);
                    pending.Done = true;
                    if (_reopenPending)
                    {
                        // Its rollback could not be undone in the log: the store reopens first. The commits not tried
                        // yet go back to the front of the queue, untried, and their callers lead them again.
                        Requeue(group.SkipWhile(p => p != pending).Skip(1).Where(p => !p.Done).ToList());
                        return;
                    }
                }
            }

            return;
        }

        GroupedTransactions++;
        int next = 0;
        foreach (PendingCommit pending in group)
        {
            pending.Results = new ArraySegment<StateOperationResult>(results, next, pending.Operations.Count);
            next += pending.Operations.Count;
        }
    }
}
