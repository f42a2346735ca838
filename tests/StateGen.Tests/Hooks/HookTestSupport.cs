using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using StateGen.Events;
using StateGen.Hooks;

namespace StateGen.Tests.Hooks;

/// <summary>Helpers shared by the hook, event and correlation tests.</summary>
internal static class HookTestSupport
{
    /// <summary>The stored key of a <see cref="TestTypes.HookAgent"/> with id <paramref name="id"/>.</summary>
    public static string AgentKey(string id) => "hook-agent/" + id;

    /// <summary>A hook result that replaces the proposed document with <paramref name="change"/> applied to it.</summary>
    public static StateHookResult ModifyObject(StateHookContext context, Action<JsonObject> change)
    {
        JsonObject node = JsonNode.Parse(context.NewDocument.Span)!.AsObject();
        change(node);
        return StateHookResult.Modify(JsonSerializer.SerializeToElement(node));
    }

    /// <summary>A parsed copy of a document, for assertions.</summary>
    public static JsonObject Parse(ReadOnlyMemory<byte> document) => JsonNode.Parse(document.Span)!.AsObject();

    public static string Text(ReadOnlyMemory<byte> document) => Encoding.UTF8.GetString(document.Span);

    /// <summary>Every event buffered in a subscription right now (reads them out).</summary>
    public static List<StateChangeEvent> Drain(this StateEventSubscription subscription)
    {
        var events = new List<StateChangeEvent>();
        while (subscription.Reader.TryRead(out StateChangeEvent? e))
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>Options of a hook that never finishes in time: a short timeout.</summary>
    public static StateHookOptions ShortTimeout(HookFailurePolicy policy) => new() { Timeout = TimeSpan.FromMilliseconds(50), FailurePolicy = policy };
}

/// <summary>An <see cref="ILogger{T}"/> that keeps every line at every level: its message, its values and its exception.</summary>
internal sealed class CapturingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<CapturedLog> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
    {
        Entries.Enqueue(new CapturedLog(LogLevel.None, default, "scope", state.ToString() ?? string.Empty, null));
        return null;
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string values = state is IEnumerable<KeyValuePair<string, object?>> pairs
            ? string.Join("; ", pairs.Select(p => p.Key + "=" + p.Value))
            : state?.ToString() ?? string.Empty;
        Entries.Enqueue(new CapturedLog(logLevel, eventId, formatter(state, exception), values, exception?.ToString()));
    }

    /// <summary>Everything logged, as one text.</summary>
    public string AllText() => string.Join("\n", Entries.Select(e => $"{e.Level} {e.EventId} {e.Message} | {e.Values} | {e.Exception}"));
}

internal sealed record CapturedLog(LogLevel Level, EventId EventId, string Message, string Values, string? Exception);
