using System;
using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

public sealed record FrozenStep(string Name, ImmutableArray<int> Marks);

[PersistentState("immutable-collections")]
public partial class ImmutableCollections
{
    public string Id { get; set; } = "";
    public ImmutableArray<string> Words { get; set; }
    public ImmutableArray<int>? MaybeNumbers { get; set; }
    public ImmutableList<FrozenStep> Steps { get; set; } = ImmutableList<FrozenStep>.Empty;
    public IImmutableList<string> Lines { get; set; } = ImmutableList<string>.Empty;
    public ImmutableHashSet<string> Tags { get; set; } = ImmutableHashSet<string>.Empty;
    public IImmutableSet<Guid> Seen { get; set; } = ImmutableHashSet<Guid>.Empty;
    public ImmutableDictionary<string, int> Scores { get; set; } = ImmutableDictionary<string, int>.Empty;
    public IImmutableDictionary<int, ImmutableList<string>> Groups { get; init; } = ImmutableDictionary<int, ImmutableList<string>>.Empty;
}

/// <summary>Immutable collections are written by iterating them and read through a builder; a default ImmutableArray is null.</summary>
public sealed class ImmutableCollectionTests : IAsyncLifetime
{
    private const string Key = "immutable-collections/i";
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    [Fact]
    public async Task Immutable_collections_round_trip_with_order_and_contents()
    {
        var saved = new ImmutableCollections
        {
            Id = "i",
            Words = ImmutableArray.Create("b", "a", "c"),
            MaybeNumbers = ImmutableArray.Create(3, 1),
            Steps = ImmutableList.Create(new FrozenStep("plan", ImmutableArray.Create(1, 2)), new FrozenStep("act", ImmutableArray<int>.Empty)),
            Lines = ImmutableList.Create("one", "two"),
            Tags = ImmutableHashSet.Create("x", "y"),
            Seen = ImmutableHashSet.Create(Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
            Scores = ImmutableDictionary<string, int>.Empty.Add("a", 1).Add("b", 2),
            Groups = ImmutableDictionary<int, ImmutableList<string>>.Empty.Add(-4, ImmutableList.Create("g")),
        };
        await saved.SaveStateAsync(_manager);

        var loaded = new ImmutableCollections { Id = "i" };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal(new[] { "b", "a", "c" }, loaded.Words);
        Assert.Equal(new[] { 3, 1 }, loaded.MaybeNumbers!.Value);
        Assert.Equal(new[] { "plan", "act" }, loaded.Steps.Select(s => s.Name));
        Assert.Equal(new[] { 1, 2 }, loaded.Steps[0].Marks);
        Assert.True(loaded.Steps[1].Marks.IsEmpty);
        Assert.IsType<ImmutableList<string>>(loaded.Lines);
        Assert.Equal(new[] { "one", "two" }, loaded.Lines);
        Assert.True(loaded.Tags.SetEquals(saved.Tags));
        Assert.True(loaded.Seen.SetEquals(saved.Seen));
        Assert.Equal(saved.Scores.OrderBy(p => p.Key), loaded.Scores.OrderBy(p => p.Key));
        Assert.Equal(new[] { "g" }, loaded.Groups[-4]);
    }

    [Fact]
    public async Task Default_ImmutableArray_is_written_as_null_and_read_back_as_default_while_empty_stays_empty()
    {
        await new ImmutableCollections { Id = "i", Words = default, MaybeNumbers = ImmutableArray<int>.Empty }.SaveStateAsync(_manager);

        string json = Backends.Utf8((await _manager.Store.GetAsync("global", Key))!.Payload);
        var loaded = new ImmutableCollections { Id = "i", Words = ImmutableArray.Create("stale") };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Contains("\"Words\":null", json, StringComparison.Ordinal);
        Assert.Contains("\"MaybeNumbers\":[]", json, StringComparison.Ordinal);
        Assert.True(loaded.Words.IsDefault);
        Assert.True(loaded.MaybeNumbers!.Value.IsEmpty);
        Assert.False(loaded.MaybeNumbers.Value.IsDefault);
    }

    [Fact]
    public async Task Duplicate_key_in_an_immutable_dictionary_is_a_typed_error()
    {
        await Backends.WriteRawAsync<ImmutableCollections>(_manager, Key, "{\"Scores\":{\"a\":1,\"a\":2}}");
        var target = new ImmutableCollections { Id = "i" };

        await Assert.ThrowsAsync<StateSerializationException>(async () => await target.LoadStateAsync(_manager));

        Assert.Empty(target.Scores);
    }
}
