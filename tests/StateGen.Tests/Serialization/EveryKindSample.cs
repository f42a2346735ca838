using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Serialization;

/// <summary>Generated <see cref="EveryKind"/> instances and a member-by-member, element-by-element comparison.</summary>
internal static class EveryKindSample
{
    // Strings with what JSON escapes or encodes specially: control characters, quotes and backslashes, HTML-sensitive
    // characters, non-ASCII, line and paragraph separators, and surrogate pairs (never a lone surrogate: not UTF-16 text).
    private static readonly Gen<string> Str = Gen.OneOf(
        Gen.Char[' ', '~'].Select(c => c.ToString()),
        Gen.Char['\0', '\u001F'].Select(c => c.ToString()),
        Gen.Char["\"\\/<>&'+`\u007F\u0080\u00A0\u2028\u2029\uFEFF\uFFFD"].Select(c => c.ToString()),
        Gen.Char['\u00A1', '\uD7FF'].Select(c => c.ToString()),
        Gen.Int[0x10000, 0x10FFFF].Select(char.ConvertFromUtf32)).List[0, 8].Select(string.Concat);

    private static readonly Gen<char> CharGen = Gen.OneOf(Gen.Char['\0', '\uD7FF'], Gen.Char['\uE000', '\uFFFF']);

    private static readonly Gen<double> AnyDouble = Gen.Double;

    // UTC, unspecified and local kinds. A local time that does not exist or is ambiguous in this machine's zone (a DST
    // switch) cannot round trip through any offset, so it is taken as UTC instead.
    private static readonly Gen<DateTime> DateTimeGen = Gen.Select(Gen.DateTime, Gen.Int[0, 2], (d, kind) => kind switch
    {
        0 => DateTime.SpecifyKind(d, DateTimeKind.Utc),
        1 => DateTime.SpecifyKind(d, DateTimeKind.Unspecified),
        _ => d.Year is > 1 and < 9999 && !TimeZoneInfo.Local.IsInvalidTime(d) && !TimeZoneInfo.Local.IsAmbiguousTime(d)
            ? DateTime.SpecifyKind(d, DateTimeKind.Local)
            : DateTime.SpecifyKind(d, DateTimeKind.Utc),
    });

    private static readonly Gen<Phase> PhaseGen = Gen.Int[-1, 4].Select(i => (Phase)i); // includes values with no name

    private static readonly Gen<Perms> PermsGen = Gen.Int[0, 7].Select(i => (Perms)i); // single flags and combinations

    private static readonly Gen<Reading> ReadingGen = Gen.Select(Gen.Int, AnyDouble, Gen.DateOnly.Nullable(), (sensor, value, day) => new Reading { Sensor = sensor, Value = value, Day = day });

    private static readonly Gen<Turn> TurnGen = Gen.Select(Str, Str.Null(), Gen.Int, (role, text, tokens) => new Turn(role, text, tokens));

    private static readonly Gen<Exchange> ExchangeGen = Gen.Select(TurnGen, TurnGen.Null(), TurnGen.List[0, 3], ReadingGen, (q, a, retries, at) => new Exchange { Question = q, Answer = a, Retries = retries, At = at });

    private static readonly Gen<Uri?> UriGen = Gen.OneOf(
        Gen.Const((Uri?)null),
        Str.Select(s => (Uri?)new Uri("https://example.org/" + Uri.EscapeDataString(s) + "?q=" + Uri.EscapeDataString(s), UriKind.Absolute)),
        Str.Select(s => (Uri?)new Uri("rel/" + Uri.EscapeDataString(s), UriKind.Relative)));

    private static readonly Gen<Version?> VersionGen = Gen.Select(Gen.Int[2, 4], Gen.Int[0, 1000], Gen.Int[0, 1000], Gen.Int[0, 1000], Gen.Int[0, 1000], (parts, a, b, c, d) => parts switch
    {
        2 => new Version(a, b),
        3 => new Version(a, b, c),
        _ => new Version(a, b, c, d),
    }).Null();

