using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Collections.ObjectModel;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;
using CsCheck;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

/// <summary>A plain class whose state is private, opted in with [JsonInclude].</summary>
public sealed class KindsBox
{
    [JsonInclude]
    private int _count;

    [JsonInclude]
    public string Owner { get; private set; } = "";

    [JsonInclude]
    private List<string> Lines { get; set; } = new();

    [JsonIgnore]
    public int Count => _count;

    [JsonIgnore]
    public IReadOnlyList<string> View => Lines;

    public static KindsBox Create(int count, string owner, List<string> lines) => new() { _count = count, Owner = owner, Lines = lines };
}

/// <summary>
/// Every collection kind the generator supports beyond <see cref="EveryKind"/>'s: queues and stacks, sorted, concurrent,
/// linked and observable collections, the immutable collections, get-only collections filled in place, private
/// members opted in with [JsonInclude] (on the state and on a plain class) and [JsonExtensionData].
/// </summary>
[PersistentState("every-collection-kind")]
public partial class EveryCollectionKind
{
    [JsonInclude]
    private long _privateCounter;

    public string Id { get; set; } = "";

    public Queue<string> Inbox { get; set; } = new();
    public Stack<int> Numbers { get; set; } = new();
    public ConcurrentQueue<long> Pending { get; set; } = new();
    public LinkedList<string> Chain { get; set; } = new();
    public ObservableCollection<int> Watched { get; set; } = new();
    public Collection<string> Plain { get; set; } = new();
    public SortedSet<int> Sorted { get; set; } = new();
    public SortedDictionary<int, string> ByRank { get; set; } = new();
    public SortedList<string, double> Weights { get; set; } = new();
    public ConcurrentDictionary<Guid, int> Counters { get; set; } = new();

    public ImmutableArray<string> Words { get; set; } = ImmutableArray<string>.Empty;
    public ImmutableArray<int>? MaybeNumbers { get; set; }
    public ImmutableList<string> Lines { get; set; } = ImmutableList<string>.Empty;
    public IImmutableList<int> Marks { get; set; } = ImmutableList<int>.Empty;
    public ImmutableHashSet<string> Tags { get; set; } = ImmutableHashSet<string>.Empty;
    public IImmutableSet<Guid> Seen { get; set; } = ImmutableHashSet<Guid>.Empty;
    public ImmutableSortedSet<int> Ordered { get; set; } = ImmutableSortedSet<int>.Empty;
    public ImmutableDictionary<string, int> Scores { get; set; } = ImmutableDictionary<string, int>.Empty;
    public IImmutableDictionary<int, ImmutableList<string>> Groups { get; set; } = ImmutableDictionary<int, ImmutableList<string>>.Empty;
    public ImmutableSortedDictionary<string, int> Ranks { get; set; } = ImmutableSortedDictionary<string, int>.Empty;
    public ImmutableQueue<string> Backlog { get; set; } = ImmutableQueue<string>.Empty;
    public IImmutableQueue<int> Later { get; set; } = ImmutableQueue<int>.Empty;
    public ImmutableStack<int> Undo { get; set; } = ImmutableStack<int>.Empty;
    public IImmutableStack<string> History { get; set; } = ImmutableStack<string>.Empty;

    public List<string> FixedList { get; } = new();
    public HashSet<int> FixedSet { get; } = new();
    public Dictionary<string, int> FixedMap { get; } = new();
    public ObservableCollection<int> Live { get; } = new();
    public ConcurrentDictionary<string, string> Shared { get; } = new();

    public KindsBox Box { get; set; } = new();

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Not persisted itself (get-only; ignored so STJ does not write it either): only the private field carries the value.</summary>
    [JsonIgnore]
    public long PrivateCounter => _privateCounter;

    public void SetPrivateCounter(long value) => _privateCounter = value;
}

/// <summary>Property-based round trips of <see cref="EveryCollectionKind"/>: any generated instance saves and loads back equal.</summary>
public sealed class EveryCollectionKindTests
{
    private const string SortKeyChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    // Keys of culture-ordered (sorted) string collections: letters and digits only, so no two differ by ignorable characters.
    private static readonly Gen<string> SortKey = Gen.String[SortKeyChars];

    private static readonly Gen<JsonElement> ExtraValue = Gen.OneOf(
        Gen.Int.Select(i => JsonSerializer.SerializeToElement(i)),
        Gen.String.Select(s => JsonSerializer.SerializeToElement(s)),
        Gen.Int.List[0, 3].Select(l => JsonSerializer.SerializeToElement(l)),
        Gen.Const(JsonSerializer.SerializeToElement<object?>(null)));

