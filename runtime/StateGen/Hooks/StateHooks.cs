using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Hooks;

/// <summary>Where in an operation a hook runs.</summary>
public enum StateHookPoint
{
    /// <summary>Before a value is written: the hook may continue, modify the value or cancel the write.</summary>
    BeforeChange = 0,

    /// <summary>After a value was written (committed).</summary>
    AfterChange = 1,

    /// <summary>Before a value is deleted: the hook may continue or cancel the delete.</summary>
    BeforeDelete = 2,

    /// <summary>After a value was deleted.</summary>
    AfterDelete = 3,

    /// <summary>Before a stored document is upgraded to the current schema version and written back.</summary>
    BeforeMigration = 4,

    /// <summary>After an upgraded document was written back.</summary>
    AfterMigration = 5,

    /// <summary>Before a backup is made (<see cref="Backups.BackupManager.CreateAsync"/>): the hook may cancel it.</summary>
    BeforeBackup = 6,

    /// <summary>After a backup was made and is complete on the disk.</summary>
    AfterBackup = 7,

    /// <summary>Before a store is restored from a backup (also point-in-time): the hook may cancel the restore.</summary>
    BeforeRestore = 8,

    /// <summary>After a store was restored.</summary>
    AfterRestore = 9,
}

/// <summary>What happens to the operation when a hook throws or times out.</summary>
public enum HookFailurePolicy
{
    /// <summary>The operation fails with <see cref="StateHookException"/>; before hooks leave nothing written.</summary>
    FailOperation = 0,

    /// <summary>The failure is logged and recorded in the hook history; the operation goes on as if the hook continued.</summary>
    LogAndContinue = 1,
}

/// <summary>How a hook is run.</summary>
public sealed record StateHookOptions
{
    /// <summary>Higher priorities run first; hooks of equal priority run in registration order. 0 by default.</summary>
    public int Priority { get; init; }

    /// <summary>How long the operation waits for the hook; <see cref="StateManagerOptions.HookTimeout"/> when <see langword="null"/>.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>What a failure or timeout does to the operation. <see cref="HookFailurePolicy.FailOperation"/> by default.</summary>
    public HookFailurePolicy FailurePolicy { get; init; }

    /// <summary>Only operations in matching scopes (glob: <c>*</c> any characters, <c>?</c> one; for example <c>agent/*</c>).</summary>
    public string? ScopePattern { get; init; }

    /// <summary>Only operations on matching keys (glob).</summary>
    public string? KeyPattern { get; init; }
}

/// <summary>A hook: receives the operation's context and says what to do with it.</summary>
/// <param name="context">The operation.</param>
/// <param name="cancellationToken">The operation's token.</param>
public delegate ValueTask<StateHookResult> StateHookHandler(StateHookContext context, CancellationToken cancellationToken);

/// <summary>What a hook decided.</summary>
public enum StateHookDecision
{
    /// <summary>Go on with the operation as it is.</summary>
    Continue = 0,

    /// <summary>Go on with the hook's value instead (before-change hooks only).</summary>
    Modify = 1,

    /// <summary>Do not perform the operation; the caller gets a canceled result.</summary>
    Cancel = 2,
}

/// <summary>A hook's decision. Use <see cref="Continue"/>, <see cref="Modify(JsonElement)"/> or <see cref="Cancel"/>.</summary>
public readonly struct StateHookResult
{
    private StateHookResult(StateHookDecision decision, ReadOnlyMemory<byte> value, string? reason)
    {
        Decision = decision;
        Value = value;
        Reason = reason;
    }

    /// <summary>Go on with the operation.</summary>
    public static StateHookResult Continue => default;

    /// <summary>The decision.</summary>
    public StateHookDecision Decision { get; }

    /// <summary>The substituted document (UTF-8 JSON) of a <see cref="StateHookDecision.Modify"/>.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>Why the hook canceled, as it said (recorded in hook history; keep secrets out of it).</summary>
    public string? Reason { get; }

    /// <summary>Go on with <paramref name="value"/> instead of the proposed value. It must be of the value's type.</summary>
    public static StateHookResult Modify(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            throw new ArgumentException("The JSON value is undefined (default JsonElement).", nameof(value));
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            value.WriteTo(writer);
        }

        return new StateHookResult(StateHookDecision.Modify, buffer.WrittenMemory, null);
    }

    /// <summary>Go on with the UTF-8 JSON document <paramref name="utf8Json"/> instead of the proposed value.</summary>
    public static StateHookResult Modify(ReadOnlyMemory<byte> utf8Json) => new(StateHookDecision.Modify, utf8Json, null);

    /// <summary>Do not perform the operation.</summary>
    /// <param name="reason">Why, for the caller and the hook history.</param>
    public static StateHookResult Cancel(string reason) => new(StateHookDecision.Cancel, default, reason ?? string.Empty);
}