    private static readonly Gen<JsonNode?> JsonLeaf = Gen.OneOf(
        Gen.Const((JsonNode?)null),
        Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
        Gen.Long.Select(l => (JsonNode?)JsonValue.Create(l)),
        Gen.Double.Where(double.IsFinite).Select(d => (JsonNode?)JsonValue.Create(d)),
        Str.Select(s => (JsonNode?)JsonValue.Create(s)));

    private static readonly Gen<JsonNode?> JsonTree = JsonOf(3);

    // Normalized through text, so that expected values are what a parser produces.
    private static readonly Gen<JsonObject> JsonObjectGen = Gen.Dictionary(Str, JsonOf(2))[0, 4].Select(d => (JsonObject)JsonNode.Parse(new JsonObject(d).ToJsonString())!);

    private static readonly Gen<JsonArray> JsonArrayGen = JsonOf(2).List[0, 4].Select(l => (JsonArray)JsonNode.Parse(new JsonArray(l.ToArray()).ToJsonString())!);

    private static readonly Gen<Action<EveryKind>> Primitives = Gen.Select(
        Gen.Select(Str.Null(), Gen.Bool, Gen.Byte, Gen.SByte, Gen.Short, Gen.UShort, Gen.Int, Gen.UInt),
        Gen.Select(Gen.Long, Gen.ULong, Gen.Float, AnyDouble, Gen.Decimal, CharGen),
        (a, b) => (Action<EveryKind>)(s =>
        {
            (s.Text, s.Flag, s.Byte, s.SByte, s.Short, s.UShort, s.Int, s.UInt) = a;
            (s.Long, s.ULong, s.Float, s.Double, s.Decimal, s.Char) = b;
        }));

    private static readonly Gen<Action<EveryKind>> DatesAndJson = Gen.Select(
        Gen.Select(DateTimeGen, Gen.DateTimeOffset, Gen.TimeSpan, Gen.Guid, Gen.DateOnly, Gen.TimeOnly, UriGen, VersionGen),
        Gen.Select(JsonTree, JsonTree, JsonObjectGen.Null(), JsonArrayGen.Null(), PhaseGen, PermsGen, Gen.Bool),
        (a, b) => (Action<EveryKind>)(s =>
        {
            (s.When, s.At, s.Took, s.Trace, s.Day, s.Time, s.Link, s.Version) = a;
            (JsonNode? element, JsonNode? node, s.Object, s.Array, s.Phase, s.Perms, bool wide) = b;

            // A JsonElement is always a parsed document (a JSON null included); a JsonNode member may be null.
            s.Element = JsonDocument.Parse(element?.ToJsonString() ?? "null").RootElement.Clone();
            s.Node = node is null ? null : JsonNode.Parse(node.ToJsonString());
            s.Wide = wide ? Wide.Big : Wide.Zero;
        }));

    private static readonly Gen<Action<EveryKind>> Nullables = Gen.Select(
        Gen.Select(Gen.Int.Nullable(), AnyDouble.Nullable(), Gen.Bool.Nullable(), CharGen.Nullable(), Gen.Decimal.Nullable()),
        Gen.Select(DateTimeGen.Nullable(), Gen.Guid.Nullable(), Gen.DateOnly.Nullable(), PhaseGen.Nullable(), ReadingGen.Nullable()),
        (a, b) => (Action<EveryKind>)(s =>
        {
            (s.MaybeInt, s.MaybeDouble, s.MaybeFlag, s.MaybeChar, s.MaybeDecimal) = a;
            (s.MaybeWhen, s.MaybeGuid, s.MaybeDay, s.MaybePhase, s.MaybeReading) = b;
        }));

    private static readonly Gen<Action<EveryKind>> Collections = Gen.Select(
        Gen.Select(Gen.Byte.Array[0, 40].Null(), Gen.Int.Array[0, 5].Null(), Str.Null().Array[0, 5].Null(), ReadingGen.Array[0, 3].Null(), Str.Null().List[0, 5], Gen.Int.List[0, 3].List[0, 3]),
        Gen.Select(Str.HashSet[0, 5], Gen.Int.HashSet[0, 5], Gen.Guid.HashSet[0, 3].Null(), AnyDouble.List[0, 5], Gen.DateTimeOffset.List[0, 3], Str.List[0, 5], Gen.Int.List[0, 5], TurnGen.List[0, 3]),
        (a, b) => (Action<EveryKind>)(s =>
        {
            (s.Blob, s.Ints, s.Names, s.Readings, s.Tags, s.Jagged) = a;
            (s.Labels, HashSet<int> numbers, HashSet<Guid>? seen, s.Scores, s.Stamps, s.Collection, s.Sequence, s.History) = b;
            s.Numbers = numbers;
            s.Seen = seen;
        }));

