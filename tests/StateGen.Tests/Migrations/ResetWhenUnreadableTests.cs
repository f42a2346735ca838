using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using StateGen.Storage;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Migrations;

/// <summary>A type that opts into "reset to default when unreadable".</summary>
[PersistentState("forgiving", ResetWhenUnreadable = true)]
[SchemaVersion(2)]
public partial class ForgivingState
{
    public string Id { get; set; } = "";
    public string Note { get; set; } = "initial";
}

/// <summary>Unreadable state is a loud error by default; a type can opt into resetting, and the discard is logged.</summary>
public sealed class ResetWhenUnreadableTests
{
    [Theory]
    [InlineData(2, "{\"Note\":")]                    // malformed
    [InlineData(3, "{\"Note\":\"from the future\"}")] // newer schema version
    [InlineData(1, "{\"Note\":\"v1 without a chain\"}")] // older version, no upgrade path
    public async Task Unreadable_state_of_an_opted_in_type_loads_as_initial_values_and_is_logged_without_the_value(int schemaVersion, string document)
    {
        var logs = new ListLogger<StateManager>();
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store, logger: logs);
        await store.WriteAsync(new StateWrite("global", "forgiving/f1", "forgiving", schemaVersion, Encoding.UTF8.GetBytes(document)));

        var state = new ForgivingState { Id = "f1" };
        bool loaded = await state.LoadStateAsync(manager);

        Assert.False(loaded);
        Assert.Equal("initial", state.Note);
        string discarded = Assert.Single(logs.Entries, l => l.Message.StartsWith("Discarded unreadable state", StringComparison.Ordinal)).Message;
        Assert.Contains("forgiving/f1", discarded, StringComparison.Ordinal);
        Assert.All(logs.Messages, l => Assert.DoesNotContain("future", l, StringComparison.Ordinal));
        Assert.All(logs.Messages, l => Assert.DoesNotContain("v1 without", l, StringComparison.Ordinal));

        // Nothing was deleted or rewritten: the next save replaces it.
        Assert.Equal(schemaVersion, (await store.GetAsync("global", "forgiving/f1"))!.SchemaVersion);
    }
}
