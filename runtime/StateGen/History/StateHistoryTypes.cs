using System;
using System.Collections.Generic;
using StateGen.Storage;

namespace StateGen.History;

/// <summary>Which changes a timeline lists. Conditions combine with "and".</summary>
public sealed record StateTimelineQuery
{
    /// <summary>Only this scope.</summary>
    public StateScope? Scope { get; init; }

    /// <summary>Only this key (requires <see cref="Scope"/>).</summary>
    public string? Key { get; init; }

    /// <summary>Only this correlation id.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Only changes committed at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Only changes committed at or before this time.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>At most this many changes (the oldest first). 10,000 by default.</summary>
    public int Limit { get; init; } = 10_000;
}

/// <summary>How much history to keep; see <see cref="StateManager.PruneHistoryAsync"/>.</summary>
public sealed record StateHistoryRetention
{
    /// <summary>Change records older than this are removed.</summary>
    public TimeSpan? MaxChangeAge { get; init; }

    /// <summary>At most this many change records are kept per key (the newest).</summary>
    public int? MaxChangesPerKey { get; init; }

    /// <summary>Hook execution records older than this are removed.</summary>
    public TimeSpan? MaxHookExecutionAge { get; init; }

    /// <summary>At most this many hook execution records are kept (the newest).</summary>
    public int? MaxHookExecutions { get; init; }
}

/// <summary>What <see cref="StateManager.PruneHistoryAsync"/> removed.</summary>
/// <param name="ChangesRemoved">Change records removed.</param>
/// <param name="HookExecutionsRemoved">Hook execution records removed.</param>
public readonly record struct StateHistoryPruneResult(long ChangesRemoved, long HookExecutionsRemoved);

/// <summary>What a replay did (or would do) with one recorded change.</summary>
public enum StateReplayOutcome
{
    /// <summary>Applied to the target.</summary>
    Applied = 0,

    /// <summary>A dry run: the target would change.</summary>
    WouldApply = 1,

    /// <summary>The target already holds this value (or, for a delete, nothing), so nothing changes.</summary>
    Unchanged = 2,

    /// <summary>A hook of the target canceled it.</summary>
    Canceled = 3,

    /// <summary>It failed; see <see cref="StateReplayStep.Error"/>.</summary>
    Failed = 4,
}

/// <summary>One recorded change replayed against a target.</summary>
/// <param name="Sequence">The change's sequence in the source.</param>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The key.</param>
/// <param name="Kind">Write or delete.</param>
/// <param name="Outcome">What happened.</param>
/// <param name="Version">The target's version after the step (current version for a dry run).</param>
/// <param name="Error">The exception type name of a failure (never its message).</param>
public sealed record StateReplayStep(long Sequence, string Scope, string Key, StateChangeKind Kind, StateReplayOutcome Outcome, long Version, string? Error = null);

/// <summary>The result of <see cref="StateManager.ReplayAsync"/>.</summary>
/// <param name="CorrelationId">The correlation id replayed.</param>
/// <param name="DryRun">Whether nothing was written.</param>
/// <param name="Steps">Each change, in its original order.</param>
public sealed record StateReplayResult(string CorrelationId, bool DryRun, IReadOnlyList<StateReplayStep> Steps)
{
    /// <summary>Steps that were applied, would apply, or were already in place.</summary>
    public int Succeeded
    {
        get
        {
            int count = 0;
            foreach (StateReplayStep step in Steps)
            {
                count += step.Outcome is StateReplayOutcome.Applied or StateReplayOutcome.WouldApply or StateReplayOutcome.Unchanged ? 1 : 0;
            }

            return count;
        }
    }

    /// <summary>Steps that failed or were canceled.</summary>
    public int Failed => Steps.Count - Succeeded;
}
