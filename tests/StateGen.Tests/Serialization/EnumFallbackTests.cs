using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

public enum Mood
{
    [StateEnumFallback]
    Unknown,
    Calm,
    Busy,
}

public enum StrictMood
{
    Calm,
    Busy,
}

[PersistentState("moody")]
public partial class Moody
{
    public string Id { get; set; } = "";
    public Mood Mood { get; set; }
    public StrictMood Strict { get; set; }
}

[Flags]
public enum Rights : long
{
    None = 0,
    Read = 1,
    Write = 2,
    Admin = 1L << 40,
}

[Flags]
public enum SoftRights
{
    [StateEnumFallback]
    Unknown = 0,
    Read = 1,
    Write = 2,
}

[PersistentState("rights-holder")]
public partial class RightsHolder
{
    public string Id { get; set; } = "";
    public Rights Rights { get; set; }
    public SoftRights Soft { get; set; }
    public List<Rights> History { get; set; } = new();
}

/// <summary>Enums are stored by name; an unknown name is a typed error unless the enum declares a fallback.</summary>
public sealed class EnumFallbackTests
{
    [Fact]
    public async Task An_unknown_name_loads_as_the_declared_fallback()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "moody/m1", "moody", 1, Encoding.UTF8.GetBytes("""{"Mood":"Ecstatic","Strict":"Busy"}""")));

        var loaded = new Moody { Id = "m1", Mood = Mood.Calm };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal(Mood.Unknown, loaded.Mood);
        Assert.Equal(StrictMood.Busy, loaded.Strict);
    }

    [Fact]
    public async Task An_unknown_name_without_a_fallback_is_a_typed_error_and_the_instance_is_unchanged()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "moody/m2", "moody", 1, Encoding.UTF8.GetBytes("""{"Mood":"Calm","Strict":"Ecstatic"}""")));

        var loaded = new Moody { Id = "m2", Mood = Mood.Busy };
        await Assert.ThrowsAsync<StateSerializationException>(() => loaded.LoadStateAsync(manager).AsTask());

        Assert.Equal(Mood.Busy, loaded.Mood);
    }

    [Fact]
    public async Task A_flags_combination_is_stored_as_its_number_and_System_Text_Json_name_lists_are_read()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        var saved = new RightsHolder { Id = "r1", Rights = Rights.Read | Rights.Admin, Soft = SoftRights.Write, History = { Rights.Write, Rights.Read | Rights.Write } };
        await saved.SaveStateAsync(manager);
        string stored = Encoding.UTF8.GetString((await store.GetAsync("global", "rights-holder/r1"))!.Payload.Span);
        Assert.Contains("\"Rights\":1099511627777", stored, System.StringComparison.Ordinal);
        Assert.Contains("\"History\":[\"Write\",3]", stored, System.StringComparison.Ordinal);

        // What System.Text.Json's JsonStringEnumConverter writes for the same values ("Read, Admin") loads equal.
        var options = new JsonSerializerOptions { Converters = { new JsonStringEnumConverter() } };
        string stj = JsonSerializer.Serialize(new { saved.Rights, saved.Soft, saved.History }, options);
        Assert.Contains("\"Read, Admin\"", stj, System.StringComparison.Ordinal);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "rights-holder/r2", "rights-holder", 1, Encoding.UTF8.GetBytes(stj)));
        var loaded = new RightsHolder { Id = "r2" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal((saved.Rights, saved.Soft), (loaded.Rights, loaded.Soft));
        Assert.Equal(saved.History, loaded.History);
    }

    [Theory]
    [InlineData("\"Read,Write\"", Rights.Read | Rights.Write)]
    [InlineData("\" Write ,  Read\"", Rights.Read | Rights.Write)]
    [InlineData("\"Read, Read\"", Rights.Read)]
    [InlineData("\"Read\\u002C Admin\"", Rights.Read | Rights.Admin)]
    public async Task Name_lists_are_read_with_any_spacing_order_and_escaping(string json, Rights expected)
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "rights-holder/r3", "rights-holder", 1, Encoding.UTF8.GetBytes($$"""{"Rights":{{json}}}""")));

        var loaded = new RightsHolder { Id = "r3" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(expected, loaded.Rights);
    }

    [Theory]
    [InlineData("\"Read, Delete\"")]
    [InlineData("\"Read,\"")]
    [InlineData("\",\"")]
    public async Task A_name_list_with_an_unknown_or_empty_name_is_a_typed_error_naming_the_member_or_the_fallback(string json)
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "rights-holder/r4", "rights-holder", 1, Encoding.UTF8.GetBytes($$"""{"Rights":{{json}}}""")));
        var strict = new RightsHolder { Id = "r4", Rights = Rights.Write };

        var error = await Assert.ThrowsAsync<StateSerializationException>(() => strict.LoadStateAsync(manager).AsTask());
        Assert.Equal("Rights", error.Member);
        Assert.Equal(Rights.Write, strict.Rights);

        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "rights-holder/r4", "rights-holder", 1, Encoding.UTF8.GetBytes($$"""{"Soft":{{json.Replace("Delete", "Execute")}}}""")));
        var soft = new RightsHolder { Id = "r4", Soft = SoftRights.Write };
        Assert.True(await soft.LoadStateAsync(manager));
        Assert.Equal(SoftRights.Unknown, soft.Soft);
    }
}
