using System;

namespace StateGen;

/// <summary>The kind of a <see cref="StateScope"/>.</summary>
public enum StateScopeKind
{
    /// <summary>State shared by the whole application.</summary>
    Global = 0,
    /// <summary>State of one agent.</summary>
    Agent,
    /// <summary>State of one workflow run.</summary>
    Workflow,
    /// <summary>State of one step of a workflow run.</summary>
    Step,
    /// <summary>State of one user or conversation session.</summary>
    Session,
    /// <summary>A named scope of the application's own.</summary>
    Custom,
}

/// <summary>
/// Where a piece of state lives. The same key in two scopes names two different values: scopes never collide,
/// because scope ids may not contain <c>/</c> and every scope has a distinct canonical <see cref="Path"/>.
/// </summary>
public readonly struct StateScope : IEquatable<StateScope>
{
    private readonly string? _path;

    private StateScope(StateScopeKind kind, string path, string? id, string? stepName)
    {
        Kind = kind;
        _path = path;
        Id = id;
        StepName = stepName;
    }

    /// <summary>The application-wide scope. <c>default(StateScope)</c> is the same scope.</summary>
    public static StateScope Global => new(StateScopeKind.Global, "global", null, null);

    /// <summary>The kind of this scope.</summary>
    public StateScopeKind Kind { get; }

    /// <summary>The agent, workflow, session or custom name; for <see cref="StateScopeKind.Step"/>, the workflow id.</summary>
    public string? Id { get; }

    /// <summary>For <see cref="StateScopeKind.Step"/>, the step name; otherwise <see langword="null"/>.</summary>
    public string? StepName { get; }

    /// <summary>The canonical path of the scope as stored, e.g. <c>agent/researcher-1</c>.</summary>
    public string Path => _path ?? "global";

    /// <summary>The scope of one agent.</summary>
    /// <exception cref="InvalidStateKeyException">The id is null, empty, too long or contains a forbidden character.</exception>
    public static StateScope Agent(string agentId) => Single(StateScopeKind.Agent, "agent", agentId, nameof(agentId));

    /// <summary>The scope of one workflow run.</summary>
    /// <exception cref="InvalidStateKeyException">The id is invalid.</exception>
    public static StateScope Workflow(string workflowId) => Single(StateScopeKind.Workflow, "workflow", workflowId, nameof(workflowId));

    /// <summary>The scope of one step of a workflow run.</summary>
    /// <exception cref="InvalidStateKeyException">The workflow id or step name is invalid.</exception>
    public static StateScope Step(string workflowId, string stepName)
    {
        string wf = StateKeys.NormalizeScopeId(workflowId, nameof(workflowId));
        string step = StateKeys.NormalizeScopeId(stepName, nameof(stepName));
        return new StateScope(StateScopeKind.Step, "step/" + wf + "/" + step, wf, step);
    }

    /// <summary>The scope of one session.</summary>
    /// <exception cref="InvalidStateKeyException">The id is invalid.</exception>
    public static StateScope Session(string sessionId) => Single(StateScopeKind.Session, "session", sessionId, nameof(sessionId));

    /// <summary>A named scope of the application's own.</summary>
    /// <exception cref="InvalidStateKeyException">The name is invalid.</exception>
    public static StateScope Custom(string name) => Single(StateScopeKind.Custom, "custom", name, nameof(name));

    private static StateScope Single(StateScopeKind kind, string prefix, string id, string paramName)
    {
        string normalized = StateKeys.NormalizeScopeId(id, paramName);
        return new StateScope(kind, prefix + "/" + normalized, normalized, null);
    }

    /// <inheritdoc />
    public bool Equals(StateScope other) => string.Equals(Path, other.Path, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is StateScope other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Path);

    /// <summary>The canonical path.</summary>
    public override string ToString() => Path;

    /// <summary>Compares two scopes by path.</summary>
    public static bool operator ==(StateScope left, StateScope right) => left.Equals(right);

    /// <summary>Compares two scopes by path.</summary>
    public static bool operator !=(StateScope left, StateScope right) => !left.Equals(right);
}
