using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;

namespace StateGen.Tests.Storage;

/// <summary>
/// The key-prefix list of the store contract (<see cref="IStateStore.ListKeysAsync(string, string, CancellationToken)"/>):
/// a scope's keys that start with the prefix, ordinal and case-sensitive, in ordinal order. Each test holds keys a wrong
/// filter would list or drop: one that contains the prefix without starting with it, one the prefix is longer than, one
/// of another case or spelling, one in another scope.
/// </summary>
public abstract partial class StateStoreConformanceTests
{
    private static async Task WriteKeysAsync(IStateStore store, string scope, params string[] keys)
    {
        foreach (string key in keys)
        {
            await store.WriteAsync(Write(scope, key, scope + "|" + key));
        }
    }

    [Fact]
    public async Task ListKeysAsync_with_prefix_lists_the_matching_keys_of_that_scope_only()
    {
        IStateStore store = NewStore();
        await WriteKeysAsync(store, "agent/a", "Note/2", "Note/10", "Note/1", "Notes", "Not", "xNote/1", "Other/Note/1", "b/y");
        await WriteKeysAsync(store, "agent/ab", "Note/3");
        await WriteKeysAsync(store, "agent/A", "Note/4");
        await WriteKeysAsync(store, "agent/a/b", "x", "Note/5");
        await WriteKeysAsync(store, "global", "Note/6");

        Assert.Equal(new[] { "Note/1", "Note/10", "Note/2" }, await store.ListKeysAsync("agent/a", "Note/"));
        Assert.Equal(new[] { "Note/1", "Note/10", "Note/2", "Notes" }, await store.ListKeysAsync("agent/a", "Note"));
        Assert.Equal(new[] { "Note/1", "Note/10" }, await store.ListKeysAsync("agent/a", "Note/1"));
        Assert.Equal(new[] { "Note/3" }, await store.ListKeysAsync("agent/ab", "Note/"));
        Assert.Equal(new[] { "Note/4" }, await store.ListKeysAsync("agent/A", "Note/"));
        Assert.Equal(new[] { "Note/5" }, await store.ListKeysAsync("agent/a/b", "Note/"));
        Assert.Equal(new[] { "Note/6" }, await store.ListKeysAsync("global", "N"));

        // The prefix is of the key alone: scope "agent/a" with key prefix "b/" is not scope "agent/a/b".
        Assert.Equal(new[] { "b/y" }, await store.ListKeysAsync("agent/a", "b/"));
        Assert.Empty(await store.ListKeysAsync("agent", "a/"));
        Assert.Empty(await store.ListKeysAsync("agent/b", "Note/"));
    }

    [Fact]
    public async Task ListKeysAsync_with_a_prefix_equal_to_a_whole_key_lists_it_and_the_keys_that_continue_it()
    {
        IStateStore store = NewStore();
        await WriteKeysAsync(store, "global", "ab", "a", "b", "a/b", "aa");

        Assert.Equal(new[] { "a", "a/b", "aa", "ab" }, await store.ListKeysAsync("global", "a"));
        Assert.Equal(new[] { "ab" }, await store.ListKeysAsync("global", "ab"));
        Assert.Equal(new[] { "a/b" }, await store.ListKeysAsync("global", "a/b"));
        Assert.Equal(new[] { "a/b" }, await store.ListKeysAsync("global", "a/"));
        Assert.Equal(new[] { "b" }, await store.ListKeysAsync("global", "b"));
    }

    [Fact]
    public async Task ListKeysAsync_with_a_prefix_that_matches_nothing_is_empty()
    {
        IStateStore store = NewStore();
        Assert.Empty(await store.ListKeysAsync("global", "a"));

        await WriteKeysAsync(store, "global", "ab", "b/c", "Ab");
        await WriteKeysAsync(store, "agent/a", "zz");

        Assert.Empty(await store.ListKeysAsync("global", "abc")); // longer than the key it starts like
        Assert.Empty(await store.ListKeysAsync("global", "c"));   // the end of a key, not its start
        Assert.Empty(await store.ListKeysAsync("global", "zz"));  // a key of another scope
        Assert.Empty(await store.ListKeysAsync("global", "a "));
        Assert.Empty(await store.ListKeysAsync("agent/b", "zz"));
    }

    [Fact]
    public async Task ListKeysAsync_with_an_empty_prefix_lists_the_whole_scope()
    {
        IStateStore store = NewStore();
        string[] keys = { "b", "B", "a", "a/b", "é", "日本", "😀" };
        await WriteKeysAsync(store, "agent/a", keys);
        await WriteKeysAsync(store, "agent/b", "other");

        IReadOnlyList<string> listed = await store.ListKeysAsync("agent/a", string.Empty);

        Assert.Equal(keys.Order(StringComparer.Ordinal), listed);
        Assert.Equal(await store.ListKeysAsync("agent/a"), listed);
        Assert.Empty(await store.ListKeysAsync("agent/c", string.Empty));
    }

