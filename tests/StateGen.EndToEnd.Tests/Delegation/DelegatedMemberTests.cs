using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using StateGen.Security;

namespace StateGen.EndToEnd.Tests.Delegation;

/// <summary>
/// Members the generator does not write itself go through the JsonSerializerContext named on the attribute (built by
/// the real System.Text.Json generator here), in a real LiteDB file across a restart.
/// </summary>
public sealed class DelegatedMemberTests : TempFolderTest
{
    private string DbPath => Path.Combine(Folder, "zoo.db");

    [Fact]
    public async Task Base_typed_members_holding_derived_instances_round_trip_with_their_runtime_types_after_restart()
    {
        var saved = new Zoo
        {
            Id = "z1",
            Pet = new Dog { Name = "Rex", Good = true },
            Keeper = new Keeper { Name = "Ann", Favorite = new Cat { Name = "Tom", Lives = 7 } },
        };
        saved.ByPen["north"] = new Cat { Name = "Kit", Lives = 9 };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            await saved.SaveStateAsync(manager);
        }

        var loaded = new Zoo { Id = "z1" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await loaded.LoadStateAsync(manager));
            JsonElement stored = (await manager.GetJsonAsync(StateScope.Global, "e2e-zoo/z1"))!.Value;
            Assert.Equal("dog", stored.GetProperty("Pet").GetProperty("$kind").GetString());
        }

        Dog pet = Assert.IsType<Dog>(loaded.Pet);
        Assert.Equal(("Rex", true), (pet.Name, pet.Good));
        Cat favorite = Assert.IsType<Cat>(loaded.Keeper.Favorite);
        Assert.Equal(("Ann", "Tom", 7), (loaded.Keeper.Name, favorite.Name, favorite.Lives));
        Cat north = Assert.IsType<Cat>(loaded.ByPen["north"]);
        Assert.Equal(("Kit", 9), (north.Name, north.Lives));
    }

    [Fact]
    public async Task List_of_a_polymorphic_base_round_trips_each_element_with_its_runtime_type_and_order()
    {
        var saved = new Zoo { Id = "z2" };
        for (int i = 0; i < 10; i++)
        {
            saved.Pets.Add(i % 3 == 0 ? new Cat { Name = "c" + i, Lives = i } : new Dog { Name = "d" + i, Good = i % 2 == 0 });
        }

        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            await saved.SaveStateAsync(manager);
        }

        var loaded = new Zoo { Id = "z2" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await loaded.LoadStateAsync(manager));
        }

        Assert.Equal(saved.Pets.Select(Describe), loaded.Pets.Select(Describe));
        Assert.Null(loaded.Pet);

        static string Describe(Animal animal) => animal switch
        {
            Dog dog => $"dog:{dog.Name}:{dog.Good}",
            Cat cat => $"cat:{cat.Name}:{cat.Lives}",
            _ => "?" + animal.GetType().Name,
        };
    }

    [Fact]
    public async Task Encrypt_and_redact_apply_to_a_delegated_member_like_any_other()
    {
        using var ring = new StateKeyRing("k1", StateKeyRing.GenerateKey());
        var options = new StateManagerOptions { SensitiveKeyRing = ring };
        var saved = new Vet
        {
            Id = "v1",
            Hidden = new Dog { Name = "hidden-dog-name-4f1c", Good = true },
            Redacted = new Cat { Name = "redacted-cat-name-9e2a", Lives = 3 },
        };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath, options))
        {
            await saved.SaveStateAsync(manager);
        }

        var loaded = new Vet { Id = "v1", Redacted = new Cat { Name = "in-memory" } };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath, options))
        {
            Assert.True(await loaded.LoadStateAsync(manager));
        }

        // Encrypt: the delegated JSON is what is encrypted; it decrypts to the same runtime type.
        Dog hidden = Assert.IsType<Dog>(loaded.Hidden);
        Assert.Equal("hidden-dog-name-4f1c", hidden.Name);

        // Redact: a marker is stored, and loading keeps the in-memory value.
        Assert.Equal("in-memory", loaded.Redacted!.Name);

        byte[] file = File.ReadAllBytes(DbPath);
        Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes("hidden-dog-name-4f1c")));
        Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes("redacted-cat-name-9e2a")));
    }

    [Fact]
    public async Task A_context_without_the_type_is_a_typed_error_naming_the_member_and_the_context_and_nothing_is_stored()
    {
        await using StateManager manager = StateManager.OpenLiteDb(DbPath);
        var zoo = new ZooWithUnrelatedContext { Id = "z4" };
        zoo.Pets.Add(new Dog { Name = "Rex" });

        StateSerializationException error = await Assert.ThrowsAsync<StateSerializationException>(async () => await zoo.SaveStateAsync(manager));

        Assert.Contains("'StateGen.EndToEnd.Tests.Delegation.UnrelatedJsonContext'", error.Message, StringComparison.Ordinal);
        Assert.Contains("member 'Pets[]'", error.Message, StringComparison.Ordinal);
        Assert.Contains("[JsonSerializable(typeof(StateGen.EndToEnd.Tests.Delegation.Animal))]", error.Message, StringComparison.Ordinal);
        Assert.Equal("e2e-zoo-unrelated-context", error.TypeName);
        Assert.False(await manager.ExistsAsync(StateScope.Global, "e2e-zoo-unrelated-context/z4"));

        // The manager stays usable: the next save of another type works.
        await new Zoo { Id = "after" }.SaveStateAsync(manager);
    }

    [Fact]
    public async Task A_reference_cycle_inside_a_delegated_value_is_a_typed_error_naming_the_member_and_nothing_is_stored()
    {
        await using StateManager manager = StateManager.OpenLiteDb(DbPath);
        var rex = new Dog { Name = "Rex" };
        rex.Friend = new Cat { Name = "Tom" };
        var zoo = new Zoo { Id = "z5", Keeper = new Keeper { Name = "Ann", Favorite = rex } };
        await zoo.SaveStateAsync(manager); // a friend that is not a loop: stored

        rex.Friend = rex;
        StateSerializationException error = await Assert.ThrowsAsync<StateSerializationException>(async () => await zoo.SaveStateAsync(manager));

        Assert.Contains("'Keeper.Favorite'", error.Message, StringComparison.Ordinal); // among the members that hold the type
        Assert.Contains("holds a reference cycle or nests deeper than the context's MaxDepth", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Rex", error.Message, StringComparison.Ordinal);
        var stored = new Zoo { Id = "z5" };
        Assert.True(await stored.LoadStateAsync(manager));
        Assert.Equal("Tom", Assert.IsType<Dog>(stored.Keeper.Favorite).Friend!.Name); // the earlier value, intact
    }

    [Fact]
    public async Task Strings_inside_delegated_values_pass_the_secret_scan_like_any_stored_string()
    {
        string token = "ghp_" + new string('a', 18) + new string('7', 18);
        var saved = new ChatAgent { Id = "c2", Topic = "keys" };
        saved.History.Add(new ChatMessage(ChatRole.User, "Weather in Oslo?"));
        saved.History.Add(new ChatMessage(ChatRole.User, token));
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            await saved.SaveStateAsync(manager);
        }

        byte[] file = File.ReadAllBytes(DbPath);
        Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(token)));

        var loaded = new ChatAgent { Id = "c2" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await loaded.LoadStateAsync(manager));
        }

        Assert.Equal(new[] { "Weather in Oslo?", "[redacted:github-token]" }, loaded.History.Select(m => m.Text));

        // With the Throw policy the finding names the element it was found in, and nothing is stored.
        await using (StateManager strict = StateManager.OpenLiteDb(DbPath, new StateManagerOptions { SecretScanning = SecretScanPolicy.Throw }))
        {
            saved.Id = "c3";
            StateSecretDetectedException error = await Assert.ThrowsAsync<StateSecretDetectedException>(async () => await saved.SaveStateAsync(strict));
            Assert.Equal(("History[1]", Secrets.SecretKind.GitHubToken), (error.MemberPath, error.Kind));
            Assert.DoesNotContain(token, error.Message, StringComparison.Ordinal);
            Assert.False(await strict.ExistsAsync(StateScope.Global, "e2e-chat-agent/c3"));
        }
    }

    [Fact]
    public async Task Chat_history_of_Microsoft_Extensions_AI_messages_round_trips_through_the_applications_context()
    {
        var saved = new ChatAgent { Id = "c1", Topic = "weather" };
        saved.History.Add(new ChatMessage(ChatRole.System, "You are terse."));
        saved.History.Add(new ChatMessage(ChatRole.User, "Weather in Oslo?") { AuthorName = "ann", MessageId = "m-2" });
        saved.History.Add(new ChatMessage(ChatRole.Assistant, new List<AIContent>
        {
            new TextContent("Checking."),
            new FunctionCallContent("call-1", "get_weather", new Dictionary<string, object?> { ["city"] = "Oslo" }),
        }));
        saved.History.Add(new ChatMessage(ChatRole.Tool, new List<AIContent> { new FunctionResultContent("call-1", "4 °C, rain") }));
        saved.History.Add(new ChatMessage(ChatRole.Assistant, "4 °C and rain."));

        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            await saved.SaveStateAsync(manager);
        }

        var loaded = new ChatAgent { Id = "c1" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await loaded.LoadStateAsync(manager));
        }

        Assert.Equal("weather", loaded.Topic);
        Assert.Equal(saved.History.Select(m => m.Role), loaded.History.Select(m => m.Role));
        Assert.Equal(saved.History.Select(m => m.Text), loaded.History.Select(m => m.Text));
        Assert.Equal(("ann", "m-2"), (loaded.History[1].AuthorName, loaded.History[1].MessageId));

        FunctionCallContent call = Assert.IsType<FunctionCallContent>(loaded.History[2].Contents[1]);
        Assert.Equal(("call-1", "get_weather"), (call.CallId, call.Name));
        Assert.Equal("Oslo", call.Arguments!["city"]?.ToString());
        FunctionResultContent result = Assert.IsType<FunctionResultContent>(Assert.Single(loaded.History[3].Contents));
        Assert.Equal(("call-1", "4 °C, rain"), (result.CallId, result.Result?.ToString()));
    }
}
