using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;
using StateGen;

namespace StateGen.Benchmarks;

/// <summary>
/// A realistic agent state: an id, a topic, a secret, ~20 chat turns, a few notes, a counter and a nullable date.
/// Both serializers write the same members: <see cref="ApiKey"/> is [Sensitive] for StateGen and [JsonIgnore] for
/// System.Text.Json, so neither writes it.
/// </summary>
[PersistentState("bench-agent")]
[SchemaVersion(1)]
public partial class BenchAgent
{
    public string Id { get; set; } = "";

    public string Topic { get; set; } = "";

    [Sensitive]
    [JsonIgnore]
    public string ApiKey { get; set; } = "";

    public int Runs { get; set; }

    public DateTime? LastRunUtc { get; set; }

    public List<Turn> History { get; set; } = new();

    public Dictionary<string, string> Notes { get; set; } = new();

    /// <summary>Turn <paramref name="i"/> of the benchmark conversations: a question or an answer of about 110–150 characters.</summary>
    public static Turn SampleTurn(int i, DateTimeOffset start) => new()
    {
        Role = i % 2 == 0 ? Role.User : Role.Assistant,
        Text = i % 2 == 0
            ? $"Question {i}: what changed in the storage layer since the last run, and which entries need a schema migration?"
            : $"Answer {i}: three entries were written with schema version 1; none needs migration. I summarised the diff in note 'diff-{i}' and queued a follow-up.",
        At = start.AddSeconds(37 * i).AddTicks(1000 + i),
    };

    /// <summary>The instance every benchmark uses: 20 turns, 5 notes.</summary>
    public static BenchAgent CreateSample()
    {
        var start = new DateTimeOffset(2025, 11, 25, 9, 30, 0, TimeSpan.Zero);
        var agent = new BenchAgent
        {
            Id = "researcher-1",
            Topic = "Reflection-free persistence for long-running .NET AI agents",
            ApiKey = "sk-live-0123456789abcdef0123456789abcdef",
            Runs = 42,
            // Non-zero sub-second ticks so both writers print all seven fraction digits the same way.
            LastRunUtc = new DateTime(2025, 11, 25, 10, 15, 30, DateTimeKind.Utc).AddTicks(1234567),
        };

        for (int i = 0; i < 20; i++)
        {
            agent.History.Add(SampleTurn(i, start));
        }

        agent.Notes["summary"] = "Storage is LiteDB, one file per process, direct mode.";
        agent.Notes["next"] = "Benchmark save and load against raw LiteDB.";
        agent.Notes["owner"] = "team-agents";
        agent.Notes["ticket"] = "STATE-1234";
        agent.Notes["risk"] = "Log file is not fsynced by LiteDB v5 on commit.";
        return agent;
    }
}

/// <summary>Who spoke a turn.</summary>
public enum Role
{
    User,
    Assistant,
}

/// <summary>One chat turn.</summary>
public sealed class Turn
{
    public Role Role { get; set; }

    public string Text { get; set; } = "";

    public DateTimeOffset At { get; set; }
}

/// <summary>
/// The System.Text.Json source-generated baseline. Enums as names, like StateGen writes them, so both payloads are
/// the same bytes.
/// </summary>
[JsonSourceGenerationOptions(UseStringEnumConverter = true)]
[JsonSerializable(typeof(BenchAgent))]
public partial class BenchJsonContext : JsonSerializerContext
{
}
