using System.Text;
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
}
