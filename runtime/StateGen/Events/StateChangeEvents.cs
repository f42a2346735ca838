using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading;
using System.Threading.Channels;
using StateGen.Storage;

namespace StateGen.Events;

/// <summary>
/// One committed change. Values are in their stored form, which is the redacted view: members marked
/// <see cref="SensitiveAttribute"/> are absent, a marker or a ciphertext, never the value.
/// </summary>
public sealed class StateChangeEvent
{
    // Parsed views, made on first use: kept out of the event itself so that publishing allocates as little as it
    // can, and held by reference so that subscribers reading one event on several threads never see a torn value.
    private Views? _views;

    internal StateChangeEvent(StateChangeKind kind, string scope, string key, string typeName, int schemaVersion, long version, long previousVersion, long changeSequence, DateTimeOffset timestamp, string correlationId, string origin, ReadOnlyMemory<byte> newDocument, ReadOnlyMemory<byte>? oldDocument)
    {
        Kind = kind;
        Scope = scope;
        Key = key;
        TypeName = typeName;
        SchemaVersion = schemaVersion;
        Version = version;
        PreviousVersion = previousVersion;
        ChangeSequence = changeSequence;
        Timestamp = timestamp;
        CorrelationId = correlationId;
        Origin = origin;
        NewDocument = newDocument;
        OldDocument = oldDocument ?? default;
        HasOldDocument = oldDocument.HasValue;
    }

    /// <summary>Write or delete.</summary>
    public StateChangeKind Kind { get; }

    /// <summary>The scope path.</summary>
    public string Scope { get; }

    /// <summary>The key.</summary>
    public string Key { get; }

    /// <summary>The stable type name written (or deleted).</summary>
    public string TypeName { get; }

    /// <summary>The schema version written (or deleted).</summary>
    public int SchemaVersion { get; }

    /// <summary>The version written; for a delete, the version deleted.</summary>
    public long Version { get; }

    /// <summary>The version replaced, 0 when nothing was stored.</summary>
    public long PreviousVersion { get; }

    /// <summary>The change-log sequence, 0 when the store keeps no change log.</summary>
    public long ChangeSequence { get; }

    /// <summary>When it was committed (UTC).</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>The correlation id (see <see cref="StateCorrelation"/>).</summary>
    public string CorrelationId { get; }

    /// <summary>What caused the change (<c>set</c>, <c>save</c>, <c>delete</c>, <c>upgrade</c>, <c>replay</c>, <c>fork</c>, <c>batch</c>).</summary>
    public string Origin { get; }

    /// <summary>The document written; empty for a delete.</summary>
    public ReadOnlyMemory<byte> NewDocument { get; }

    /// <summary>The document replaced (when <see cref="HasOldDocument"/>); empty when nothing was stored.</summary>
    public ReadOnlyMemory<byte> OldDocument { get; }

    /// <summary>Whether the replaced document is known (it is whenever the change replaced a value).</summary>
    public bool HasOldDocument { get; }

    /// <summary>The new value as JSON (parsed on first use); <see langword="null"/> for a delete.</summary>
    public JsonElement? NewValue => NewDocument.IsEmpty ? null : (ViewsOf().New ??= Parse(NewDocument)).Value;

    /// <summary>The old value as JSON (parsed on first use); <see langword="null"/> when none.</summary>
    public JsonElement? OldValue => OldDocument.IsEmpty ? null : (ViewsOf().Old ??= Parse(OldDocument)).Value;

    /// <summary>
    /// The top-level members whose value differs between the old and new documents (added, removed or changed), in
    /// ordinal order; every member of the new (or old) value when the other side is absent or not an object.
    /// </summary>
    public IReadOnlyList<string> ChangedMembers => ViewsOf().ChangedMembers ??= JsonDiff.ChangedMembers(OldDocument, NewDocument);

    private Views ViewsOf() => _views ?? Interlocked.CompareExchange(ref _views, new Views(), null) ?? _views;

    private static StrongBox<JsonElement> Parse(ReadOnlyMemory<byte> document)
    {
        using JsonDocument parsed = JsonDocument.Parse(document);
        return new StrongBox<JsonElement>(parsed.RootElement.Clone());
    }

    /// <summary>The parsed values; each is published whole (a reference), so a race only parses twice.</summary>
    private sealed class Views
    {
        public StrongBox<JsonElement>? New;
        public StrongBox<JsonElement>? Old;
        public IReadOnlyList<string>? ChangedMembers;
    }
}

/// <summary>Which change events a subscriber receives.</summary>
public sealed record StateEventFilter
{
    /// <summary>Only scopes matching this glob (<c>*</c>, <c>?</c>; for example <c>agent/*</c>).</summary>
    public string? ScopePattern { get; init; }

    /// <summary>Only keys matching this glob.</summary>
    public string? KeyPattern { get; init; }

    /// <summary>Only this correlation id.</summary>
    public string? CorrelationId { get; init; }
}

/// <summary>What a subscription does when its buffer is full.</summary>
public enum StateEventOverflow
{
    /// <summary>The oldest buffered event is dropped to make room (the default): a subscriber always sees the latest changes.</summary>
    DropOldest = 0,

    /// <summary>The new event is dropped: a subscriber sees an unbroken prefix.</summary>
    DropNewest = 1,
}

/// <summary>
/// A subscriber's bounded buffer of change events. Writers never wait for it: when it is full, events are dropped
/// according to <see cref="StateEventOverflow"/> and counted in <see cref="DroppedCount"/>. Dispose to unsubscribe.
/// </summary>
public sealed class StateEventSubscription : IDisposable
{
    private readonly StateChangeEvents _owner;
    private readonly Channel<StateChangeEvent> _channel;
    private readonly Internal.GlobPattern? _scope;
    private readonly Internal.GlobPattern? _key;
    private readonly string? _correlationId;
    private long _dropped;

