using System;
using System.Collections.Generic;
using StateGen;

namespace AotSample;

/// <summary>An agent's state, persisted by generated, reflection-free code.</summary>
[PersistentState("aot-agent")]
[SchemaVersion(1)]
public partial class AotAgent
{
    /// <summary>The agent's id; its state is stored under <c>aot-agent/{Id}</c>.</summary>
    public string Id { get; set; } = "";

    /// <summary>The provider key. [Sensitive]: never written to the database.</summary>
    [Sensitive]
    public string ApiKey { get; set; } = "";

    /// <summary>What the agent is doing.</summary>
    public AgentMode Mode { get; set; }

    /// <summary>When the agent started (with its offset).</summary>
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>How many steps the agent has taken.</summary>
    public int Steps { get; set; }

    /// <summary>The conversation so far.</summary>
    public List<ChatTurn> Turns { get; set; } = new();

    /// <summary>Free-form settings by name.</summary>
    public Dictionary<string, string> Settings { get; set; } = new();
}

/// <summary>What an agent is doing.</summary>
public enum AgentMode
{
    /// <summary>Waiting for work.</summary>
    Idle,
    /// <summary>Planning the next steps.</summary>
    Planning,
    /// <summary>Running tools.</summary>
    Acting,
}

/// <summary>Who spoke a turn.</summary>
public enum Speaker
{
    /// <summary>The user.</summary>
    User,
    /// <summary>The agent.</summary>
    Assistant,
    /// <summary>A tool's output.</summary>
    Tool,
}

/// <summary>One chat turn.</summary>
public sealed class ChatTurn
{
    /// <summary>Who spoke.</summary>
    public Speaker Speaker { get; set; }

    /// <summary>What was said.</summary>
    public string Text { get; set; } = "";

    /// <summary>When it was said.</summary>
    public DateTimeOffset At { get; set; }
}
