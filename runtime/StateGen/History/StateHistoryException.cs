using System;

namespace StateGen.History;

/// <summary>
/// A point-in-time read, timeline, fork or replay needed change history the store does not have: its change log is
/// off, or the records were pruned. The message says which window is kept.
/// </summary>
public sealed class StateHistoryUnavailableException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateHistoryUnavailableException(string message, DateTimeOffset? earliestAvailable = null)
        : base(message)
    {
        EarliestAvailable = earliestAvailable;
    }

    /// <summary>The earliest time the kept history covers, when known.</summary>
    public DateTimeOffset? EarliestAvailable { get; }
}
