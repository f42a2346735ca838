using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace StateGen;

/// <summary>
/// The ambient correlation id of state changes. Every change a <see cref="StateManager"/> makes records the current id in
/// its change event, change-log record and hook history, so one agent step's changes can be found, replayed and
/// traced together without passing an id by hand. The id flows across <c>await</c> (an <see cref="AsyncLocal{T}"/>).
/// </summary>
/// <example>
/// <code>
/// using (StateCorrelation.Begin("step-42"))
/// {
///     await agent.SaveStateAsync(manager);
///     await manager.SetJsonAsync(scope, "notes", notes);   // same correlation id
/// }
/// </code>
/// </example>
public static class StateCorrelation
{
    /// <summary>The tag set on <see cref="Activity.Current"/> when a correlation scope begins.</summary>
    public const string ActivityTagName = "stategen.correlation_id";

    private static readonly AsyncLocal<Frame?> s_current = new();

    /// <summary>
    /// The current correlation id: the innermost <see cref="Begin(string?, IReadOnlyDictionary{string, string}?)"/>
    /// scope's, else the trace id of <see cref="Activity.Current"/>, else <see langword="null"/> (each change then gets
    /// an id of its own).
    /// </summary>
    public static string? CurrentId
    {
        get
        {
            if (s_current.Value is { } frame)
            {
                return frame.Id;
            }

            Activity? activity = Activity.Current;
            return activity is null ? null : activity.IdFormat == ActivityIdFormat.W3C ? activity.TraceId.ToHexString() : activity.RootId;
        }
    }

    /// <summary>Metadata attached to the current scope (passed to hooks), empty when none.</summary>
    public static IReadOnlyDictionary<string, string> CurrentMetadata => s_current.Value?.Metadata ?? Empty;

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>(0);

    /// <summary>
    /// Starts a correlation scope: until the returned value is disposed, changes made in this async flow carry
    /// <paramref name="correlationId"/> (a new id when <see langword="null"/>). When an <see cref="Activity"/> is current,
    /// the id is also set as its <see cref="ActivityTagName"/> tag.
    /// </summary>
    /// <param name="correlationId">The id; 1–128 printable characters. A new GUID-based id when <see langword="null"/>.</param>
    /// <param name="metadata">Optional metadata handed to hooks with every change in the scope.</param>
    /// <exception cref="ArgumentException">The id is empty, too long or contains control characters.</exception>
    public static Scope Begin(string? correlationId = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        string id = correlationId ?? NewId();
        Validate(id);
        Frame? previous = s_current.Value;
        s_current.Value = new Frame(id, metadata ?? previous?.Metadata);
        Activity.Current?.SetTag(ActivityTagName, id);
        return new Scope(previous);
    }

    /// <summary>A new correlation id (32 lowercase hex characters).</summary>
    public static string NewId() => Guid.NewGuid().ToString("N");

    internal static string CurrentOrNew() => CurrentId ?? NewId();

    internal static void Validate(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length is 0 or > 128)
        {
            throw new ArgumentException("A correlation id must be 1 to 128 characters long.", nameof(id));
        }

        foreach (char c in id)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException("A correlation id may not contain control characters.", nameof(id));
            }
        }
    }

    /// <summary>Ends a correlation scope when disposed, restoring the enclosing one.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly Frame? _previous;

        internal Scope(Frame? previous) => _previous = previous;

        /// <summary>Restores the enclosing scope.</summary>
        public void Dispose() => s_current.Value = _previous;
    }

    internal sealed record Frame(string Id, IReadOnlyDictionary<string, string>? Metadata);
}
