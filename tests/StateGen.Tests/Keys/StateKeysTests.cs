using System;
using System.Collections.Generic;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Keys;

public sealed class StateKeysTests
{
    // Named cases: theory data with control characters or lone surrogates would travel through the test host's
    // protocol, so the data is the name and the key is looked up here.
    private static readonly Dictionary<string, string?> InvalidKeys = new()
    {
        ["null"] = null,
        ["empty"] = "",
        ["blank"] = "   ",
        ["tab-only"] = "\t",
        ["double-slash"] = "a//b",
        ["leading-slash"] = "/a",
        ["trailing-slash"] = "a/",
        ["slash-only"] = "/",
        ["dot-dot-segment"] = "a/../b",
        ["dot-dot"] = "..",
        ["dot-dot-leading"] = "../a",
        ["dot-dot-trailing"] = "a/..",
        ["dot-segment"] = "a/./b",
        ["dot"] = ".",
        ["backslash"] = "a\\b",
        ["newline"] = "a\nb",
        ["carriage-return"] = "a\rb",
        ["nul"] = "a\0b",
        ["bell"] = "a\u0007b",
        ["delete"] = "a\u007Fb",
        ["c1-control"] = "a\u0085b",
        ["bidi-override"] = "invoice\u202Etxt.exe",
        ["bidi-isolate"] = "a\u2066b",
        ["zero-width-space"] = "a\u200Bb",
        ["zero-width-joiner"] = "a\u200Db",
        ["byte-order-mark"] = "\uFEFFa",
        ["line-separator"] = "a\u2028b",
        ["paragraph-separator"] = "a\u2029b",
        ["lone-high-surrogate"] = "a\uD800b",
        ["lone-low-surrogate"] = "a\uDC00b",
        ["high-surrogate-at-end"] = "a\uD83D",
        ["reversed-surrogate-pair"] = "\uDE00\uD83D",
        ["513-ascii-bytes"] = new string('a', 513),
        ["514-bytes-of-two-byte-chars"] = new string('\u00E9', 257),
        ["very-long"] = new string('a', 100_000),
    };

    public static TheoryData<string> InvalidKeyNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in InvalidKeys.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidKeyNames))]
    public void Invalid_key_is_rejected_with_InvalidStateKeyException(string caseName)
    {
        string? key = InvalidKeys[caseName];

        var ex = Assert.Throws<InvalidStateKeyException>(() => StateKeys.Normalize(key));

        Assert.IsAssignableFrom<ArgumentException>(ex);
        Assert.Equal("key", ex.ParamName);
        Assert.False(string.IsNullOrWhiteSpace(ex.Reason));
    }

    [Theory]
    [MemberData(nameof(InvalidKeyNames))]
    public async Task Every_manager_entry_point_rejects_an_invalid_key_and_stores_nothing(string caseName)
    {
        string key = InvalidKeys[caseName]!;
        await using var manager = new StateManager(new MemoryStateStore());
        var note = new Note { Id = "n" };

        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.SetJsonAsync(StateScope.Global, key, Backends.Json("1")));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.GetJsonAsync(StateScope.Global, key));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.ExistsAsync(StateScope.Global, key));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.DeleteAsync(StateScope.Global, key));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.SetAsync(StateScope.Global, key, note));
        await Assert.ThrowsAsync<InvalidStateKeyException>(async () => await manager.GetAsync<Note>(StateScope.Global, key));

        Assert.Empty(await manager.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public void Key_of_exactly_512_utf8_bytes_is_accepted()
    {
        string ascii = new('a', StateKeys.MaxKeyBytes);
        string twoByte = new('\u00E9', StateKeys.MaxKeyBytes / 2);

        Assert.Equal(ascii, StateKeys.Normalize(ascii));
        Assert.Equal(twoByte, StateKeys.Normalize(twoByte));
        Assert.Equal(512, Encoding.UTF8.GetByteCount(twoByte));
    }

    [Fact]
    public void Key_length_is_measured_after_normalization()
    {
        // 256 x "e" + combining acute = 768 UTF-8 bytes as written, 512 bytes once composed to "é".
        var decomposed = new StringBuilder();
        for (int i = 0; i < 256; i++)
        {
            decomposed.Append("e\u0301");
        }

        string normalized = StateKeys.Normalize(decomposed.ToString());

        Assert.Equal(new string('\u00E9', 256), normalized);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("Note/1")]
    [InlineData("agents/research/turns/42")]
    [InlineData("a.b")]
    [InlineData("...")]
    [InlineData("a/.../b")]
    [InlineData(".hidden")]
    [InlineData("with space")]
    [InlineData(" leading and trailing ")]
    [InlineData("日本語/キー")]
    [InlineData("emoji-😀")]
    [InlineData("a:b;c=d?e&f#g%20")]
    public void Valid_key_is_accepted_unchanged(string key)
    {
        Assert.Equal(key, StateKeys.Normalize(key));
    }

    [Fact]
    public void Normalize_returns_the_NFC_form()
    {
        Assert.Equal("caf\u00E9", StateKeys.Normalize("cafe\u0301"));
        Assert.Equal("caf\u00E9", StateKeys.Normalize("caf\u00E9"));
        Assert.Equal("\uAC00", StateKeys.Normalize("\u1100\u1161")); // Hangul jamo compose to one syllable
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Two_spellings_of_the_same_text_name_the_same_raw_value(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);

        await manager.SetJsonAsync(StateScope.Global, "caf\u00E9", Backends.JsonString("composed"));
        long second = (await manager.SetJsonAsync(StateScope.Global, "cafe\u0301", Backends.JsonString("decomposed"))).Version;

        Assert.Equal(2, second);
        Assert.Equal("decomposed", (await manager.GetJsonAsync(StateScope.Global, "caf\u00E9"))!.Value.GetString());
        Assert.True(await manager.ExistsAsync(StateScope.Global, "cafe\u0301"));
        Assert.Equal(new[] { "caf\u00E9" }, await manager.ListKeysAsync(StateScope.Global));
        Assert.True(await manager.DeleteAsync(StateScope.Global, "cafe\u0301"));
        Assert.False(await manager.ExistsAsync(StateScope.Global, "caf\u00E9"));
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Two_spellings_of_an_id_name_the_same_persistent_value(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);
        await new Note { Id = "caf\u00E9", Topic = "saved with composed id" }.SaveStateAsync(manager);

        var loaded = new Note { Id = "cafe\u0301" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal("saved with composed id", loaded.Topic);
        Assert.Equal("Note/caf\u00E9", StateManager.KeyOf(loaded));
    }

    [Fact]
    public async Task Keys_that_differ_only_by_case_name_different_values()
    {
        await using var manager = new StateManager(new MemoryStateStore());

        await manager.SetJsonAsync(StateScope.Global, "Key", Backends.Json("1"));
        await manager.SetJsonAsync(StateScope.Global, "key", Backends.Json("2"));

        Assert.Equal(1, (await manager.GetJsonAsync(StateScope.Global, "Key"))!.Value.GetInt32());
        Assert.Equal(2, (await manager.GetJsonAsync(StateScope.Global, "key"))!.Value.GetInt32());
    }
}
