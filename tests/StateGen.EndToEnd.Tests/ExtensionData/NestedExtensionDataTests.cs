using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using Newer = StateGen.EndToEnd.Tests.ExtensionData.Newer;
using Older = StateGen.EndToEnd.Tests.ExtensionData.Older;

namespace StateGen.EndToEnd.Tests.ExtensionData;

/// <summary>
/// An older program must not drop a newer program's data: members it does not know, in nested objects, structs,
/// records and list elements as well as at the root, survive its load and save in a real LiteDB file.
/// </summary>
public sealed class NestedExtensionDataTests : TempFolderTest
{
    private string DbPath => Path.Combine(Folder, "projects.db");

    [Fact]
    public async Task Older_program_loads_and_saves_a_newer_document_keeping_every_unknown_member_at_every_level()
    {
        JsonNode written = await SaveNewerAsync();

        var older = new Older.Project { Id = "p1" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await older.LoadStateAsync(manager));

            // The older program's own members round-trip.
            Assert.Equal("Atlas", older.Title);
            Assert.Equal("Ann", older.Lead.Name);
            Assert.Equal(new[] { "Bob", "Cy" }, older.Members.Select(m => m.Name));
            Assert.Equal(3, older.Settings.Level);
            Assert.Equal(new[] { "urgent", "infra" }, older.Tags.Select(t => t.Label));

            // What it does not know is kept where it was found.
            Assert.Equal("ann@example.test", older.Lead.Unknown!["Email"].GetString());
            Assert.Equal("cy@example.test", older.Members[1].Unknown!["Email"].GetString());
            Assert.True((bool)older.Settings.Unknown!["Beta"]!);
            Assert.Equal("red", older.Tags[0].Unknown!["Color"].GetString());
            Assert.Equal(12.5m, older.Unknown!["Budget"].GetDecimal());

            await older.SaveStateAsync(manager);
        }

        JsonNode rewritten = await ReadStoredAsync();
        Assert.True(JsonNode.DeepEquals(written, rewritten), $"written by the newer program:\n{written.ToJsonString()}\nrewritten by the older program:\n{rewritten.ToJsonString()}");
    }

    [Fact]
    public async Task Newer_program_reads_back_its_members_after_the_older_program_edited_the_ones_it_knows()
    {
        await SaveNewerAsync();
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            var older = new Older.Project { Id = "p1" };
            Assert.True(await older.LoadStateAsync(manager));
            older.Title = "Atlas II";
            older.Lead.Name = "Ann B.";
            older.Members.Add(new Older.Person { Name = "Dee" });
            older.Tags.RemoveAt(1);
            await older.SaveStateAsync(manager);
        }

        var newer = new Newer.Project { Id = "p1" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await newer.LoadStateAsync(manager));
        }

        Assert.Equal(("Atlas II", 12.5m), (newer.Title, newer.Budget));
        Assert.Equal(("Ann B.", "ann@example.test"), (newer.Lead.Name, newer.Lead.Email));
        Assert.Equal(new[] { 1, 3 }, newer.Lead.Shifts);
        Assert.Equal(new[] { "Bob:bob@example.test", "Cy:cy@example.test", "Dee:" }, newer.Members.Select(m => m.Name + ":" + m.Email));
        Assert.Equal((3, true, "on"), (newer.Settings.Level, newer.Settings.Beta, newer.Settings.Flags["dark"]));
        Assert.Equal(new Newer.Tag("urgent", "red"), Assert.Single(newer.Tags));
    }

    private async Task<JsonNode> SaveNewerAsync()
    {
        var newer = new Newer.Project
        {
            Id = "p1",
            Title = "Atlas",
            Budget = 12.5m,
            Lead = new Newer.Person { Name = "Ann", Email = "ann@example.test", Shifts = { 1, 3 } },
            Members =
            {
                new Newer.Person { Name = "Bob", Email = "bob@example.test" },
                new Newer.Person { Name = "Cy", Email = "cy@example.test", Shifts = { 2 } },
            },
            Settings = new Newer.Settings { Level = 3, Beta = true, Flags = new Dictionary<string, string> { ["dark"] = "on" } },
            Tags = { new Newer.Tag("urgent", "red"), new Newer.Tag("infra", "blue") },
        };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            await newer.SaveStateAsync(manager);
        }

        return await ReadStoredAsync();
    }

    private async Task<JsonNode> ReadStoredAsync()
    {
        await using StateManager manager = StateManager.OpenLiteDb(DbPath);
        JsonElement stored = (await manager.GetJsonAsync(StateScope.Global, "e2e-project/p1"))!.Value;
        return JsonNode.Parse(stored.GetRawText())!;
    }
}
