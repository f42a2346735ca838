using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage;

/// <summary>
/// Where state is kept. A store knows entries and bytes only: not the manager, hooks or CLR types.
/// Every implementation must pass the shared conformance tests (<c>StateStoreConformanceTests</c>).
/// </summary>
/// <remarks>
/// Contract: writes are atomic per entry (and per <see cref="CommitAsync"/> batch), increment
/// <see cref="StoredEntry.Version"/> by one on every write (the first write stores version 1), and honour
/// <see cref="StateOperation.ExpectedVersion"/>. Scopes and keys arrive validated and normalized; a store compares them
/// ordinally. A store that also implements <see cref="IStateHistoryStore"/> records every committed operation in its
/// change log in the same atomic step.
/// </remarks>
public interface IStateStore : IAsyncDisposable
{
    /// <summary>Reads an entry, or <see langword="null"/> when none is stored.</summary>
    ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default);

    /// <summary>Writes an entry atomically and returns it as stored (with its new version and time).</summary>
    /// <exception cref="StateConcurrencyException">The stored version is not <see cref="StateOperation.ExpectedVersion"/>.</exception>
    ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default);

    /// <summary>Deletes an entry; <see langword="false"/> when none was stored.</summary>
    ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default);

    /// <summary>Whether an entry is stored.</summary>
    ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default);

    /// <summary>The keys stored in a scope, in ordinal order.</summary>
    ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default);

    /// <summary>
    /// The keys stored in a scope that start with <paramref name="keyPrefix"/> (ordinal, case-sensitive, no
    /// normalization), in ordinal order. An empty prefix lists the whole scope, as <see cref="ListKeysAsync(string, CancellationToken)"/>.
    /// </summary>
    /// <remarks>
    /// Like keys, the prefix arrives validated and normalized from the <see cref="StateManager"/>; a store does not
    /// validate it beyond <see langword="null"/>, and a prefix no stored key starts with (even one no valid key could
    /// start with, such as <c>/x</c>) gives an empty list. The default implementation filters the scope's whole list, so
    /// a store that keeps no key order of its own needs nothing more; a store that overrides it must give the same
    /// answer, and must not give a shorter list where its whole-scope list would fail (a store that checks its lists for
    /// omissions checks these too).
    /// </remarks>
    /// <param name="scope">The scope path.</param>
    /// <param name="keyPrefix">The start every listed key has; empty for all of the scope's keys.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="ArgumentNullException"><paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    async ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, string keyPrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        return KeyPrefix.Filter(await ListKeysAsync(scope, cancellationToken).ConfigureAwait(false), keyPrefix);
    }

    /// <summary>
    /// Applies writes and deletes, in order, all or nothing: when one fails (a version check, a size limit), none is
    /// applied and the exception is thrown. One key may appear more than once; later operations see earlier ones.
    /// </summary>
    /// <returns>One result per operation, in the same order.</returns>
    /// <exception cref="StateConcurrencyException">An operation's expected version did not match; nothing was applied.</exception>
    ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads every entry of the store a page at a time, in a stable order (ordinal by scope, then key), for store-wide
    /// jobs: re-encryption, backups, migrations. Entries written during a scan may or may not be seen.
    /// </summary>
    /// <param name="after">Start after this entry (the last one of the previous page); <see langword="null"/> to start at the beginning.</param>
    /// <param name="limit">At most this many entries (1 or more).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The next page; fewer than <paramref name="limit"/> entries only at the end.</returns>
    ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default);
}

/// <summary>A position in a <see cref="IStateStore.ScanAsync"/>: the scope and key of the last entry read.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The key.</param>
public readonly record struct StateScanPosition(string Scope, string Key)
{
    /// <summary>The position of an entry.</summary>
    public static StateScanPosition Of(StoredEntry entry) => new(entry.Scope, entry.Key);

    /// <summary>Orders positions as a scan does: ordinal by scope, then key.</summary>
    public static int Compare(string scopeA, string keyA, string scopeB, string keyB)
    {
        int byScope = string.CompareOrdinal(scopeA, scopeB);
        return byScope != 0 ? byScope : string.CompareOrdinal(keyA, keyB);
    }
}

/// <summary>One stored value with its metadata.</summary>
/// <param name="Scope">The scope path (see <see cref="StateScope.Path"/>).</param>
/// <param name="Key">The normalized key.</param>
/// <param name="TypeName">The stable type name of the value (<see cref="StateManager.JsonTypeName"/> for raw JSON).</param>
/// <param name="SchemaVersion">The schema version the value was written with.</param>
/// <param name="Version">The write counter: 1 after the first write, incremented on every write.</param>
/// <param name="UpdatedAt">When the value was last written (UTC).</param>
/// <param name="Payload">The UTF-8 JSON document.</param>
public sealed record StoredEntry(
    string Scope,
    string Key,
    string TypeName,
    int SchemaVersion,
    long Version,
    DateTimeOffset UpdatedAt,
    ReadOnlyMemory<byte> Payload);

/// <summary>A write or delete request to a store.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The normalized key.</param>
/// <param name="ExpectedVersion">
/// <see langword="null"/> to apply whatever is stored; 0 to require that nothing is stored; otherwise the version that
/// must be stored now.
/// </param>
public abstract record StateOperation(string Scope, string Key, long? ExpectedVersion)
{
    /// <summary>The correlation id recorded with the change (see <see cref="StateCorrelation"/>).</summary>
    public string? CorrelationId { get; init; }

    /// <summary>What caused the change (for example <c>set</c>, <c>save</c>, <c>upgrade</c>, <c>replay</c>), recorded with it.</summary>
    public string? Origin { get; init; }

    /// <summary>When <see langword="true"/>, the result carries the entry this operation replaced (<see cref="StateOperationResult.Previous"/>).</summary>
    public bool ReturnPrevious { get; init; }
}

/// <summary>A write request to a store.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The normalized key.</param>
/// <param name="TypeName">The stable type name of the value.</param>
/// <param name="SchemaVersion">The schema version of the value.</param>
/// <param name="Payload">The UTF-8 JSON document.</param>
/// <param name="ExpectedVersion">See <see cref="StateOperation.ExpectedVersion"/>.</param>
public sealed record StateWrite(
    string Scope,
    string Key,
    string TypeName,
    int SchemaVersion,
    ReadOnlyMemory<byte> Payload,
    long? ExpectedVersion = null)
    : StateOperation(Scope, Key, ExpectedVersion);

/// <summary>A delete request to a store.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The normalized key.</param>
/// <param name="ExpectedVersion">See <see cref="StateOperation.ExpectedVersion"/>; 0 is never met by an existing entry.</param>
public sealed record StateDelete(string Scope, string Key, long? ExpectedVersion = null)
    : StateOperation(Scope, Key, ExpectedVersion);

/// <summary>What one operation of a <see cref="IStateStore.CommitAsync"/> did.</summary>
/// <param name="Stored">The entry as stored by a write; <see langword="null"/> for a delete.</param>
/// <param name="Existed">Whether an entry was stored before the operation.</param>
/// <param name="Previous">The replaced entry, when <see cref="StateOperation.ReturnPrevious"/> was set and one existed.</param>
/// <param name="ChangeSequence">The change-log sequence number of the operation, 0 when the store keeps no change log.</param>
/// <param name="CommittedAt">
/// When the store committed the operation, by its own clock (the time its change log records); <see langword="null"/>
/// from a store that does not say, and then the caller's clock stands in.
/// </param>
public sealed record StateOperationResult(StoredEntry? Stored, bool Existed, StoredEntry? Previous, long ChangeSequence, DateTimeOffset? CommittedAt = null);