    [Fact]
    public async Task ListKeysAsync_with_prefix_drops_deleted_keys()
    {
        IStateStore store = NewStore();
        await WriteKeysAsync(store, "global", "task/1", "task/2", "task/3", "tasks");

        Assert.True(await store.DeleteAsync("global", "task/1"));
        Assert.Equal(new[] { "task/2", "task/3" }, await store.ListKeysAsync("global", "task/"));

        await store.CommitAsync(new StateOperation[] { Delete("global", "task/2"), Write("global", "task/4", "v"), Delete("global", "task/4") });
        Assert.Equal(new[] { "task/3" }, await store.ListKeysAsync("global", "task/"));

        Assert.True(await store.DeleteAsync("global", "task/3"));
        Assert.Empty(await store.ListKeysAsync("global", "task/"));
        Assert.Equal(new[] { "tasks" }, await store.ListKeysAsync("global", "task"));
    }

    [Fact]
    public async Task ListKeysAsync_with_prefix_lists_the_keys_a_batch_created()
    {
        IStateStore store = NewStore();
        await WriteKeysAsync(store, "agent/a", "run/0");

        await store.CommitAsync(new StateOperation[]
        {
            Write("agent/a", "run/2", "v"),
            Write("agent/a", "run/1", "v"),
            Write("agent/a", "walk/1", "v"),
            Write("agent/b", "run/9", "v"),
            Write("agent/a", "run/3", "v"),
            Delete("agent/a", "run/3"),
        });

        Assert.Equal(new[] { "run/0", "run/1", "run/2" }, await store.ListKeysAsync("agent/a", "run/"));
        Assert.Equal(new[] { "run/9" }, await store.ListKeysAsync("agent/b", "run/"));
        Assert.Equal(new[] { "walk/1" }, await store.ListKeysAsync("agent/a", "w"));
    }

    [Fact]
    public async Task ListKeysAsync_with_prefix_is_ordinal_and_case_sensitive()
    {
        IStateStore store = NewStore();
        await WriteKeysAsync(store, "global", "Note/1", "note/2", "NOTE/3", "Notebook", "e\u0301t\u00E9", "\u00E9t\u00E9");

        Assert.Equal(new[] { "Note/1", "Notebook" }, await store.ListKeysAsync("global", "Note"));
        Assert.Equal(new[] { "note/2" }, await store.ListKeysAsync("global", "note"));
        Assert.Equal(new[] { "NOTE/3" }, await store.ListKeysAsync("global", "NOTE"));
        Assert.Empty(await store.ListKeysAsync("global", "nOTE"));

        // No normalization and no culture: "e" starts the decomposed spelling only, "é" (U+00E9) the composed one only.
        Assert.Equal(new[] { "e\u0301t\u00E9" }, await store.ListKeysAsync("global", "e"));
        Assert.Equal(new[] { "\u00E9t\u00E9" }, await store.ListKeysAsync("global", "\u00E9"));
        Assert.Equal(new[] { "e\u0301t\u00E9" }, await store.ListKeysAsync("global", "e\u0301"));
    }

    [Fact]
    public async Task ListKeysAsync_with_prefix_matches_non_ascii_keys()
    {
        IStateStore store = NewStore();
        string[] keys = { "日本/東京", "日本/大阪", "日本語", "😀/a", "😀😀", "😁", "über/1", "u/1", "Ωmega" };
        await WriteKeysAsync(store, "session/s", keys);

        Assert.Equal(new[] { "日本/大阪", "日本/東京" }, await store.ListKeysAsync("session/s", "日本/"));
        Assert.Equal(new[] { "日本/大阪", "日本/東京", "日本語" }, await store.ListKeysAsync("session/s", "日本"));
        Assert.Equal(new[] { "😀/a", "😀😀" }, await store.ListKeysAsync("session/s", "😀"));
        Assert.Equal(new[] { "😁" }, await store.ListKeysAsync("session/s", "😁"));
        Assert.Equal(new[] { "über/1" }, await store.ListKeysAsync("session/s", "ü"));
        Assert.Equal(new[] { "u/1" }, await store.ListKeysAsync("session/s", "u"));
        Assert.Equal(new[] { "Ωmega" }, await store.ListKeysAsync("session/s", "Ω"));
    }

    [Fact]
    public async Task ListKeysAsync_with_prefix_refuses_null_and_lists_nothing_for_a_prefix_no_key_starts_with()
    {
        IStateStore store = NewStore();
        await WriteKeysAsync(store, "global", "a/b", "a/b/c");

        var ex = await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.ListKeysAsync("global", null!));
        Assert.Equal("keyPrefix", ex.ParamName);

        // The store does not validate (the manager does): a prefix no valid key starts with lists nothing.
        Assert.Empty(await store.ListKeysAsync("global", "/a"));
        Assert.Empty(await store.ListKeysAsync("global", "a//"));
        Assert.Empty(await store.ListKeysAsync("global", "a\\b"));
        Assert.Empty(await store.ListKeysAsync("global", "a/b\u0000"));
        Assert.Equal(new[] { "a/b", "a/b/c" }, await store.ListKeysAsync("global", "a/b"));

        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.ListKeysAsync("global", "a", cts.Token));
    }
}