    internal static readonly Gen<EveryCollectionKind> All = Gen.Select(
        Gen.Select(Gen.String.List[0, 5], Gen.Int.List[0, 5], Gen.Long.List[0, 5], Gen.String.List[0, 5], Gen.Int.List[0, 5], Gen.String.List[0, 5], Gen.Int.HashSet[0, 5]),
        Gen.Select(Gen.Dictionary(Gen.Int, Gen.String)[0, 5], Gen.Dictionary(SortKey, Gen.Double)[0, 5], Gen.Dictionary(Gen.Guid, Gen.Int)[0, 5], Gen.String.List[0, 5], Gen.Int.List[0, 5].Null(), Gen.String.List[0, 5], Gen.Int.List[0, 5]),
        Gen.Select(Gen.String.HashSet[0, 5], Gen.Guid.HashSet[0, 5], Gen.Int.HashSet[0, 5], Gen.Dictionary(Gen.String, Gen.Int)[0, 5], Gen.Dictionary(Gen.Int, Gen.String.List[0, 3])[0, 4], Gen.Dictionary(SortKey, Gen.Int)[0, 5], Gen.String.List[0, 5]),
        Gen.Select(Gen.Int.List[0, 5], Gen.Int.List[0, 5], Gen.String.List[0, 5], Gen.String.List[0, 5], Gen.Int.HashSet[0, 5], Gen.Dictionary(Gen.String, Gen.Int)[0, 5], Gen.Int.List[0, 5]),
        Gen.Select(Gen.Dictionary(Gen.String, Gen.String)[0, 5], Gen.Int, Gen.String, Gen.String.List[0, 4], Gen.Dictionary(Gen.String, ExtraValue)[0, 4].Null(), Gen.Long),
        (a, b, c, d, e) =>
        {
            var state = new EveryCollectionKind
            {
                Id = Guid.NewGuid().ToString("N"), // samples run in parallel: one key each
                Inbox = new Queue<string>(a.Item1),
                Numbers = new Stack<int>(a.Item2),
                Pending = new ConcurrentQueue<long>(a.Item3),
                Chain = new LinkedList<string>(a.Item4),
                Watched = new ObservableCollection<int>(a.Item5),
                Plain = new Collection<string>(a.Item6),
                Sorted = new SortedSet<int>(a.Item7),
                ByRank = new SortedDictionary<int, string>(b.Item1),
                Weights = new SortedList<string, double>(b.Item2),
                Counters = new ConcurrentDictionary<Guid, int>(b.Item3),
                Words = b.Item4.ToImmutableArray(),
                MaybeNumbers = b.Item5?.ToImmutableArray(),
                Lines = b.Item6.ToImmutableList(),
                Marks = b.Item7.ToImmutableList(),
                Tags = c.Item1.ToImmutableHashSet(),
                Seen = c.Item2.ToImmutableHashSet(),
                Ordered = c.Item3.ToImmutableSortedSet(),
                Scores = c.Item4.ToImmutableDictionary(),
                Groups = c.Item5.ToImmutableDictionary(p => p.Key, p => p.Value.ToImmutableList()),
                Ranks = c.Item6.ToImmutableSortedDictionary(),
                Backlog = ImmutableQueue.CreateRange(c.Item7),
                Later = ImmutableQueue.CreateRange(d.Item1),
                Undo = ImmutableStack.CreateRange(d.Item2),
                History = ImmutableStack.CreateRange(d.Item3),
                Box = KindsBox.Create(e.Item2, e.Item3, e.Item4),
                Extra = e.Item5?.ToDictionary(p => "extra:" + p.Key, p => p.Value),
            };
            state.SetPrivateCounter(e.Item6);
            state.FixedList.AddRange(d.Item4);
            state.FixedSet.UnionWith(d.Item5);
            foreach (KeyValuePair<string, int> pair in d.Item6)
            {
                state.FixedMap.Add(pair.Key, pair.Value);
            }

            foreach (int item in d.Item7)
            {
                state.Live.Add(item);
            }

            foreach (KeyValuePair<string, string> pair in e.Item1)
            {
                state.Shared[pair.Key] = pair.Value;
            }

            return state;
        });

