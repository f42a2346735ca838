using System;
using System.Collections.Generic;

namespace StateGen.Storage;

/// <summary>
/// A store that can hand out a consistent view of all its entries while writers continue: what backups read. Both
/// built-in stores implement it.
/// </summary>
internal interface IStateSnapshotSource
{
    /// <summary>
    /// Runs <paramref name="reader"/> synchronously, on the calling thread, over a consistent snapshot of every entry
    /// (in no promised order) as of one change-log position. Writers are not blocked meanwhile. Call it on a thread
    /// of its own: an implementation may bind a database read transaction to it, so the reader must not <c>await</c>.
    /// </summary>
    T ReadSnapshot<T>(Func<StateSnapshotInfo, IEnumerable<SnapshotDocument>, T> reader);
}

/// <summary>Where a snapshot stands.</summary>
/// <param name="ChangeLogPosition">The sequence of the last change the snapshot contains (0 when none).</param>
/// <param name="CapturedAt">The store's clock when the snapshot was taken: every change in it is at or before this time, every later change at or after it.</param>
/// <param name="RecordsChanges">Whether the store keeps a change log.</param>
/// <param name="DocumentCount">How many entries the snapshot holds.</param>
internal readonly record struct StateSnapshotInfo(long ChangeLogPosition, DateTimeOffset CapturedAt, bool RecordsChanges, long DocumentCount);

/// <summary>One entry of a snapshot with the change record of its current value (sequence 0 when the store logs none).</summary>
internal sealed record SnapshotDocument(StoredEntry Entry, long ChangeSequence, long PreviousSequence, string? CorrelationId, string? Origin);
