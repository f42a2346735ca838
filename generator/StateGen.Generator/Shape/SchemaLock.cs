using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using StateGen.Generator.Helpers;

namespace StateGen.Generator.Shape;

/// <summary>
/// One line of the schema lock file: one persisted member (or nested member path) of one schema version of one type.
/// The format lives here only, source-shared by the generator, the analyzers and the code fixes.
/// </summary>
/// <remarks>
/// <c>{stable type name} | {version} | {path} | {descriptor} | {plain|omit|redact|encrypt}</c>, e.g.
/// <c>research-agent | 2 | History[].Text | string | plain</c>. Paths use JSON names; <c>[]</c> steps into a list
/// element, <c>{}</c> into a dictionary value, <c>.</c> into a nested object. Descriptors name the JSON format, never a
/// CLR type name, so renaming a class does not change its recorded shape.
/// </remarks>
internal sealed record LockLine(string TypeName, int Version, string Path, string Descriptor, string Sensitivity) : IComparable<LockLine>
{
    public const string Separator = " | ";

    /// <summary>The top-level member the line belongs to: the path up to its first <c>.</c>, <c>[</c> or <c>{</c>.</summary>
    public string TopLevelMember
    {
        get
        {
            int end = Path.IndexOfAny(new[] { '.', '[', '{' });
            return end < 0 ? Path : Path.Substring(0, end);
        }
    }

    public int CompareTo(LockLine? other)
    {
        if (other is null)
        {
            return 1;
        }

        int c = string.CompareOrdinal(TypeName, other.TypeName);
        if (c != 0)
        {
            return c;
        }

        c = Version.CompareTo(other.Version);
        return c != 0 ? c : string.CompareOrdinal(Path, other.Path);
    }

    public override string ToString() => string.Join(Separator, TypeName, Version.ToString(CultureInfo.InvariantCulture), Path, Descriptor, Sensitivity);
}

/// <summary>A problem in the lock file text, with its 0-based line number.</summary>
internal sealed record LockFileError(int LineNumber, string Message);

/// <summary>A parsed lock file: its valid lines (first occurrence wins) and its malformed or duplicate lines.</summary>
internal sealed record LockFile(EquatableArray<LockLine> Lines, EquatableArray<(int LineNumber, LockLine Line)> Positions, EquatableArray<LockFileError> Errors)
{
    public static LockFile Empty { get; } = new(EquatableArray<LockLine>.Empty, EquatableArray<(int, LockLine)>.Empty, EquatableArray<LockFileError>.Empty);

    /// <summary>The recorded lines of one type and version, sorted.</summary>
    public ImmutableArray<LockLine> For(string typeName, int version)
        => Lines.Where(l => l.TypeName == typeName && l.Version == version).OrderBy(l => l).ToImmutableArray();

    /// <summary>The versions recorded for a type, ascending.</summary>
    public ImmutableArray<int> VersionsOf(string typeName)
        => Lines.Where(l => l.TypeName == typeName).Select(l => l.Version).Distinct().OrderBy(v => v).ToImmutableArray();
}

/// <summary>What changed between two recorded shapes of a type, by top-level member.</summary>
internal sealed record ShapeDiff(ImmutableArray<string> Added, ImmutableArray<string> Removed, ImmutableArray<string> Changed)
{
    public bool IsEmpty => Added.IsEmpty && Removed.IsEmpty && Changed.IsEmpty;

    /// <summary>E.g. <c>added 'a', removed 'b', 'c' changed type</c>.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (!Added.IsEmpty)
        {
            parts.Add("added " + string.Join(", ", Added.Select(n => "'" + n + "'")));
        }

        if (!Removed.IsEmpty)
        {
            parts.Add("removed " + string.Join(", ", Removed.Select(n => "'" + n + "'")));
        }

        if (!Changed.IsEmpty)
        {
            parts.Add(string.Join(", ", Changed.Select(n => "'" + n + "'")) + " changed type");
        }

        return string.Join(", ", parts);
    }
}

