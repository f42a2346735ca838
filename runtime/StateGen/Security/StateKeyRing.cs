using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Threading;

namespace StateGen.Security;

/// <summary>
/// The encryption keys of a program: one active key that encrypts, and any number of retired keys that only decrypt
/// records written before a rotation. Keys are 256 bits and named by a key id of 1 to 64 characters of
/// <c>[A-Za-z0-9._-]</c>, which every envelope carries. Thread-safe: changes publish a new snapshot, readers never lock.
/// </summary>
/// <remarks>
/// The ring copies key bytes into pinned arrays it owns and zeroes them when a key is removed or the ring is disposed.
/// Copies the caller holds (a base64 string from configuration, for example) are the caller's to clear.
/// </remarks>
public sealed class StateKeyRing : IDisposable
{
    /// <summary>The size of every key: 32 bytes (256 bits).</summary>
    public const int KeySizeInBytes = 32;

    /// <summary>The longest key id, in characters.</summary>
    public const int MaxKeyIdLength = 64;

    private readonly object _gate = new();
    private volatile Snapshot _snapshot;
    private volatile StateKeyUsageLedger[] _ledgers = [];
    private bool _disposed;

    /// <summary>Creates a ring with one active key.</summary>
    /// <param name="activeKeyId">The id of the key (see <see cref="IsValidKeyId(string?)"/>).</param>
    /// <param name="activeKey">The 32 key bytes; the ring keeps its own copy.</param>
    /// <exception cref="ArgumentException">The key id is not valid or the key is not 32 bytes.</exception>
    public StateKeyRing(string activeKeyId, ReadOnlySpan<byte> activeKey)
    {
        CheckKeyId(activeKeyId, nameof(activeKeyId));
        CheckKey(activeKey, nameof(activeKey));
        var material = new StateKeyMaterial(activeKeyId, activeKey);
        _snapshot = new Snapshot(material, new[] { material });
    }

    /// <summary>The id of the key that encrypts.</summary>
    public string ActiveKeyId => Current.Active.KeyId;

    /// <summary>The ids of all keys, active and retired, in ordinal order.</summary>
    public IReadOnlyList<string> KeyIds => Current.SortedIds(includeActive: true);

    /// <summary>The ids of the retired (decrypt-only) keys, in ordinal order.</summary>
    public IReadOnlyList<string> RetiredKeyIds => Current.SortedIds(includeActive: false);

    internal Snapshot Current
    {
        get
        {
            Snapshot snapshot = _snapshot;
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
            return snapshot;
        }
    }

    internal bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>The stores that keep this ring's counts durable (see <see cref="StateKeyUsageLedger"/>); usually one or none.</summary>
    internal StateKeyUsageLedger[] UsageLedgers => _ledgers;

