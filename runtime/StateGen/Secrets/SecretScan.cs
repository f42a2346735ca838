using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Text.Json;

namespace StateGen.Secrets;

/// <summary>
/// The runtime half of secret scanning, called by generated serializers: every stored string (a member, an element
/// of a collection, a dictionary value; not a dictionary key) is written through <see cref="WriteString(Utf8JsonWriter, string?)"/>,
/// and members and collections that contain strings mark their path segment so a finding can say where it was.
/// </summary>
/// <remarks>
/// <para>
/// The policy and the findings live in an ambient, per-thread scan context opened around serialization
/// (<see cref="Begin"/>). Without one (a direct <c>WriteState</c> call) strings are scanned and redacted
/// (<see cref="SecretScanPolicy.RedactAndWarn"/>) but nothing is recorded or logged, and the path calls do nothing.
/// </para>
/// <para>
/// Where a finding was is only needed when there is one, which is rare. So <see cref="StateManager"/> writes with an
/// untracked context (<see cref="BeginUntracked"/>): the path calls cost one read of a static field, and a string one
/// read of another before its scan. Only when something was found does it write the value again, into a scratch buffer
/// under a tracked context (<see cref="Locate{T}"/>), to learn the paths. A <see cref="Begin"/> scope tracks paths from
/// the start.
/// </para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SecretScan
{
    [ThreadStatic]
    private static Context? t_context;

    // A finished context kept for the next save on this thread: a save allocates nothing unless it finds something.
    [ThreadStatic]
    private static Context? t_spare;

    // How many contexts, on any thread, track paths / have the Off policy. While a count is zero no thread needs the
    // per-thread context for it, so the hot calls skip the thread-static read. A stale non-zero only costs that read.
    private static int s_tracking;
    private static int s_off;

    /// <summary>
    /// Opens a scan context on this thread until the returned scope is disposed. Scopes nest: an inner one hides the
    /// outer one until it ends.
    /// </summary>
    public static SecretScanScope Begin(SecretScanPolicy policy) => Open(policy, trackPaths: true);

    /// <summary>
    /// Opens a scan context whose findings carry only the member's own segment (e.g. <c>Text</c>, not
    /// <c>History[3].Text</c>): the write pays nothing for paths. <see cref="Locate{T}"/> finds them when needed.
    /// </summary>
    internal static SecretScanScope BeginUntracked(SecretScanPolicy policy) => Open(policy, trackPaths: false);

    /// <summary>
    /// Writes <paramref name="value"/> again, into a scratch buffer that is cleared afterwards, under a context that
    /// tracks paths, and returns its findings: the full paths of what an untracked write found.
    /// </summary>
    internal static (SecretFinding[] Findings, int Count) Locate<T>(T value, SecretScanPolicy policy, JsonWriterOptions options)
        where T : IPersistentState<T>
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        try
        {
            using SecretScanScope scan = Open(policy, trackPaths: true);
            using (var writer = new Utf8JsonWriter(buffer, options))
            {
                value.WriteState(writer);
            }

            var findings = new SecretFinding[scan.Findings.Count];
            for (int i = 0; i < findings.Length; i++)
            {
                findings[i] = scan.Findings[i];
            }

            return (findings, scan.Count);
        }
        finally
        {
            buffer.Clear(); // zeroes what was written
        }
    }

    private static SecretScanScope Open(SecretScanPolicy policy, bool trackPaths)
    {
        Context? previous = t_context;
        Context context = t_spare ?? new Context();
        t_spare = null;
        context.Start(policy, trackPaths, previous);
        if (trackPaths)
        {
            Interlocked.Increment(ref s_tracking);
        }

        if (policy == SecretScanPolicy.Off)
        {
            Interlocked.Increment(ref s_off);
        }

        t_context = context;
        return new SecretScanScope(context, context.Generation);
    }

    /// <summary>Writes a string element or dictionary value, redacted when it holds a secret.</summary>
    public static void WriteString(Utf8JsonWriter writer, string? value) => WriteString(writer, value, null);

    /// <summary>Writes a string member (<paramref name="member"/>: its segment, e.g. <c>.Topic</c>), redacted when it holds a secret.</summary>
    public static void WriteString(Utf8JsonWriter writer, string? value, string? member)
        => writer.WriteStringValue(Scanned(value, member));

    /// <summary>
    /// Writes a string member's pre-encoded <paramref name="name"/> and its value (<paramref name="member"/>: its
    /// segment, e.g. <c>.Topic</c>), the value redacted when it holds a secret.
    /// </summary>
    public static void WriteString(Utf8JsonWriter writer, JsonEncodedText name, string? value, string? member)
        => writer.WriteString(name, Scanned(value, member));

    /// <summary>Writes a string-keyed dictionary entry: its <paramref name="key"/> and its value, redacted when it holds a secret (keys are not scanned).</summary>
    public static void WriteEntry(Utf8JsonWriter writer, string key, string? value)
        => writer.WriteString(key, Scanned(value, null));

    /// <summary>The value to store: <paramref name="value"/>, or its marker when it holds a secret (recorded under <paramref name="member"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static string? Scanned(string? value, string? member)
        => value is null || value.Length < SecretScanner.MinimumLength ? value : Scan(value, member);

    private static string Scan(string value, string? member)
    {
        if ((s_off == 0 || t_context?.Policy != SecretScanPolicy.Off) && SecretScanner.TryFind(value, out SecretKind kind))
        {
            t_context?.Record(member, kind);
            return SecretScanner.MarkerOf(kind);
        }

        return value;
    }

    /// <summary>Before a member that contains strings: the next values are under <paramref name="segment"/> (e.g. <c>.History</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EnterMember(string segment)
    {
        if (s_tracking != 0)
        {
            Tracked()?.Push(segment);
        }
    }

    /// <summary>A collection's elements follow; each is announced with <see cref="Item"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EnterCollection()
    {
        if (s_tracking != 0)
        {
            Tracked()?.Push(string.Empty);
        }
    }

    /// <summary>A dictionary's values follow. They are all named <c>[*]</c>: keys are stored data, never quoted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EnterDictionary()
    {
        if (s_tracking != 0)
        {
            Tracked()?.Push("[*]");
        }
    }

    /// <summary>The next value is element <paramref name="index"/> of the collection entered last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Item(int index)
    {
        if (s_tracking != 0)
        {
            Tracked()?.SetIndex(index);
        }
    }

    /// <summary>Leaves the member, collection or dictionary entered last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exit()
    {
        if (s_tracking != 0)
        {
            Tracked()?.Pop();
        }
    }

    // This thread's context when it tracks paths (an untracked one must not push: a count that changes between an
    // enter and its exit, through another thread, would leave it unbalanced).
    private static Context? Tracked() => t_context is { TrackPaths: true } context ? context : null;

    internal static void End(Context context, int generation)
    {
        if (t_context != context || context.Generation != generation)
        {
            return; // already ended (a second Dispose of a copy of the scope)
        }

        t_context = context.Previous;
        if (context.TrackPaths)
        {
            Interlocked.Decrement(ref s_tracking);
        }

        if (context.Policy == SecretScanPolicy.Off)
        {
            Interlocked.Decrement(ref s_off);
        }

        context.Clear();
        t_spare = context;
    }

    /// <summary>One scan: the policy, where the writer is, and what was found.</summary>
    internal sealed class Context
    {
        // Enough for any document; findings beyond it are only counted.
        internal const int MaxFindings = 32;

        private readonly List<SecretFinding> _findings = new();
        private string[] _segments = new string[16];
        private int[] _indexes = new int[16];
        private int _depth;

        public SecretScanPolicy Policy { get; private set; }

        /// <summary>Whether the path calls are followed (otherwise a finding names only its member's segment).</summary>
        public bool TrackPaths { get; private set; }

        public Context? Previous { get; private set; }

        /// <summary>Counts the scans this context served, so a stale scope cannot end or read a later one.</summary>
        public int Generation { get; private set; }

        public IReadOnlyList<SecretFinding> Findings => _findings;

        public int Count { get; private set; }

        public void Start(SecretScanPolicy policy, bool trackPaths, Context? previous)
        {
            Policy = policy;
            TrackPaths = trackPaths;
            Previous = previous;
            Generation++;
            Clear();
        }

        public void Clear()
        {
            _findings.Clear();
            Count = 0;
            _depth = 0; // segments are literals of generated code: nothing to release
        }

        public void Push(string segment)
        {
            if (_depth == _segments.Length)
            {
                Array.Resize(ref _segments, _depth * 2);
                Array.Resize(ref _indexes, _depth * 2);
            }

            _segments[_depth] = segment;
            _indexes[_depth] = -1;
            _depth++;
        }

        public void SetIndex(int index)
        {
            if (_depth > 0)
            {
                _indexes[_depth - 1] = index;
            }
        }

        public void Pop()
        {
            if (_depth > 0)
            {
                _depth--;
            }
        }

        public void Record(string? member, SecretKind kind)
        {
            Count++;
            if (_findings.Count < MaxFindings)
            {
                _findings.Add(new SecretFinding(Path(member), kind));
            }
        }

        private string Path(string? member)
        {
            var builder = new StringBuilder();
            for (int i = 0; i < _depth; i++)
            {
                builder.Append(_segments[i]);
                if (_indexes[i] >= 0)
                {
                    builder.Append('[').Append(_indexes[i].ToString(CultureInfo.InvariantCulture)).Append(']');
                }
            }

            builder.Append(member);
            if (builder.Length > 0 && builder[0] == '.')
            {
                builder.Remove(0, 1);
            }

            return builder.Length == 0 ? "(root)" : builder.ToString();
        }
    }
}

/// <summary>
/// A secret scan opened with <see cref="SecretScan.Begin"/>: the policy applied to strings written on this thread
/// until it is disposed, and what was found.
/// </summary>
public readonly struct SecretScanScope : IDisposable
{
    private readonly SecretScan.Context? _context;
    private readonly int _generation;

    internal SecretScanScope(SecretScan.Context context, int generation)
    {
        _context = context;
        _generation = generation;
    }

    /// <summary>The policy in force.</summary>
    public SecretScanPolicy Policy => Live?.Policy ?? SecretScanPolicy.RedactAndWarn;

    /// <summary>The findings so far, in document order (at most 32; <see cref="Count"/> counts them all). Empty once disposed.</summary>
    public IReadOnlyList<SecretFinding> Findings => Live?.Findings ?? Array.Empty<SecretFinding>();

    /// <summary>How many strings held a secret.</summary>
    public int Count => Live?.Count ?? 0;

    private SecretScan.Context? Live => _context is not null && _context.Generation == _generation ? _context : null;

    /// <summary>Ends the scan on this thread.</summary>
    public void Dispose()
    {
        if (_context is not null)
        {
            SecretScan.End(_context, _generation);
        }
    }
}
