using System;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Serialization;

/// <summary>Which member identifies an instance, and the key it is stored under: <c>{StableTypeName}/{id}</c>.</summary>
public sealed class IdConventionTests : IAsyncLifetime
{
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    [Fact]
    public async Task Property_named_Id_is_the_id_by_convention()
    {
        await new Note { Id = "n-1" }.SaveStateAsync(_manager);

        Assert.Equal("Note/n-1", StateManager.KeyOf(new Note { Id = "n-1" }));
        Assert.Equal(new[] { "Note/n-1" }, await _manager.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public async Task StateId_on_a_Guid_property_is_the_id_in_D_format()
    {
        var id = new Guid("6f9619ff-8b86-d011-b42d-00cf4fc964ff");
        await new GuidKeyed { Key = id, Value = "g" }.SaveStateAsync(_manager);

        var loaded = new GuidKeyed { Key = id };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal("g", loaded.Value);
        Assert.Equal(new[] { "GuidKeyed/6f9619ff-8b86-d011-b42d-00cf4fc964ff" }, await _manager.ListKeysAsync(StateScope.Global));
        Assert.False(await new GuidKeyed { Key = Guid.NewGuid() }.LoadStateAsync(_manager));
    }

    [Fact]
    public async Task StateId_on_an_int_field_is_the_id_in_invariant_format()
    {
        await new IntKeyed { Number = -42, Value = "negative" }.SaveStateAsync(_manager);
        await new IntKeyed { Number = 7, Value = "seven" }.SaveStateAsync(_manager);

        var loaded = new IntKeyed { Number = -42 };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal("negative", loaded.Value);
        Assert.Equal(new[] { "IntKeyed/-42", "IntKeyed/7" }, await _manager.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public async Task StateId_on_a_long_property_wins_over_a_property_named_Id()
    {
        await new LongKeyed { Sequence = long.MaxValue, Id = "not-the-id" }.SaveStateAsync(_manager);

        var loaded = new LongKeyed { Sequence = long.MaxValue };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal("not-the-id", loaded.Id);
        Assert.Equal(new[] { "LongKeyed/9223372036854775807" }, await _manager.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public async Task Stable_type_name_is_the_key_prefix_and_survives_a_rename_of_the_class()
    {
        await new ResearchAgentBeforeRename { Id = "r1", Goal = "find papers", Steps = 3 }.SaveStateAsync(_manager);

        var renamed = new ResearchAgentAfterRename { Id = "r1" };
        Assert.True(await renamed.LoadStateAsync(_manager));

        Assert.Equal(("find papers", 3), (renamed.Goal, renamed.Steps));
        Assert.Equal(new[] { "research-agent/r1" }, await _manager.ListKeysAsync(StateScope.Global));
        Assert.Equal("research-agent", (await _manager.Store.GetAsync("global", "research-agent/r1"))!.TypeName);
    }

    [Fact]
    public async Task Type_nested_in_another_class_uses_its_simple_name()
    {
        await new Outer.NestedAgent { Id = "x", Name = "nested" }.SaveStateAsync(_manager);

        var loaded = new Outer.NestedAgent { Id = "x" };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal("nested", loaded.Name);
        Assert.Equal(new[] { "NestedAgent/x" }, await _manager.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public async Task Stored_entry_records_the_stable_type_name_and_schema_version()
    {
        await new VersionedNote { Id = "v" }.SaveStateAsync(_manager);

        var entry = (await _manager.Store.GetAsync("global", "VersionedNote/v"))!;

        Assert.Equal("VersionedNote", entry.TypeName);
        Assert.Equal(3, entry.SchemaVersion);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task Instance_without_an_id_is_rejected_with_InvalidStateKeyException(string? id)
    {
        var note = new Note { Id = id, Topic = "unchanged" };

        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await note.SaveStateAsync(_manager));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await note.LoadStateAsync(_manager));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await note.DeleteStateAsync(_manager));

        Assert.Equal("unchanged", note.Topic);
        Assert.Empty(await _manager.ListKeysAsync(StateScope.Global));
    }

    [Theory]
    [InlineData("..")]
    [InlineData("a//b")]
    [InlineData("a\\b")]
    [InlineData("a\u0007b")]
    public async Task Instance_whose_id_makes_an_invalid_key_is_rejected(string id)
    {
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await new Note { Id = id }.SaveStateAsync(_manager));

        Assert.Empty(await _manager.ListKeysAsync(StateScope.Global));
    }
}
