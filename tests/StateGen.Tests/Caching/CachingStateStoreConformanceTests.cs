using System;
using StateGen.Caching;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Caching;

/// <summary>
/// The read cache over a real LiteDB file passes the shared store contract. Its limit is two entries, so the contract's
/// tests also run through eviction and refills.
/// </summary>
public sealed class CachingLiteDbStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock)
        => CachingStateStore.Create(
            new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock }),
            new CachingStateStoreOptions { MaxEntries = 2 });

    protected override void Cleanup() => _dir.Dispose();
}

/// <summary>The read cache over the in-memory store, limited by bytes only, passes the shared store contract.</summary>
public sealed class CachingMemoryStateStoreConformanceTests : StateStoreConformanceTests
{
    protected override IStateStore CreateStore(TimeProvider clock)
        => CachingStateStore.Create(new MemoryStateStore(clock), new CachingStateStoreOptions { MaxBytes = 4096 });
}
