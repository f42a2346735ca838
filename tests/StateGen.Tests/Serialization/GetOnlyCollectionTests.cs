using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

public sealed class ShelfItem
{
    public string Title { get; set; } = "";
    public List<string> Authors { get; } = new();
}

public sealed record LabeledBox(string Label)
{
    public HashSet<int> Codes { get; } = new();
}

[PersistentState("get-only-collections")]
public partial class GetOnlyCollections
{
    public GetOnlyCollections()
    {
    }

    /// <summary>An instance whose get-only collections are null or read-only, as a constructor may leave them.</summary>
    public GetOnlyCollections(List<string>? maybe, IList<string> authors)
    {
        Maybe = maybe;
        Authors = authors;
    }

    public string Id { get; set; } = "";
    public List<ShelfItem> Shelves { get; } = new();
    public IList<string> Authors { get; } = new List<string>();
    public ICollection<int> Years { get; } = new List<int>();
    public HashSet<string> Tags { get; } = new();
    public ISet<string> Labels { get; } = new HashSet<string>();
    public Dictionary<string, int> Counts { get; } = new();
    public IDictionary<string, LabeledBox> Boxes { get; } = new Dictionary<string, LabeledBox>();
    public List<string>? Maybe { get; } = new();
    public int ShelfCount => Shelves.Count;
    public IReadOnlyList<int> ReadOnlyYears { get; } = new List<int> { 7 };
}

/// <summary>Get-only auto-properties of mutable collection types are state: a load clears their instance and fills it.</summary>
public sealed class GetOnlyCollectionTests : IAsyncLifetime
{
    private const string Key = "get-only-collections/g";
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    [Fact]
    public async Task Get_only_collections_round_trip_into_the_same_instances_and_lose_their_stale_items()
    {
        GetOnlyCollections saved = Sample();
        await saved.SaveStateAsync(_manager);
        var loaded = new GetOnlyCollections { Id = "g" };
        loaded.Authors.Add("stale");
        loaded.Counts["stale"] = 1;
        loaded.Maybe!.Add("stale");
        IList<string> authors = loaded.Authors;
        Dictionary<string, int> counts = loaded.Counts;

        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Same(authors, loaded.Authors);
        Assert.Same(counts, loaded.Counts);
        Assert.Equal(new[] { "Ada", "Grace" }, loaded.Authors);
        Assert.Equal(new[] { 1815, 1906 }, loaded.Years);
        Assert.Equal(saved.Tags.OrderBy(t => t), loaded.Tags.OrderBy(t => t));
        Assert.Equal(saved.Labels.OrderBy(t => t), loaded.Labels.OrderBy(t => t));
        Assert.Equal(saved.Counts, loaded.Counts);
        Assert.Equal(new[] { "m" }, loaded.Maybe);
        ShelfItem shelf = Assert.Single(loaded.Shelves);
        Assert.Equal("Notes", shelf.Title);
        Assert.Equal(new[] { "Lovelace", "Menabrea" }, shelf.Authors);
        Assert.Equal("crate", loaded.Boxes["b"].Label);
        Assert.Equal(new[] { 3, 5 }, loaded.Boxes["b"].Codes.OrderBy(c => c));
    }

    [Fact]
    public async Task Computed_and_read_only_typed_get_only_members_are_not_stored()
    {
        await Sample().SaveStateAsync(_manager);

        string json = Backends.Utf8((await _manager.Store.GetAsync("global", Key))!.Payload);

        Assert.Contains("\"Authors\":[\"Ada\",\"Grace\"]", json, StringComparison.Ordinal);
        Assert.DoesNotContain("ShelfCount", json, StringComparison.Ordinal);
        Assert.DoesNotContain("ReadOnlyYears", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stored_null_empties_the_collection_and_a_null_getter_is_left_null()
    {
        await WriteRawAsync("{\"Maybe\":null,\"Tags\":null}");
        var loaded = new GetOnlyCollections { Id = "g" };
        loaded.Maybe!.Add("stale");
        loaded.Tags.Add("stale");

        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Empty(loaded.Maybe);
        Assert.Empty(loaded.Tags);

        var nullGetter = new GetOnlyCollections(maybe: null, new List<string>()) { Id = "g" };
        Assert.True(await nullGetter.LoadStateAsync(_manager));
        Assert.Null(nullGetter.Maybe);
    }

    [Fact]
    public async Task Items_stored_for_a_null_getter_give_a_typed_error_naming_the_member_and_leave_the_object_unchanged()
    {
        await Sample().SaveStateAsync(_manager);
        var target = new GetOnlyCollections(maybe: null, new List<string> { "mine" }) { Id = "g" };

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await target.LoadStateAsync(_manager));

        Assert.Equal("Maybe", ex.Member);
        Assert.Contains("'Maybe'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(Key, ex.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "mine" }, target.Authors);
        Assert.Empty(target.Shelves);
    }

    [Fact]
    public async Task A_read_only_instance_behind_a_mutable_interface_gives_a_typed_error_and_leaves_the_object_unchanged()
    {
        await Sample().SaveStateAsync(_manager);
        var target = new GetOnlyCollections(new List<string>(), new ReadOnlyCollection<string>(new[] { "mine" })) { Id = "g" };

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await target.LoadStateAsync(_manager));

        Assert.Equal("Authors", ex.Member);
        Assert.Contains("read-only", ex.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "mine" }, target.Authors);
        Assert.Empty(target.Counts);
        Assert.Empty(target.Maybe!);
    }

    [Fact]
    public async Task Absent_member_leaves_the_collection_as_it_is()
    {
        await WriteRawAsync("{\"Id\":\"g\"}");
        var loaded = new GetOnlyCollections { Id = "g" };
        loaded.Tags.Add("kept");

        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal(new[] { "kept" }, loaded.Tags);
    }

    private static GetOnlyCollections Sample()
    {
        var value = new GetOnlyCollections { Id = "g" };
        var shelf = new ShelfItem { Title = "Notes" };
        shelf.Authors.AddRange(new[] { "Lovelace", "Menabrea" });
        value.Shelves.Add(shelf);
        value.Authors.Add("Ada");
        value.Authors.Add("Grace");
        value.Years.Add(1815);
        value.Years.Add(1906);
        value.Tags.UnionWith(new[] { "b", "a" });
        value.Labels.Add("x");
        value.Counts["a"] = 1;
        value.Counts["b"] = 2;
        var box = new LabeledBox("crate");
        box.Codes.UnionWith(new[] { 5, 3 });
        value.Boxes["b"] = box;
        value.Maybe!.Add("m");
        return value;
    }

    private Task WriteRawAsync(string json) => Backends.WriteRawAsync<GetOnlyCollections>(_manager, Key, json);
}
