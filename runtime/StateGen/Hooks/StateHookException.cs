using System;

namespace StateGen.Hooks;

/// <summary>A hook failed or timed out under <see cref="HookFailurePolicy.FailOperation"/>.</summary>
/// <remarks>
/// For a before hook nothing was written. For an after hook the change was committed; the exception reports the hook.
/// The message names the hook, point, scope and key, never a value; the hook's own exception is the inner exception.
/// </remarks>
public sealed class StateHookException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateHookException(string hookId, StateHookPoint point, string scope, string key, bool timedOut, Exception? innerException)
        : base(
            timedOut
                ? $"Hook '{hookId}' at {point} timed out for the state at '{scope}' key '{key}'."
                : $"Hook '{hookId}' at {point} failed for the state at '{scope}' key '{key}': {innerException?.GetType().Name ?? "an invalid result"}.",
            innerException)
    {
        HookId = hookId;
        Point = point;
        TimedOut = timedOut;
        Scope = scope;
        Key = key;
    }

    /// <summary>The hook's id.</summary>
    public string HookId { get; }

    /// <summary>Where it ran.</summary>
    public StateHookPoint Point { get; }

    /// <summary>Whether it timed out (rather than threw).</summary>
    public bool TimedOut { get; }
}