/// <summary>The schema lock file: lines from a shape, parsing, rendering and diffing.</summary>
internal static class SchemaLock
{
    /// <summary>The lock file's default name; the MSBuild property <c>StateGenSchemaFile</c> overrides it.</summary>
    public const string DefaultFileName = "StateGen.schema.txt";

    /// <summary>The analyzer config key of the MSBuild property that names the lock file.</summary>
    public const string FileNameOption = "build_property.StateGenSchemaFile";

    public const string Header =
        "# StateGen schema lock: one line per persisted member per schema version. Checked on every build; commit it.\n" +
        "# type | version | path | format | sensitive";

    /// <summary>
    /// The lock's sensitive column: <c>plain</c>, or the <c>[Sensitive]</c> mode. The mode is part of the shape because
    /// it decides the stored form (absent, a marker, a ciphertext); a redaction fingerprint is not (a marker either way).
    /// </summary>
    public static string ModeOf(MemberShape member) => member.Sensitive switch
    {
        SensitiveKind.Omit => "omit",
        SensitiveKind.Redact => "redact",
        SensitiveKind.Encrypt => "encrypt",
        _ => "plain",
    };

    /// <summary>The canonical, sorted lines of a type's current shape at its current schema version.</summary>
    public static ImmutableArray<LockLine> LinesFor(PersistedTypeShape shape)
    {
        var objects = shape.Objects.ToDictionary(o => o.FullName);
        var enums = shape.Enums.ToDictionary(e => e.FullName);
        var lines = new List<LockLine>();
        var stack = new HashSet<string>();
        foreach (MemberShape member in shape.Members)
        {
            AddMember(member, string.Empty);
        }

        lines.Sort();
        return lines.ToImmutableArray();

        void AddMember(MemberShape member, string prefix)
        {
            string path = prefix + member.JsonName;
            lines.Add(new LockLine(shape.StableName, shape.SchemaVersion, path, Describe(member.Type), ModeOf(member)));
            AddNested(member.Type, path);
        }

        void AddNested(TypeShape type, string path)
        {
            switch (type.Kind)
            {
                case ShapeKind.Nullable:
                    AddNested(type.Element!, path);
                    break;
                case ShapeKind.Array:
                case ShapeKind.List:
                case ShapeKind.Set:
                    AddNested(type.Element!, path + "[]");
                    break;
                case ShapeKind.Dictionary:
                    AddNested(type.Element!, path + "{}");
                    break;
                case ShapeKind.Object when objects.TryGetValue(type.FullName, out ObjectShape? nested) && stack.Add(type.FullName):
                    foreach (MemberShape member in nested.Members)
                    {
                        AddMember(member, path + ".");
                    }

                    stack.Remove(type.FullName);
                    break;
            }
        }

        string Describe(TypeShape type) => type.Kind switch
        {
            ShapeKind.String => "string",
            ShapeKind.Boolean => "bool",
            ShapeKind.Char => "char",
            ShapeKind.Byte => "uint8",
            ShapeKind.SByte => "int8",
            ShapeKind.Int16 => "int16",
            ShapeKind.UInt16 => "uint16",
            ShapeKind.Int32 => "int32",
            ShapeKind.UInt32 => "uint32",
            ShapeKind.Int64 => "int64",
            ShapeKind.UInt64 => "uint64",
            ShapeKind.Single => "float32",
            ShapeKind.Double => "float64",
            ShapeKind.Decimal => "decimal",
            ShapeKind.DateTime => "datetime",
            ShapeKind.DateTimeOffset => "datetimeoffset",
            ShapeKind.Guid => "guid",
            ShapeKind.TimeSpan => "timespan",
            ShapeKind.ByteArray => "bytes",
            ShapeKind.DateOnly => "date",
            ShapeKind.TimeOnly => "time",
            ShapeKind.Uri => "uri",
            ShapeKind.Version => "version",
            // Delegated members are JSON that the named JsonSerializerContext writes: opaque here, like JsonElement.
            ShapeKind.JsonElement or ShapeKind.JsonNode or ShapeKind.Delegated => "json",
            ShapeKind.Enum => "enum(" + string.Join(",", enums[type.FullName].Members.Select(m => m.Name)) + ")",
            ShapeKind.Nullable => Describe(type.Element!) + "?",
            ShapeKind.Array or ShapeKind.List => "list<" + Describe(type.Element!) + ">",
            ShapeKind.Set => "set<" + Describe(type.Element!) + ">",
            ShapeKind.Dictionary => type.Key is null ? "map<" + Describe(type.Element!) + ">" : "map<" + Describe(type.Key) + "," + Describe(type.Element!) + ">",
            ShapeKind.Object => "object",
            ShapeKind.PersistentState => "state:" + type.StateName,
            _ => type.Kind.ToString(),
        };
    }

