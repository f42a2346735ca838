using System;
using System.Collections.Generic;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

public sealed record Message(string Role, string Text, DateTimeOffset At)
{
    public int Tokens { get; set; }

    public string? Tool { get; init; }
}

public sealed class Citation
{
    public Citation(string url, int page)
    {
        Url = url;
        Page = page;
    }

    public string Url { get; }

    public int Page { get; }

    public string? Quote { get; set; }
}

[PersistentState("positional")]
public partial class PositionalAgent
{
    public string Id { get; set; } = "";
    public List<Message> Messages { get; set; } = new();
    public Citation? Source { get; set; }
}

/// <summary>Positional records and classes built through a constructor whose parameters match their properties.</summary>
public sealed class PositionalRecordTests
{
    [Fact]
    public async Task Constructor_built_members_round_trip_with_their_other_members()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var saved = new PositionalAgent
        {
            Id = "r1",
            Messages = { new Message("user", "hi", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(1))) { Tokens = 3, Tool = "search" } },
            Source = new Citation("https://example.org", 7) { Quote = "q" },
        };
        await saved.SaveStateAsync(manager);

        var loaded = new PositionalAgent { Id = "r1" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal(saved.Messages, loaded.Messages);
        Assert.Equal(3, loaded.Messages[0].Tokens);
        Assert.Equal("search", loaded.Messages[0].Tool);
        Assert.Equal("https://example.org", loaded.Source!.Url);
        Assert.Equal(7, loaded.Source.Page);
        Assert.Equal("q", loaded.Source.Quote);
    }

    [Fact]
    public async Task A_constructor_parameter_absent_from_the_document_gets_its_type_default()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "positional/r2", "positional", 1, Encoding.UTF8.GetBytes("""{"Messages":[{"Text":"only text"}]}""")));

        var loaded = new PositionalAgent { Id = "r2" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Message message = Assert.Single(loaded.Messages);
        Assert.Null(message.Role);
        Assert.Equal("only text", message.Text);
        Assert.Equal(default, message.At);
    }
}
