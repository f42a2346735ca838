using System;
using System.Threading.Tasks;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Serialization;

/// <summary>A plain class whose state is private, opted in with [JsonInclude] (reached through UnsafeAccessor).</summary>
public class Ledger
{
    [System.Text.Json.Serialization.JsonInclude]
    private int _entries;

    private string _unlisted = "untouched";

    [System.Text.Json.Serialization.JsonInclude]
    public string Owner { get; private set; } = "";

    [System.Text.Json.Serialization.JsonInclude]
    private System.Collections.Generic.List<string> Lines { get; set; } = new();

    [System.Text.Json.Serialization.JsonInclude]
    internal decimal Balance { private get; set; }

    public string NotOptedIn { get; private set; } = "default";

    public int Entries => _entries;

    public string Unlisted => _unlisted;

    public System.Collections.Generic.IReadOnlyList<string> View => Lines;

    public decimal ShowBalance() => Balance;

    public void Post(string owner, string line, decimal amount)
    {
        Owner = owner;
        Lines.Add(line);
        _entries++;
        Balance += amount;
        NotOptedIn = "changed";
        _unlisted = "changed";
    }
}

/// <summary>A derived class: the base's private members are reached through accessors on the base type.</summary>
public sealed class SubLedger : Ledger
{
    [System.Text.Json.Serialization.JsonInclude]
    private bool _closed;

    public bool Closed => _closed;

    public void Close() => _closed = true;
}

/// <summary>A struct with a private field opted in.</summary>
public struct Tally
{
    [System.Text.Json.Serialization.JsonInclude]
    private int _count;

    public readonly int Count => _count;

    public void Add() => _count++;
}

[PersistentState("ledger-agent")]
public partial class LedgerAgent
{
    public string Id { get; set; } = "";
    public Ledger Main { get; set; } = new();
    public SubLedger? Sub { get; set; }
    public Tally Tally { get; set; }
}

/// <summary>Private members of the persistent type opted in with <c>[JsonInclude]</c> are stored and restored.</summary>
public sealed class PrivateMemberTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Opted_in_private_members_round_trip_and_others_stay_out(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new PrivateStateAgent { Id = "p" };
        agent.Step("one");
        agent.Step("two");
        await agent.SaveStateAsync(manager);

        string stored = Backends.Utf8((await manager.Store.GetAsync("global", "private-state-agent/p"))!.Payload);
        Assert.Equal("""{"_counter":2,"Secretless":"two","Id":"p"}""", stored);

        var loaded = new PrivateStateAgent { Id = "p" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(2, loaded.Counter);
        Assert.Equal("two", loaded.Label);
        Assert.Equal("untouched", loaded.NotState);
    }

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task Opted_in_private_members_of_plain_classes_structs_and_base_classes_round_trip(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        var agent = new LedgerAgent { Id = "l", Sub = new SubLedger() };
        agent.Main.Post("ann", "rent", 12.5m);
        agent.Main.Post("ann", "food", 3m);
        agent.Sub.Post("bob", "fee", 1m);
        agent.Sub.Close();
        Tally tally = default;
        tally.Add();
        tally.Add();
        agent.Tally = tally;
        await agent.SaveStateAsync(manager);

        string stored = Backends.Utf8((await manager.Store.GetAsync("global", "ledger-agent/l"))!.Payload);
        Assert.Contains("\"_entries\":2", stored, StringComparison.Ordinal);
        Assert.Contains("\"Lines\":[\"rent\",\"food\"]", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("_unlisted", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("NotOptedIn", stored, StringComparison.Ordinal);

        var loaded = new LedgerAgent { Id = "l" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal((2, "ann", 15.5m), (loaded.Main.Entries, loaded.Main.Owner, loaded.Main.ShowBalance()));
        Assert.Equal(new[] { "rent", "food" }, loaded.Main.View);
        Assert.Equal(("untouched", "default"), (loaded.Main.Unlisted, loaded.Main.NotOptedIn));
        Assert.Equal((1, "bob", true), (loaded.Sub!.Entries, loaded.Sub.Owner, loaded.Sub.Closed));
        Assert.Equal(2, loaded.Tally.Count);
    }
}
