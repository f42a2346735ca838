using System;
using System.Collections.Generic;

namespace StateGen.Storage.Encryption;

/// <summary>The parts of the store the re-encryption job moves to the active key, in the order it does them.</summary>
public enum ReEncryptionPart
{
    /// <summary>The current entries.</summary>
    Entries,

    /// <summary>The change log's records.</summary>
    ChangeRecords,

    /// <summary>The hook history's values.</summary>
    HookValues,
}

/// <summary>
/// Where a re-encryption job stopped (<see cref="ReEncryptionProgress.Checkpoint"/>): pass it to
/// <see cref="EncryptedStateStore.ReEncryptAsync(ReEncryptionCheckpoint, IProgress{ReEncryptionProgress}?, System.Threading.CancellationToken)"/>
/// to go on from there. Every step before it is committed; the job is idempotent, so resuming from an older checkpoint
/// (or from the start) only re-reads what is done.
/// </summary>
/// <param name="Part">The part the job was in.</param>
/// <param name="EntriesAfter">In <see cref="ReEncryptionPart.Entries"/>: the last entry done (<see langword="null"/>: none yet).</param>
/// <param name="ChangesAfter">In <see cref="ReEncryptionPart.ChangeRecords"/>: the last change sequence covered.</param>
/// <param name="HooksAfter">In <see cref="ReEncryptionPart.HookValues"/>: the last hook record id covered.</param>
public sealed record ReEncryptionCheckpoint(ReEncryptionPart Part, StateScanPosition? EntriesAfter, long ChangesAfter, long HooksAfter)
{
    /// <summary>The start of a job: the first entry.</summary>
    public static ReEncryptionCheckpoint Start { get; } = new(ReEncryptionPart.Entries, null, 0, 0);
}

/// <summary>Where a running <see cref="EncryptedStateStore.ReEncryptAsync(IProgress{ReEncryptionProgress}?, StateScanPosition?, System.Threading.CancellationToken)"/> is: reported after every page of entries and every step of history.</summary>
/// <param name="Scanned">Entries read so far in this run.</param>
/// <param name="ReEncrypted">Entries moved to the active key so far (plaintext entries encrypted included).</param>
/// <param name="Skipped">Entries already under the active key, or changed or deleted concurrently so that nothing was left to do.</param>
/// <param name="Failed">Entries that could not be moved (see <see cref="ReEncryptionResult.Failures"/>).</param>
/// <param name="Position">The last entry handled: pass it as <c>resumeAfter</c> to continue after a cancellation.</param>
public sealed record ReEncryptionProgress(long Scanned, long ReEncrypted, long Skipped, long Failed, StateScanPosition? Position)
{
    /// <summary>The part the job is in.</summary>
    public ReEncryptionPart Part { get; init; }

    /// <summary>Change records moved to the active key so far.</summary>
    public long ChangeRecordsReEncrypted { get; init; }

    /// <summary>Hook records whose values were moved to the active key so far.</summary>
    public long HookRecordsReEncrypted { get; init; }

    /// <summary>History records (change records and hook records) that could not be moved so far.</summary>
    public long HistoryFailed { get; init; }

    /// <summary>Where to resume from, in any part: every step before it is committed.</summary>
    public ReEncryptionCheckpoint Checkpoint { get; init; } = ReEncryptionCheckpoint.Start;
}

/// <summary>A record the re-encryption job could not move to the active key.</summary>
/// <param name="Scope">The record's scope path.</param>
/// <param name="Key">The record's key.</param>
/// <param name="Reason">Why, as the error message said it (it names the scope, key and key id, never a value).</param>
public sealed record ReEncryptionFailure(string Scope, string Key, string Reason)
{
    /// <summary>Which part the record is in: a current entry, a change record or a hook record.</summary>
    public ReEncryptionPart Part { get; init; }

    /// <summary>The change record's sequence or the hook record's id; 0 for an entry.</summary>
    public long RecordId { get; init; }
}

