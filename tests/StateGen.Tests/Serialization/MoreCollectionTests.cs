using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Collections.ObjectModel;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

public enum Lane
{
    Fast,
    Slow,
}

/// <summary>Sorted, concurrent, linked, observable and the remaining immutable collections.</summary>
[PersistentState("more-collections")]
public partial class MoreCollections
{
    public string Id { get; set; } = "";
    public SortedSet<string> Sorted { get; set; } = new();
    public SortedDictionary<int, string> ByRank { get; set; } = new();
    public SortedList<string, double> Weights { get; set; } = new();
    public ConcurrentDictionary<Guid, int> Counters { get; set; } = new();
    public ConcurrentQueue<string> Pending { get; set; } = new();
    public LinkedList<int> Chain { get; set; } = new();
    public ObservableCollection<string> Watched { get; set; } = new();
    public Collection<Lane> Lanes { get; set; } = new();
    public ImmutableSortedSet<int> Marks { get; set; } = ImmutableSortedSet<int>.Empty;
    public ImmutableSortedDictionary<string, int> Ranks { get; set; } = ImmutableSortedDictionary<string, int>.Empty;
    public ImmutableQueue<string> Backlog { get; set; } = ImmutableQueue<string>.Empty;
    public IImmutableStack<string> History { get; set; } = ImmutableStack<string>.Empty;

    // Get-only: filled in place on load.
    public SortedDictionary<Lane, int> PerLane { get; } = new();
    public ObservableCollection<int> Live { get; } = new();
    public ConcurrentDictionary<string, string> Shared { get; } = new();
}

/// <summary>
/// Collection types beyond lists, sets and dictionaries: each keeps its contents and its order (sorted ones their sort
/// order, queues dequeue order, stacks pop order) across a save and a load.
/// </summary>
public sealed class MoreCollectionTests : IAsyncLifetime
{
    private const string Key = "more-collections/m";
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    [Fact]
    public async Task Every_collection_round_trips_with_its_contents_and_order()
    {
        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        var saved = new MoreCollections
        {
            Id = "m",
            Sorted = new SortedSet<string> { "pear", "apple", "fig" },
            ByRank = new SortedDictionary<int, string> { [3] = "c", [-1] = "a" },
            Weights = new SortedList<string, double> { ["w"] = 0.5, ["a"] = 1.25 },
            Marks = ImmutableSortedSet.Create(5, 1, 3),
            Ranks = ImmutableSortedDictionary<string, int>.Empty.Add("z", 26).Add("b", 2),
            Backlog = ImmutableQueue.Create("first", "second"),
            History = ImmutableStack<string>.Empty.Push("bottom").Push("top"),
            Lanes = { Lane.Slow, Lane.Fast, Lane.Slow },
            Watched = { "x", "y" },
        };
        saved.Counters[id] = 7;
        saved.Pending.Enqueue("p1");
        saved.Pending.Enqueue("p2");
        saved.Chain.AddLast(2);
        saved.Chain.AddFirst(1);
        saved.Chain.AddLast(3);
        saved.PerLane[Lane.Slow] = 4;
        saved.Live.Add(42);
        saved.Shared["k"] = "v";
        await saved.SaveStateAsync(_manager);

        var loaded = new MoreCollections { Id = "m" };
        loaded.Live.Add(-1); // replaced, not appended to
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal(new[] { "apple", "fig", "pear" }, loaded.Sorted);
        Assert.Equal(new[] { (-1, "a"), (3, "c") }, loaded.ByRank.Select(p => (p.Key, p.Value)));
        Assert.Equal(new[] { ("a", 1.25), ("w", 0.5) }, loaded.Weights.Select(p => (p.Key, p.Value)));
        Assert.Equal(7, Assert.Single(loaded.Counters, p => p.Key == id).Value);
        Assert.Equal(new[] { "p1", "p2" }, loaded.Pending);
        Assert.Equal(new[] { 1, 2, 3 }, loaded.Chain);
        Assert.Equal(new[] { "x", "y" }, loaded.Watched);
        Assert.Equal(new[] { Lane.Slow, Lane.Fast, Lane.Slow }, loaded.Lanes);
        Assert.Equal(new[] { 1, 3, 5 }, loaded.Marks);
        Assert.Equal(new[] { "b", "z" }, loaded.Ranks.Keys);
        Assert.Equal("first", loaded.Backlog.Peek());
        Assert.Equal(new[] { "first", "second" }, loaded.Backlog);
        Assert.Equal("top", loaded.History.Peek());
        Assert.Equal(new[] { "top", "bottom" }, loaded.History);
        Assert.Equal(4, loaded.PerLane[Lane.Slow]);
        Assert.Equal(new[] { 42 }, loaded.Live);
        Assert.Equal("v", loaded.Shared["k"]);
    }

    [Fact]
    public async Task Sorted_collections_load_in_sort_order_whatever_order_the_document_has()
    {
        await Backends.WriteRawAsync<MoreCollections>(_manager, Key, "{\"Sorted\":[\"b\",\"a\"],\"ByRank\":{\"9\":\"z\",\"1\":\"y\"},\"Marks\":[3,2,3],\"History\":[\"top\",\"next\"]}");
        var loaded = new MoreCollections { Id = "m" };

        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal(new[] { "a", "b" }, loaded.Sorted);
        Assert.Equal(new[] { 1, 9 }, loaded.ByRank.Keys);
        Assert.Equal(new[] { 2, 3 }, loaded.Marks);
        Assert.Equal("top", loaded.History.Peek());
    }

    [Theory]
    [InlineData("{\"ByRank\":{\"1\":\"a\",\"01\":\"b\"}}", "ByRank")]
    [InlineData("{\"Weights\":{\"a\":1,\"a\":2}}", "Weights")]
    [InlineData("{\"Ranks\":{\"a\":1,\"a\":2}}", "Ranks")]
    [InlineData("{\"PerLane\":{\"Fast\":1,\"Fast\":2}}", "PerLane")]
    [InlineData("{\"Counters\":{\"0f8fad5b-d9cb-469f-a165-70867728950e\":1,\"0f8fad5b-d9cb-469f-a165-70867728950e\":2}}", "Counters")]
    public async Task A_key_stored_twice_in_a_sorted_or_concurrent_dictionary_is_a_typed_error_and_the_instance_is_unchanged(string json, string member)
    {
        await Backends.WriteRawAsync<MoreCollections>(_manager, Key, json);
        var loaded = new MoreCollections { Id = "m" };
        loaded.PerLane[Lane.Fast] = 9;

        var error = await Assert.ThrowsAsync<StateSerializationException>(() => loaded.LoadStateAsync(_manager).AsTask());

        Assert.Equal(member, error.Member);
        Assert.Equal(9, loaded.PerLane[Lane.Fast]);
    }
}
