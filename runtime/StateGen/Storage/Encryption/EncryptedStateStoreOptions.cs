using System;

namespace StateGen.Storage.Encryption;

/// <summary>Options of an <see cref="EncryptedStateStore"/>.</summary>
public sealed class EncryptedStateStoreOptions
{
    /// <summary>The default page size of the re-encryption job and of key usage counts: 256 entries.</summary>
    public const int DefaultPageSize = 256;

    /// <summary>
    /// Migration mode for a store that held plaintext before encryption was turned on: a stored value that is not an
    /// envelope is returned as it is instead of failing with
    /// <see cref="Security.StateDecryptionFailureReason.NotEncrypted"/>, and
    /// <see cref="EncryptedStateStore.ReEncryptAsync(IProgress{ReEncryptionProgress}?, StateScanPosition?, System.Threading.CancellationToken)"/> encrypts it. Off by default. Turn it off again once the job
    /// reports no plaintext left: while it is on, anyone who can write to the inner store can plant values that are
    /// read as if they had been encrypted.
    /// </summary>
    public bool AllowPlaintextReads { get; set; }

    /// <summary>
    /// When <see langword="true"/>, disposing the encrypted store leaves the inner store open. By default the
    /// encrypted store owns the inner store and disposes it.
    /// </summary>
    public bool LeaveInnerStoreOpen { get; set; }

    /// <summary>How many entries (or change records) the re-encryption job and the key usage count read at a time.</summary>
    public int PageSize { get; set; } = DefaultPageSize;

    /// <summary>
    /// Whether <see cref="EncryptedStateStore.ReEncryptAsync(IProgress{ReEncryptionProgress}?, StateScanPosition?, System.Threading.CancellationToken)"/>
    /// also moves the history (change records and hook values) to the active key, after the entries, when the inner
    /// store can rewrite it in place (the LiteDB and memory stores can). On by default: after the job, a retired key is
    /// needed by no record. Turn it off to leave the history under the keys it was written with (it then needs those
    /// keys until it is pruned), for example when a large history is about to be pruned anyway.
    /// </summary>
    public bool ReEncryptHistory { get; set; } = true;

    /// <summary>
    /// The default reservation block of durable key usage counts: 2^16 encryptions. One durable write per 65,536
    /// encryptions under a key, and a stop without dispose over-counts by at most that, 1/65,536 of the 2^32 limit.
    /// </summary>
    internal const long DefaultKeyUsageReservation = 1L << 16;

    /// <summary>How many encryptions one durable reservation of a key's count covers; settable here for tests only.</summary>
    internal long KeyUsageReservation { get; set; } = DefaultKeyUsageReservation;

    internal EncryptedStateStoreOptions Validated()
    {
        if (PageSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, "The page size must be 1 or more.");
        }

        if (KeyUsageReservation is < 1 or > Security.StateEncryptionOptions.DefaultKeyUsageLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(KeyUsageReservation), KeyUsageReservation, "The key usage reservation must be between 1 and 2^32.");
        }

        return new EncryptedStateStoreOptions { AllowPlaintextReads = AllowPlaintextReads, LeaveInnerStoreOpen = LeaveInnerStoreOpen, PageSize = PageSize, ReEncryptHistory = ReEncryptHistory, KeyUsageReservation = KeyUsageReservation };
    }
}
