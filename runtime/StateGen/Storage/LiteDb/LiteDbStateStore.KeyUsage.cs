using System;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Encryption key usage counts (<see cref="IStateKeyUsageRecords"/>): one checksummed <c>meta</c> record per key,
/// <c>{ _id: "keyuse:&lt;key id&gt;", k: key id, v: reservation }</c>. It holds the key id and a number, never key material.
/// Each write is flushed before it returns, whatever <see cref="Durability"/> says: an encryption must never run past a
/// reservation that a power cut could take back.
/// </summary>
public sealed partial class LiteDbStateStore : IStateKeyUsageRecords
{
    private const string KeyUsagePrefix = "keyuse:";

    /// <inheritdoc />
    bool IStateKeyUsageRecords.KeyUsageClosed => Volatile.Read(ref _disposed) || Volatile.Read(ref _faulted);

    /// <inheritdoc />
    long? IStateKeyUsageRecords.ReadKeyUsageReservation(string keyId)
        => Run(() => StoredKeyUsage(keyId), applyPending: false);

    /// <inheritdoc />
    long IStateKeyUsageRecords.WriteKeyUsageReservation(string keyId, long reservation)
    {
        long stored = reservation;
        long commit = Run(
            () =>
            {
                ThrowIfFlushFailed();
                InTransaction(() =>
                {
                    // Never lowered: two encrypted stores over this one file may reserve for the same key. With one ring
                    // their reservations cover its one count; two rings of one key are not summed (docs/encryption.md).
                    stored = Math.Max(StoredKeyUsage(keyId) ?? 0, reservation);
                    _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = KeyUsagePrefix + keyId, ["k"] = keyId, ["v"] = stored }));
                });
                return _barrier.Committed();
            },
            applyPending: false);
        ValueTask durable = _barrier.WaitAsync(commit);
        if (!durable.IsCompletedSuccessfully)
        {
            durable.AsTask().GetAwaiter().GetResult();
        }

        return stored;
    }

    /// <summary>A key's stored reservation, checked (its checksum is required even in a file from before checksums).</summary>
    private long? StoredKeyUsage(string keyId)
    {
        if (_meta.FindById(KeyUsagePrefix + keyId) is not { } doc)
        {
            return null;
        }

        if (!DocumentIntegrity.Verify(doc, required: true) || !doc["k"].IsString || !string.Equals(doc["k"].AsString, keyId, StringComparison.Ordinal)
            || !doc["v"].IsInt64 || doc["v"].AsInt64 < 0)
        {
            throw new StateStoreCorruptedException(FilePath, $"the usage count record of encryption key '{keyId}' failed its checks");
        }

        return doc["v"].AsInt64;
    }
}
