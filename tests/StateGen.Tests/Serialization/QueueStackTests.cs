using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

public sealed class UndoStep
{
    public string Action { get; set; } = "";
}

[PersistentState("queue-stack")]
public partial class QueueStackState
{
    public string Id { get; set; } = "";
    public Queue<string> Inbox { get; set; } = new();
    public Stack<int> Numbers { get; set; } = new();
    public Stack<UndoStep>? Undo { get; set; }
    public List<Stack<string>> Piles { get; set; } = new();
}

/// <summary>A queue keeps its dequeue order; a stack is stored top first and pops in the same order after a load.</summary>
public sealed class QueueStackTests : IAsyncLifetime
{
    private const string Key = "queue-stack/q";
    private readonly StateManager _manager = new(new MemoryStateStore());

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    [Fact]
    public async Task Queue_dequeues_and_stack_pops_in_the_same_order_after_a_round_trip()
    {
        var saved = new QueueStackState { Id = "q", Undo = new Stack<UndoStep>() };
        foreach (string item in new[] { "first", "second", "third" })
        {
            saved.Inbox.Enqueue(item);
        }

        saved.Inbox.Dequeue();
        saved.Inbox.Enqueue("fourth");
        foreach (int n in new[] { 1, 2, 3 })
        {
            saved.Numbers.Push(n);
        }

        saved.Undo.Push(new UndoStep { Action = "type" });
        saved.Undo.Push(new UndoStep { Action = "delete" });
        var pile = new Stack<string>();
        pile.Push("bottom");
        pile.Push("top");
        saved.Piles.Add(pile);
        await saved.SaveStateAsync(_manager);

        var loaded = new QueueStackState { Id = "q" };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal(new[] { "second", "third", "fourth" }, Drain(loaded.Inbox, q => q.Dequeue()));
        Assert.Equal(new[] { 3, 2, 1 }, Drain(loaded.Numbers, s => s.Pop()));
        Assert.Equal(new[] { "delete", "type" }, Drain(loaded.Undo!, s => s.Pop().Action));
        Assert.Equal(new[] { "top", "bottom" }, Drain(loaded.Piles[0], s => s.Pop()));
    }

    [Fact]
    public async Task Stack_is_stored_top_first_and_a_null_stack_stays_null()
    {
        var saved = new QueueStackState { Id = "q" };
        saved.Numbers.Push(1);
        saved.Numbers.Push(2);
        await saved.SaveStateAsync(_manager);

        string json = Backends.Utf8((await _manager.Store.GetAsync("global", Key))!.Payload);
        var loaded = new QueueStackState { Id = "q", Undo = new Stack<UndoStep>() };
        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Contains("\"Numbers\":[2,1]", json, StringComparison.Ordinal);
        Assert.Contains("\"Undo\":null", json, StringComparison.Ordinal);
        Assert.Null(loaded.Undo);
    }

    [Fact]
    public async Task Hand_written_document_loads_with_the_first_item_on_top_and_at_the_head()
    {
        await Backends.WriteRawAsync<QueueStackState>(_manager, Key, "{\"Inbox\":[\"a\",\"b\"],\"Numbers\":[9,8,7]}");
        var loaded = new QueueStackState { Id = "q" };

        Assert.True(await loaded.LoadStateAsync(_manager));

        Assert.Equal("a", loaded.Inbox.Peek());
        Assert.Equal(9, loaded.Numbers.Peek());
        Assert.Equal(3, loaded.Numbers.Count);
    }

    private static List<TOut> Drain<TCollection, TOut>(TCollection collection, Func<TCollection, TOut> take)
        where TCollection : System.Collections.ICollection
    {
        var items = new List<TOut>();
        while (collection.Count > 0)
        {
            items.Add(take(collection));
        }

        return items;
    }
}
