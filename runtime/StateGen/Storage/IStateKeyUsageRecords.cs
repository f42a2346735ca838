namespace StateGen.Storage;

/// <summary>
/// A store that keeps encryption key usage counts beside the data they protect, so that the nonce limits of an
/// <see cref="Encryption.EncryptedStateStore"/> over it cover a key's whole life, across restarts. The LiteDB and memory
/// stores implement it; the record of a key holds its id and a number, never key material.
/// </summary>
/// <remarks>
/// Called from the encrypting thread, synchronously (encryption is synchronous), once when a key is first used and
/// once per reservation block after that (see <see cref="Security.StateKeyUsageLedger"/>).
/// </remarks>
internal interface IStateKeyUsageRecords
{
    /// <summary>The reservation stored for a key: no more encryptions than this have been counted under it here.</summary>
    /// <returns><see langword="null"/> when the store holds no record for the key.</returns>
    /// <exception cref="StateStoreCorruptedException">The record is damaged.</exception>
    long? ReadKeyUsageReservation(string keyId);

    /// <summary>
    /// Raises the stored reservation of a key to <paramref name="reservation"/> (a lower value leaves it as it is) and
    /// returns once the record is durable (flushed to the disk, for a store with a file), whatever the store's
    /// durability setting.
    /// </summary>
    /// <returns>The stored reservation: the larger of the two.</returns>
    /// <exception cref="StateStoreCorruptedException">The stored record is damaged.</exception>
    /// <exception cref="StateStoreException">The record could not be written or flushed.</exception>
    long WriteKeyUsageReservation(string keyId, long reservation);

    /// <summary>
    /// Whether the store will never record again: disposed, or closed after it found damage. A ledger over such a store
    /// stops counting there instead of failing the encryptions of other stores that share its key ring.
    /// </summary>
    bool KeyUsageClosed { get; }
}
