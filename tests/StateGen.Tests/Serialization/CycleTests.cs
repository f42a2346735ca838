using System;
using System.Collections.Generic;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

public sealed class TreeNode
{
    public string Name { get; set; } = "";
    public List<TreeNode> Children { get; set; } = new();
    public TreeNode? Parent { get; set; }
    public Dictionary<string, TreeNode> Links { get; set; } = new();
}

public sealed class Holder
{
    public TreeNode? Root { get; set; }
}

[PersistentState("tree-agent")]
public partial class TreeAgent
{
    public string Id { get; set; } = "";
    public Holder Holder { get; set; } = new();
}

/// <summary>A persistent type that holds itself: the loop goes through the generated serializer of the type itself.</summary>
[PersistentState("chain-agent")]
public partial class ChainAgent
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public ChainAgent? Next { get; set; }
}

/// <summary>Two persistent types that hold each other, one through a list of plain objects.</summary>
[PersistentState("crew-agent")]
public partial class CrewAgent
{
    public string Id { get; set; } = "";
    public List<CrewSeat> Seats { get; set; } = new();
}

public sealed class CrewSeat
{
    public string Role { get; set; } = "";
    public CrewTask? Task { get; set; }
}

[PersistentState("crew-task")]
public partial class CrewTask
{
    public string Id { get; set; } = "";
    public CrewAgent? Owner { get; set; }
}

/// <summary>Holds a self-reaching persistent type without being part of the loop.</summary>
[PersistentState("chain-holder")]
public partial class ChainHolder
{
    public string Id { get; set; } = "";
    public ChainAgent? Head { get; set; }
}

/// <summary>Types that can reach themselves are guarded at run time; a cycle is a typed error naming its path.</summary>
public sealed class CycleTests
{
    [Fact]
    public async Task A_reference_cycle_is_a_typed_error_naming_the_path_and_nothing_is_written()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        var root = new TreeNode { Name = "root" };
        var first = new TreeNode { Name = "first" };
        var second = new TreeNode { Name = "second", Parent = root };
        root.Children.Add(first);
        root.Children.Add(second);
        var agent = new TreeAgent { Id = "t1", Holder = new Holder { Root = root } };

        var error = await Assert.ThrowsAsync<StateCycleException>(() => agent.SaveStateAsync(manager).AsTask());

        Assert.Equal("TreeAgent.Holder.Root.Children[1].Parent", error.Path);
        Assert.Contains("tree-agent/t1", error.Message, StringComparison.Ordinal);
        Assert.False(await store.ExistsAsync("global", "tree-agent/t1"));

