using System;
using System.Collections.Generic;
using StateGen;

namespace QuickStart;

/// <summary>The state of a research agent: what it works on, what was said, and a key it must never store.</summary>
[PersistentState("research-agent")]
[SchemaVersion(1)]
public partial class ResearchAgent
{
    /// <summary>The agent's id; its state is stored under <c>research-agent/{Id}</c>.</summary>
    public string Id { get; set; } = "";

    /// <summary>What the agent researches.</summary>
    public string Topic { get; set; } = "";

    /// <summary>The provider key. [Sensitive]: never written to the database.</summary>
    [Sensitive]
    public string ApiKey { get; set; } = "";

    /// <summary>How many times the agent has run.</summary>
    public int Runs { get; set; }

    /// <summary>When the agent last ran (UTC).</summary>
    public DateTime? LastRunUtc { get; set; }

    /// <summary>The conversation so far.</summary>
    public List<Turn> History { get; set; } = new();

    /// <summary>Free-form notes by name.</summary>
    public Dictionary<string, string> Notes { get; set; } = new();
}

/// <summary>Who spoke a turn.</summary>
public enum Role
{
    /// <summary>The user.</summary>
    User,
    /// <summary>The agent.</summary>
    Assistant,
}

/// <summary>One chat turn.</summary>
public sealed class Turn
{
    /// <summary>Who spoke.</summary>
    public Role Role { get; set; }

    /// <summary>What was said.</summary>
    public string Text { get; set; } = "";

    /// <summary>When it was said.</summary>
    public DateTimeOffset At { get; set; }
}
