using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace StateGen.Secrets;

/// <summary>
/// The runtime half of secret scanning, called by generated serializers: every stored string (a member, an element
/// of a collection, a dictionary value; not a dictionary key) is written through <see cref="WriteString(Utf8JsonWriter, string?)"/>,
/// and members and collections that contain strings mark their path segment so a finding can say where it was.
/// </summary>
/// <remarks>
/// The policy and the findings live in an ambient, per-thread scan context that <see cref="StateManager"/> opens
/// around serialization (<see cref="Begin"/>). Without one (a direct <c>WriteState</c> call) strings are scanned and
/// redacted (<see cref="SecretScanPolicy.RedactAndWarn"/>) but nothing is recorded or logged, and the path calls do
/// nothing.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SecretScan
{
    [ThreadStatic]
    private static Context? t_context;

    // A finished context kept for the next save on this thread: a save allocates nothing unless it finds something.
    [ThreadStatic]
    private static Context? t_spare;

    /// <summary>
    /// Opens a scan context on this thread until the returned scope is disposed. Scopes nest: an inner one hides the
    /// outer one until it ends.
    /// </summary>
    public static SecretScanScope Begin(SecretScanPolicy policy)
    {
        Context? previous = t_context;
        Context context = t_spare ?? new Context();
        t_spare = null;
        context.Start(policy, previous);
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
    private static string? Scanned(string? value, string? member)
    {
        if (value is not null && value.Length >= SecretScanner.MinimumLength)
        {
            Context? context = t_context;
            if ((context is null || context.Policy != SecretScanPolicy.Off) && SecretScanner.TryFind(value, out SecretKind kind))
            {
                context?.Record(member, kind);
                return SecretScanner.MarkerOf(kind);
            }
        }

        return value;
    }

    /// <summary>Before a member that contains strings: the next values are under <paramref name="segment"/> (e.g. <c>.History</c>).</summary>
    public static void EnterMember(string segment) => t_context?.Push(segment);

    /// <summary>A collection's elements follow; each is announced with <see cref="Item"/>.</summary>
    public static void EnterCollection() => t_context?.Push(string.Empty);

    /// <summary>A dictionary's values follow. They are all named <c>[*]</c>: keys are stored data, never quoted.</summary>
    public static void EnterDictionary() => t_context?.Push("[*]");

    /// <summary>The next value is element <paramref name="index"/> of the collection entered last.</summary>
    public static void Item(int index) => t_context?.SetIndex(index);

    /// <summary>Leaves the member, collection or dictionary entered last.</summary>
    public static void Exit() => t_context?.Pop();

    internal static void End(Context context, int generation)
    {
        if (t_context != context || context.Generation != generation)
        {
            return; // already ended (a second Dispose of a copy of the scope)
        }

        t_context = context.Previous;
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

        public Context? Previous { get; private set; }

        /// <summary>Counts the scans this context served, so a stale scope cannot end or read a later one.</summary>
        public int Generation { get; private set; }

        public IReadOnlyList<SecretFinding> Findings => _findings;

        public int Count { get; private set; }

        public void Start(SecretScanPolicy policy, Context? previous)
        {
            Policy = policy;
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
