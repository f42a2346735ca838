using System;
using System.Collections.Generic;
using System.Threading;
using StateGen.Storage;

namespace StateGen.Security;

/// <summary>
/// Makes the encryption counts of a <see cref="StateKeyRing"/> durable in one store (hi/lo reservations). Before a key's
/// count passes the reservation stored for it, the reservation is raised by a block and made durable; only then does the
/// encryption go on. So the hot path writes nothing, a stop without dispose (a crash, a kill) loses at most one block
/// (the count after a restart is too high by less than a block, never too low), and a restart resumes from the stored
/// reservation. Attached to the ring by an <see cref="Storage.Encryption.EncryptedStateStore"/> while it is open.
/// </summary>
internal sealed class StateKeyUsageLedger
{
    private readonly IStateKeyUsageRecords _records;
    private readonly StateKeyRing _ring;
    private readonly long _block;
    private readonly object _gate = new();
    private readonly Dictionary<StateKeyMaterial, Entry> _entries = new();
    private volatile Entry? _last;
    private volatile bool _closed;

    /// <param name="records">Where the reservations are kept.</param>
    /// <param name="ring">The ring whose counts are kept (the ledger detaches itself from it when the store is closed).</param>
    /// <param name="block">How many encryptions one reservation covers.</param>
    public StateKeyUsageLedger(IStateKeyUsageRecords records, StateKeyRing ring, long block)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(block, 1);
        _records = records;
        _ring = ring;
        _block = block;
    }

    /// <summary>Test hook: how many reservations this ledger wrote.</summary>
    internal long Reservations { get; private set; }

    /// <summary>
    /// Before a key counts an encryption: on the key's first use here, reads its stored reservation and raises the key's
    /// count to it (a count never goes down). A damaged record throws every time, so the count is never reset silently.
    /// </summary>
    /// <exception cref="StateStoreCorruptedException">The key's record is damaged.</exception>
    public void Enter(StateKeyMaterial key) => _ = EntryOf(key);

    /// <summary>
    /// After a key counted encryption number <paramref name="count"/>, before its nonce is drawn: makes sure a durable
    /// reservation covers it.
    /// </summary>
    /// <exception cref="StateStoreException">The reservation could not be made durable (nothing is encrypted).</exception>
    public void Cover(StateKeyMaterial key, long count)
    {
        if (EntryOf(key) is not { } entry || count <= Volatile.Read(ref entry.Reserved))
        {
            return;
        }

        lock (_gate)
        {
            if (_closed || count <= entry.Reserved)
            {
                return;
            }

            long next = Math.Max(entry.Reserved, count - 1) + _block;
            long stored;
            try
            {
                stored = _records.WriteKeyUsageReservation(key.KeyId, next);
            }
            catch (Exception ex) when (ex is ObjectDisposedException || (ex is StateStoreException && _records.KeyUsageClosed))
            {
                // The store is closed (disposed, or closed after it found damage): it counts no more, and encryptions
                // through other stores on this ring go on (review, session 14).
                Close();
                return;
            }

            Reservations++;
            Volatile.Write(ref entry.Reserved, Math.Max(next, stored));
        }
    }

    /// <summary>The key's entry, read from the store at its first use; <see langword="null"/> once the store is closed.</summary>
    private Entry? EntryOf(StateKeyMaterial key)
    {
        Entry? last = _last;
        if (last is not null && ReferenceEquals(last.Key, key))
        {
            return last;
        }

        lock (_gate)
        {
            if (_closed)
            {
                return null;
            }

            if (!_entries.TryGetValue(key, out Entry? entry))
            {
                long reserved;
                try
                {
                    reserved = _records.ReadKeyUsageReservation(key.KeyId) ?? 0;
                }
                catch (Exception ex) when (ex is ObjectDisposedException || (ex is StateStoreException && _records.KeyUsageClosed))
                {
                    Close();
                    return null;
                }

                key.RaiseEncryptionsTo(reserved);
                entry = new Entry(key, reserved);
                _entries.Add(key, entry);
            }

            _last = entry;
            return entry;
        }
    }

    /// <summary>
    /// The store was closed under an encrypted store that was never disposed (so the ledger was not detached): it counts
    /// no more, as a file counts the encryptions made while it is open, and leaves the ring.
    /// </summary>
    private void Close()
    {
        _closed = true;
        _ring.DetachUsageLedger(this);
    }

    private sealed class Entry(StateKeyMaterial key, long reserved)
    {
        public readonly StateKeyMaterial Key = key;
        public long Reserved = reserved;
    }
}
