using System;
using StateGen.Storage;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Storage;

/// <summary>The in-memory store passes the shared change log and hook history contract.</summary>
public sealed class MemoryStateHistoryConformanceTests : StateHistoryConformanceTests
{
    protected override IStateStore CreateStore(TimeProvider clock, bool recordChanges) => new MemoryStateStore(clock, recordChanges);
}
