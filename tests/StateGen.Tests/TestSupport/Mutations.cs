using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using CsCheck;

namespace StateGen.Tests.TestSupport;

/// <summary>
/// Mutations of valid inputs for the fuzz tests of StateGen's own parsers of untrusted bytes (issue #6, suite item 6).
/// Each is a pure function of the input and a <see cref="Random"/> seeded from a CsCheck-drawn number, so a failing draw
/// replays from the seed CsCheck prints.
/// </summary>
internal static class Mutations
{
    /// <summary>The byte-level mutation kinds (<see cref="Bytes"/>).</summary>
    public const int ByteKinds = 8;

    /// <summary>
    /// A byte-level mutation of <paramref name="source"/> (never changed): <paramref name="kind"/> modulo
    /// <see cref="ByteKinds"/> picks bit flips, an overwritten run (random, zero or 0xFF bytes), a truncation, an
    /// extension (random bytes or a copy of a range), a range duplicated in place, a range deleted, two ranges swapped,
    /// or several of these at once.
    /// </summary>
    public static byte[] Bytes(byte[] source, int kind, Random random)
    {
        if (source.Length == 0)
        {
            return RandomBytes(random, random.Next(1, 32));
        }

        switch (((kind % ByteKinds) + ByteKinds) % ByteKinds)
        {
            case 0:
            {
                byte[] copy = (byte[])source.Clone();
                int flips = random.Next(1, 9);
                for (int i = 0; i < flips; i++)
                {
                    copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
                }

                return copy;
            }

            case 1:
            {
                byte[] copy = (byte[])source.Clone();
                int at = random.Next(copy.Length);
                Span<byte> run = copy.AsSpan(at, Math.Min(RunLength(random), copy.Length - at));
                switch (random.Next(3))
                {
                    case 0:
                        random.NextBytes(run);
                        break;
                    case 1:
                        run.Clear();
                        break;
                    default:
                        run.Fill(0xFF);
                        break;
                }

                return copy;
            }

            case 2:
                return source[..random.Next(source.Length)];
            case 3:
            {
                byte[] tail = random.Next(2) == 0 ? RandomBytes(random, RunLength(random)) : Range(source, random);
                return [.. source, .. tail];
            }

            case 4:
            {
                byte[] range = Range(source, random);
                int at = random.Next(source.Length + 1);
                return [.. source.AsSpan(0, at), .. range, .. source.AsSpan(at)];
            }

            case 5:
            {
                int at = random.Next(source.Length);
                int length = Math.Min(RunLength(random), source.Length - at);
                return [.. source.AsSpan(0, at), .. source.AsSpan(at + length)];
            }

            case 6:
            {
                byte[] copy = (byte[])source.Clone();
                int length = Math.Min(RunLength(random), copy.Length / 2);
                if (length == 0)
                {
                    return copy;
                }

                int a = random.Next(copy.Length - length + 1);
                int b = random.Next(copy.Length - length + 1);
                byte[] first = copy.AsSpan(a, length).ToArray();
                copy.AsSpan(b, length).CopyTo(copy.AsSpan(a));
                first.CopyTo(copy.AsSpan(b));
                return copy;
            }

            default:
            {
                byte[] result = source;
                int rounds = random.Next(2, 5);
                for (int i = 0; i < rounds; i++)
                {
                    result = Bytes(result, random.Next(ByteKinds - 1), random);
                }

                return result;
            }
        }
    }