    [Fact]
    public async Task Any_instance_of_a_type_with_every_collection_kind_round_trips_member_by_member()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        await All.SampleAsync(
            async saved =>
            {
                await saved.SaveStateAsync(manager);
                var loaded = new EveryCollectionKind { Id = saved.Id };
                Assert.True(await loaded.LoadStateAsync(manager));
                AssertEqual(saved, loaded);
            },
            iter: 1500);
    }

    internal static void AssertEqual(EveryCollectionKind expected, EveryCollectionKind actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.PrivateCounter, actual.PrivateCounter);

        // Ordered kinds: the enumeration order (dequeue order for queues, pop order for stacks) survives.
        Assert.Equal(expected.Inbox, actual.Inbox);
        Assert.Equal(expected.Numbers, actual.Numbers);
        Assert.Equal(expected.Pending, actual.Pending);
        Assert.Equal(expected.Chain, actual.Chain);
        Assert.Equal(expected.Watched, actual.Watched);
        Assert.Equal(expected.Plain, actual.Plain);
        Assert.Equal(expected.Sorted, actual.Sorted);
        Assert.Equal(expected.ByRank, actual.ByRank);
        Assert.Equal(expected.Weights, actual.Weights);
        Assert.Equal(expected.Words.ToArray(), actual.Words.ToArray()); // ImmutableArray's own Equals compares array references
        Assert.Equal(expected.MaybeNumbers.HasValue, actual.MaybeNumbers.HasValue);
        if (expected.MaybeNumbers.HasValue)
        {
            Assert.Equal(expected.MaybeNumbers.Value.ToArray(), actual.MaybeNumbers!.Value.ToArray());
        }

        Assert.Equal(expected.Lines, actual.Lines);
        Assert.Equal(expected.Marks, actual.Marks);
        Assert.Equal(expected.Ordered, actual.Ordered);
        Assert.Equal(expected.Ranks, actual.Ranks);
        Assert.Equal(expected.Backlog, actual.Backlog);
        Assert.Equal(expected.Later, actual.Later);
        Assert.Equal(expected.Undo, actual.Undo);
        Assert.Equal(expected.History, actual.History);
        Assert.Equal(expected.FixedList, actual.FixedList);
        Assert.Equal(expected.Live, actual.Live);

        // Sets and dictionaries: by content, in any order.
        AssertSameSet(expected.Tags, actual.Tags);
        AssertSameSet(expected.Seen, actual.Seen);
        AssertSameSet(expected.FixedSet, actual.FixedSet);
        AssertSameMap(expected.Counters, actual.Counters);
        AssertSameMap(expected.Scores, actual.Scores);
        AssertSameMap(expected.FixedMap, actual.FixedMap);
        AssertSameMap(expected.Shared, actual.Shared);
        Assert.Equal(expected.Groups.Count, actual.Groups.Count);
        foreach (KeyValuePair<int, ImmutableList<string>> pair in expected.Groups)
        {
            Assert.True(actual.Groups.TryGetValue(pair.Key, out ImmutableList<string>? group), $"Groups lost key {pair.Key}");
            Assert.Equal(pair.Value, group);
        }

        Assert.Equal(expected.Box.Count, actual.Box.Count);
        Assert.Equal(expected.Box.Owner, actual.Box.Owner);
        Assert.Equal(expected.Box.View, actual.Box.View);

        // An empty extension-data dictionary and none store the same document.
        IReadOnlyDictionary<string, JsonElement> expectedExtra = expected.Extra ?? new Dictionary<string, JsonElement>();
        IReadOnlyDictionary<string, JsonElement> actualExtra = actual.Extra ?? new Dictionary<string, JsonElement>();
        Assert.Equal(expectedExtra.Keys.Order(StringComparer.Ordinal), actualExtra.Keys.Order(StringComparer.Ordinal));
        foreach (KeyValuePair<string, JsonElement> pair in expectedExtra)
        {
            Assert.True(JsonElement.DeepEquals(pair.Value, actualExtra[pair.Key]), $"Extra[{pair.Key}]: {pair.Value.GetRawText()} became {actualExtra[pair.Key].GetRawText()}");
        }
    }

    private static void AssertSameSet<T>(IEnumerable<T> expected, IEnumerable<T> actual)
    {
        var expectedSet = expected.ToHashSet();
        var actualList = actual.ToList();
        Assert.Equal(expectedSet.Count, actualList.Count);
        Assert.True(expectedSet.SetEquals(actualList), "the sets differ");
    }

    private static void AssertSameMap<TKey, TValue>(IEnumerable<KeyValuePair<TKey, TValue>> expected, IEnumerable<KeyValuePair<TKey, TValue>> actual)
        where TKey : notnull
    {
        var expectedMap = new Dictionary<TKey, TValue>(expected);
        var actualMap = new Dictionary<TKey, TValue>(actual);
        Assert.Equal(expectedMap.Count, actualMap.Count);
        foreach (KeyValuePair<TKey, TValue> pair in expectedMap)
        {
            Assert.True(actualMap.TryGetValue(pair.Key, out TValue? value), $"lost key {pair.Key}");
            Assert.Equal(pair.Value, value);
        }
    }
}
