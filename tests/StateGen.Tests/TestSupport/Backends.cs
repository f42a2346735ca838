using System;
using System.Text;
using System.Text.Json;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;

namespace StateGen.Tests.TestSupport;

/// <summary>Builds managers over each backend, for manager tests that every backend must pass.</summary>
public static class Backends
{
    public const string Memory = "memory";
    public const string LiteDb = "litedb";

    public static StateManager CreateManager(string backend, TempDirectory dir, StateManagerOptions? options = null) => backend switch
    {
        Memory => new StateManager(new MemoryStateStore(), options),
        LiteDb => new StateManager(new LiteDbStateStore(dir.NewDatabaseFile()), options),
        _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, "Unknown backend."),
    };

    public static IStateStore CreateStore(string backend, TempDirectory dir) => backend switch
    {
        Memory => new MemoryStateStore(),
        LiteDb => new LiteDbStateStore(dir.NewDatabaseFile()),
        _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, "Unknown backend."),
    };

    /// <summary>A JSON value from its text.</summary>
    public static JsonElement Json(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>A JSON string value.</summary>
    public static JsonElement JsonString(string value) => JsonSerializer.SerializeToElement(value);

    public static string Utf8(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>The stable type name and schema version the generator gave <typeparamref name="T"/>.</summary>
    public static PersistentStateInfo InfoOf<T>()
        where T : IPersistentState<T>
        => T.StateInfo;

    /// <summary>Stores <paramref name="json"/> as it is, as <typeparamref name="T"/>'s current version, in the global scope: a hostile or hand-written document.</summary>
    public static System.Threading.Tasks.Task WriteRawAsync<T>(StateManager manager, string key, string json)
        where T : IPersistentState<T>
        => manager.Store.WriteAsync(new StateWrite("global", key, T.StateInfo.TypeName, T.StateInfo.SchemaVersion, Encoding.UTF8.GetBytes(json))).AsTask();
}
