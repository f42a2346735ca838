using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace StateGen.Tests.Serialization;

[Flags]
public enum Perms : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Admin = 4,
}

public enum Wide : ulong
{
    Zero = 0,
    Big = ulong.MaxValue,
}

/// <summary>A plain struct: a field, a property and a nullable value type inside.</summary>
public struct Reading
{
    public int Sensor;

    public double Value { get; set; }

    public DateOnly? Day { get; set; }
}

/// <summary>A positional record (constructor parameters).</summary>
public sealed record Turn(string Role, string? Text, int Tokens);

/// <summary>A nested record with required and init-only members, a nested record, a list and a struct.</summary>
public sealed record Exchange
{
    public required Turn Question { get; init; }

    public Turn? Answer { get; init; }

    public List<Turn> Retries { get; init; } = new();

    public Reading At { get; init; }
}

/// <summary>A plain base class: its members are persisted as members of the derived persistent type.</summary>
public class EveryKindBase
{
    public string? BaseNote { get; set; }

    public List<int> BaseNumbers { get; set; } = new();
}

/// <summary>Every member kind the generated serializer writes itself (issue #3, "Member coverage").</summary>
[PersistentState("every-kind")]
public partial class EveryKind : EveryKindBase
{
    public string Id { get; set; } = "";

    // Primitives
    public string? Text { get; set; }
    public bool Flag { get; set; }
    public byte Byte { get; set; }
    public sbyte SByte { get; set; }
    public short Short { get; set; }
    public ushort UShort { get; set; }
    public int Int { get; set; }
    public uint UInt { get; set; }
    public long Long { get; set; }
    public ulong ULong { get; set; }
    public float Float { get; set; }
    public double Double { get; set; }
    public decimal Decimal { get; set; }
    public char Char { get; set; }

    // Dates, times, identifiers
    public DateTime When { get; set; }
    public DateTimeOffset At { get; set; }
    public TimeSpan Took { get; set; }
    public Guid Trace { get; set; }
    public DateOnly Day { get; set; }
    public TimeOnly Time { get; set; }
    public Uri? Link { get; set; }
    public Version? Version { get; set; }

    // JSON pass-through
    public JsonElement Element { get; set; }
    public JsonNode? Node { get; set; }
    public JsonObject? Object { get; set; }
    public JsonArray? Array { get; set; }

    // Enums: plain (values outside the declared names too), flags, ulong-based
    public Phase Phase { get; set; }
    public Perms Perms { get; set; }
    public Wide Wide { get; set; }

    // Nullable value types
    public int? MaybeInt { get; set; }
    public double? MaybeDouble { get; set; }
    public bool? MaybeFlag { get; set; }
    public char? MaybeChar { get; set; }
    public decimal? MaybeDecimal { get; set; }
    public DateTime? MaybeWhen { get; set; }
    public Guid? MaybeGuid { get; set; }
    public DateOnly? MaybeDay { get; set; }
    public Phase? MaybePhase { get; set; }
    public Reading? MaybeReading { get; set; }

    // Arrays
    public byte[]? Blob { get; set; }
    public int[]? Ints { get; set; }
    public string?[]? Names { get; set; }
    public Reading[]? Readings { get; set; }

    // Lists, sets and collection interfaces
    public List<string?> Tags { get; set; } = new();
    public List<List<int>> Jagged { get; set; } = new();
    public HashSet<string> Labels { get; set; } = new();
    public ISet<int> Numbers { get; set; } = new HashSet<int>();
    public IReadOnlySet<Guid>? Seen { get; set; }
    public IList<double> Scores { get; set; } = new List<double>();
    public IReadOnlyList<DateTimeOffset> Stamps { get; set; } = new List<DateTimeOffset>();
    public ICollection<string> Collection { get; set; } = new List<string>();
    public IEnumerable<int> Sequence { get; set; } = new List<int>();
    public IReadOnlyCollection<Turn> History { get; set; } = new List<Turn>();

    // Dictionaries: string, int, long, Guid and enum keys; interfaces
    public Dictionary<string, int> ByName { get; set; } = new();
    public Dictionary<int, string?> ByInt { get; set; } = new();
    public Dictionary<long, double> ByLong { get; set; } = new();
    public Dictionary<Guid, Turn> ByGuid { get; set; } = new();
    public Dictionary<Phase, List<int>> ByPhase { get; set; } = new();
    public IDictionary<string, Reading> Sensors { get; set; } = new Dictionary<string, Reading>();
    public IReadOnlyDictionary<int, string> ReadOnlyByInt { get; set; } = new Dictionary<int, string>();
    public IReadOnlyDictionary<Phase, long> ReadOnlyByPhase { get; set; } = new Dictionary<Phase, long>();
    public Dictionary<string, List<Turn>>? Threads { get; set; }

    // Structs and nested records
    public Reading Reading { get; set; }
    public Turn? LastTurn { get; set; }
    public Exchange? Exchange { get; set; }
    public List<Exchange> Exchanges { get; set; } = new();
}
