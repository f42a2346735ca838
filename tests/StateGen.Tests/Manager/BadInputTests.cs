using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using StateGen.Storage;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Manager;

/// <summary>
/// Stored documents that are broken, of another type or of another schema version give typed exceptions that name
/// the key and type, never quote the document, and leave both the in-memory object and the stored document alone.
/// </summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private const string Secret = "sk-live-SECRET123";
    private const string Key = "Note/n1";

    // 50 MiB: far beyond the default MaxValueBytes (8 MiB).
    private const int HugeLength = 50 * 1024 * 1024;

    private readonly ListLogger<StateManager> _log = new(); // to check that no line quotes a stored document
    private readonly StateManager _manager;

    public BadInputTests() => _manager = new StateManager(new MemoryStateStore(), logger: _log);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    // Named so the test host never has to carry invalid UTF-8 or control bytes.
    private static readonly Dictionary<string, byte[]> BrokenDocuments = new()
    {
        ["plain-text"] = Utf8($"this is not json {Secret}"),
        ["secret-as-bare-word"] = Utf8(Secret),
        ["truncated-valid-prefix"] = Utf8("{\"Topic\":\"changed\",\"Runs\":"),
        ["truncated-inside-secret-string"] = Utf8($"{{\"Topic\":\"changed\",\"Tags\":[\"{Secret}"),
        ["truncated-after-full-members"] = Utf8($"{{\"Topic\":\"changed\",\"Runs\":99,\"Tags\":[\"{Secret}\"]"),
        ["trailing-garbage"] = Utf8($"{{\"Topic\":\"changed\",\"Runs\":99}} {Secret}"),
        ["second-document"] = Utf8($"{{\"Topic\":\"changed\"}}{{\"Topic\":\"{Secret}\"}}"),
        ["array-root"] = Utf8($"[\"{Secret}\"]"),
        ["string-root"] = Utf8($"\"{Secret}\""),
        ["null-root"] = Utf8("null"),
        ["empty"] = Array.Empty<byte>(),
        ["whitespace"] = Utf8("   \n\t "),
        ["comment"] = Utf8($"{{/* {Secret} */\"Topic\":\"changed\"}}"),
        ["single-quotes"] = Utf8($"{{'Topic':'{Secret}'}}"),
        ["invalid-utf8"] = Utf8("{\"Topic\":\"").Concat(new byte[] { 0xC3, 0x28, 0xFF }).Concat(Utf8("\"}")).ToArray(),
        ["nul-bytes"] = new byte[] { 0, 0, 0, 0 },
        ["wrong-token-int-as-string"] = Utf8($"{{\"Topic\":\"changed\",\"Runs\":\"{Secret}\"}}"),
        ["wrong-token-int-as-abc"] = Utf8("{\"Topic\":\"changed\",\"Runs\":\"abc\"}"),
        ["wrong-token-int-as-fraction"] = Utf8("{\"Topic\":\"changed\",\"Runs\":3.5}"),
        ["wrong-token-int-overflow"] = Utf8("{\"Topic\":\"changed\",\"Runs\":99999999999999999999}"),
        ["wrong-token-int-null"] = Utf8("{\"Topic\":\"changed\",\"Runs\":null}"),
        ["wrong-token-string-as-number"] = Utf8("{\"Runs\":1,\"Topic\":42}"),
        ["wrong-token-list-as-object"] = Utf8($"{{\"Topic\":\"changed\",\"Tags\":{{\"a\":\"{Secret}\"}}}}"),
        ["wrong-token-list-item"] = Utf8("{\"Topic\":\"changed\",\"Tags\":[1]}"),
        ["too-deep"] = Utf8("{\"Extra\":" + new string('[', 300) + new string(']', 300) + ",\"Topic\":\"changed\"}"),
        ["huge-string-as-int"] = Utf8($"{{\"Topic\":\"changed\",\"Runs\":\"{Secret}{new string('x', HugeLength)}\"}}"),
        ["huge-string-truncated"] = Utf8($"{{\"Topic\":\"changed\",\"Tags\":[\"{Secret}{new string('x', HugeLength)}"),
    };

    public static TheoryData<string> BrokenDocumentNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in BrokenDocuments.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BrokenDocumentNames))]
    public async Task Broken_document_gives_StateSerializationException_without_its_text_and_leaves_the_object_unchanged(string caseName)
    {
        byte[] garbage = BrokenDocuments[caseName];
        await WriteRawAsync<Note>(Key, garbage);
        var note = new Note { Id = "n1", Topic = "mine", Runs = 3, Tags = new() { "t" }, ApiKey = "k" };

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await note.LoadStateAsync(_manager));

        AssertNamesKeyAndTypeButNoSecret(ex, ex.TypeName);
        Assert.Equal(Key, ex.Key);
        Assert.Equal("global", ex.Scope);
        Assert.Equal("Note", ex.TypeName);
        AssertUnchanged(note);
        Assert.Equal(garbage, (await _manager.Store.GetAsync("global", Key))!.Payload.ToArray());
        Assert.DoesNotContain(_log.Messages, m => m.Contains(Secret, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(BrokenDocumentNames))]
    public async Task Broken_document_read_with_GetAsync_gives_StateSerializationException(string caseName)
    {
        await WriteRawAsync<Note>(Key, BrokenDocuments[caseName]);

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await _manager.GetAsync<Note>(StateScope.Global, Key));

        AssertNamesKeyAndTypeButNoSecret(ex, "Note");
    }

    [Theory]
    [InlineData("plain-text")]
    [InlineData("secret-as-bare-word")]
    [InlineData("truncated-valid-prefix")]
    [InlineData("truncated-inside-secret-string")]
    [InlineData("truncated-after-full-members")]
    [InlineData("trailing-garbage")]
    [InlineData("second-document")]
    [InlineData("empty")]
    [InlineData("whitespace")]
    [InlineData("comment")]
    [InlineData("single-quotes")]
    [InlineData("nul-bytes")]
    [InlineData("too-deep")]
    [InlineData("huge-string-truncated")]
    public async Task Document_that_is_not_json_read_as_raw_json_gives_StateSerializationException(string caseName)
    {
        await _manager.Store.WriteAsync(new StateWrite("global", "raw", StateManager.JsonTypeName, 1, BrokenDocuments[caseName]));

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await _manager.GetJsonAsync(StateScope.Global, "raw"));

        Assert.Contains("'raw'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_log.Messages, m => m.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Document_with_invalid_utf8_read_as_raw_json_gives_StateSerializationException()
    {
        // RFC 8259 JSON is UTF-8; without this check the caller's JsonElement.GetString() throws a raw
        // InvalidOperationException later, outside StateGen's typed errors.
        await _manager.Store.WriteAsync(new StateWrite("global", "raw", StateManager.JsonTypeName, 1, BrokenDocuments["invalid-utf8"]));

        await Assert.ThrowsAsync<StateSerializationException>(async () => await _manager.GetJsonAsync(StateScope.Global, "raw"));
    }

    [Fact]
    public async Task Document_stored_as_another_type_gives_StateTypeMismatchException()
    {
        await _manager.Store.WriteAsync(new StateWrite("global", Key, "OtherNote", 1, Utf8("{\"Id\":\"n1\",\"Topic\":\"other\"}")));
        var note = new Note { Id = "n1", Topic = "mine", Runs = 3, Tags = new() { "t" }, ApiKey = "k" };

        var ex = await Assert.ThrowsAsync<StateTypeMismatchException>(async () => await note.LoadStateAsync(_manager));

        Assert.Equal(("Note", "OtherNote", Key), (ex.ExpectedTypeName, ex.StoredTypeName, ex.Key));
        Assert.Contains(Key, ex.Message, StringComparison.Ordinal);
        Assert.Contains("'Note'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'OtherNote'", ex.Message, StringComparison.Ordinal);
        AssertUnchanged(note);
    }

    [Fact]
    public async Task Raw_json_read_as_a_persistent_type_gives_StateTypeMismatchException()
    {
        await _manager.SetJsonAsync(StateScope.Global, Key, Backends.Json("{\"Id\":\"n1\",\"Topic\":\"json\"}"));

        var ex = await Assert.ThrowsAsync<StateTypeMismatchException>(async () => await _manager.GetAsync<Note>(StateScope.Global, Key));

        Assert.Equal(StateManager.JsonTypeName, ex.StoredTypeName);
    }

    [Fact]
    public async Task Persistent_value_read_as_another_persistent_type_gives_StateTypeMismatchException()
    {
        await _manager.SetAsync(StateScope.Global, "shared-key", new Note { Id = "n1" });

        var ex = await Assert.ThrowsAsync<StateTypeMismatchException>(async () => await _manager.GetAsync<OtherNote>(StateScope.Global, "shared-key"));

        Assert.Equal(("OtherNote", "Note"), (ex.ExpectedTypeName, ex.StoredTypeName));
    }

    [Fact]
    public async Task Schema_version_newer_than_the_type_gives_StateSchemaVersionException()
    {
        await WriteRawAsync<VersionedNote>("VersionedNote/v", Utf8("{\"Text\":\"from the future\"}"), schemaVersion: 4);
        var note = new VersionedNote { Id = "v", Text = "mine" };

        var ex = await Assert.ThrowsAsync<StateSchemaVersionException>(async () => await note.LoadStateAsync(_manager));

        Assert.Equal((4, 3, "VersionedNote", "VersionedNote/v"), (ex.StoredVersion, ex.ExpectedVersion, ex.TypeName, ex.Key));
        Assert.Contains("VersionedNote/v", ex.Message, StringComparison.Ordinal);
        Assert.Equal("mine", note.Text);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public async Task Schema_version_older_than_the_type_gives_StateSchemaVersionException(int storedVersion)
    {
        await WriteRawAsync<VersionedNote>("VersionedNote/v", Utf8("{\"Text\":\"from the past\"}"), schemaVersion: storedVersion);
        var note = new VersionedNote { Id = "v", Text = "mine" };

        var ex = await Assert.ThrowsAsync<StateSchemaVersionException>(async () => await note.LoadStateAsync(_manager));

        Assert.Equal((storedVersion, 3), (ex.StoredVersion, ex.ExpectedVersion));
        Assert.Equal("mine", note.Text);
        await Assert.ThrowsAsync<StateSchemaVersionException>(async () => await _manager.GetAsync<VersionedNote>(StateScope.Global, "VersionedNote/v"));
    }

    [Fact]
    public async Task Value_larger_than_MaxValueBytes_gives_StateValueTooLargeException_and_stores_nothing()
    {
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { MaxValueBytes = 64 });

        var ex = await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await manager.SetJsonAsync(StateScope.Global, "big", Backends.JsonString(new string('x', 63))));
        await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await new Note { Id = "big", Topic = new string('x', 100) }.SaveStateAsync(manager));

        Assert.Equal((65L, 64L, "big"), (ex.Size, ex.Limit, ex.Key));
        Assert.False(await manager.ExistsAsync(StateScope.Global, "big"));
        Assert.False(await manager.ExistsAsync(StateScope.Global, "Note/big"));
    }

    [Fact]
    public async Task Value_of_exactly_MaxValueBytes_is_stored()
    {
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { MaxValueBytes = 64 });

        long version = (await manager.SetJsonAsync(StateScope.Global, "fits", Backends.JsonString(new string('x', 62)))).Version;

        Assert.Equal(1, version);
        Assert.Equal(64, (await manager.Store.GetAsync("global", "fits"))!.Payload.Length);
    }

    [Fact]
    public async Task Too_large_overwrite_keeps_the_previous_value_and_version()
    {
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { MaxValueBytes = 64 });
        await new Note { Id = "n", Topic = "small" }.SaveStateAsync(manager);

        await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await new Note { Id = "n", Topic = new string('x', 100) }.SaveStateAsync(manager));

        StoredEntry entry = (await manager.Store.GetAsync("global", "Note/n"))!;
        Assert.Equal(1, entry.Version);
        var loaded = new Note { Id = "n" };
        await loaded.LoadStateAsync(manager);
        Assert.Equal("small", loaded.Topic);
    }

    [Fact]
    public async Task Saving_a_50_MiB_string_member_gives_StateValueTooLargeException_naming_the_key_and_stores_nothing()
    {
        var ex = await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await new Note { Id = "huge", Topic = new string('x', HugeLength) }.SaveStateAsync(_manager));

        Assert.Equal(("global", "Note/huge", 8L * 1024 * 1024), (ex.Scope, ex.Key, ex.Limit));
        Assert.InRange(ex.Size, HugeLength + 1L, HugeLength + 1024L);
        Assert.Contains("'Note/huge'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("xxxx", ex.Message, StringComparison.Ordinal);
        Assert.False(await _manager.ExistsAsync(StateScope.Global, "Note/huge"));

        // The manager is still usable: the failed save left nothing behind.
        await new Note { Id = "huge", Topic = "small" }.SaveStateAsync(_manager);
        Assert.True(await _manager.ExistsAsync(StateScope.Global, "Note/huge"));
    }

    [Fact]
    public async Task A_50_MiB_string_member_with_escapes_round_trips_when_MaxValueBytes_allows_it()
    {
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { MaxValueBytes = 64 * 1024 * 1024 });
        string huge = new string('z', HugeLength).Insert(HugeLength / 2, "é \" \\ \n \u2028 日本 😀").Insert(0, "<start>") + "<end>";
        await new Note { Id = "huge", Topic = huge }.SaveStateAsync(manager);

        var loaded = new Note { Id = "huge" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal(huge.Length, loaded.Topic!.Length);
        Assert.True(string.Equals(huge, loaded.Topic, StringComparison.Ordinal), "the loaded string differs");
    }

    /// <summary>MaxValueBytes limits what is written; a larger document already in the store is read, exactly.</summary>
    [Fact]
    public async Task A_stored_document_with_a_50_MiB_string_beyond_MaxValueBytes_loads_exactly()
    {
        string huge = "<start>" + new string('y', HugeLength) + "<end>";
        await WriteRawAsync<Note>("Note/stored-huge", Utf8($"{{\"Topic\":\"{huge}\",\"Runs\":5}}"));

        var loaded = new Note { Id = "stored-huge" };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.True(string.Equals(huge, loaded.Topic, StringComparison.Ordinal), "the loaded string differs");
        Assert.Equal(5, loaded.Runs);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Non_positive_MaxValueBytes_is_rejected(int limit)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new StateManager(new MemoryStateStore(), new StateManagerOptions { MaxValueBytes = limit }));
    }

    [Fact]
    public async Task Unknown_enum_name_gives_StateSerializationException()
    {
        await WriteRawAsync<AllKinds>("AllKinds/e", Utf8($"{{\"Color\":\"{Secret}\"}}"));
        var value = new AllKinds { Id = "e", Color = Color.Green };

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await value.LoadStateAsync(_manager));

        AssertNamesKeyAndTypeButNoSecret(ex, "AllKinds");
        Assert.Equal(Color.Green, value.Color);
    }

    [Theory]
    [InlineData("{\"Guid\":\"not-a-guid\"}", "Guid")]
    [InlineData("{\"OffsetTime\":\"yesterday\"}", "OffsetTime")]
    [InlineData("{\"UtcTime\":\"2024-13-45T00:00:00Z\"}", "UtcTime")]
    [InlineData("{\"NegativeSpan\":\"forever\"}", "NegativeSpan")]
    [InlineData("{\"Bytes\":\"***not base64***\"}", "Bytes")]
    [InlineData("{\"Letter\":\"two\"}", "Letter")]
    [InlineData("{\"ByteMax\":256}", "ByteMax")]
    [InlineData("{\"SByteMin\":-129}", "SByteMin")]
    [InlineData("{\"ULongMax\":-1}", "ULongMax")]
    [InlineData("{\"DoubleValue\":\"Infinite\"}", "DoubleValue")]
    [InlineData("{\"Flag\":\"true\"}", "Flag")]
    [InlineData("{\"Point\":[1,2]}", "Point")]
    [InlineData("{\"Counts\":{\"a\":\"b\"}}", "Counts")]
    [InlineData("{\"Profile\":\"p\"}", "Profile")]
    [InlineData("{\"NullableIntSet\":\"1\"}", "NullableIntSet")]
    [InlineData("{\"Profile\":{\"Level\":\"high\"}}", "Level")] // a nested persistent type names its own member
    [InlineData("{\"Profiles\":[{\"Id\":\"p\"},{\"Level\":[]}]}", "Level")]
    public async Task Member_of_the_wrong_shape_gives_StateSerializationException_naming_the_member(string json, string member)
    {
        await WriteRawAsync<AllKinds>("AllKinds/w", Utf8(json));
        AllKinds value = AllKindsSample.Create("w");

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await value.LoadStateAsync(_manager));

        // Scope, key, type and the member; never a stored value.
        Assert.Equal(("global", "AllKinds/w", "AllKinds", member), (ex.Scope, ex.Key, ex.TypeName, ex.Member));
        Assert.Contains($"member '{member}'", ex.Message, StringComparison.Ordinal);
        AssertNamesKeyAndTypeButNoSecret(ex, "AllKinds");
        AllKindsSample.AssertEqual(AllKindsSample.Create("w"), value, AllKindsSample.SecretDoorCode);
    }

    private async Task WriteRawAsync<T>(string key, byte[] payload, int? schemaVersion = null)
        where T : IPersistentState<T>
    {
        PersistentStateInfo info = Backends.InfoOf<T>();
        await _manager.Store.WriteAsync(new StateWrite("global", key, info.TypeName, schemaVersion ?? info.SchemaVersion, payload));
    }

    private static void AssertNamesKeyAndTypeButNoSecret(StateGenException ex, string? typeName)
    {
        Assert.Contains(ex.Key!, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{typeName}'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("changed", ex.Message, StringComparison.Ordinal);
    }

    private static void AssertUnchanged(Note note)
    {
        Assert.Equal(("n1", "mine", 3, "k"), (note.Id, note.Topic, note.Runs, note.ApiKey));
        Assert.Equal(new[] { "t" }, note.Tags);
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