    private static readonly Gen<Action<EveryKind>> Dictionaries = Gen.Select(
        Gen.Select(Gen.Dictionary(Str, Gen.Int)[0, 4], Gen.Dictionary(Gen.Int, Str.Null())[0, 4], Gen.Dictionary(Gen.Long, AnyDouble)[0, 4], Gen.Dictionary(Gen.Guid, TurnGen)[0, 3], Gen.Dictionary(PhaseGen, Gen.Int.List[0, 3])[0, 3]),
        Gen.Select(Gen.Dictionary(Str, ReadingGen)[0, 3], Gen.Dictionary(Gen.Int, Str)[0, 4], Gen.Dictionary(PhaseGen, Gen.Long)[0, 3], Gen.Dictionary(Str, TurnGen.List[0, 2])[0, 3].Null()),
        (a, b) => (Action<EveryKind>)(s =>
        {
            (s.ByName, s.ByInt, s.ByLong, s.ByGuid, s.ByPhase) = a;
            (Dictionary<string, Reading> sensors, Dictionary<int, string> readOnlyByInt, Dictionary<Phase, long> readOnlyByPhase, s.Threads) = b;
            (s.Sensors, s.ReadOnlyByInt, s.ReadOnlyByPhase) = (sensors, readOnlyByInt, readOnlyByPhase);
        }));

    private static readonly Gen<Action<EveryKind>> Objects = Gen.Select(
        ReadingGen, TurnGen.Null(), ExchangeGen.Null(), ExchangeGen.List[0, 3], Str.Null(), Gen.Int.List[0, 4],
        (reading, last, exchange, exchanges, baseNote, baseNumbers) => (Action<EveryKind>)(s =>
        {
            (s.Reading, s.LastTurn, s.Exchange, s.Exchanges) = (reading, last, exchange, exchanges);
            (s.BaseNote, s.BaseNumbers) = (baseNote, baseNumbers);
        }));

    /// <summary>Any <see cref="EveryKind"/>, each with its own key (samples run in parallel).</summary>
    public static readonly Gen<EveryKind> All = Gen.Select(Primitives, DatesAndJson, Nullables, Collections, Dictionaries, Objects, (a, b, c, d, e, f) =>
    {
        var state = new EveryKind { Id = Guid.NewGuid().ToString("N") };
        foreach (Action<EveryKind> fill in new[] { a, b, c, d, e, f })
        {
            fill(state);
        }

        return state;
    });

    private static Gen<JsonNode?> JsonOf(int depth) => depth == 0
        ? JsonLeaf
        : Gen.OneOf(
            JsonLeaf,
            JsonOf(depth - 1).List[0, 3].Select(l => (JsonNode?)new JsonArray(l.ToArray())),
            Gen.Dictionary(Str, JsonOf(depth - 1))[0, 3].Select(d => (JsonNode?)new JsonObject(d)));

    /// <summary>Asserts that every member of <paramref name="actual"/>, collections element by element, equals <paramref name="expected"/>'s.</summary>
    public static void AssertEqual(EveryKind expected, EveryKind actual)
    {
        Assert.Equal(expected.BaseNote, actual.BaseNote);
        Assert.Equal(expected.BaseNumbers, actual.BaseNumbers);

        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.Flag, actual.Flag);
        Assert.Equal(expected.Byte, actual.Byte);
        Assert.Equal(expected.SByte, actual.SByte);
        Assert.Equal(expected.Short, actual.Short);
        Assert.Equal(expected.UShort, actual.UShort);
        Assert.Equal(expected.Int, actual.Int);
        Assert.Equal(expected.UInt, actual.UInt);
        Assert.Equal(expected.Long, actual.Long);
        Assert.Equal(expected.ULong, actual.ULong);
        AssertSame(expected.Float, actual.Float);
        AssertSame(expected.Double, actual.Double);
        AssertSame(expected.Decimal, actual.Decimal);
        Assert.Equal(expected.Char, actual.Char);

