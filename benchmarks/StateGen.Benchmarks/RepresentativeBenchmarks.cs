using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using StateGen.Secrets;
using StateGen.Serialization;

namespace StateGen.Benchmarks;

/// <summary>
/// Issue #3's benchmark set: a representative agent (<see cref="RepresentativeAgent"/>: 20 members, a chat history, two
/// dictionaries, a nested plan, two sensitive members) with 50 turns (about 11 KB) and 5 turns (about 2.5 KB).
/// Serialize, deserialize and the round trip of StateGen's generated code (secret scanning on, as in every save) against
/// System.Text.Json source generation (the baseline) and System.Text.Json reflection, all through a reused writer over a
/// reused buffer with the same writer options. <see cref="Setup"/> checks that each reader reads each writer's output back
/// to the same values.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
[BenchConfig(launchCount: 5)]
[SuppressMessage("Trimming", "IL2026", Justification = "The reflection baseline is reflection on purpose.")]
[SuppressMessage("AOT", "IL3050", Justification = "The reflection baseline is reflection on purpose.")]
public class RepresentativeBenchmarks
{
    private static readonly JsonSerializerOptions Reflection = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        Converters = { new JsonStringEnumConverter() },
    };

    private RepresentativeAgent _agent = null!;
    private ArrayBufferWriter<byte> _buffer = null!;
    private Utf8JsonWriter _writer = null!;
    private byte[] _stjPayload = null!;
    private byte[] _stateGenPayload = null!;
    private string[] _strings = null!;

    /// <summary>Chat turns: 50 gives about 11 KB of JSON, 5 about 2.5 KB.</summary>
    [Params(5, 50)]
    public int Turns { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _agent = RepresentativeAgent.Create(Turns);
        _buffer = new ArrayBufferWriter<byte>(16 * 1024);
        _writer = new Utf8JsonWriter(_buffer, StateJson.WriterOptions);

        Serialize_Stj();
        _stjPayload = _buffer.WrittenSpan.ToArray();
        Serialize_StateGen();
        _stateGenPayload = _buffer.WrittenSpan.ToArray();

        // Like for like: every reader reads every writer's bytes back to the same values (compared through STJ's JSON).
        string expected = JsonSerializer.Serialize(_agent, RepresentativeJsonContext.Default.RepresentativeAgent);
        foreach (byte[] payload in new[] { _stjPayload, _stateGenPayload })
        {
            foreach (RepresentativeAgent read in new[] { ReadStj(payload), ReadStateGen(payload), JsonSerializer.Deserialize<RepresentativeAgent>(payload, Reflection)! })
            {
                string actual = JsonSerializer.Serialize(read, RepresentativeJsonContext.Default.RepresentativeAgent);
                if (actual != expected)
                {
                    throw new InvalidOperationException("A reader did not read a writer's output back to the same values.\nexpected: " + expected + "\nactual:   " + actual);
                }
            }
        }

        // The strings a save scans: every string member, list element and dictionary value (not dictionary keys).
        var strings = new List<string> { _agent.Id, _agent.Name, _agent.Topic, _agent.Goal, _agent.Model };
        strings.AddRange(_agent.Tags);
        foreach (Turn turn in _agent.History)
        {
            strings.Add(turn.Text);
        }

        strings.AddRange(_agent.Notes.Values);
        strings.AddRange(_agent.Plan.Steps);
        _strings = strings.ToArray();
        Serialize_StateGenScanOff();
        if (Scan_Alone() != 0 || !_buffer.WrittenSpan.SequenceEqual(_stateGenPayload))
        {
            throw new InvalidOperationException("The document must hold no secret: scanning on and off must write the same bytes.");
        }

        Console.WriteLine($"// Payload: STJ {_stjPayload.Length} B, StateGen {_stateGenPayload.Length} B ({Turns} turns).");
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    [BenchmarkCategory("Serialize")]
    public int Serialize_Stj()
    {
        Reset();
        JsonSerializer.Serialize(_writer, _agent, RepresentativeJsonContext.Default.RepresentativeAgent);
        _writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "STJ reflection")]
    [BenchmarkCategory("Serialize")]
    public int Serialize_StjReflection()
    {
        Reset();
        JsonSerializer.Serialize(_writer, _agent, Reflection);
        _writer.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>The generated writer as a save runs it: inside the scan scope a save opens (default policy, paths not followed).</summary>
    [Benchmark(Description = "StateGen (scan on)")]
    [BenchmarkCategory("Serialize")]
    public int Serialize_StateGen()
    {
        Reset();
        using (SecretScanScope scan = SecretScan.BeginUntracked(SecretScanPolicy.RedactAndWarn))
        {
            ((IPersistentState<RepresentativeAgent>)_agent).WriteState(_writer);
            if (scan.Count != 0)
            {
                throw new InvalidOperationException("The benchmark document holds no secret.");
            }
        }

        _writer.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>The generated writer alone: the same call inside the scope a save opens when its policy is Off.</summary>
    [Benchmark(Description = "StateGen (scan off)")]
    [BenchmarkCategory("Serialize")]
    public int Serialize_StateGenScanOff()
    {
        Reset();
        using (SecretScan.BeginUntracked(SecretScanPolicy.Off))
        {
            ((IPersistentState<RepresentativeAgent>)_agent).WriteState(_writer);
        }

        _writer.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>The secret scanner alone over the strings a save scans (the "scan alone ≤ 0.3× a serialize").</summary>
    [Benchmark(Description = "Secret scan alone")]
    [BenchmarkCategory("Serialize")]
    public int Scan_Alone() => SecretScanBenchmarks.CountSecrets(_strings);

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    [BenchmarkCategory("Deserialize")]
    public RepresentativeAgent Deserialize_Stj() => ReadStj(_stjPayload);

    [Benchmark(Description = "STJ reflection")]
    [BenchmarkCategory("Deserialize")]
    public RepresentativeAgent Deserialize_StjReflection() => JsonSerializer.Deserialize<RepresentativeAgent>(_stjPayload, Reflection)!;

    [Benchmark(Description = "StateGen")]
    [BenchmarkCategory("Deserialize")]
    public RepresentativeAgent Deserialize_StateGen() => ReadStateGen(_stateGenPayload);

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    [BenchmarkCategory("RoundTrip")]
    public RepresentativeAgent RoundTrip_Stj()
    {
        Serialize_Stj();
        return ReadStj(_buffer.WrittenSpan);
    }

    [Benchmark(Description = "StateGen (scan on)")]
    [BenchmarkCategory("RoundTrip")]
    public RepresentativeAgent RoundTrip_StateGen()
    {
        Serialize_StateGen();
        return ReadStateGen(_buffer.WrittenSpan);
    }

    private static RepresentativeAgent ReadStj(ReadOnlySpan<byte> payload)
        => JsonSerializer.Deserialize(payload, RepresentativeJsonContext.Default.RepresentativeAgent)!;

    private static RepresentativeAgent ReadStateGen(ReadOnlySpan<byte> payload)
    {
        var agent = new RepresentativeAgent();
        var reader = new Utf8JsonReader(payload, StateJson.ReaderOptions);
        reader.Read();
        ((IPersistentState<RepresentativeAgent>)agent).ReadState(ref reader);
        return agent;
    }

    private void Reset()
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
    }
}

/// <summary>What an agent's state looks like in practice: about 20 members of the common kinds.</summary>
[PersistentState("representative-agent")]
public partial class RepresentativeAgent
{
    public string Id { get; set; } = "";

    public string Name { get; set; } = "";

    public string Topic { get; set; } = "";

    public string Goal { get; set; } = "";

    public AgentStatus Status { get; set; }

    public string Model { get; set; } = "";

    public double Temperature { get; set; }

    public int MaxTokens { get; set; }

    public long TokensUsed { get; set; }

    public decimal BudgetUsd { get; set; }

    public bool Enabled { get; set; }

    public Guid SessionId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTime? LastRunUtc { get; set; }

    public List<string> Tags { get; set; } = new();

    public List<Turn> History { get; set; } = new();

    public Dictionary<string, string> Notes { get; set; } = new();

    public Dictionary<string, double> Scores { get; set; } = new();

    public AgentPlan Plan { get; set; } = new();

    [Sensitive]
    [JsonIgnore]
    public string ApiKey { get; set; } = "";

    [Sensitive]
    [JsonIgnore]
    public string AccessToken { get; set; } = "";

    public static RepresentativeAgent Create(int turns)
    {
        var start = new DateTimeOffset(2026, 11, 26, 9, 30, 0, TimeSpan.Zero);
        var agent = new RepresentativeAgent
        {
            Id = "researcher-7",
            Name = "Literature researcher",
            Topic = "Durable state for long-running .NET agents",
            Goal = "Summarise how each framework persists agent state and where it loses data",
            Status = AgentStatus.Running,
            Model = "gpt-4.1-mini",
            Temperature = 0.35,
            MaxTokens = 4096,
            TokensUsed = 1_284_733,
            BudgetUsd = 12.75m,
            Enabled = true,
            SessionId = new Guid("6f1c2e4a-9b3d-4c8e-a1f2-0d9e8c7b6a51"),
            CreatedAt = start.AddDays(-3),
            LastRunUtc = new DateTime(2026, 11, 26, 9, 15, 30, DateTimeKind.Utc).AddTicks(1234567),
            ApiKey = "sk-live-0123456789abcdef0123456789abcdef",
            AccessToken = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            Plan = new AgentPlan { Steps = { "collect sources", "read and annotate", "compare designs", "write the summary" }, Current = 2 },
        };
        agent.Tags.AddRange(["research", "persistence", "dotnet", "agents"]);
        for (int i = 0; i < turns; i++)
        {
            agent.History.Add(BenchAgent.SampleTurn(i, start));
        }

        agent.Notes["summary"] = "Storage is LiteDB, one file per process, direct mode.";
        agent.Notes["next"] = "Benchmark save and load against raw LiteDB.";
        agent.Notes["owner"] = "team-agents";
        agent.Scores["relevance"] = 0.92;
        agent.Scores["coverage"] = 0.61;
        agent.Scores["confidence"] = 0.78;
        return agent;
    }
}

/// <summary>Where an agent is in its work.</summary>
public enum AgentStatus
{
    Idle,
    Running,
    Waiting,
    Done,
}

/// <summary>A nested plain type: the agent's plan.</summary>
public sealed class AgentPlan
{
    public List<string> Steps { get; set; } = new();

    public int Current { get; set; }
}

/// <summary>The System.Text.Json source-generated baseline for <see cref="RepresentativeAgent"/> (enums as names, like StateGen).</summary>
[JsonSourceGenerationOptions(UseStringEnumConverter = true)]
[JsonSerializable(typeof(RepresentativeAgent))]
public partial class RepresentativeJsonContext : JsonSerializerContext
{
}
