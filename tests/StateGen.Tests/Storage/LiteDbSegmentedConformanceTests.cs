using System;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// The LiteDB store with its change log in segment files (the preview layout, <c>SegmentChangeLog</c>), on real files,
/// passes the shared store contract.
/// </summary>
public sealed class LiteDbSegmentedStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock, SegmentChangeLog = true });

    protected override void Cleanup() => _dir.Dispose();
}

/// <summary>
/// The LiteDB store with its change log in segment files passes the shared change log and hook history contract, also
/// across closing and reopening the file (the log is read back from its segments).
/// </summary>
public sealed class LiteDbSegmentedStateHistoryConformanceTests : StateHistoryConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock, bool recordChanges)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock, RecordChanges = recordChanges, SegmentChangeLog = true });

    protected override bool SupportsReopen => true;

    protected override IStateStore Reopen(IStateStore store, TimeProvider clock)
    {
        var liteDb = Assert.IsType<LiteDbStateStore>(store);
        return new LiteDbStateStore(new LiteDbStateStoreOptions { Path = liteDb.FilePath, TimeProvider = clock, RecordChanges = History(store).RecordsChanges });
    }

    protected override void Cleanup() => _dir.Dispose();
}

/// <summary>
/// The segmented store writing behind (<c>WriteBehind</c>: a commit is its records in the segment log and an overlay
/// entry; LiteDB is brought up to date later) passes the shared store contract.
/// </summary>
public sealed class LiteDbWriteBehindStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new();

    protected override IStateStore CreateStore(TimeProvider clock)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock, SegmentChangeLog = true, WriteBehind = true });

    protected override void Cleanup() => _dir.Dispose();
}

/// <summary>
/// The segmented store writing behind passes the shared change log and hook history contract, also across closing and
/// reopening the file, once in each mode.
/// </summary>
public sealed class LiteDbWriteBehindStateHistoryConformanceTests : StateHistoryConformanceTests
{
    private readonly TempDirectory _dir = new();
    private int _reopens;

    protected override IStateStore CreateStore(TimeProvider clock, bool recordChanges)
        => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock, RecordChanges = recordChanges, SegmentChangeLog = true, WriteBehind = true });

    protected override bool SupportsReopen => true;

    protected override IStateStore Reopen(IStateStore store, TimeProvider clock)
    {
        var liteDb = Assert.IsType<LiteDbStateStore>(store);
        return new LiteDbStateStore(new LiteDbStateStoreOptions { Path = liteDb.FilePath, TimeProvider = clock, RecordChanges = History(store).RecordsChanges, WriteBehind = _reopens++ % 2 == 0 });
    }

    protected override void Cleanup() => _dir.Dispose();
}
