using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Text;

namespace StateGen.Serialization;

/// <summary>
/// The runtime half of cycle detection. The generator proves most types acyclic at compile time and emits no calls
/// here for them; only types that can reach themselves (see the SG0300 diagnostic) enter and exit this guard while
/// they are written, so a reference cycle becomes a <see cref="StateCycleException"/> that names its path instead of
/// a stack overflow or an endless document.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class CycleGuard
{
    [System.ThreadStatic]
    private static State? t_state;

    /// <summary>The segment the next <see cref="Enter"/> is reached by, e.g. <c>.Children</c>.</summary>
    public static string Current => (t_state ??= new State()).Segment;

    /// <summary>Starts a document; no-op when a document is already being written (nested state types).</summary>
    public static void Begin(string rootName)
    {
        State state = t_state ??= new State();
        if (state.Frames.Count == 0)
        {
            state.Root = rootName;
            state.Segment = string.Empty;
            state.Index = -1;
            state.Key = null;
        }
    }

    /// <summary>The next object is reached through <paramref name="segment"/>.</summary>
    public static void At(string segment)
    {
        State state = t_state ??= new State();
        state.Segment = segment;
        state.Index = -1;
        state.Key = null;
    }

    /// <summary>The next object is element <paramref name="index"/> of the collection reached through <paramref name="segment"/>.</summary>
    public static void At(string segment, int index)
    {
        State state = t_state ??= new State();
        state.Segment = segment;
        state.Index = index;
        state.Key = null;
    }

    /// <summary>The next object is the value under <paramref name="key"/> of the dictionary reached through <paramref name="segment"/>.</summary>
    public static void AtKey(string segment, string key)
    {
        State state = t_state ??= new State();
        state.Segment = segment;
        state.Index = -1;
        state.Key = key;
    }

    /// <summary>Enters an object; throws when the same instance is already being written further up.</summary>
    /// <exception cref="StateCycleException">The object graph has a reference cycle.</exception>
    public static void Enter(object value)
    {
        State state = t_state ??= new State();
        var frame = new Frame(value, state.Segment, state.Index, state.Key);
        foreach (Frame open in state.Frames)
        {
            if (ReferenceEquals(open.Value, value))
            {
                string path = Path(state, frame);
                Reset();
                throw new StateCycleException(path);
            }
        }

        state.Frames.Add(frame);
    }

    /// <summary>Leaves the object entered last.</summary>
    public static void Exit()
    {
        List<Frame>? frames = t_state?.Frames;
        if (frames is { Count: > 0 })
        {
            frames.RemoveAt(frames.Count - 1);
        }
    }

    /// <summary>Forgets everything (after a failed write).</summary>
    public static void Reset()
    {
        if (t_state is { } state)
        {
            state.Frames.Clear();
            state.Segment = string.Empty;
            state.Root = string.Empty;
            state.Index = -1;
            state.Key = null;
        }
    }

    private static string Path(State state, Frame last)
    {
        var builder = new StringBuilder(state.Root);
        foreach (Frame frame in state.Frames)
        {
            Append(builder, frame);
        }

        Append(builder, last);
        return builder.ToString();

        static void Append(StringBuilder builder, Frame frame)
        {
            builder.Append(frame.Segment);
            if (frame.Index >= 0)
            {
                builder.Append('[').Append(frame.Index.ToString(CultureInfo.InvariantCulture)).Append(']');
            }
            else if (frame.Key is not null)
            {
                builder.Append("[\"").Append(frame.Key).Append("\"]");
            }
        }
    }

    private sealed class State
    {
        public List<Frame> Frames { get; } = new();

        public string Root { get; set; } = string.Empty;

        public string Segment { get; set; } = string.Empty;

        public int Index { get; set; } = -1;

        public string? Key { get; set; }
    }

    private readonly record struct Frame(object Value, string Segment, int Index, string? Key);
}
