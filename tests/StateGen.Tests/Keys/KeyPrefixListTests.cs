using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Keys;

/// <summary>
/// <see cref="StateManager.ListKeysAsync(StateScope, string, System.Threading.CancellationToken)"/>: the prefix is
/// validated and normalized as keys are, and a prefix no valid key can start with is an
/// <see cref="InvalidStateKeyException"/>, not an empty list.
/// </summary>
public sealed class KeyPrefixListTests
{
    // Named cases, as in StateKeysTests: control characters and lone surrogates stay out of the test host's protocol.
    private static readonly Dictionary<string, string> InvalidPrefixes = new()
    {
        ["leading-slash"] = "/a",
        ["slash-only"] = "/",
        ["double-slash"] = "a//b",
        ["double-slash-at-end"] = "a//",
        ["dot-segment"] = "./a",
        ["dot-segment-then-slash"] = "a/./",
        ["dot-dot-segment"] = "a/../b",
        ["dot-dot-then-slash"] = "../",
        ["backslash"] = "a\\",
        ["newline"] = "a\nb",
        ["nul-at-end"] = "a\0",
        ["tab-only"] = "\t",
        ["zero-width-space"] = "a\u200B",
        ["byte-order-mark"] = "\uFEFF",
        ["lone-low-surrogate"] = "\uDE00",
        ["high-surrogate-at-end"] = "a\uD83D",
        ["513-ascii-bytes"] = new string('a', 513),
        ["514-bytes-of-two-byte-chars"] = new string('\u00E9', 257),
        ["very-long"] = new string('a', 100_000),
    };

    public static TheoryData<string> InvalidPrefixNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in InvalidPrefixes.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidPrefixNames))]
    public async Task A_prefix_no_valid_key_starts_with_is_an_InvalidStateKeyException(string caseName)
    {
        await using var manager = new StateManager(new MemoryStateStore());
        await manager.SetJsonAsync(StateScope.Global, "a", Backends.Json("1"));

        var ex = await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.ListKeysAsync(StateScope.Global, InvalidPrefixes[caseName]));

        Assert.Equal("keyPrefix", ex.ParamName);
        Assert.StartsWith("The state key prefix is not valid: ", ex.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(ex.Reason));
    }

    [Fact]
    public async Task A_null_prefix_is_an_ArgumentNullException()
    {
        await using var manager = new StateManager(new MemoryStateStore());

        var ex = await Assert.ThrowsAsync<ArgumentNullException>(async () => await manager.ListKeysAsync(StateScope.Global, null!));
        Assert.Equal("keyPrefix", ex.ParamName);
    }

    [Theory]
    [InlineData("a/", "a/.b")]
    [InlineData(".", ".hidden")]
    [InlineData("..", "..x")]
    [InlineData("a/..", "a/...")]
    [InlineData("a/.", "a/.b")]
    [InlineData(" ", " leading")]
    [InlineData("Note/", "Note/1")]
    [InlineData("日本/", "日本/東京")]
    public async Task A_prefix_a_valid_key_starts_with_lists_that_key(string prefix, string key)
    {
        await using var manager = new StateManager(new MemoryStateStore());
        await manager.SetJsonAsync(StateScope.Global, key, Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Global, "zzz", Backends.Json("2"));

        Assert.Equal(new[] { key }, await manager.ListKeysAsync(StateScope.Global, prefix));
    }

    [Fact]
    public async Task A_prefix_of_exactly_512_utf8_bytes_lists_the_key_it_spells()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        string key = new('\u00E9', StateKeys.MaxKeyBytes / 2);
        await manager.SetJsonAsync(StateScope.Global, key, Backends.Json("1"));

        Assert.Equal(new[] { key }, await manager.ListKeysAsync(StateScope.Global, key));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task The_prefix_is_normalized_to_NFC_like_keys_and_matched_ordinally(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);
        await manager.SetJsonAsync(StateScope.Global, "cafe\u0301/menu", Backends.Json("1")); // stored as "café/menu"
        await manager.SetJsonAsync(StateScope.Global, "Cafe/menu", Backends.Json("2"));
        await manager.SetJsonAsync(StateScope.Agent("a"), "caf\u00E9/other-scope", Backends.Json("3"));

        Assert.Equal(new[] { "caf\u00E9/menu" }, await manager.ListKeysAsync(StateScope.Global, "cafe\u0301"));
        Assert.Equal(new[] { "caf\u00E9/menu" }, await manager.ListKeysAsync(StateScope.Global, "caf\u00E9/"));

        // Text, not characters: "cafe" is not the start of "café" (its NFC form ends in the one character U+00E9).
        Assert.Empty(await manager.ListKeysAsync(StateScope.Global, "cafe"));
        Assert.Equal(new[] { "Cafe/menu" }, await manager.ListKeysAsync(StateScope.Global, "Cafe"));
        Assert.Equal(await manager.ListKeysAsync(StateScope.Global), await manager.ListKeysAsync(StateScope.Global, string.Empty));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Generated_types_are_listed_by_their_stable_name_prefix(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);
        await new Note { Id = "n2" }.SaveStateAsync(manager);
        await new Note { Id = "n1" }.SaveStateAsync(manager);
        await manager.SetJsonAsync(StateScope.Global, "Notebook", Backends.Json("1"));

        Assert.Equal(new[] { "Note/n1", "Note/n2" }, await manager.ListKeysAsync(StateScope.Global, "Note/"));
    }
}