    /// <summary>
    /// A token-level edit of a JSON document: one node (a value, an object or an array) chosen at random is replaced by a
    /// value of another token type, a huge or out-of-range number, deep nesting, a huge string (starting with
    /// <paramref name="secret"/>), a special string (names, dates, base64, escapes) or broken raw text; or, in an object or
    /// array, a member or element is duplicated, deleted, renamed to a sibling's name, or an unknown one inserted.
    /// </summary>
    public static byte[] Json(byte[] document, Random random, string secret)
    {
        JsonNode? root = JsonNode.Parse(document);
        int target = random.Next(Count(root));
        var buffer = new ArrayBufferWriter<byte>(document.Length + 256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true, MaxDepth = 4096 }))
        {
            int index = 0;
            Write(writer, root, ref index, target, random, secret);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static int Count(JsonNode? node) => node switch
    {
        JsonObject o => 1 + o.Sum(p => Count(p.Value)),
        JsonArray a => 1 + a.Sum(Count),
        _ => 1,
    };

    private static void Write(Utf8JsonWriter writer, JsonNode? node, ref int index, int target, Random random, string secret)
    {
        bool hit = index++ == target;
        if (hit && (node is not JsonObject and not JsonArray || random.Next(3) == 0))
        {
            WriteReplacement(writer, node, random, secret);
            return;
        }

        switch (node)
        {
            case JsonObject obj:
            {
                var members = obj.ToList();
                int at = hit ? random.Next(members.Count + 1) : -1;
                int edit = hit ? random.Next(4) : -1; // 0 duplicate, 1 delete, 2 insert unknown, 3 rename to a sibling's name
                writer.WriteStartObject();
                for (int i = 0; i <= members.Count; i++)
                {
                    if (i == at && (edit == 2 || (members.Count == 0)))
                    {
                        writer.WritePropertyName(random.Next(2) == 0 ? "Unknown" + random.Next(100) : secret);
                        WriteReplacement(writer, null, random, secret);
                    }

                    if (i == members.Count)
                    {
                        break;
                    }

                    (string name, JsonNode? value) = members[i];
                    if (i == at && edit == 1)
                    {
                        continue;
                    }

                    writer.WritePropertyName(i == at && edit == 3 ? members[random.Next(members.Count)].Key : name);
                    Write(writer, value, ref index, target, random, secret);
                    if (i == at && edit == 0)
                    {
                        writer.WritePropertyName(name);
                        if (random.Next(2) == 0)
                        {
                            WriteAsIs(writer, value);
                        }
                        else
                        {
                            WriteReplacement(writer, value, random, secret);
                        }
                    }
                }

                writer.WriteEndObject();
                return;
            }

            case JsonArray array:
            {
                int at = hit ? random.Next(array.Count + 1) : -1;
                int edit = hit ? random.Next(3) : -1; // 0 duplicate, 1 delete, 2 insert
                writer.WriteStartArray();
                for (int i = 0; i <= array.Count; i++)
                {
                    if (i == at && (edit == 2 || array.Count == 0))
                    {
                        WriteReplacement(writer, null, random, secret);
                    }

                    if (i == array.Count)
                    {
                        break;
                    }

                    if (i == at && edit == 1)
                    {
                        continue;
                    }

                    Write(writer, array[i], ref index, target, random, secret);
                    if (i == at && edit == 0)
                    {
                        WriteAsIs(writer, array[i]);
                    }
                }

                writer.WriteEndArray();
                return;
            }

            default:
                WriteAsIs(writer, node);
                return;
        }
    }

    private static void WriteAsIs(Utf8JsonWriter writer, JsonNode? node)
    {
        if (node is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            node.WriteTo(writer);
        }
    }

    private static readonly string[] TokenSwaps = ["null", "true", "false", "0", "-1", "1", "\"\"", "\"x\"", "[]", "{}", "[1,\"a\",null,{}]", "{\"a\":1,\"b\":[true]}", "[[]]", "[null]", "{\"\":null}"];

    private static readonly string[] Numbers =
    [
        "1e400", "-1e400", "1E-400", "99999999999999999999999999999", "-99999999999999999999999999999", "1.7976931348623157e309",
        "-9223372036854775809", "9223372036854775808", "18446744073709551616", "4294967296", "2147483648", "-2147483649",
        "65536", "-32769", "256", "-129", "-0", "0.5", "-0.0", "1.0", "1e2", "79228162514264337593543950336", "0.0000000000000000000000000000001",
        "123456789012345678901234567890.123456789", "1e9999999999", "2.5e-324",
    ];

    private static readonly string[] Strings =
    [
        "NaN", "Infinity", "-Infinity", "nan", "1e400", "", " ", "Read, Write", "Read,,Write", "Read, Nope", "999", "-1", "Big", "Zero", "Admin, Admin",
        "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.9999999-14:00", "9999-12-31T23:59:59.9999999Z", "2024-02-30T00:00:00Z", "2024-01-01",
        "2024-01-01T25:00:00", "00:00:00", "23:59:59.99999999", "-10675199.02:48:05.4775809", "10675199.02:48:05.4775808", "1.00:00:00", "9999-12-31",
        "00000000-0000-0000-0000-000000000000", "{00000000-0000-0000-0000-000000000000}", "not-a-guid", "AAAA", "AA==", "A", "====", "YQ", "\u0000",
        "\ud83d\ude00", "x\u2028y", "1.2.3.4.5", "1.2", "-1.0", "http://[::1", "https://example.org/\u0000", "::", "\\\\server\\share",
        "true", "null", "0x10", "1_000", "\t1", "1 ",
    ];

    private static readonly string[] Raw =
    [
        "\"abc", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"\\u12\"", "tru", "nul", "01", "1.", ".5", "+1", "-", "1e", "[1,]", "{\"a\":1,}",
        "{\"a\"}", "{1:2}", "[1 2]", "\"a\"\"b\"", "'single'", "/*c*/1", "\"\t\"", "NaN", "Infinity", "]", "}", "{", "[", ",", ":",
    ];

    private static void WriteReplacement(Utf8JsonWriter writer, JsonNode? original, Random random, string secret)
    {
        switch (random.Next(9))
        {
            case 0:
                writer.WriteRawValue(TokenSwaps[random.Next(TokenSwaps.Length)], skipInputValidation: true);
                return;
            case 1:
                writer.WriteRawValue(Numbers[random.Next(Numbers.Length)], skipInputValidation: true);
                return;
            case 2:
            {
                int depth = random.Next(6) switch
                {
                    0 => 63,
                    1 => 64,
                    2 => 255,
                    3 => 256,
                    4 => 257,
                    _ => random.Next(1, 2000),
                };
                bool objects = random.Next(2) == 0;
                var raw = new StringBuilder(depth * 6);
                for (int i = 0; i < depth; i++)
                {
                    raw.Append(objects ? "{\"a\":" : "[");
                }

                raw.Append(random.Next(2) == 0 ? "1" : $"\"{secret}\"");
                for (int i = 0; i < depth; i++)
                {
                    raw.Append(objects ? '}' : ']');
                }

                writer.WriteRawValue(raw.ToString(), skipInputValidation: true);
                return;
            }

            case 3:
            {
                int length = random.Next(4) == 0 ? random.Next(1 << 16, 1 << 21) : random.Next(256, 1 << 14);
                writer.WriteStringValue(secret + new string((char)random.Next('a', 'z' + 1), length));
                return;
            }

            case 4:
                writer.WriteStringValue(Strings[random.Next(Strings.Length)]);
                return;
            case 5:
                writer.WriteRawValue(Raw[random.Next(Raw.Length)], skipInputValidation: true);
                return;
            case 6:
            {
                // Invalid UTF-8 inside a string, around the secret.
                byte[] bytes = [(byte)'"', .. Encoding.UTF8.GetBytes(secret), .. InvalidUtf8[random.Next(InvalidUtf8.Length)], (byte)'"'];
                writer.WriteRawValue(bytes, skipInputValidation: true);
                return;
            }

            case 7:
                // The value as another token type: a string's text as a number or raw token, a number or literal as a string.
                if (original is JsonValue value && value.GetValueKind() == JsonValueKind.String)
                {
                    string text = value.GetValue<string>();
                    writer.WriteRawValue(text.Length == 0 ? "_" : text, skipInputValidation: true); // the writer refuses an empty raw value
                }
                else
                {
                    writer.WriteStringValue(original?.ToJsonString() ?? "null");
                }

                return;
            default:
                writer.WriteStringValue(secret);
                return;
        }
    }

    private static readonly byte[][] InvalidUtf8 = [[0xC3, 0x28], [0xFF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0x80]];

    private static int RunLength(Random random) => random.Next(3) switch
    {
        0 => random.Next(1, 5),
        1 => random.Next(1, 65),
        _ => random.Next(1, 1025),
    };

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Range(byte[] source, Random random)
    {
        int at = random.Next(source.Length);
        return source.AsSpan(at, Math.Min(RunLength(random), source.Length - at)).ToArray();
    }
}

