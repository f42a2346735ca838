using System;

namespace StateGen.Storage.LiteDb;

/// <summary>What <see cref="LiteDbStateStore.UpgradeChangeLogAsync"/> did.</summary>
/// <param name="Upgraded">
/// Whether this call converted the file; <see langword="false"/> when its change log was in segment files already (then
/// nothing was changed and the counts are 0).
/// </param>
/// <param name="ValuesMoved">Current values whose payload was moved from their change record into their own document.</param>
/// <param name="RecordsCopied">Change records copied into the segment files.</param>
/// <param name="Tombstones">
/// Tombstones written for sequences the <c>changes</c> collection no longer held (pruned records, and the sequences a
/// restore skipped), so that the log's sequences stay consecutive; each is about 40 bytes.
/// </param>
/// <param name="FirstSequence">The first sequence the new log holds (its oldest kept record).</param>
/// <param name="LastSequence">The newest committed sequence: new changes continue after it.</param>
/// <param name="Folder">The segment folder the file now names.</param>
/// <param name="Elapsed">How long the conversion took.</param>
public sealed record ChangeLogUpgradeResult(
    bool Upgraded,
    long ValuesMoved,
    long RecordsCopied,
    long Tombstones,
    long FirstSequence,
    long LastSequence,
    string? Folder,
    TimeSpan Elapsed);

/// <summary>Progress of <see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>.</summary>
/// <param name="Stage">The step: <see cref="ChangeLogUpgradeStage"/>.</param>
/// <param name="Done">Items of the step done so far.</param>
/// <param name="Total">Items of the step in all.</param>
public readonly record struct ChangeLogUpgradeProgress(ChangeLogUpgradeStage Stage, long Done, long Total);

/// <summary>The steps of a change-log conversion, in order.</summary>
public enum ChangeLogUpgradeStage
{
    /// <summary>Each current value's payload goes from its change record into its own document (items: values).</summary>
    MovingValues = 0,

    /// <summary>The change records are copied into the segment files, in sequence order (items: sequences).</summary>
    CopyingRecords = 1,

    /// <summary>The file is switched to the segment layout, and the old collection dropped (items: 1).</summary>
    Switching = 2,
}
