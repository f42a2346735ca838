using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// Key lists: a whole scope's and a scope's keys with a prefix. Both walk the whole scope and compare it with the scope's
/// stored count (<see cref="CheckScopeCount"/>), because the count is the only check that a walk omitted nothing.
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <inheritdoc />
    /// <remarks>
    /// Walks the whole scope, checked against its stored count, and filters it: a prefix narrows the answer, not the
    /// walk, so it costs as much as the scope's whole list (one guarded index step per key of the scope). A walk of the
    /// prefix's own <c>_id</c> range would take a step per matching key only, but a damaged index page that skips entries
    /// would then give a shorter list with every entry intact and nothing to compare it with: counts are kept per scope,
    /// and a range inside a scope has none. Values written behind are applied first, as for every list.
    /// </remarks>
    /// <exception cref="StateStoreCorruptedException">The scope's entries do not match its stored count, whatever the prefix.</exception>
    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, string keyPrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() => KeyPrefix.Filter(CountedScopeKeys(scope), keyPrefix)));
    }

    /// <summary>
    /// A scope's keys in ordinal order, walked through the primary index from the scope's first id (one guarded step
    /// each, <see cref="IndexWalk.Ascending"/>) and checked against its stored count: none repeated, none missing.
    /// Called under the lock, with the overlay applied.
    /// </summary>
    private string[] CountedScopeKeys(string scope)
    {
        string prefix = scope + Separator;
        string[] keys = IndexWalk.Ascending(_state, "_id", prefix, k => k.IsString && k.AsString.StartsWith(prefix, StringComparison.Ordinal), FilePath)
            .Select(d => KeyInScope(scope, d))
            .OrderBy(k => k, StringComparer.Ordinal)
            .ToArray();
        CheckScopeCount(scope, keys);
        return keys;
    }
}