/// <summary>Runs one fuzz input on a worker task, so that a hang fails the draw instead of the whole run.</summary>
internal static class FuzzGuard
{
    /// <summary>Long enough that only a hang reaches it.</summary>
    public static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="check"/>; its exception (unwrapped) or a hang fails the draw.</summary>
    public static T Run<T>(Func<Task<T>> check)
    {
        Task<T> run = Task.Run(check);
        try
        {
            Assert.True(run.Wait(Hang), "an input hung (no result after 2 minutes)");
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }

        return run.Result;
    }

    /// <summary>
    /// Runs <paramref name="check"/> on <paramref name="iterations"/> inputs of <paramref name="gen"/>, each drawn from a
    /// CsCheck seed of its own derived from <paramref name="seed"/> (<see cref="ReliabilityRuns.FuzzSeed"/>), so a run with
    /// the same seed checks the same inputs (CsCheck's own seed fixes only its first draw; the others come from a
    /// thread's generator). A failure names its draw's seed: <c>STATEGEN_FUZZ_SEED=</c>that seed with
    /// <c>STATEGEN_FUZZ_ITERATIONS=1</c> replays it alone. A null seed (<c>STATEGEN_FUZZ_SEED=random</c>) draws new inputs.
    /// </summary>
    public static void Sample<T>(Gen<T> gen, Action<T> check, long iterations, string? seed, bool parallel = true)
    {
        if (seed is null)
        {
            gen.Sample(check, iter: iterations, threads: parallel ? -1 : 1);
            return;
        }

        if (iterations == 1)
        {
            gen.Sample(check, seed: seed, iter: 1, threads: 1);
            return;
        }

        ulong root = Root(seed);
        Parallel.For(
            0L,
            iterations,
            new ParallelOptions { MaxDegreeOfParallelism = parallel ? Environment.ProcessorCount : 1 },
            i => gen.Sample(check, seed: new PCG((uint)i, root).ToString(), iter: 1, threads: 1));
    }

