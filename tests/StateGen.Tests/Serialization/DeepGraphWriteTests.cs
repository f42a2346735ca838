using System;
using System.Threading.Tasks;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

/// <summary>The write side of the nesting limit: an acyclic object graph too deep to store is the depth error, not a crash.</summary>
public sealed class DeepGraphWriteTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(128)]
    public async Task Saving_an_object_graph_ten_thousand_deep_is_the_depth_error_naming_key_and_limit(int? maxDepth)
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store, maxDepth is null ? null : new StateManagerOptions { MaxDepth = maxDepth.Value });
        var root = new TreeNode { Name = "root" };
        TreeNode current = root;
        for (int i = 0; i < 10_000; i++)
        {
            var child = new TreeNode { Name = "n" };
            current.Children.Add(child);
            current = child;
        }

        var error = await Assert.ThrowsAsync<StateSerializationException>(() => new TreeAgent { Id = "deep-write", Holder = new Holder { Root = root } }.SaveStateAsync(manager).AsTask());

        Assert.Equal(("global", "tree-agent/deep-write", "tree-agent"), (error.Scope, error.Key, error.TypeName));
        Assert.Contains($"nesting deeper than {maxDepth ?? 64} levels", error.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(StateManagerOptions.MaxDepth), error.Message, StringComparison.Ordinal);
        Assert.False(await store.ExistsAsync("global", "tree-agent/deep-write"));

        // The failed save leaves no state behind: a shallow graph saves right after with the same manager.
        await new TreeAgent { Id = "deep-write", Holder = new Holder { Root = new TreeNode { Name = "flat" } } }.SaveStateAsync(manager);
        Assert.True(await store.ExistsAsync("global", "tree-agent/deep-write"));
    }
}
