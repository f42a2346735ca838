using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>The <see cref="IStateStore.ScanAsync"/> part of the store contract: every entry, once, in a stable order.</summary>
public abstract partial class StateStoreConformanceTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public async Task Scan_pages_through_every_entry_once_ordered_by_scope_then_key(int pageSize)
    {
        IStateStore store = NewStore(new ManualTimeProvider(Start));
        var written = new List<(string Scope, string Key)>();
        foreach (string scope in new[] { "global", "agent/b", "agent/a", "agent/a/b", "custom/z" })
        {
            foreach (string key in new[] { "k2", "k1", "a/b", "Z", "k10" })
            {
                await store.WriteAsync(Write(scope, key, scope + "|" + key));
                written.Add((scope, key));
            }
        }

        await store.DeleteAsync("agent/b", "k1");
        written.Remove(("agent/b", "k1"));

        var seen = new List<StoredEntry>();
        StateScanPosition? after = null;
        while (true)
        {
            IReadOnlyList<StoredEntry> page = await store.ScanAsync(after, pageSize);
            Assert.True(page.Count <= pageSize);
            seen.AddRange(page);
            if (page.Count < pageSize)
            {
                break;
            }

            after = StateScanPosition.Of(page[^1]);
        }

        var expected = written
            .OrderBy(w => w.Scope, StringComparer.Ordinal)
            .ThenBy(w => w.Key, StringComparer.Ordinal)
            .ToList();
        Assert.Equal(expected, seen.Select(e => (e.Scope, e.Key)).ToList());
        Assert.All(seen, e => Assert.Equal(e.Scope + "|" + e.Key, Backends.Utf8(e.Payload)));
        Assert.Empty(await store.ScanAsync(StateScanPosition.Of(seen[^1]), 10));
    }

    [Fact]
    public async Task Scan_of_an_empty_store_is_empty_and_a_nonpositive_limit_is_rejected()
    {
        IStateStore store = NewStore(new ManualTimeProvider(Start));
        Assert.Empty(await store.ScanAsync(null, 10));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ScanAsync(null, 0));
    }
}
