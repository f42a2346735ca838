using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Serialization;

/// <summary>The generated serializers, driven through the <see cref="StateManager"/>, keep every supported member exactly.</summary>
public sealed class GeneratedSerializerRoundTripTests : IAsyncLifetime
{
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    private async Task<string> StoredPayloadAsync(string key, StateScope scope = default)
    {
        StoredEntry? entry = await _manager.Store.GetAsync(scope.Path, key);
        Assert.NotNull(entry);
        return Backends.Utf8(entry.Payload);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task All_member_kinds_round_trip_with_full_fidelity(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);
        AllKinds original = AllKindsSample.Create();

        await original.SaveStateAsync(manager);
        var loaded = new AllKinds { Id = original.Id };
        Assert.True(await loaded.LoadStateAsync(manager));

        AllKindsSample.AssertEqual(original, loaded);
    }

    [Fact]
    public async Task GetAsync_creates_an_instance_equal_to_the_saved_one()
    {
        AllKinds original = AllKindsSample.Create("by-key");
        await _manager.SetAsync(StateScope.Workflow("w"), "explicit/key", original);

        AllKinds? loaded = await _manager.GetAsync<AllKinds>(StateScope.Workflow("w"), "explicit/key");

        Assert.NotNull(loaded);
        AllKindsSample.AssertEqual(original, loaded);
    }

    [Fact]
    public async Task Decimal_keeps_its_scale()
    {
        await new AllKinds { Id = "d", DecimalWithScale = 1.50m, DecimalZeroWithScale = 0.000m }.SaveStateAsync(_manager);

        var loaded = new AllKinds { Id = "d" };
        await loaded.LoadStateAsync(_manager);

        Assert.Equal("1.50", loaded.DecimalWithScale.ToString(CultureInfo.InvariantCulture));
        Assert.Equal("0.000", loaded.DecimalZeroWithScale.ToString(CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task DateTime_keeps_its_kind_and_ticks()
    {
        var utc = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1);
        var local = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Local).AddTicks(2);
        var unspecified = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Unspecified).AddTicks(3);
        await new AllKinds { Id = "t", UtcTime = utc, LocalTime = local, UnspecifiedTime = unspecified }.SaveStateAsync(_manager);

        var loaded = new AllKinds { Id = "t" };
        await loaded.LoadStateAsync(_manager);

        Assert.Equal((DateTimeKind.Utc, utc.Ticks), (loaded.UtcTime.Kind, loaded.UtcTime.Ticks));
        Assert.Equal((DateTimeKind.Local, local.Ticks), (loaded.LocalTime.Kind, loaded.LocalTime.Ticks));
        Assert.Equal((DateTimeKind.Unspecified, unspecified.Ticks), (loaded.UnspecifiedTime.Kind, loaded.UnspecifiedTime.Ticks));
    }

    [Fact]
    public async Task DateTimeOffset_keeps_its_offset()
    {
        var value = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(-3.5)).AddTicks(42);
        await new AllKinds { Id = "o", OffsetTime = value }.SaveStateAsync(_manager);

        var loaded = new AllKinds { Id = "o" };
        await loaded.LoadStateAsync(_manager);

