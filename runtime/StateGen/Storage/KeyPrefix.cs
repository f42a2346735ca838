using System;
using System.Collections.Generic;

namespace StateGen.Storage;

/// <summary>The key-prefix filter every store's <see cref="IStateStore.ListKeysAsync(string, string, System.Threading.CancellationToken)"/> applies.</summary>
internal static class KeyPrefix
{
    /// <summary>The keys that start with <paramref name="prefix"/> (ordinal), in their order; all of them for an empty prefix.</summary>
    public static IReadOnlyList<string> Filter(IReadOnlyList<string> keys, string prefix)
    {
        if (prefix.Length == 0)
        {
            return keys;
        }

        var matching = new List<string>();
        foreach (string key in keys)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                matching.Add(key);
            }
        }

        return matching.ToArray();
    }
}
