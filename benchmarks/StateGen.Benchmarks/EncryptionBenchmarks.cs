using System;
using System.IO;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// What encryption at rest adds to a save: <see cref="BenchAgent"/> with 53 turns (about 11 KB of JSON) saved through
/// <see cref="StateManager"/> over <see cref="LiteDbStateStore"/> (baseline) and over an <see cref="EncryptedStateStore"/>
/// wrapping the same kind of store (AES-256-GCM), each on its own file, plus the load of the same entry. Each
/// operation overwrites (or reads) one entry that exists before measuring starts; both stores keep the change log
/// (the default), so each save writes the document twice. The last two rows are the cryptographic work alone, which
/// does not depend on the disk and so stays readable on a loaded machine.
/// </summary>
[MemoryDiagnoser]
[BenchConfig]
public class EncryptionBenchmarks
{
    private const int Turns = 53;

    private string _folder = null!;
    private StateKeyRing _ring = null!;
    private StateManager _plain = null!;
    private StateManager _encrypted = null!;
    private BenchAgent _agent = null!;
    private BenchAgent _loadTarget = null!;
    private StateScope _scope;
    private StateEncryptor _encryptor = null!;
    private byte[] _json = null!;
    private byte[] _envelope = null!;
    private byte[] _aad = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = BenchFolder.Create();
        _agent = BenchAgent.CreateSample();
        for (int i = _agent.History.Count; i < Turns; i++)
        {
            Turn model = _agent.History[i % 20];
            _agent.History.Add(new Turn { Role = model.Role, Text = model.Text.Replace($" {i % 20}:", $" {i}:", StringComparison.Ordinal), At = model.At.AddMinutes(i) });
        }

        _loadTarget = new BenchAgent { Id = _agent.Id };
        _scope = StateScope.Agent("researcher-1");
        _ring = new StateKeyRing("bench-1", StateKeyRing.GenerateKey());
        _plain = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "plain.db"), Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) }));
        _encrypted = new StateManager(new EncryptedStateStore(
            new LiteDbStateStore(new LiteDbStateStoreOptions { Path = Path.Combine(_folder, "encrypted.db"), Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1) }),
            new StateEncryptor(_ring, new StateEncryptionOptions { Algorithm = StateEncryptionAlgorithm.Aes256Gcm })));

        _agent.SaveStateAsync(_plain, _scope).AsTask().GetAwaiter().GetResult();
        _agent.SaveStateAsync(_encrypted, _scope).AsTask().GetAwaiter().GetResult();
        string key = StateManager.KeyOf(_agent);
        StoredEntry plain = _plain.Store.GetAsync(_scope.Path, key).AsTask().GetAwaiter().GetResult()!;
        StoredEntry raw = ((EncryptedStateStore)_encrypted.Store).Inner.GetAsync(_scope.Path, key).AsTask().GetAwaiter().GetResult()!;
        if (!StateEncryptor.LooksLikeEnvelope(raw.Payload.Span) || !Load_Encrypted().AsTask().GetAwaiter().GetResult() || _loadTarget.History.Count != Turns)
        {
            throw new InvalidOperationException("The encrypted store did not store an envelope or could not load it.");
        }

        _encryptor = new StateEncryptor(_ring);
        _json = plain.Payload.ToArray();
        _aad = StateAssociatedData.ForDocument(_scope.Path, key, plain.TypeName, plain.SchemaVersion);
        _envelope = _encryptor.Encrypt(_json, _aad);

        Console.WriteLine($"// Payload: {plain.Payload.Length} bytes of UTF-8 JSON; envelope {raw.Payload.Length} bytes.");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plain.Dispose();
        _encrypted.Dispose();
        _ring.Dispose();
        BenchFolder.Delete(_folder);
    }

    [Benchmark(Baseline = true, Description = "Save, LiteDB")]
    public ValueTask<StateWriteResult> Save_Plain() => _agent.SaveStateAsync(_plain, _scope);

    [Benchmark(Description = "Save, encrypted LiteDB (AES-256-GCM)")]
    public ValueTask<StateWriteResult> Save_Encrypted() => _agent.SaveStateAsync(_encrypted, _scope);

    [Benchmark(Description = "Load, LiteDB")]
    public ValueTask<bool> Load_Plain() => _loadTarget.LoadStateAsync(_plain, _scope);

    [Benchmark(Description = "Load, encrypted LiteDB (AES-256-GCM)")]
    public ValueTask<bool> Load_Encrypted() => _loadTarget.LoadStateAsync(_encrypted, _scope);

    /// <summary>The work encryption adds to a save, alone: the associated data and one AES-256-GCM envelope of the document.</summary>
    [Benchmark(Description = "Encrypt alone (AAD + StateEncryptor.Encrypt, 11 KB)")]
    public byte[] Encrypt_Alone()
        => _encryptor.Encrypt(_json, StateAssociatedData.ForDocument(_scope.Path, "bench-agent/researcher-1", "bench-agent", 1));

    /// <summary>The work encryption adds to a load, alone.</summary>
    [Benchmark(Description = "Decrypt alone (StateEncryptor.Decrypt, 11 KB)")]
    public byte[] Decrypt_Alone() => _encryptor.Decrypt(_envelope, _aad);
}