    /// <summary>
    /// <see cref="Sample{T}(Gen{T}, Action{T}, long, string?, bool)"/> for an asynchronous check, one draw at a time (the
    /// file fuzz tests count outcomes in shared dictionaries); <paramref name="print"/> describes a failing draw.
    /// </summary>
    public static async Task SampleAsync<T>(Gen<T> gen, Func<T, Task> check, long iterations, string? seed, Func<T, string>? print = null)
    {
        if (seed is null || iterations == 1)
        {
            await gen.SampleAsync(check, seed: seed, iter: iterations, threads: 1, print: print);
            return;
        }

        ulong root = Root(seed);
        for (long i = 0; i < iterations; i++)
        {
            await gen.SampleAsync(check, seed: new PCG((uint)i, root).ToString(), iter: 1, threads: 1, print: print);
        }
    }

    /// <summary>The stream every draw's seed comes from: FNV-1a of the seed text.</summary>
    private static ulong Root(string seed)
    {
        ulong root = 14695981039346656037UL;
        foreach (char c in seed)
        {
            root = (root ^ c) * 1099511628211UL;
        }

        return root;
    }

    /// <inheritdoc cref="Sample{T}(Gen{T}, Action{T}, long, string?, bool)"/>
    public static void Sample<T1, T2, T3>(Gen<(T1, T2, T3)> gen, Action<T1, T2, T3> check, long iterations, string? seed, bool parallel = true)
        => Sample(gen, t => check(t.Item1, t.Item2, t.Item3), iterations, seed, parallel);

    /// <inheritdoc cref="Sample{T}(Gen{T}, Action{T}, long, string?, bool)"/>
    public static void Sample<T1, T2, T3, T4>(Gen<(T1, T2, T3, T4)> gen, Action<T1, T2, T3, T4> check, long iterations, string? seed, bool parallel = true)
        => Sample(gen, t => check(t.Item1, t.Item2, t.Item3, t.Item4), iterations, seed, parallel);
}