    /// <summary>Counts of this ring's keys are made durable in one more store, from its next encryption on.</summary>
    internal void AttachUsageLedger(StateKeyUsageLedger ledger)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _ledgers = [.. _ledgers, ledger];
        }
    }

    /// <summary>The store of <paramref name="ledger"/> closes: later encryptions no longer reserve there.</summary>
    internal void DetachUsageLedger(StateKeyUsageLedger ledger)
    {
        lock (_gate)
        {
            _ledgers = Array.FindAll(_ledgers, l => !ReferenceEquals(l, ledger));
        }
    }

    /// <summary>
    /// Whether a key id is valid: 1 to <see cref="MaxKeyIdLength"/> characters, each an ASCII letter, digit, <c>.</c>,
    /// <c>_</c> or <c>-</c>.
    /// </summary>
    public static bool IsValidKeyId(string? keyId)
    {
        if (keyId is null || keyId.Length is < 1 or > MaxKeyIdLength)
        {
            return false;
        }

        foreach (char c in keyId)
        {
            if (!IsKeyIdChar(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Creates a new random 256-bit key from the system's cryptographic random number generator.</summary>
    public static byte[] GenerateKey() => RandomNumberGenerator.GetBytes(KeySizeInBytes);

    /// <summary>Whether the ring holds a key with this id.</summary>
    public bool Contains(string keyId)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        return Current.Find(keyId) is not null;
    }

    /// <summary>Adds a retired key: it decrypts records that name it but never encrypts.</summary>
    /// <exception cref="ArgumentException">The key id is not valid or already in the ring, or the key is not 32 bytes.</exception>
    public void AddRetiredKey(string keyId, ReadOnlySpan<byte> key) => Add(keyId, key, activate: false);

    /// <summary>
    /// Rotates: adds a new key and makes it active. The previously active key stays in the ring as a retired key, so
    /// everything encrypted with it still decrypts.
    /// </summary>
    /// <exception cref="ArgumentException">The key id is not valid or already in the ring, or the key is not 32 bytes.</exception>
    public void Rotate(string newKeyId, ReadOnlySpan<byte> newKey) => Add(newKeyId, newKey, activate: true);

    /// <summary>Makes a key that is already in the ring the active key (for example to undo a rotation).</summary>
    /// <exception cref="ArgumentException">No key with this id is in the ring.</exception>
    public void Activate(string keyId)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        lock (_gate)
        {
            Snapshot current = Current;
            StateKeyMaterial material = current.Find(keyId) ?? throw new ArgumentException($"The key id '{Shown(keyId)}' is not in the key ring.", nameof(keyId));
            _snapshot = new Snapshot(material, current.Keys);
        }
    }

    /// <summary>
    /// Removes a retired key and zeroes it. Records still encrypted with it can never be decrypted again, so the caller
    /// must confirm that none is left (re-encrypt them first; <see cref="StateEncryptor.TryGetKeyId"/> finds them).
    /// </summary>
    /// <param name="keyId">The retired key to remove.</param>
    /// <param name="noRecordUsesKey">
    /// <see langword="true"/> to confirm that no stored record is encrypted with this key any more.
    /// </param>
    /// <returns><see langword="false"/> when no key with this id is in the ring.</returns>
    /// <exception cref="InvalidOperationException">The key is the active key, or the removal was not confirmed.</exception>
    public bool RemoveRetiredKey(string keyId, bool noRecordUsesKey)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        if (!noRecordUsesKey)
        {
            throw new InvalidOperationException($"The key '{Shown(keyId)}' was not removed: records encrypted with it could no longer be decrypted. Re-encrypt them with the active key, then pass noRecordUsesKey: true.");
        }

        StateKeyMaterial? removed;
        lock (_gate)
        {
            Snapshot current = Current;
            removed = current.Find(keyId);
            if (removed is null)
            {
                return false;
            }

            if (ReferenceEquals(removed, current.Active))
            {
                throw new InvalidOperationException($"The key '{keyId}' is the active key and cannot be removed; rotate to a new key first.");
            }

            var keys = new List<StateKeyMaterial>(current.Keys.Length - 1);
            foreach (StateKeyMaterial k in current.Keys)
            {
                if (!ReferenceEquals(k, removed))
                {
                    keys.Add(k);
                }
            }

            _snapshot = new Snapshot(current.Active, keys.ToArray());
        }

        removed.Dispose();
        return true;
    }

    /// <summary>
    /// How many encryptions are counted for a key. The count lives in memory and starts at 0 when the ring is loaded;
    /// while the ring serves an <see cref="Storage.Encryption.EncryptedStateStore"/> over a store that keeps counts (LiteDB,
    /// memory), the key's count starts, at its first use, from the count that store persisted (a reservation that may be
    /// up to one block above the true count after a stop without dispose), and every encryption is covered by a durable
    /// reservation there before it happens.
    /// </summary>
    /// <exception cref="ArgumentException">No key with this id is in the ring.</exception>
    public long GetEncryptionCount(string keyId)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        return (Current.Find(keyId) ?? throw new ArgumentException($"The key id '{Shown(keyId)}' is not in the key ring.", nameof(keyId))).Encryptions;
    }

    /// <summary>
    /// Sets a key's encryption count, for programs that encrypt without an
    /// <see cref="Storage.Encryption.EncryptedStateStore"/> and persist the count themselves. A store that keeps counts
    /// raises the count to its persisted value at the key's first use; it never lowers it.
    /// </summary>
    /// <exception cref="ArgumentException">No key with this id is in the ring.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The count is negative.</exception>
    public void SetEncryptionCount(string keyId, long count)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        (Current.Find(keyId) ?? throw new ArgumentException($"The key id '{Shown(keyId)}' is not in the key ring.", nameof(keyId))).SetEncryptions(count);
    }

    /// <summary>Zeroes and releases every key. The ring cannot be used afterwards.</summary>
    public void Dispose()
    {
        Snapshot snapshot;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            Volatile.Write(ref _disposed, true);
            snapshot = _snapshot;
        }

        foreach (StateKeyMaterial key in snapshot.Keys)
        {
            key.Dispose();
        }
    }

    internal static bool IsValidKeyId(ReadOnlySpan<byte> ascii)
    {
        if (ascii.Length is < 1 or > MaxKeyIdLength)
        {
            return false;
        }

        foreach (byte b in ascii)
        {
            if (!IsKeyIdChar((char)b))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The key id as it may appear in a message: itself when valid, otherwise a neutral placeholder.</summary>
    internal static string Shown(string? keyId) => IsValidKeyId(keyId) ? keyId! : "(invalid key id)";

    private static bool IsKeyIdChar(char c) => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-';

    private static void CheckKeyId(string keyId, string paramName)
    {
        ArgumentNullException.ThrowIfNull(keyId, paramName);
        if (!IsValidKeyId(keyId))
        {
            throw new ArgumentException($"A key id must be 1 to {MaxKeyIdLength} characters of [A-Za-z0-9._-].", paramName);
        }
    }

    private static void CheckKey(ReadOnlySpan<byte> key, string paramName)
    {
        if (key.Length != KeySizeInBytes)
        {
            throw new ArgumentException($"A key must be {KeySizeInBytes} bytes (256 bits); this one is {key.Length} bytes.", paramName);
        }
    }

    private void Add(string keyId, ReadOnlySpan<byte> key, bool activate)
    {
        CheckKeyId(keyId, nameof(keyId));
        CheckKey(key, nameof(key));
        lock (_gate)
        {
            Snapshot current = Current;
            if (current.Find(keyId) is not null)
            {
                throw new ArgumentException($"The key id '{keyId}' is already in the key ring.", nameof(keyId));
            }

            var material = new StateKeyMaterial(keyId, key);
            var keys = new StateKeyMaterial[current.Keys.Length + 1];
            current.Keys.CopyTo(keys, 0);
            keys[^1] = material;
            _snapshot = new Snapshot(activate ? material : current.Active, keys);
        }
    }

    /// <summary>An immutable view of the ring: readers take one and never lock.</summary>
    internal sealed class Snapshot
    {
        public Snapshot(StateKeyMaterial active, StateKeyMaterial[] keys)
        {
            Active = active;
            Keys = keys;
        }

        public StateKeyMaterial Active { get; }

        public StateKeyMaterial[] Keys { get; }

        /// <summary>Finds a key by its ASCII id without allocating (rings hold a handful of keys).</summary>
        public StateKeyMaterial? Find(ReadOnlySpan<byte> keyIdAscii)
        {
            foreach (StateKeyMaterial key in Keys)
            {
                if (keyIdAscii.SequenceEqual(key.KeyIdAscii))
                {
                    return key;
                }
            }

            return null;
        }

        public StateKeyMaterial? Find(string keyId)
        {
            foreach (StateKeyMaterial key in Keys)
            {
                if (string.Equals(key.KeyId, keyId, StringComparison.Ordinal))
                {
                    return key;
                }
            }

            return null;
        }

        public IReadOnlyList<string> SortedIds(bool includeActive)
        {
            var ids = new List<string>(Keys.Length);
            foreach (StateKeyMaterial key in Keys)
            {
                if (includeActive || !ReferenceEquals(key, Active))
                {
                    ids.Add(key.KeyId);
                }
            }

            ids.Sort(StringComparer.Ordinal);
            return ids;
        }
    }
}
