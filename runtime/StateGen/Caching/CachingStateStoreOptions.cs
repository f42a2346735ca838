using System;

namespace StateGen.Caching;

/// <summary>The limits of a <see cref="CachingStateStore"/>. At least one limit must be set; 0 means "no limit of this kind".</summary>
public sealed class CachingStateStoreOptions
{
    /// <summary>The most entries the cache holds; 0 for no entry limit.</summary>
    public int MaxEntries { get; set; }

    /// <summary>
    /// The most bytes the cache holds, counted as each entry's payload plus its scope, key and type name text and a
    /// fixed overhead (<see cref="CachingStateStore.EntryOverheadBytes"/>); 0 for no byte limit. An entry larger than
    /// this on its own is never cached.
    /// </summary>
    public long MaxBytes { get; set; }

    /// <summary>Whether any limit is set (a cache with no limit at all is not allowed: it would keep the whole store in memory).</summary>
    public bool IsEnabled => MaxEntries > 0 || MaxBytes > 0;

    internal void Validate()
    {
        if (MaxEntries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxEntries), MaxEntries, "MaxEntries must be 0 (no entry limit) or positive.");
        }

        if (MaxBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBytes), MaxBytes, "MaxBytes must be 0 (no byte limit) or positive.");
        }

        if (!IsEnabled)
        {
            throw new ArgumentException("A read cache needs MaxEntries or MaxBytes (or both) above 0.", nameof(MaxEntries));
        }
    }
}