/// <summary>
/// What a hook sees of an operation. Values are in their stored form, which is the redacted view: members marked
/// <see cref="SensitiveAttribute"/> are absent, a marker or a ciphertext, never the value.
/// </summary>
public sealed class StateHookContext
{
    private JsonElement? _oldValue;
    private JsonElement? _newValue;

    internal StateHookContext(StateHookPoint point, string scope, string key, string? typeName, int schemaVersion, long currentVersion, ReadOnlyMemory<byte> oldDocument, ReadOnlyMemory<byte> newDocument, string correlationId, string origin, IReadOnlyDictionary<string, string> metadata)
    {
        Point = point;
        Scope = scope;
        Key = key;
        TypeName = typeName;
        SchemaVersion = schemaVersion;
        CurrentVersion = currentVersion;
        OldDocument = oldDocument;
        NewDocument = newDocument;
        CorrelationId = correlationId;
        Origin = origin;
        Metadata = metadata;
    }

    /// <summary>The hook point.</summary>
    public StateHookPoint Point { get; internal set; }

    /// <summary>The scope path.</summary>
    public string Scope { get; }

    /// <summary>The key.</summary>
    public string Key { get; }

    /// <summary>The stable type name of the value, when known.</summary>
    public string? TypeName { get; }

    /// <summary>The schema version of the new value (of the old one for a delete).</summary>
    public int SchemaVersion { get; }

    /// <summary>The stored version before the operation; 0 when nothing was stored. After the operation: the new version.</summary>
    public long CurrentVersion { get; internal set; }

    /// <summary>The stored document before the operation, empty when none.</summary>
    public ReadOnlyMemory<byte> OldDocument { get; }

    /// <summary>The proposed document (after earlier hooks' modifications), empty for a delete.</summary>
    public ReadOnlyMemory<byte> NewDocument { get; internal set; }

    /// <summary>The correlation id of the operation.</summary>
    public string CorrelationId { get; }

    /// <summary>What caused the operation (<c>set</c>, <c>save</c>, <c>delete</c>, <c>upgrade</c>, <c>replay</c>, ...).</summary>
    public string Origin { get; }

    /// <summary>The metadata of the current <see cref="StateCorrelation"/> scope.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The old value as JSON (parsed on first use), <see langword="null"/> when nothing was stored.</summary>
    public JsonElement? OldValue => OldDocument.IsEmpty ? null : _oldValue ??= Parse(OldDocument);

    /// <summary>The proposed value as JSON (parsed on first use), <see langword="null"/> for a delete.</summary>
    public JsonElement? NewValue => NewDocument.IsEmpty ? null : _newValue ??= Parse(NewDocument);

    internal void SetNewDocument(ReadOnlyMemory<byte> document)
    {
        NewDocument = document;
        _newValue = null;
    }

    private static JsonElement Parse(ReadOnlyMemory<byte> document)
    {
        using JsonDocument parsed = JsonDocument.Parse(document);
        return parsed.RootElement.Clone();
    }
}

/// <summary>A hook registration; disposing it removes the hook.</summary>
public sealed class StateHookRegistration : IDisposable
{
    private readonly StateHooks _owner;

    internal StateHookRegistration(StateHooks owner, string id, StateHookPoint point, StateHookHandler handler, StateHookOptions options, long order)
    {
        _owner = owner;
        Id = id;
        Point = point;
        Handler = handler;
        Options = options;
        Order = order;
        ScopeMatcher = options.ScopePattern is null ? null : new Internal.GlobPattern(options.ScopePattern);
        KeyMatcher = options.KeyPattern is null ? null : new Internal.GlobPattern(options.KeyPattern);
    }