        // The guard is reset after the failure: an acyclic graph saves on the same thread right after.
        second.Parent = null;
        await agent.SaveStateAsync(manager);
        Assert.True(await store.ExistsAsync("global", "tree-agent/t1"));
    }

    [Fact]
    public async Task A_cycle_through_a_dictionary_names_the_key()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var root = new TreeNode { Name = "root" };
        root.Links["self"] = root;

        var error = await Assert.ThrowsAsync<StateCycleException>(() => new TreeAgent { Id = "t2", Holder = new Holder { Root = root } }.SaveStateAsync(manager).AsTask());

        Assert.Equal("TreeAgent.Holder.Root.Links[\"self\"]", error.Path);
    }

    [Fact]
    public async Task A_persistent_type_that_holds_itself_is_guarded()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        var agent = new ChainAgent { Id = "c1", Name = "first" };
        agent.Next = new ChainAgent { Name = "second", Next = agent };

        var error = await Assert.ThrowsAsync<StateCycleException>(() => agent.SaveStateAsync(manager).AsTask());

        Assert.Equal("ChainAgent.Next.Next", error.Path);
        Assert.False(await store.ExistsAsync("global", "chain-agent/c1"));

        // The same chain without the back-reference saves and loads, nested values and all.
        agent.Next.Next = new ChainAgent { Name = "third" };
        await agent.SaveStateAsync(manager);
        var loaded = new ChainAgent { Id = "c1" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(("first", "second", "third", (ChainAgent?)null), (loaded.Name, loaded.Next!.Name, loaded.Next.Next!.Name, loaded.Next.Next.Next));
    }

    [Fact]
    public async Task Persistent_types_that_hold_each_other_are_guarded_with_the_whole_path()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        var crew = new CrewAgent { Id = "k1" };
        var task = new CrewTask { Id = "t", Owner = new CrewAgent() };
        crew.Seats.Add(new CrewSeat { Role = "lead" });
        crew.Seats.Add(new CrewSeat { Role = "scout", Task = task });
        await crew.SaveStateAsync(manager); // acyclic: the task's owner is another instance

        task.Owner = crew;
        var error = await Assert.ThrowsAsync<StateCycleException>(() => crew.SaveStateAsync(manager).AsTask());
        Assert.Equal("CrewAgent.Seats[1].Task.Owner", error.Path);

        // Saved from the other side, the loop is named from there.
        var fromTask = await Assert.ThrowsAsync<StateCycleException>(() => task.SaveStateAsync(manager).AsTask());
        Assert.Equal("CrewTask.Owner.Seats[1].Task", fromTask.Path);

        var loaded = new CrewAgent { Id = "k1" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal("t", loaded.Seats[1].Task!.Id);
    }

    [Fact]
    public async Task A_type_that_leads_to_a_self_reaching_persistent_type_names_the_path_from_its_root()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var chain = new ChainAgent { Name = "a" };
        chain.Next = chain;

        var error = await Assert.ThrowsAsync<StateCycleException>(() => new ChainHolder { Id = "h1", Head = chain }.SaveStateAsync(manager).AsTask());

        Assert.Equal("ChainHolder.Head.Next", error.Path);
    }

    [Fact]
    public async Task Shared_references_that_are_not_cycles_save_and_load()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var leaf = new TreeNode { Name = "leaf" };
        var root = new TreeNode { Name = "root", Children = { leaf, leaf } };
        await new TreeAgent { Id = "t3", Holder = new Holder { Root = root } }.SaveStateAsync(manager);

        var loaded = new TreeAgent { Id = "t3" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal(new[] { "leaf", "leaf" }, loaded.Holder.Root!.Children.ConvertAll(c => c.Name));
    }

    /// <summary>
    /// The document is well formed (every object and array is closed), so only the nesting limit can reject it: the
    /// error points at the byte that opens the first level past the limit, and the same shape within the limit loads.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData(128)]
    public async Task A_hostile_document_nested_ten_thousand_deep_is_a_typed_error(int? maxDepth)
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store, maxDepth is null ? null : new StateManagerOptions { MaxDepth = maxDepth.Value });
        int limit = maxDepth ?? 64;
        string hostile = NestedChildren(10_000);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "tree-agent/t4", "tree-agent", 1, Encoding.UTF8.GetBytes(hostile)));

        var target = new TreeAgent { Id = "t4" };
        var error = await Assert.ThrowsAsync<StateSerializationException>(() => target.LoadStateAsync(manager).AsTask());

        Assert.Equal(("tree-agent/t4", "tree-agent"), (error.Key, error.TypeName));
        Assert.Contains($"(line 0, byte {OpeningOfLevel(hostile, limit + 1)})", error.Message, StringComparison.Ordinal);
        Assert.Contains($"deeper than the limit of {limit} levels (StateManagerOptions.MaxDepth)", error.Message, StringComparison.Ordinal);
        Assert.Null(target.Holder.Root);

        // Control: the same shape, as deep as the limit allows (3 + 2 per level + the leaf), loads.
        int levels = (limit - 4) / 2;
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "tree-agent/t4", "tree-agent", 1, Encoding.UTF8.GetBytes(NestedChildren(levels))));
        Assert.True(await target.LoadStateAsync(manager));
        Assert.Equal("leaf", Descend(target.Holder.Root!, levels).Name);
    }

    private static string NestedChildren(int levels)
    {
        var json = new StringBuilder("{\"Holder\":{\"Root\":");
        json.Insert(json.Length, "{\"Children\":[", levels).Append("{\"Name\":\"leaf\"}").Insert(json.Length, "]}", levels);
        return json.Append("}}").ToString();
    }

    private static int OpeningOfLevel(string json, int level)
    {
        int depth = 0;
        for (int i = 0; i < json.Length; i++)
        {
            depth += json[i] switch { '{' or '[' => 1, '}' or ']' => -1, _ => 0 };
            if (depth == level)
            {
                return i;
            }
        }

        throw new ArgumentException($"The document is not {level} levels deep.", nameof(json));
    }

    private static TreeNode Descend(TreeNode node, int levels)
    {
        for (int i = 0; i < levels; i++)
        {
            node = Assert.Single(node.Children);
        }

        return node;
    }

    [Fact]
    public async Task Deep_acyclic_data_beyond_the_nesting_limit_is_a_typed_error_on_save()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var root = new TreeNode();
        TreeNode current = root;
        for (int i = 0; i < 1_000; i++)
        {
            var child = new TreeNode();
            current.Children.Add(child);
            current = child;
        }

        await Assert.ThrowsAsync<StateSerializationException>(() => new TreeAgent { Id = "t5", Holder = new Holder { Root = root } }.SaveStateAsync(manager).AsTask());
    }

    [Theory]
    [InlineData(64, false)]
    [InlineData(128, true)]
    public async Task The_nesting_limit_is_configurable_and_64_by_default(int maxDepth, bool fits)
    {
        var options = maxDepth == 64 ? null : new StateManagerOptions { MaxDepth = maxDepth };
        await using var manager = new StateManager(new MemoryStateStore(), options);
        var root = new TreeNode();
        TreeNode current = root;
        for (int i = 0; i < 40; i++)
        {
            var child = new TreeNode();
            current.Children.Add(child);
            current = child;
        }

        var agent = new TreeAgent { Id = "deep", Holder = new Holder { Root = root } };
        if (!fits)
        {
            await Assert.ThrowsAsync<StateSerializationException>(() => agent.SaveStateAsync(manager).AsTask());
            return;
        }

        await agent.SaveStateAsync(manager);
        var loaded = new TreeAgent { Id = "deep" };
        Assert.True(await loaded.LoadStateAsync(manager));
        int depth = 0;
        for (TreeNode? node = loaded.Holder.Root; node is { Children.Count: > 0 }; node = node.Children[0])
        {
            depth++;
        }

        Assert.Equal(40, depth);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(257)]
    public void A_nesting_limit_out_of_range_is_rejected(int maxDepth)
        => Assert.Throws<ArgumentOutOfRangeException>(() => new StateManager(new MemoryStateStore(), new StateManagerOptions { MaxDepth = maxDepth }));
}