    /// <summary>Parses lock file text. Blank lines and lines starting with <c>#</c> are ignored.</summary>
    public static LockFile Parse(string text)
    {
        var lines = new List<LockLine>();
        var positions = new List<(int, LockLine)>();
        var errors = new List<LockFileError>();
        var seen = new HashSet<(string, int, string)>();
        string[] rawLines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < rawLines.Length; i++)
        {
            string raw = rawLines[i].Trim();
            if (raw.Length == 0 || raw[0] == '#')
            {
                continue;
            }

            string[] fields = raw.Split(new[] { LockLine.Separator }, StringSplitOptions.None);
            if (fields.Length != 5 || fields.Any(f => f.Trim().Length == 0))
            {
                errors.Add(new LockFileError(i, $"expected 5 fields 'type | version | path | format | sensitive', found {fields.Length}"));
                continue;
            }

            if (!int.TryParse(fields[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version < 1)
            {
                errors.Add(new LockFileError(i, $"'{fields[1].Trim()}' is not a schema version (a whole number from 1)"));
                continue;
            }

            string sensitivity = fields[4].Trim();
            if (sensitivity is not ("plain" or "omit" or "redact" or "encrypt"))
            {
                errors.Add(new LockFileError(i, $"'{sensitivity}' is not a sensitive mode ('plain', 'omit', 'redact' or 'encrypt')"));
                continue;
            }

            var line = new LockLine(fields[0].Trim(), version, fields[2].Trim(), fields[3].Trim(), sensitivity);
            if (!seen.Add((line.TypeName, line.Version, line.Path)))
            {
                errors.Add(new LockFileError(i, $"duplicate line for '{line.TypeName}' version {line.Version} path '{line.Path}'"));
                continue;
            }

            lines.Add(line);
            positions.Add((i, line));
        }

        return new LockFile(lines.ToEquatableArray(), positions.ToEquatableArray(), errors.ToEquatableArray());
    }

    /// <summary>The whole file: header, then every line sorted, each ending with a newline.</summary>
    public static string Render(IEnumerable<LockLine> lines)
    {
        var builder = new StringBuilder(Header).Append('\n');
        foreach (LockLine line in lines.Distinct().OrderBy(l => l))
        {
            builder.Append(line).Append('\n');
        }

        return builder.ToString();
    }

    /// <summary>The difference from a recorded shape to another, by top-level member (versions are ignored).</summary>
    public static ShapeDiff Diff(IEnumerable<LockLine> from, IEnumerable<LockLine> to)
    {
        ILookup<string, string> before = from.ToLookup(l => l.TopLevelMember, Key);
        ILookup<string, string> after = to.ToLookup(l => l.TopLevelMember, Key);
        var added = after.Select(g => g.Key).Where(k => !before.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToImmutableArray();
        var removed = before.Select(g => g.Key).Where(k => !after.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToImmutableArray();
        var changed = after.Select(g => g.Key)
            .Where(k => before.Contains(k) && !before[k].OrderBy(x => x, StringComparer.Ordinal).SequenceEqual(after[k].OrderBy(x => x, StringComparer.Ordinal)))
            .OrderBy(k => k, StringComparer.Ordinal)
            .ToImmutableArray();
        return new ShapeDiff(added, removed, changed);

        static string Key(LockLine l) => l.Path + LockLine.Separator + l.Descriptor + LockLine.Separator + l.Sensitivity;
    }
}
