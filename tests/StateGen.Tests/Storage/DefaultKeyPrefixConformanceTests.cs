using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Storage;

/// <summary>
/// A store that implements only the members <see cref="IStateStore"/> had before the key-prefix list (as a third-party
/// store compiled against it does) passes the shared contract, its prefix lists through the interface's default
/// implementation.
/// </summary>
public sealed class DefaultKeyPrefixStateStoreConformanceTests : StateStoreConformanceTests
{
    protected override IStateStore CreateStore(TimeProvider clock) => new WithoutPrefixList(new MemoryStateStore(clock));

    [Fact]
    public async Task The_store_under_test_has_no_prefix_list_of_its_own()
    {
        IStateStore store = NewStore();
        Assert.Null(store.GetType().GetMethod(nameof(IStateStore.ListKeysAsync), [typeof(string), typeof(string), typeof(CancellationToken)]));
        await store.WriteAsync(Write("global", "ab", "v"));
        Assert.Equal(new[] { "ab" }, await store.ListKeysAsync("global", "a"));
    }

    /// <summary>Forwards the members of the older interface only.</summary>
    private sealed class WithoutPrefixList(IStateStore inner) : IStateStore
    {
        public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default) => inner.GetAsync(scope, key, cancellationToken);

        public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default) => inner.WriteAsync(write, cancellationToken);

        public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(scope, key, cancellationToken);

        public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(scope, key, cancellationToken);

        public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default) => inner.ListKeysAsync(scope, cancellationToken);

        public ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) => inner.CommitAsync(operations, cancellationToken);

        public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default) => inner.ScanAsync(after, limit, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
