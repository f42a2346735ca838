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
/// Contract: <see cref="WriteAsync"/> is atomic per entry, increments <see cref="StoredEntry.Version"/> by one on
/// every write (the first write stores version 1), and honours <see cref="StateWrite.ExpectedVersion"/>.
/// Scopes and keys arrive validated and normalized; a store compares them ordinally.
/// </remarks>
public interface IStateStore : IAsyncDisposable
{
    /// <summary>Reads an entry, or <see langword="null"/> when none is stored.</summary>
    ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default);

    /// <summary>Writes an entry atomically and returns it as stored (with its new version and time).</summary>
    /// <exception cref="StateConcurrencyException">The stored version is not <see cref="StateWrite.ExpectedVersion"/>.</exception>
    ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default);

    /// <summary>Deletes an entry; <see langword="false"/> when none was stored.</summary>
    ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default);

    /// <summary>Whether an entry is stored.</summary>
    ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default);

    /// <summary>The keys stored in a scope, in ordinal order.</summary>
    ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default);
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

/// <summary>A write request to a store.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The normalized key.</param>
/// <param name="TypeName">The stable type name of the value.</param>
/// <param name="SchemaVersion">The schema version of the value.</param>
/// <param name="Payload">The UTF-8 JSON document.</param>
/// <param name="ExpectedVersion">
/// <see langword="null"/> to write whatever is stored; 0 to require that nothing is stored; otherwise the version
/// that must be stored now.
/// </param>
public sealed record StateWrite(
    string Scope,
    string Key,
    string TypeName,
    int SchemaVersion,
    ReadOnlyMemory<byte> Payload,
    long? ExpectedVersion = null);