    /// <summary>The hook's id (recorded in hook history).</summary>
    public string Id { get; }

    /// <summary>Where it runs.</summary>
    public StateHookPoint Point { get; }

    /// <summary>How it runs.</summary>
    public StateHookOptions Options { get; }

    internal StateHookHandler Handler { get; }

    internal long Order { get; }

    internal Internal.GlobPattern? ScopeMatcher { get; }

    internal Internal.GlobPattern? KeyMatcher { get; }

    internal bool Matches(string scope, string key)
        => (ScopeMatcher is null || ScopeMatcher.IsMatch(scope)) && (KeyMatcher is null || KeyMatcher.IsMatch(key));

    /// <summary>Removes the hook. Operations already running it finish with it.</summary>
    public void Dispose() => _owner.Remove(Id);
}

/// <summary>
/// The hooks of a <see cref="StateManager"/>: registration and removal at any time, from any thread. Operations read an
/// immutable snapshot, so registering never blocks or disturbs running operations.
/// </summary>
public sealed class StateHooks
{
    private static readonly StateHookRegistration[] None = [];
    private readonly object _gate = new();
    private readonly StateHookRegistration[][] _byPoint;
    private long _order;

    internal StateHooks()
    {
        _byPoint = new StateHookRegistration[(int)StateHookPoint.AfterRestore + 1][];
        for (int i = 0; i < _byPoint.Length; i++)
        {
            _byPoint[i] = None;
        }
    }

    /// <summary>Registers a hook.</summary>
    /// <param name="point">Where it runs.</param>
    /// <param name="id">A unique id: 1–128 characters, recorded in hook history.</param>
    /// <param name="handler">The hook.</param>
    /// <param name="options">Priority, timeout, failure policy and filters.</param>
    /// <returns>A registration; dispose it to remove the hook.</returns>
    /// <exception cref="ArgumentException">The id is empty, too long or already registered.</exception>
    public StateHookRegistration Register(StateHookPoint point, string id, StateHookHandler handler, StateHookOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(handler);
        if ((uint)point >= (uint)_byPoint.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(point));
        }

        StateCorrelation.Validate(id);
        options ??= new StateHookOptions();
        if (options.Timeout is TimeSpan timeout && timeout <= TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "A hook timeout must be positive (or infinite).");
        }

        lock (_gate)
        {
            foreach (StateHookRegistration[] list in _byPoint)
            {
                if (Array.Exists(list, r => r.Id == id))
                {
                    throw new ArgumentException($"A hook with id '{id}' is already registered.", nameof(id));
                }
            }

            var registration = new StateHookRegistration(this, id, point, handler, options, ++_order);
            var list2 = new List<StateHookRegistration>(_byPoint[(int)point]) { registration };
            list2.Sort(static (a, b) => a.Options.Priority != b.Options.Priority ? b.Options.Priority.CompareTo(a.Options.Priority) : a.Order.CompareTo(b.Order));
            Volatile.Write(ref _byPoint[(int)point], list2.ToArray());
            return registration;
        }
    }

    /// <summary>Registers a hook from a synchronous function.</summary>
    public StateHookRegistration Register(StateHookPoint point, string id, Func<StateHookContext, StateHookResult> handler, StateHookOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Register(point, id, (context, _) => new ValueTask<StateHookResult>(handler(context)), options);
    }

    /// <summary>Removes a hook.</summary>
    /// <returns><see langword="false"/> when no hook has this id.</returns>
    public bool Remove(string id)
    {
        lock (_gate)
        {
            for (int i = 0; i < _byPoint.Length; i++)
            {
                StateHookRegistration[] list = _byPoint[i];
                int index = Array.FindIndex(list, r => r.Id == id);
                if (index >= 0)
                {
                    var copy = new List<StateHookRegistration>(list);
                    copy.RemoveAt(index);
                    Volatile.Write(ref _byPoint[i], copy.Count == 0 ? None : copy.ToArray());
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The hooks registered at a point, in the order they run.</summary>
    public IReadOnlyList<StateHookRegistration> At(StateHookPoint point) => For(point);

    internal StateHookRegistration[] For(StateHookPoint point) => Volatile.Read(ref _byPoint[(int)point]);
}
