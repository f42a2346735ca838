using System;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Security;
using StateGen.Tests.Storage;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Encryption;

/// <summary>The encrypted store over a real LiteDB file passes the shared store contract: encryption is invisible to callers.</summary>
public sealed class EncryptedLiteDbStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly TempDirectory _dir = new();
    private readonly StateKeyRing _ring = TestKeys.Ring();

    protected override IStateStore CreateStore(TimeProvider clock)
        => new EncryptedStateStore(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.NewDatabaseFile(), TimeProvider = clock }), new StateEncryptor(_ring));

    protected override void Cleanup()
    {
        _ring.Dispose();
        _dir.Dispose();
    }
}

/// <summary>The encrypted store over the in-memory store passes the shared store contract (ChaCha20-Poly1305 where supported).</summary>
public sealed class EncryptedMemoryStateStoreConformanceTests : StateStoreConformanceTests
{
    private readonly StateKeyRing _ring = TestKeys.Ring();

    protected override IStateStore CreateStore(TimeProvider clock)
        => new EncryptedStateStore(new MemoryStateStore(clock), new StateEncryptor(_ring, EncryptedStoreTestSupport.SecondAlgorithmOptions()));

    protected override void Cleanup() => _ring.Dispose();
}

/// <summary>
/// The encrypted store over a real LiteDB file passes the shared change log and hook history contract, also across
/// closing and reopening the file with the same keys.
/// </summary>
public sealed class EncryptedLiteDbStateHistoryConformanceTests : StateHistoryConformanceTests
{
    private readonly TempDirectory _dir = new();
    private readonly StateKeyRing _ring = TestKeys.Ring();

    protected override IStateStore CreateStore(TimeProvider clock, bool recordChanges)
        => Open(_dir.NewDatabaseFile(), clock, recordChanges);

    protected override bool SupportsReopen => true;

    protected override IStateStore Reopen(IStateStore store, TimeProvider clock)
    {
        var encrypted = Assert.IsType<EncryptedStateStore>(store);
        var liteDb = Assert.IsType<LiteDbStateStore>(encrypted.Inner);
        return Open(liteDb.FilePath, clock, encrypted.RecordsChanges);
    }

    protected override void Cleanup()
    {
        _ring.Dispose();
        _dir.Dispose();
    }

    private EncryptedStateStore Open(string path, TimeProvider clock, bool recordChanges)
        => new(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, TimeProvider = clock, RecordChanges = recordChanges }), new StateEncryptor(_ring));
}

/// <summary>The encrypted store over the in-memory store passes the shared change log and hook history contract.</summary>
public sealed class EncryptedMemoryStateHistoryConformanceTests : StateHistoryConformanceTests
{
    private readonly StateKeyRing _ring = TestKeys.Ring();

    protected override IStateStore CreateStore(TimeProvider clock, bool recordChanges)
        => new EncryptedStateStore(new MemoryStateStore(clock, recordChanges), new StateEncryptor(_ring));

    protected override void Cleanup() => _ring.Dispose();
}

internal static class EncryptedStoreTestSupport
{
    /// <summary>ChaCha20-Poly1305 where the platform has it, so both algorithms run the contract; AES-GCM otherwise.</summary>
    public static StateEncryptionOptions SecondAlgorithmOptions() => new()
    {
        Algorithm = StateEncryptor.IsSupported(StateEncryptionAlgorithm.ChaCha20Poly1305) ? StateEncryptionAlgorithm.ChaCha20Poly1305 : StateEncryptionAlgorithm.Aes256Gcm,
    };
}
