using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

public sealed class DupTurn
{
    public string Text { get; set; } = "";
    public int Tokens { get; set; }
}

public sealed record DupSource(string Url, int Page);

public struct DupPoint
{
    public int X { get; set; }
}

[PersistentState("dup-agent")]
public partial class DupAgent
{
    public string Id { get; set; } = "";
    public string Topic { get; set; } = "";
    public int Runs { get; set; }
    public DupTurn Last { get; set; } = new();
    public List<DupTurn> History { get; set; } = new();
    public DupSource? Source { get; set; }
    public DupPoint At { get; set; }
    public Dictionary<string, int> Counts { get; set; } = new();
    public Dictionary<int, string> ByNumber { get; set; } = new();
}

/// <summary>
/// Hostile documents: a stored object with the same member twice is a typed error naming the member, in the state
/// type and in every nested object (never "last one wins"), and the object is left unchanged.
/// </summary>
public sealed class DuplicateMemberTests : IAsyncLifetime
{
    private const string Key = "dup-agent/d";
    private const string Secret = "sk-live-DUPLICATE-SECRET";
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    [Theory]
    [InlineData("{\"Topic\":\"a\",\"Topic\":\"" + Secret + "\"}", "Topic")]
    [InlineData("{\"Runs\":1,\"Topic\":\"a\",\"Runs\":2}", "Runs")]
    [InlineData("{\"Topic\":\"a\",\"To\\u0070ic\":\"b\"}", "Topic")]
    [InlineData("{\"Last\":{\"Text\":\"a\",\"Text\":\"" + Secret + "\"}}", "DupTurn.Text")]
    [InlineData("{\"History\":[{\"Tokens\":1},{\"Tokens\":1,\"Text\":\"x\",\"Tokens\":2}]}", "DupTurn.Tokens")]
    [InlineData("{\"Source\":{\"Url\":\"u\",\"Page\":1,\"Url\":\"v\"}}", "DupSource.Url")]
    [InlineData("{\"At\":{\"X\":1,\"X\":2}}", "DupPoint.X")]
    [InlineData("{\"Last\":{\"Text\":\"a\"},\"Last\":{\"Text\":\"b\"}}", "Last")]
    public async Task Duplicate_member_gives_StateSerializationException_naming_it_and_leaves_the_object_unchanged(string json, string member)
    {
        await WriteRawAsync(json);
        DupAgent agent = Mine();

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await agent.LoadStateAsync(_manager));

        Assert.Equal(member, ex.Member);
        Assert.Contains($"'{member}' more than once", ex.Message, StringComparison.Ordinal);
        Assert.Contains(Key, ex.Message, StringComparison.Ordinal);
        Assert.Equal("dup-agent", ex.TypeName);
        Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
        AssertMine(agent);
    }

    /// <summary>A value of the wrong shape inside a nested plain object, list element, record or struct names the member by its path.</summary>
    [Theory]
    [InlineData("{\"Last\":{\"Text\":5}}", "DupTurn.Text")]
    [InlineData("{\"History\":[{\"Tokens\":1},{\"Tokens\":\"" + Secret + "\"}]}", "DupTurn.Tokens")]
    [InlineData("{\"Source\":{\"Url\":\"u\",\"Page\":99999999999}}", "DupSource.Page")]
    [InlineData("{\"At\":{\"X\":[]}}", "DupPoint.X")]
    [InlineData("{\"Runs\":\"many\"}", "Runs")]
    public async Task A_value_of_the_wrong_shape_in_a_nested_object_names_its_path(string json, string member)
    {
        await WriteRawAsync(json);
        DupAgent agent = Mine();

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await agent.LoadStateAsync(_manager));

        Assert.Equal(member, ex.Member);
        Assert.Contains($"member '{member}' is not of its declared shape", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
        AssertMine(agent);
    }

    [Theory]
    [InlineData("{\"Counts\":{\"a\":1,\"a\":2}}")]
    [InlineData("{\"ByNumber\":{\"1\":\"x\",\"01\":\"" + Secret + "\"}}")]
    public async Task Duplicate_dictionary_key_gives_StateSerializationException_without_quoting_it(string json)
    {
        await WriteRawAsync(json);
        DupAgent agent = Mine();

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await agent.LoadStateAsync(_manager));

        Assert.Contains(Key, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
        AssertMine(agent);
    }

    [Fact]
    public async Task Duplicate_member_read_with_GetAsync_gives_StateSerializationException()
    {
        await WriteRawAsync("{\"Topic\":\"a\",\"Topic\":\"b\"}");

        var ex = await Assert.ThrowsAsync<StateSerializationException>(async () => await _manager.GetAsync<DupAgent>(StateScope.Global, Key));

        Assert.Equal("Topic", ex.Member);
    }

    [Fact]
    public async Task Same_member_name_in_different_objects_is_not_a_duplicate()
    {
        await WriteRawAsync("{\"Topic\":\"t\",\"Last\":{\"Text\":\"a\",\"Tokens\":1},\"History\":[{\"Text\":\"b\",\"Tokens\":2},{\"Text\":\"c\",\"Tokens\":3}],\"Source\":{\"Url\":\"u\",\"Page\":4},\"At\":{\"X\":5}}");
        var agent = new DupAgent { Id = "d" };

        Assert.True(await agent.LoadStateAsync(_manager));

        Assert.Equal(("t", "a", 2, "c", 4, 5), (agent.Topic, agent.Last.Text, agent.History.Count, agent.History[1].Text, agent.Source!.Page, agent.At.X));
    }

    private static DupAgent Mine() => new() { Id = "d", Topic = "mine", Runs = 3, Last = new DupTurn { Text = "kept" } };

    private static void AssertMine(DupAgent agent)
    {
        Assert.Equal(("mine", 3, "kept"), (agent.Topic, agent.Runs, agent.Last.Text));
        Assert.Empty(agent.History);
        Assert.Null(agent.Source);
        Assert.Empty(agent.Counts);
    }

    private Task WriteRawAsync(string json) => Backends.WriteRawAsync<DupAgent>(_manager, Key, json);
}
