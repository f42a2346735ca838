using System;
using StateGen.Storage;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Storage;

/// <summary>The in-memory store passes the shared store contract.</summary>
public sealed class MemoryStateStoreConformanceTests : StateStoreConformanceTests
{
    protected override IStateStore CreateStore(TimeProvider clock) => new MemoryStateStore(clock);
}
