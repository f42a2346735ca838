using System;
using System.Collections.Generic;

namespace StateGen.Storage.Encryption;

/// <summary>Where a running <see cref="EncryptedStateStore.ReEncryptAsync"/> is: reported after every page.</summary>
/// <param name="Scanned">Entries read so far in this run.</param>
/// <param name="ReEncrypted">Entries moved to the active key so far (plaintext entries encrypted included).</param>
/// <param name="Skipped">Entries already under the active key, or changed or deleted concurrently so that nothing was left to do.</param>
/// <param name="Failed">Entries that could not be moved (see <see cref="ReEncryptionResult.Failures"/>).</param>
/// <param name="Position">The last entry handled: pass it as <c>resumeAfter</c> to continue after a cancellation.</param>
public sealed record ReEncryptionProgress(long Scanned, long ReEncrypted, long Skipped, long Failed, StateScanPosition? Position);

/// <summary>An entry the re-encryption job could not move to the active key.</summary>
/// <param name="Scope">The entry's scope path.</param>
/// <param name="Key">The entry's key.</param>
/// <param name="Reason">Why, as the error message said it (it names the scope, key and key id, never a value).</param>
public sealed record ReEncryptionFailure(string Scope, string Key, string Reason);

/// <summary>What <see cref="EncryptedStateStore.ReEncryptAsync"/> did, and which keys the store still needs.</summary>
/// <param name="Scanned">Entries read in this run.</param>
/// <param name="ReEncrypted">Entries moved to the active key (plaintext entries encrypted included).</param>
/// <param name="Skipped">Entries already under the active key, or changed or deleted concurrently (the concurrent write wins).</param>
/// <param name="Failures">Entries that could not be moved (at most the first 1,000; <see cref="Failed"/> counts them all).</param>
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
