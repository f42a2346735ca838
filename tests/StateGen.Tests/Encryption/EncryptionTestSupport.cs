using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Encryption;

/// <summary>Opening encrypted LiteDB stores and looking at what the inner store really keeps.</summary>
internal static class At
{
    /// <summary>A string with no secret pattern in it, so nothing but encryption keeps it out of the file.</summary>
    public const string Marker = "plain-marker-topic-7731";

    public static EncryptedStateStore OpenLiteDb(string path, StateKeyRing ring, bool allowPlaintextReads = false, int pageSize = EncryptedStateStoreOptions.DefaultPageSize)
        => new(
            new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path }),
            new StateEncryptor(ring),
            new EncryptedStateStoreOptions { AllowPlaintextReads = allowPlaintextReads, PageSize = pageSize });

    public static byte[] Document(string value) => Encoding.UTF8.GetBytes($"{{\"apiKey\":\"{Security.TestKeys.Secret}\",\"topic\":\"{Marker}\",\"value\":\"{value}\"}}");

    public static StateWrite Write(string scope, string key, string value, string typeName = "Note", int schemaVersion = 1)
        => new(scope, key, typeName, schemaVersion, Document(value));

    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    public static async Task<byte[]> RawAsync(EncryptedStateStore store, string scope, string key)
        => (await store.Inner.GetAsync(scope, key))!.Payload.ToArray();

    public static string? KeyIdOf(ReadOnlySpan<byte> raw) => StateEncryptor.TryGetKeyId(raw, out string? id) ? id : null;

    /// <summary>Every byte of every file in the folder (the database and any log file LiteDB left).</summary>
    public static byte[] FileBytes(TempDirectory dir)
        => Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).SelectMany(File.ReadAllBytes).ToArray();

    public static bool Contains(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;

    public static async Task<List<StoredEntry>> ScanAllAsync(IStateStore store, int pageSize = 50)
    {
        var all = new List<StoredEntry>();
        StateScanPosition? after = null;
        while (true)
        {
            IReadOnlyList<StoredEntry> page = await store.ScanAsync(after, pageSize);
            all.AddRange(page);
            if (page.Count < pageSize)
            {
                return all;
            }

            after = StateScanPosition.Of(page[^1]);
        }
    }
}

/// <summary>Calls back on the reporting thread (Progress&lt;T&gt; posts asynchronously).</summary>
internal sealed class InlineProgress<T> : IProgress<T>
{
    private readonly Action<T> _report;

    public InlineProgress(Action<T> report) => _report = report;

    public void Report(T value) => _report(value);
}

/// <summary>A store with no history: only <see cref="IStateStore"/>, over a memory store.</summary>
internal sealed class StoreWithoutHistory : IStateStore
{
    private readonly MemoryStateStore _inner = new();

    public ValueTask<StoredEntry?> GetAsync(string scope, string key, CancellationToken cancellationToken = default) => _inner.GetAsync(scope, key, cancellationToken);

    public ValueTask<StoredEntry> WriteAsync(StateWrite write, CancellationToken cancellationToken = default) => _inner.WriteAsync(write, cancellationToken);

    public ValueTask<bool> DeleteAsync(string scope, string key, CancellationToken cancellationToken = default) => _inner.DeleteAsync(scope, key, cancellationToken);

    public ValueTask<bool> ExistsAsync(string scope, string key, CancellationToken cancellationToken = default) => _inner.ExistsAsync(scope, key, cancellationToken);

    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string scope, CancellationToken cancellationToken = default) => _inner.ListKeysAsync(scope, cancellationToken);

    public ValueTask<IReadOnlyList<StateOperationResult>> CommitAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) => _inner.CommitAsync(operations, cancellationToken);

    public ValueTask<IReadOnlyList<StoredEntry>> ScanAsync(StateScanPosition? after, int limit, CancellationToken cancellationToken = default) => _inner.ScanAsync(after, limit, cancellationToken);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}