        Assert.Equal(TimeSpan.FromHours(-3.5), loaded.OffsetTime.Offset);
        Assert.Equal(value.Ticks, loaded.OffsetTime.Ticks);
    }

    [Fact]
    public async Task Undefined_enum_value_round_trips()
    {
        await new AllKinds { Id = "e", UndefinedColor = (Color)42, Access = (Access)0xFF, Signed = (Signed)(-12345) }.SaveStateAsync(_manager);

        var loaded = new AllKinds { Id = "e" };
        await loaded.LoadStateAsync(_manager);

        Assert.Equal((Color)42, loaded.UndefinedColor);
        Assert.Equal((Access)0xFF, loaded.Access);
        Assert.Equal((Signed)(-12345), loaded.Signed);
    }

    [Fact]
    public async Task Defined_enum_values_are_stored_by_name()
    {
        await new AllKinds { Id = "en", Color = Color.Blue, Huge = Huge.Max }.SaveStateAsync(_manager);

        using JsonDocument doc = JsonDocument.Parse(await StoredPayloadAsync("AllKinds/en"));

        Assert.Equal("Blue", doc.RootElement.GetProperty("Color").GetString());
        Assert.Equal("Max", doc.RootElement.GetProperty("Huge").GetString());
    }

    [Fact]
    public async Task Byte_array_is_stored_as_base64()
    {
        byte[] bytes = { 0, 1, 2, 127, 128, 254, 255 };
        await new AllKinds { Id = "b", Bytes = bytes }.SaveStateAsync(_manager);

        using JsonDocument doc = JsonDocument.Parse(await StoredPayloadAsync("AllKinds/b"));

        Assert.Equal(Convert.ToBase64String(bytes), doc.RootElement.GetProperty("Bytes").GetString());
    }

    [Fact]
    public async Task Null_collections_stay_null_and_empty_collections_stay_empty()
    {
        await new AllKinds { Id = "c", NullList = null, EmptyList = new List<int>(), NullArray = null, NullBytes = null, EmptyBytes = Array.Empty<byte>(), NullDictionary = null, Strings = null }.SaveStateAsync(_manager);

        AllKinds loaded = (await _manager.GetAsync<AllKinds>(StateScope.Global, "AllKinds/c"))!;

        Assert.Null(loaded.NullList);
        Assert.Null(loaded.NullArray);
        Assert.Null(loaded.NullBytes);
        Assert.Null(loaded.NullDictionary);
        Assert.Null(loaded.Strings);
        Assert.NotNull(loaded.EmptyList);
        Assert.Empty(loaded.EmptyList);
        Assert.NotNull(loaded.EmptyBytes);
        Assert.Empty(loaded.EmptyBytes);
    }

    [Fact]
    public async Task Nested_persistent_state_member_round_trips()
    {
        await new WithOptionalProfile { Id = "w", Profile = new Profile { Id = "p", DisplayName = "nested", Level = 4 } }.SaveStateAsync(_manager);

        var loaded = new WithOptionalProfile { Id = "w" };
        await loaded.LoadStateAsync(_manager);

        Assert.NotNull(loaded.Profile);
        Assert.Equal(("p", "nested", 4), (loaded.Profile.Id, loaded.Profile.DisplayName, loaded.Profile.Level));
    }

    [Fact]
    public async Task Null_nested_persistent_state_member_round_trips_as_null()
    {
        var original = new WithOptionalProfile { Id = "w-null", Profile = null };

        await original.SaveStateAsync(_manager);
        var loaded = new WithOptionalProfile { Id = "w-null", Profile = new Profile { Id = "in-memory" } };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Null(loaded.Profile);
    }

    [Fact]
    public async Task Stored_null_for_a_nested_persistent_state_member_loads_as_null()
    {
        await WriteRawAsync<WithOptionalProfile>("WithOptionalProfile/w-null", "{\"Id\":\"w-null\",\"Profile\":null}");

        var loaded = new WithOptionalProfile { Id = "w-null", Profile = new Profile { Id = "in-memory" } };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Null(loaded.Profile);
    }

    [Fact]
    public async Task Sensitive_member_is_not_in_the_stored_payload()
    {
        const string Secret = "sk-live-SECRET123";
        AllKinds withDoorCode = AllKindsSample.Create("s2");
        await new Note { Id = "s", Topic = "t", ApiKey = Secret }.SaveStateAsync(_manager);
        await withDoorCode.SaveStateAsync(_manager);

        string payload = await StoredPayloadAsync("Note/s");
        JsonElement json = (await _manager.GetJsonAsync(StateScope.Global, "Note/s"))!.Value;
        string nestedPayload = await StoredPayloadAsync("AllKinds/s2");

        Assert.DoesNotContain(Secret, payload, StringComparison.Ordinal);
        Assert.DoesNotContain("ApiKey", payload, StringComparison.Ordinal);
        Assert.False(json.TryGetProperty("ApiKey", out _));
        Assert.DoesNotContain(AllKindsSample.SecretDoorCode, nestedPayload, StringComparison.Ordinal);
        Assert.DoesNotContain("DoorCode", nestedPayload, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loading_leaves_the_in_memory_sensitive_value_as_it_was()
    {
        await new Note { Id = "s", Topic = "stored", ApiKey = "sk-live-SAVED" }.SaveStateAsync(_manager);
        var unset = new Note { Id = "s", ApiKey = null };
        var set = new Note { Id = "s", ApiKey = "sk-live-IN-MEMORY" };

        await unset.LoadStateAsync(_manager);
        await set.LoadStateAsync(_manager);

        Assert.Null(unset.ApiKey);
        Assert.Equal("sk-live-IN-MEMORY", set.ApiKey);
        Assert.Equal("stored", set.Topic);
    }

    [Fact]
    public async Task Sensitive_member_present_in_a_stored_document_is_not_loaded()
    {
        // A document written by hand (or by an older program) that carries the secret must not overwrite it.
        await WriteRawAsync<Note>("Note/s", "{\"Id\":\"s\",\"ApiKey\":\"sk-from-disk\",\"Topic\":\"t\"}");
        var note = new Note { Id = "s", ApiKey = "in-memory" };

        await note.LoadStateAsync(_manager);

        Assert.Equal("in-memory", note.ApiKey);
        Assert.Equal("t", note.Topic);
    }

    [Fact]
    public async Task StateIgnore_member_is_not_stored_and_keeps_its_value_on_load()
    {
        await new Note { Id = "i", Scratch = "scratch-value" }.SaveStateAsync(_manager);

        string payload = await StoredPayloadAsync("Note/i");
        var loaded = new Note { Id = "i", Scratch = "kept" };
        await loaded.LoadStateAsync(_manager);

        Assert.DoesNotContain("Scratch", payload, StringComparison.Ordinal);
        Assert.DoesNotContain("scratch-value", payload, StringComparison.Ordinal);
        Assert.Equal("kept", loaded.Scratch);
    }

    [Fact]
    public async Task Stored_document_is_a_json_object_of_the_persisted_members_in_declared_order()
    {
        await new Note { Id = "f", Topic = "t", Runs = 3, Tags = new() { "a", "b" }, ApiKey = "k", Scratch = "s" }.SaveStateAsync(_manager);

        Assert.Equal("{\"Id\":\"f\",\"Topic\":\"t\",\"Runs\":3,\"Tags\":[\"a\",\"b\"]}", await StoredPayloadAsync("Note/f"));
    }

    [Fact]
    public async Task Unknown_members_in_a_stored_document_are_ignored()
    {
        await WriteRawAsync<Note>("Note/u", """
            {"Extra":{"deep":[1,{"x":[true,null,"s"]}],"n":2},"Topic":"known","More":[[],{}],"Runs":5,"Last":"x"}
            """);

        var note = new Note { Id = "u" };
        Assert.True(await note.LoadStateAsync(_manager));

        Assert.Equal("known", note.Topic);
        Assert.Equal(5, note.Runs);
    }

    [Fact]
    public async Task Members_absent_from_the_document_keep_their_initializer_values()
    {
        await WriteRawAsync<Note>("Note/a", "{\"Id\":\"a\",\"Runs\":1}");

        Note created = (await _manager.GetAsync<Note>(StateScope.Global, "Note/a"))!;

        Assert.Equal(1, created.Runs);
        Assert.Equal("initial-topic", created.Topic);
        Assert.Equal(new[] { "initial-tag" }, created.Tags);
    }

    [Fact]
    public async Task Members_absent_from_the_document_keep_their_current_values_on_load()
    {
        await WriteRawAsync<Note>("Note/a", "{\"Runs\":1}");
        var note = new Note { Id = "a", Topic = "current", Tags = new() { "current" } };

        await note.LoadStateAsync(_manager);

        Assert.Equal(1, note.Runs);
        Assert.Equal("current", note.Topic);
        Assert.Equal(new[] { "current" }, note.Tags);
        Assert.Equal("a", note.Id);
    }

    [Fact]
    public async Task Load_of_missing_state_returns_false_and_leaves_the_object_unchanged()
    {
        var note = new Note { Id = "missing", Topic = "mine", Runs = 3, ApiKey = "k" };

        Assert.False(await note.LoadStateAsync(_manager));

        Assert.Equal(("missing", "mine", 3, "k"), (note.Id, note.Topic, note.Runs, note.ApiKey));
        Assert.Equal(new[] { "initial-tag" }, note.Tags);
    }

    [Fact]
    public async Task GetAsync_of_missing_key_returns_null()
    {
        Assert.Null(await _manager.GetAsync<Note>(StateScope.Global, "Note/missing"));
        Assert.Null(await _manager.GetJsonAsync(StateScope.Global, "Note/missing"));
    }

    [Fact]
    public async Task DeleteStateAsync_returns_true_then_false()
    {
        var note = new Note { Id = "d" };
        await note.SaveStateAsync(_manager);

        Assert.True(await note.DeleteStateAsync(_manager));
        Assert.False(await note.DeleteStateAsync(_manager));
        Assert.False(await new Note { Id = "d" }.LoadStateAsync(_manager));
    }

    [Fact]
    public async Task Every_save_increments_the_stored_version()
    {
        var note = new Note { Id = "v" };
        for (int i = 1; i <= 3; i++)
        {
            note.Runs = i;
            await note.SaveStateAsync(_manager);
            Assert.Equal(i, (await _manager.Store.GetAsync("global", "Note/v"))!.Version);
        }
    }

    private async Task WriteRawAsync<T>(string key, string json)
        where T : IPersistentState<T>
    {
        PersistentStateInfo info = Backends.InfoOf<T>();
        await _manager.Store.WriteAsync(new StateWrite(StateScope.Global.Path, key, info.TypeName, info.SchemaVersion, System.Text.Encoding.UTF8.GetBytes(json)));
    }
}
