using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Keys;

public sealed class StateScopeTests
{
    private static StateScope[] DistinctScopes() => new[]
    {
        StateScope.Global,
        StateScope.Agent("a"),
        StateScope.Agent("b"),
        StateScope.Agent("A"),
        StateScope.Agent("global"),
        StateScope.Workflow("a"),
        StateScope.Workflow("b"),
        StateScope.Step("a", "b"),
        StateScope.Step("b", "a"),
        StateScope.Step("a", "c"),
        StateScope.Session("a"),
        StateScope.Custom("a"),
        StateScope.Custom("agent"),
        StateScope.Custom("step"),
    };

    [Fact]
    public void Scope_paths_are_the_stable_storage_format()
    {
        // These strings are stored: changing them orphans every stored value.
        Assert.Equal("global", StateScope.Global.Path);
        Assert.Equal("agent/researcher-1", StateScope.Agent("researcher-1").Path);
        Assert.Equal("workflow/w1", StateScope.Workflow("w1").Path);
        Assert.Equal("step/w1/fetch", StateScope.Step("w1", "fetch").Path);
        Assert.Equal("session/s1", StateScope.Session("s1").Path);
        Assert.Equal("custom/cache", StateScope.Custom("cache").Path);
    }

    [Fact]
    public void Scopes_of_different_kinds_or_ids_have_distinct_paths()
    {
        StateScope[] scopes = DistinctScopes();

        Assert.Equal(scopes.Length, scopes.Select(s => s.Path).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(scopes.Length, scopes.Distinct().Count());
        Assert.NotEqual(StateScope.Step("a", "b"), StateScope.Custom("a"));
        Assert.NotEqual(StateScope.Step("a", "b").Path, StateScope.Workflow("a").Path);
    }

    [Fact]
    public void Scope_kind_id_and_step_name_are_exposed()
    {
        StateScope step = StateScope.Step("w1", "fetch");

        Assert.Equal(StateScopeKind.Step, step.Kind);
        Assert.Equal("w1", step.Id);
        Assert.Equal("fetch", step.StepName);
        Assert.Equal(StateScopeKind.Agent, StateScope.Agent("x").Kind);
        Assert.Equal("x", StateScope.Agent("x").Id);
        Assert.Null(StateScope.Agent("x").StepName);
        Assert.Equal(StateScopeKind.Global, StateScope.Global.Kind);
        Assert.Null(StateScope.Global.Id);
    }

    [Fact]
    public void Default_scope_is_the_global_scope()
    {
        Assert.Equal(StateScope.Global, default);
        Assert.Equal("global", default(StateScope).Path);
        Assert.True(StateScope.Global == default);
    }

    [Fact]
    public void Scope_ids_are_normalized_so_two_spellings_are_one_scope()
    {
        Assert.Equal(StateScope.Agent("caf\u00E9"), StateScope.Agent("cafe\u0301"));
        Assert.Equal("agent/caf\u00E9", StateScope.Agent("cafe\u0301").Path);
        Assert.Equal(StateScope.Step("caf\u00E9", "x"), StateScope.Step("cafe\u0301", "x"));
    }

    [Fact]
    public void Scope_equality_is_ordinal()
    {
        Assert.NotEqual(StateScope.Agent("bob"), StateScope.Agent("Bob"));
        Assert.True(StateScope.Agent("bob") != StateScope.Agent("Bob"));
        Assert.Equal(StateScope.Agent("bob").GetHashCode(), StateScope.Agent("bob").GetHashCode());
        Assert.Equal("agent/bob", StateScope.Agent("bob").ToString());
    }

    private static readonly Dictionary<string, string?> InvalidIds = new()
    {
        ["null"] = null,
        ["empty"] = "",
        ["blank"] = "  ",
        ["slash"] = "a/b",
        ["leading-slash"] = "/a",
        ["trailing-slash"] = "a/",
        ["backslash"] = "a\\b",
        ["dot"] = ".",
        ["dot-dot"] = "..",
        ["newline"] = "a\nb",
        ["nul"] = "a\0b",
        ["bidi-override"] = "a\u202Eb",
        ["zero-width-space"] = "a\u200Bb",
        ["lone-surrogate"] = "a\uD800",
        ["201-bytes"] = new string('a', StateKeys.MaxScopeIdBytes + 1),
    };

    public static TheoryData<string> InvalidIdNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in InvalidIds.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidIdNames))]
    public void Invalid_scope_id_is_rejected_by_every_scope_factory(string caseName)
    {
        string id = InvalidIds[caseName]!;

        Assert.Equal("agentId", Assert.Throws<InvalidStateKeyException>(() => StateScope.Agent(id)).ParamName);
        Assert.Equal("workflowId", Assert.Throws<InvalidStateKeyException>(() => StateScope.Workflow(id)).ParamName);
        Assert.Equal("sessionId", Assert.Throws<InvalidStateKeyException>(() => StateScope.Session(id)).ParamName);
        Assert.Equal("name", Assert.Throws<InvalidStateKeyException>(() => StateScope.Custom(id)).ParamName);
        Assert.Equal("workflowId", Assert.Throws<InvalidStateKeyException>(() => StateScope.Step(id, "step")).ParamName);
        Assert.Equal("stepName", Assert.Throws<InvalidStateKeyException>(() => StateScope.Step("wf", id)).ParamName);
    }

    [Fact]
    public void Scope_id_of_exactly_200_bytes_is_accepted()
    {
        string id = new('a', StateKeys.MaxScopeIdBytes);

        Assert.Equal("agent/" + id, StateScope.Agent(id).Path);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Same_key_in_every_scope_never_collides(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);
        StateScope[] scopes = DistinctScopes();

        foreach (StateScope scope in scopes)
        {
            long version = (await manager.SetJsonAsync(scope, "memory", Backends.JsonString(scope.Path))).Version;
            Assert.Equal(1, version);
        }

        foreach (StateScope scope in scopes)
        {
            Assert.Equal(scope.Path, (await manager.GetJsonAsync(scope, "memory"))!.Value.GetString());
            Assert.Equal(new[] { "memory" }, await manager.ListKeysAsync(scope));
        }

        Assert.True(await manager.DeleteAsync(StateScope.Agent("a"), "memory"));
        Assert.False(await manager.ExistsAsync(StateScope.Agent("a"), "memory"));
        foreach (StateScope scope in scopes.Where(s => s != StateScope.Agent("a")))
        {
            Assert.True(await manager.ExistsAsync(scope, "memory"));
        }
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Same_key_in_two_agent_scopes_never_collides(string backend)
    {
        using var dir = new TempDirectory();
        await using StateManager manager = Backends.CreateManager(backend, dir);

        await new Note { Id = "n1", Topic = "agent a's topic", Runs = 1 }.SaveStateAsync(manager, StateScope.Agent("a"));
        await new Note { Id = "n1", Topic = "agent b's topic", Runs = 2 }.SaveStateAsync(manager, StateScope.Agent("b"));

        var a = new Note { Id = "n1" };
        var b = new Note { Id = "n1" };
        var global = new Note { Id = "n1" };
        Assert.True(await a.LoadStateAsync(manager, StateScope.Agent("a")));
        Assert.True(await b.LoadStateAsync(manager, StateScope.Agent("b")));
        Assert.False(await global.LoadStateAsync(manager));
        Assert.False(await new Note { Id = "n1" }.LoadStateAsync(manager, StateScope.Agent("c")));

        Assert.Equal(("agent a's topic", 1), (a.Topic, a.Runs));
        Assert.Equal(("agent b's topic", 2), (b.Topic, b.Runs));
        Assert.Equal("initial-topic", global.Topic);

        Assert.True(await a.DeleteStateAsync(manager, StateScope.Agent("a")));
        Assert.True(await b.LoadStateAsync(manager, StateScope.Agent("b")));
    }
}