/// <summary>What a re-encryption job did, and which keys the store still needs.</summary>
/// <param name="Scanned">Entries read in this run.</param>
/// <param name="ReEncrypted">Entries moved to the active key (plaintext entries encrypted included).</param>
/// <param name="Skipped">Entries already under the active key, or changed or deleted concurrently (the concurrent write wins).</param>
/// <param name="Failures">Records (entries, then history records) that could not be moved: at most the first 1,000 (<see cref="Failed"/> and <see cref="HistoryFailed"/> count them all).</param>
/// <param name="Failed">How many entries could not be moved.</param>
/// <param name="ActiveKeyId">The key everything was moved to.</param>
/// <param name="KeyUsage">Counted after the job: which keys the entries, the change log and the hook history still use.</param>
public sealed record ReEncryptionResult(
    long Scanned,
    long ReEncrypted,
    long Skipped,
    IReadOnlyList<ReEncryptionFailure> Failures,
    long Failed,
    string ActiveKeyId,
    StateKeyUsage KeyUsage)
{
    /// <summary>Change records moved to the active key (0 when the history part did not run).</summary>
    public long ChangeRecordsReEncrypted { get; init; }

    /// <summary>Hook records whose values were moved to the active key (0 when the history part did not run).</summary>
    public long HookRecordsReEncrypted { get; init; }

    /// <summary>History records (change records and hook records) that could not be moved.</summary>
    public long HistoryFailed { get; init; }

    /// <summary>
    /// Whether the history part ran: <see cref="EncryptedStateStoreOptions.ReEncryptHistory"/> is on and the inner store
    /// can rewrite its history in place. When it did not, <see cref="HistoryRecordsUnderOldKeys"/> says what still needs
    /// the retired keys.
    /// </summary>
    public bool HistoryReEncrypted { get; init; }

    /// <summary>Entries still under another key than the active one, or still in plaintext, when the job ended.</summary>
    public long RemainingUnderOldKeys => KeyUsage.EntriesNotUnder(ActiveKeyId);

    /// <summary>Change records and hook values still under another key than the active one, or in plaintext.</summary>
    public long HistoryRecordsUnderOldKeys => KeyUsage.HistoryNotUnder(ActiveKeyId);

    /// <summary>
    /// The retired keys that some record still needs: they must stay in the ring (or the history that uses them must
    /// be pruned) to keep every record readable.
    /// </summary>
    public IReadOnlyList<string> RetiredKeysInUse => KeyUsage.KeyIdsOtherThan(ActiveKeyId);

    /// <summary>Whether every retired key of the ring could be removed without losing a record.</summary>
    public bool CanRemoveRetiredKeys => RetiredKeysInUse.Count == 0;
}

/// <summary>
/// Which key ids the stored records use, counted from the envelopes' headers without decrypting
/// (<see cref="EncryptedStateStore.GetKeyUsageAsync"/>). Each dictionary maps a key id to a count; plaintext values are
/// counted apart.
/// </summary>
/// <param name="Entries">Current entries per key id.</param>
/// <param name="ChangeRecords">Change-log write records per key id.</param>
/// <param name="HookValues">Hook execution values (old, new and result values, each counted) per key id.</param>
/// <param name="PlaintextEntries">Current entries stored in plaintext.</param>
/// <param name="PlaintextHistoryRecords">Change records and hook values stored in plaintext.</param>
public sealed record StateKeyUsage(
    IReadOnlyDictionary<string, long> Entries,
    IReadOnlyDictionary<string, long> ChangeRecords,
    IReadOnlyDictionary<string, long> HookValues,
    long PlaintextEntries,
    long PlaintextHistoryRecords)
{
    /// <summary>Every key id in use, in ordinal order.</summary>
    public IReadOnlyList<string> KeyIds
    {
        get
        {
            var ids = new SortedSet<string>(StringComparer.Ordinal);
            ids.UnionWith(Entries.Keys);
            ids.UnionWith(ChangeRecords.Keys);
            ids.UnionWith(HookValues.Keys);
            return new List<string>(ids);
        }
    }

    /// <summary>How many records (entries, change records and hook values) use <paramref name="keyId"/>.</summary>
    public long CountUsing(string keyId)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        return Get(Entries, keyId) + Get(ChangeRecords, keyId) + Get(HookValues, keyId);
    }

    internal long EntriesNotUnder(string activeKeyId) => Sum(Entries, activeKeyId) + PlaintextEntries;

    internal long HistoryNotUnder(string activeKeyId) => Sum(ChangeRecords, activeKeyId) + Sum(HookValues, activeKeyId) + PlaintextHistoryRecords;

    internal IReadOnlyList<string> KeyIdsOtherThan(string activeKeyId)
    {
        var ids = new List<string>(KeyIds);
        ids.RemoveAll(id => string.Equals(id, activeKeyId, StringComparison.Ordinal));
        return ids;
    }

    private static long Get(IReadOnlyDictionary<string, long> counts, string keyId) => counts.TryGetValue(keyId, out long n) ? n : 0;

    private static long Sum(IReadOnlyDictionary<string, long> counts, string exceptKeyId)
    {
        long sum = 0;
        foreach (KeyValuePair<string, long> entry in counts)
        {
            if (!string.Equals(entry.Key, exceptKeyId, StringComparison.Ordinal))
            {
                sum += entry.Value;
            }
        }

        return sum;
    }
}
