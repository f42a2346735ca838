using System;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>The LiteDB store, on a real file in a unique temporary folder, passes the shared store contract.</summary>
public sealed class LiteDbStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock });

    protected override void Cleanup() => _dir.Dispose();
}
