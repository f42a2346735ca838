using System;
using System.Collections.Generic;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

public sealed record ChatTurn
{
    public required string Role { get; init; }
    public string Text { get; init; } = "";
    public DateTimeOffset At { get; init; }
}

public struct Budget
{
    public decimal Limit { get; init; }
    public string Currency { get; set; }
}

[PersistentState("init-required")]
public partial record InitRequiredAgent
{
    public required string Id { get; init; }
    public string Topic { get; init; } = "default topic";
    public List<ChatTurn> Turns { get; init; } = new();
    public Budget Budget { get; set; }
    public ChatTurn? Pinned { get; set; }
}

/// <summary>Records with init-only and required members are filled without reflection (UnsafeAccessor).</summary>
public sealed class InitAndRequiredMembersTests
{
    [Fact]
    public async Task Init_only_and_required_members_round_trip_on_the_root_and_in_nested_records_and_structs()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var saved = new InitRequiredAgent
        {
            Id = "r1",
            Topic = "records",
            Turns = { new ChatTurn { Role = "user", Text = "hi", At = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero) } },
            Budget = new Budget { Limit = 12.50m, Currency = "EUR" },
            Pinned = new ChatTurn { Role = "system", Text = "pinned" },
        };
        await saved.SaveStateAsync(manager);

        var loaded = new InitRequiredAgent { Id = "r1" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal("records", loaded.Topic);
        Assert.Equal(saved.Turns, loaded.Turns);
        Assert.Equal(12.50m, loaded.Budget.Limit);
        Assert.Equal("12.50", loaded.Budget.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("EUR", loaded.Budget.Currency);
        Assert.Equal(saved.Pinned, loaded.Pinned);

        InitRequiredAgent? viaGet = await manager.GetAsync<InitRequiredAgent>(StateScope.Global, "init-required/r1");
        Assert.Equal("records", viaGet!.Topic);
        Assert.Equal("r1", viaGet.Id);
    }

    [Fact]
    public async Task An_init_only_member_absent_from_the_document_keeps_its_initial_value()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "init-required/r2", "init-required", 1, Encoding.UTF8.GetBytes("""{"Turns":[{"Role":"user"}]}""")));

        var loaded = new InitRequiredAgent { Id = "r2" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal("default topic", loaded.Topic);
        Assert.Equal("user", Assert.Single(loaded.Turns).Role);
        Assert.Equal("", loaded.Turns[0].Text);
    }
}