        AssertSame(expected.When, actual.When);
        AssertSame(expected.At, actual.At);
        Assert.Equal(expected.Took.Ticks, actual.Took.Ticks);
        Assert.Equal(expected.Trace, actual.Trace);
        Assert.Equal(expected.Day, actual.Day);
        Assert.Equal(expected.Time.Ticks, actual.Time.Ticks);
        AssertSame(expected.Link, actual.Link);
        Assert.Equal(expected.Version, actual.Version);

        Assert.Equal(expected.Element.ValueKind, actual.Element.ValueKind);
        Assert.True(JsonElement.DeepEquals(expected.Element, actual.Element), $"Element: {expected.Element.GetRawText()} != {actual.Element.GetRawText()}");
        AssertSame(expected.Node, actual.Node);
        AssertSame(expected.Object, actual.Object);
        AssertSame(expected.Array, actual.Array);

        Assert.Equal(expected.Phase, actual.Phase);
        Assert.Equal(expected.Perms, actual.Perms);
        Assert.Equal(expected.Wide, actual.Wide);

        Assert.Equal(expected.MaybeInt, actual.MaybeInt);
        AssertSame(expected.MaybeDouble, actual.MaybeDouble, AssertSame);
        Assert.Equal(expected.MaybeFlag, actual.MaybeFlag);
        Assert.Equal(expected.MaybeChar, actual.MaybeChar);
        AssertSame(expected.MaybeDecimal, actual.MaybeDecimal, AssertSame);
        AssertSame(expected.MaybeWhen, actual.MaybeWhen, AssertSame);
        Assert.Equal(expected.MaybeGuid, actual.MaybeGuid);
        Assert.Equal(expected.MaybeDay, actual.MaybeDay);
        Assert.Equal(expected.MaybePhase, actual.MaybePhase);
        AssertSame(expected.MaybeReading, actual.MaybeReading, AssertSame);

        Assert.Equal(expected.Blob, actual.Blob);
        Assert.Equal(expected.Ints, actual.Ints);
        Assert.Equal(expected.Names, actual.Names);
        AssertSequence(expected.Readings, actual.Readings, AssertSame);

        Assert.Equal(expected.Tags, actual.Tags);
        Assert.Equal(expected.Jagged, actual.Jagged);
        AssertSet(expected.Labels, actual.Labels);
        AssertSet(expected.Numbers, actual.Numbers);
        AssertSet(expected.Seen, actual.Seen);
        AssertSequence(expected.Scores, actual.Scores, AssertSame);
        AssertSequence(expected.Stamps, actual.Stamps, AssertSame);
        AssertSequence(expected.Collection, actual.Collection, (e, a) => Assert.Equal(e, a));
        AssertSequence(expected.Sequence, actual.Sequence, (e, a) => Assert.Equal(e, a));
        AssertSequence(expected.History, actual.History, AssertSame);

        AssertDictionary(expected.ByName, actual.ByName, (e, a) => Assert.Equal(e, a));
        AssertDictionary(expected.ByInt, actual.ByInt, (e, a) => Assert.Equal(e, a));
        AssertDictionary(expected.ByLong, actual.ByLong, AssertSame);
        AssertDictionary(expected.ByGuid, actual.ByGuid, AssertSame);
        AssertDictionary(expected.ByPhase, actual.ByPhase, (e, a) => Assert.Equal(e, a));
        AssertDictionary(expected.Sensors, actual.Sensors, AssertSame);
        AssertDictionary(expected.ReadOnlyByInt, actual.ReadOnlyByInt, (e, a) => Assert.Equal(e, a));
        AssertDictionary(expected.ReadOnlyByPhase, actual.ReadOnlyByPhase, (e, a) => Assert.Equal(e, a));
        AssertDictionary(expected.Threads, actual.Threads, (e, a) => AssertSequence(e, a, AssertSame));