    internal StateEventSubscription(StateChangeEvents owner, StateEventFilter filter, int capacity, StateEventOverflow overflow)
    {
        _owner = owner;
        _scope = filter.ScopePattern is null ? null : new Internal.GlobPattern(filter.ScopePattern);
        _key = filter.KeyPattern is null ? null : new Internal.GlobPattern(filter.KeyPattern);
        _correlationId = filter.CorrelationId;
        _channel = Channel.CreateBounded<StateChangeEvent>(
            new BoundedChannelOptions(capacity)
            {
                FullMode = overflow == StateEventOverflow.DropNewest ? BoundedChannelFullMode.DropWrite : BoundedChannelFullMode.DropOldest,
                SingleReader = false,
                SingleWriter = false,
                AllowSynchronousContinuations = false,
            },
            _ => Interlocked.Increment(ref _dropped));
    }

    /// <summary>The events, in commit order per key. Completes when the subscription or the manager is disposed.</summary>
    public ChannelReader<StateChangeEvent> Reader => _channel.Reader;

    /// <summary>How many events were dropped because the buffer was full.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    /// <summary>Reads events as they come.</summary>
    public IAsyncEnumerable<StateChangeEvent> ReadAllAsync(CancellationToken cancellationToken = default) => _channel.Reader.ReadAllAsync(cancellationToken);

    /// <summary>Unsubscribes; buffered events can still be read.</summary>
    public void Dispose()
    {
        _owner.Remove(this);
        _channel.Writer.TryComplete();
    }

    internal bool Matches(StateChangeEvent e)
        => (_scope is null || _scope.IsMatch(e.Scope)) && (_key is null || _key.IsMatch(e.Key)) && (_correlationId is null || _correlationId == e.CorrelationId);

    internal void Publish(StateChangeEvent e)
    {
        // A full buffer drops an event through the callback (counted there); false only after completion.
        _channel.Writer.TryWrite(e);
    }

    internal void Complete() => _channel.Writer.TryComplete();
}

/// <summary>The change events of a <see cref="StateManager"/>: subscribe to receive every committed change that matches a filter.</summary>
public sealed class StateChangeEvents
{
    private static readonly StateEventSubscription[] None = [];
    private readonly object _gate = new();
    private StateEventSubscription[] _subscriptions = None;

    internal StateChangeEvents()
    {
    }

    /// <summary>Whether anyone is subscribed.</summary>
    public bool HasSubscribers => Volatile.Read(ref _subscriptions).Length != 0;

    /// <summary>Subscribes to change events.</summary>
    /// <param name="filter">Which events; all when <see langword="null"/>.</param>
    /// <param name="capacity">How many events the subscription buffers (1 or more). 1,024 by default.</param>
    /// <param name="overflow">What happens when the buffer is full.</param>
    public StateEventSubscription Subscribe(StateEventFilter? filter = null, int capacity = 1024, StateEventOverflow overflow = StateEventOverflow.DropOldest)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var subscription = new StateEventSubscription(this, filter ?? new StateEventFilter(), capacity, overflow);
        lock (_gate)
        {
            var copy = new StateEventSubscription[_subscriptions.Length + 1];
            _subscriptions.CopyTo(copy, 0);
            copy[^1] = subscription;
            Volatile.Write(ref _subscriptions, copy);
        }

        return subscription;
    }

    internal void Remove(StateEventSubscription subscription)
    {
        lock (_gate)
        {
            int index = Array.IndexOf(_subscriptions, subscription);
            if (index < 0)
            {
                return;
            }

            var copy = new List<StateEventSubscription>(_subscriptions);
            copy.RemoveAt(index);
            Volatile.Write(ref _subscriptions, copy.Count == 0 ? None : copy.ToArray());
        }
    }

    internal void Publish(StateChangeEvent e)
    {
        foreach (StateEventSubscription subscription in Volatile.Read(ref _subscriptions))
        {
            if (subscription.Matches(e))
            {
                subscription.Publish(e);
            }
        }
    }

    internal void CompleteAll()
    {
        StateEventSubscription[] all;
        lock (_gate)
        {
            all = _subscriptions;
            _subscriptions = None;
        }

        foreach (StateEventSubscription subscription in all)
        {
            subscription.Complete();
        }
    }
}

/// <summary>Top-level member differences between two JSON documents.</summary>
internal static class JsonDiff
{
    public static IReadOnlyList<string> ChangedMembers(ReadOnlyMemory<byte> oldDocument, ReadOnlyMemory<byte> newDocument)
    {
        Dictionary<string, string> oldMembers = Members(oldDocument);
        Dictionary<string, string> newMembers = Members(newDocument);
        var changed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (name, raw) in newMembers)
        {
            if (!oldMembers.TryGetValue(name, out string? before) || before != raw)
            {
                changed.Add(name);
            }
        }

        foreach (string name in oldMembers.Keys)
        {
            if (!newMembers.ContainsKey(name))
            {
                changed.Add(name);
            }
        }

        return [.. changed];
    }

    private static Dictionary<string, string> Members(ReadOnlyMemory<byte> document)
    {
        var members = new Dictionary<string, string>(StringComparer.Ordinal);
        if (document.IsEmpty)
        {
            return members;
        }

        using JsonDocument parsed = JsonDocument.Parse(document);
        if (parsed.RootElement.ValueKind != JsonValueKind.Object)
        {
            members["$"] = parsed.RootElement.GetRawText();
            return members;
        }

        foreach (JsonProperty property in parsed.RootElement.EnumerateObject())
        {
            members[property.Name] = property.Value.GetRawText();
        }

        return members;
    }
}
