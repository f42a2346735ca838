using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

public enum Channel
{
    Chat,
    Email,
}

[PersistentState("more-kinds")]
public partial class MoreKinds
{
    public string Id { get; set; } = "";
    public DateOnly Day { get; set; }
    public TimeOnly At { get; set; }
    public DateOnly? MaybeDay { get; set; }
    public Uri? Endpoint { get; set; }
    public Uri? Relative { get; set; }
    public Version? ModelVersion { get; set; }
    public JsonElement Extra { get; set; }
    public HashSet<string> Labels { get; set; } = new();
    public ISet<int> Numbers { get; set; } = new HashSet<int>();
    public IReadOnlySet<Guid> Seen { get; set; } = new HashSet<Guid>();
    public Dictionary<int, string> ByInt { get; set; } = new();
    public Dictionary<long, double> ByLong { get; set; } = new();
    public Dictionary<Guid, string> ByGuid { get; set; } = new();
    public IReadOnlyDictionary<Channel, int> ByChannel { get; set; } = new Dictionary<Channel, int>();
    [JsonPropertyName("display_name")] public string DisplayName { get; set; } = "";
    [JsonIgnore] public string Cache { get; set; } = "not stored";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? StillStored { get; set; }
}

/// <summary>Member kinds beyond the walking skeleton: dates, times, URIs, versions, JSON pass-through, sets, non-string keys.</summary>
public sealed class MoreMemberKindsTests
{
    [Fact]
    public async Task Every_member_kind_round_trips_through_the_store()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        var saved = new MoreKinds
        {
            Id = "m1",
            Day = new DateOnly(2026, 2, 28),
            At = new TimeOnly(23, 59, 58, 123).Add(TimeSpan.FromTicks(4567)),
            MaybeDay = null,
            Endpoint = new Uri("https://example.org/a%20b?q=1#frag"),
            Relative = new Uri("../relative/path", UriKind.Relative),
            ModelVersion = new Version(1, 2, 3, 4),
            Extra = JsonDocument.Parse("""{"free":[1,"two",{"three":null}]}""").RootElement.Clone(),
            DisplayName = "Ada",
            Cache = "in memory only",
            StillStored = "yes",
        };
        saved.Labels.UnionWith(new[] { "b", "a" });
        saved.Numbers.Add(-1);
        ((HashSet<Guid>)saved.Seen).Add(Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff"));
        saved.ByInt[-7] = "minus seven";
        saved.ByLong[long.MaxValue] = 0.5;
        saved.ByGuid[Guid.Empty] = "empty";
        ((Dictionary<Channel, int>)saved.ByChannel)[Channel.Email] = 2;
        await saved.SaveStateAsync(manager);

        var loaded = new MoreKinds { Id = "m1" };
        Assert.True(await loaded.LoadStateAsync(manager));

        Assert.Equal(saved.Day, loaded.Day);
        Assert.Equal(saved.At, loaded.At);
        Assert.Null(loaded.MaybeDay);
        Assert.Equal(saved.Endpoint, loaded.Endpoint);
        Assert.Equal(saved.Endpoint!.OriginalString, loaded.Endpoint!.OriginalString);
        Assert.False(loaded.Relative!.IsAbsoluteUri);
        Assert.Equal("../relative/path", loaded.Relative.OriginalString);
        Assert.Equal(saved.ModelVersion, loaded.ModelVersion);
        Assert.Equal(saved.Extra.GetRawText(), loaded.Extra.GetRawText());
        Assert.Equal(saved.Labels.OrderBy(x => x), loaded.Labels.OrderBy(x => x));
        Assert.IsType<HashSet<int>>(loaded.Numbers);
        Assert.Equal(new[] { -1 }, loaded.Numbers);
        Assert.Equal(saved.Seen, loaded.Seen);
        Assert.Equal(saved.ByInt, loaded.ByInt);
        Assert.Equal(saved.ByLong, loaded.ByLong);
        Assert.Equal(saved.ByGuid, loaded.ByGuid);
        Assert.Equal(2, loaded.ByChannel[Channel.Email]);
        Assert.Equal("Ada", loaded.DisplayName);
        Assert.Equal("not stored", loaded.Cache);
        Assert.Equal("yes", loaded.StillStored);
    }

    [Fact]
    public async Task Json_names_and_ignores_shape_the_stored_document()
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await new MoreKinds { Id = "m2", DisplayName = "Grace", Cache = "secret cache" }.SaveStateAsync(manager);

        string json = Encoding.UTF8.GetString((await store.GetAsync("global", "more-kinds/m2"))!.Payload.Span);

        Assert.Contains("\"display_name\":\"Grace\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("DisplayName", json, StringComparison.Ordinal);
        Assert.DoesNotContain("Cache", json, StringComparison.Ordinal);
        Assert.Contains("\"StillStored\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Day\":\"0001-01-01\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Extra\":null", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"Day\":\"2026-13-01\"")]
    [InlineData("\"At\":\"25:00\"")]
    [InlineData("\"ModelVersion\":\"one.two\"")]
    [InlineData("\"ByInt\":{\"seven\":\"x\"}")]
    [InlineData("\"ByGuid\":{\"not-a-guid\":\"x\"}")]
    [InlineData("\"ByChannel\":{\"Fax\":1}")]
    public async Task Malformed_values_of_the_new_kinds_are_typed_errors(string member)
    {
        var store = new MemoryStateStore();
        await using var manager = new StateManager(store);
        await store.WriteAsync(new StateGen.Storage.StateWrite("global", "more-kinds/m3", "more-kinds", 1, Encoding.UTF8.GetBytes("{" + member + "}")));

        var state = new MoreKinds { Id = "m3", DisplayName = "unchanged" };
        await Assert.ThrowsAsync<StateSerializationException>(() => state.LoadStateAsync(manager).AsTask());
        Assert.Equal("unchanged", state.DisplayName);
    }
}