        AssertSame(expected.Reading, actual.Reading);
        AssertSame(expected.LastTurn, actual.LastTurn);
        AssertSame(expected.Exchange, actual.Exchange);
        AssertSequence(expected.Exchanges, actual.Exchanges, AssertSame);
    }

    // Bit patterns: exact (-0.0 stays -0.0), and all NaNs are one value, as in JSON.
    private static void AssertSame(double expected, double actual)
        => Assert.Equal(BitConverter.DoubleToInt64Bits(double.IsNaN(expected) ? double.NaN : expected), BitConverter.DoubleToInt64Bits(double.IsNaN(actual) ? double.NaN : actual));

    private static void AssertSame(float expected, float actual)
        => Assert.Equal(BitConverter.SingleToInt32Bits(float.IsNaN(expected) ? float.NaN : expected), BitConverter.SingleToInt32Bits(float.IsNaN(actual) ? float.NaN : actual));

    // The text, so that the scale (1.50 against 1.5) is compared too.
    private static void AssertSame(decimal expected, decimal actual)
        => Assert.Equal(expected.ToString(CultureInfo.InvariantCulture), actual.ToString(CultureInfo.InvariantCulture));

    private static void AssertSame(DateTime expected, DateTime actual) => AllKindsSample.AssertSameDateTime(expected, actual);

    private static void AssertSame(DateTimeOffset expected, DateTimeOffset actual) => AllKindsSample.AssertSameDateTimeOffset(expected, actual);

    private static void AssertSame(Uri? expected, Uri? actual)
    {
        Assert.Equal(expected is null, actual is null);
        Assert.Equal(expected?.IsAbsoluteUri, actual?.IsAbsoluteUri);
        Assert.Equal(expected?.OriginalString, actual?.OriginalString);
    }

    private static void AssertSame(JsonNode? expected, JsonNode? actual)
        => Assert.True(JsonNode.DeepEquals(expected, actual), $"{expected?.ToJsonString() ?? "null"} != {actual?.ToJsonString() ?? "null"}");

    private static void AssertSame(Reading expected, Reading actual)
    {
        Assert.Equal(expected.Sensor, actual.Sensor);
        AssertSame(expected.Value, actual.Value);
        Assert.Equal(expected.Day, actual.Day);
    }

    private static void AssertSame(Turn? expected, Turn? actual)
    {
        Assert.Equal(expected is null, actual is null);
        Assert.Equal(expected?.Role, actual?.Role);
        Assert.Equal(expected?.Text, actual?.Text);
        Assert.Equal(expected?.Tokens, actual?.Tokens);
    }

    private static void AssertSame(Exchange? expected, Exchange? actual)
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is null || actual is null)
        {
            return;
        }

        AssertSame(expected.Question, actual.Question);
        AssertSame(expected.Answer, actual.Answer);
        AssertSequence(expected.Retries, actual.Retries, AssertSame);
        AssertSame(expected.At, actual.At);
    }

    private static void AssertSame<T>(T? expected, T? actual, Action<T, T> same)
        where T : struct
    {
        Assert.Equal(expected.HasValue, actual.HasValue);
        if (expected.HasValue)
        {
            same(expected.Value, actual!.Value);
        }
    }

    private static void AssertSequence<T>(IEnumerable<T>? expected, IEnumerable<T>? actual, Action<T, T> same)
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is null || actual is null)
        {
            return;
        }

        T[] e = expected.ToArray();
        T[] a = actual.ToArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
        {
            same(e[i], a[i]);
        }
    }

    private static void AssertSet<T>(IEnumerable<T>? expected, IEnumerable<T>? actual)
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is not null && actual is not null)
        {
            Assert.Equal(expected.Count(), actual.Count());
            Assert.True(actual.ToHashSet().SetEquals(expected), "the sets differ");
        }
    }

    private static void AssertDictionary<TKey, TValue>(IEnumerable<KeyValuePair<TKey, TValue>>? expected, IEnumerable<KeyValuePair<TKey, TValue>>? actual, Action<TValue, TValue> same)
        where TKey : notnull
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is null || actual is null)
        {
            return;
        }

        Dictionary<TKey, TValue> a = actual.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(expected.Count(), a.Count);
        foreach ((TKey key, TValue value) in expected)
        {
            Assert.True(a.TryGetValue(key, out TValue? found), $"missing key {key}");
            same(value, found!);
        }
    }
}
