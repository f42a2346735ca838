using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using StateGen.Migrations;
using StateGen.Serialization;

namespace StateGen.Benchmarks;

/// <summary>
/// Per-document cost of a three-step schema upgrade (v1 → v4) of a stored agent state:
/// <list type="bullet">
/// <item>v1 → v2 renames <c>Title</c> to <c>Subject</c>;</item>
/// <item>v2 → v3 adds <c>Priority</c> with the default 5 (written by the step's hook, so both sides write it);</item>
/// <item>v3 → v4 removes <c>Obsolete</c>.</item>
/// </list>
/// The candidate is <see cref="SchemaUpgrader.Upgrade"/> with the steps built the way generated code builds them (a
/// static array; a step has a hook only when the user implemented <c>UpgradeFromVn</c>, here only v2 → v3). The baseline is a System.Text.Json
/// <see cref="JsonNode"/> parse, edit, write into a fresh byte array with the same writer options.
/// <see cref="Setup"/> checks that both give the same document (ignoring property order), that StateGen's output is
/// byte-for-byte stable, and prints the sizes.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[BenchConfig(launchCount: 3)]
public class UpgradeBenchmarks
{
    private const string TypeName = "bench";

    private static readonly UpgradeStep[] Steps =
    {
        // v1 -> v2: rename.
        new(1, new Dictionary<string, string> { ["Title"] = "Subject" }, Array.Empty<string>(), Array.Empty<string>(), null),
        // v2 -> v3: added member; the hook writes its default so the output has it, like the baseline's.
        new(2, new Dictionary<string, string>(), Array.Empty<string>(), Array.Empty<string>(), static upgrade => upgrade.Set("Priority", 5)),
        // v3 -> v4: removed member.
        new(3, new Dictionary<string, string>(), new[] { "Obsolete" }, Array.Empty<string>(), null),
    };

    private byte[] _document = null!;

    /// <summary>Chat turns in the v1 document: 5 gives about 2.4 KB, 50 about 11 KB.</summary>
    [Params(5, 50)]
    public int Turns { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _document = CreateDocument(Turns, Text);

        byte[] stateGen = Upgrade_StateGen();
        byte[] stateGenAgain = Upgrade_StateGen();
        if (!stateGen.AsSpan().SequenceEqual(stateGenAgain))
        {
            throw new InvalidOperationException(
                "SchemaUpgrader.Upgrade is not byte-for-byte stable across two runs.\n" +
                "1st: " + Encoding.UTF8.GetString(stateGen) + "\n" +
                "2nd: " + Encoding.UTF8.GetString(stateGenAgain));
        }

        byte[] jsonNode = Upgrade_JsonNode();
        using (JsonDocument a = JsonDocument.Parse(stateGen))
        using (JsonDocument b = JsonDocument.Parse(jsonNode))
        using (JsonDocument input = JsonDocument.Parse(_document))
        {
            CheckUpgraded(a.RootElement, input.RootElement, "StateGen");
            CheckUpgraded(b.RootElement, input.RootElement, "JsonNode");
            if (!SemanticallyEqual(a.RootElement, b.RootElement, "$", out string where))
            {
                throw new InvalidOperationException(
                    $"The two upgrades do not give the same document (first difference at {where}); the comparison would not be like for like.\n" +
                    "StateGen: " + Encoding.UTF8.GetString(stateGen) + "\n" +
                    "JsonNode: " + Encoding.UTF8.GetString(jsonNode));
            }
        }

        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"// Upgrade sizes (Turns={Turns}{(Text == DocumentText.Relaxed ? "" : ", " + Text)}): input v1 {_document.Length} B; StateGen v4 {stateGen.Length} B; JsonNode v4 {jsonNode.Length} B; " +
            $"StateGen output SHA-256 {Convert.ToHexString(SHA256.HashData(stateGen))[..16]}."));
    }

    [Benchmark(Baseline = true, Description = "STJ JsonNode parse-edit-write")]
    [BenchmarkCategory("Upgrade v1->v4")]
    public byte[] Upgrade_JsonNode()
    {
        JsonObject root = JsonNode.Parse(_document)!.AsObject();

        // v1 -> v2: rename (remove, then add under the new name).
        if (root.Remove("Title", out JsonNode? title))
        {
            root["Subject"] = title;
        }

        // v2 -> v3: added member with its default.
        root["Priority"] = 5;

        // v3 -> v4: removed member.
        root.Remove("Obsolete");

        var output = new ArrayBufferWriter<byte>(_document.Length + 64);
        using (var writer = new Utf8JsonWriter(output, StateJson.WriterOptions))
        {
            root.WriteTo(writer);
        }

        return output.WrittenSpan.ToArray();
    }

    [Benchmark(Description = "StateGen SchemaUpgrader")]
    [BenchmarkCategory("Upgrade v1->v4")]
    public byte[] Upgrade_StateGen()
        => SchemaUpgrader.Upgrade(TypeName, 1, 4, _document, Steps)
            ?? throw new InvalidOperationException("The chain has a gap.");

    // Not benchmarks: pieces for the cost breakdown in PairedCheck (-- --paired-upgrade). They are not part of the
    // runtime and not what the generated code calls.

    /// <summary>For the cross-check only: how the text of the v1 document is written (<see cref="DocumentText"/>).</summary>
    internal DocumentText Text { get; init; }

    /// <summary>The v1 document (built in <see cref="Setup"/>).</summary>
    internal int DocumentLength => _document.Length;

    /// <summary>One step of the chain (v1 → v2, the rename) through <see cref="SchemaUpgrader"/>.</summary>
    internal byte[] OneStep_StateGen()
        => SchemaUpgrader.Upgrade(TypeName, 1, 2, _document, Steps)
            ?? throw new InvalidOperationException("The chain has a gap.");

    /// <summary>The floor of any reader-based pass: tokenize the document once, skipping the top-level values.</summary>
    internal int TokenizeOnly()
    {
        var reader = new Utf8JsonReader(_document, StateJson.ReaderOptions);
        int members = 0;
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            reader.Read();
            reader.Skip();
            members++;
        }

        return members;
    }

    /// <summary>
    /// A prototype of the three steps fused into one streaming pass (what a composed chain could cost): one tokenize,
    /// member names matched as UTF-8 without allocating strings, values copied raw, Priority written at the end, into a
    /// fresh byte array like <see cref="SchemaUpgrader"/>'s. Gives the same bytes as the chain (checked in PairedCheck).
    /// </summary>
    internal byte[] FusedPrototype()
    {
        ReadOnlySpan<byte> document = _document;
        var output = new ArrayBufferWriter<byte>(document.Length + 64);
        using (var writer = new Utf8JsonWriter(output, StateJson.WriterOptions))
        {
            var reader = new Utf8JsonReader(document, StateJson.ReaderOptions);
            reader.Read();
            writer.WriteStartObject();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool drop = reader.ValueTextEquals("Obsolete"u8);
                bool rename = !drop && reader.ValueTextEquals("Title"u8);
                string? escapedName = reader.ValueIsEscaped ? reader.GetString() : null;
                ReadOnlySpan<byte> name = reader.ValueSpan; // points into the document, still valid after Read
                reader.Read();
                if (drop)
                {
                    reader.Skip();
                    continue;
                }

                if (rename)
                {
                    writer.WritePropertyName("Subject"u8);
                }
                else if (escapedName is not null)
                {
                    writer.WritePropertyName(escapedName);
                }
                else
                {
                    writer.WritePropertyName(name);
                }

                int start = (int)reader.TokenStartIndex;
                reader.Skip();
                writer.WriteRawValue(document[start..(int)reader.BytesConsumed], skipInputValidation: true);
            }

            writer.WriteNumber("Priority"u8, 5);
            writer.WriteEndObject();
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// A v1 document shaped like an agent state. Written with the relaxed encoder, as a store or tool other than
    /// StateGen's own writer may have written it: '+' and non-ASCII text stay unescaped, so a writer that re-escapes
    /// them (the default encoder: <c>\u002B</c>, <c>\u00FC</c>) makes the document grow.
    /// </summary>
    private static byte[] CreateDocument(int turns, DocumentText text)
    {
        if (text == DocumentText.DefaultEncoder)
        {
            // Through the default encoder, as StateGen's own writer (StateJson.WriterOptions) writes it.
            using JsonDocument relaxed = JsonDocument.Parse(CreateDocument(turns, DocumentText.Relaxed));
            var escaped = new ArrayBufferWriter<byte>(16384);
            using (var writer = new Utf8JsonWriter(escaped, StateJson.WriterOptions))
            {
                relaxed.WriteTo(writer);
            }

            return escaped.WrittenSpan.ToArray();
        }

        if (text == DocumentText.PlainAscii)
        {
            return ToPlainAscii(CreateDocument(turns, DocumentText.Relaxed));
        }

        var start = new DateTimeOffset(2025, 11, 25, 9, 30, 0, TimeSpan.Zero);
        var buffer = new ArrayBufferWriter<byte>(16384);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("Id", "researcher-7f3a");
            w.WriteString("Title", "Schema upgrades for C++ and C# agents: Zürich team notes (v1+v2)");
            w.WriteString(
                "Obsolete",
                "Legacy scratchpad kept from the first prototype. It held the tool-call transcript before the history moved " +
                "into Turns; nothing reads it any more. Contents: search(\"schema evolution + streaming\"), fetch(docs/upgrade.md), " +
                "summarize(naïve DOM approach → streaming), note: keep raw bytes for unchanged members; résumé of the " +
                "Orleans/LangGraph failures attached below for reference only.");
            w.WriteNumber("Score", 0.875);
            w.WriteStartArray("Turns");
            for (int i = 0; i < turns; i++)
            {
                w.WriteStartObject();
                w.WriteString("Role", i % 2 == 0 ? "User" : "Assistant");
                w.WriteString(
                    "Text",
                    i % 2 == 0
                        ? $"Question {i}: does the v{i % 4 + 1}+ schema keep 'Notes' as-is after the upgrade, and the turns too? Größe ≈ {i * 3 + 1} KB."
                        : $"Answer {i}: yes: rename + default + remove run as one chain on load; unchanged values are copied as they are (naïve re-escaping would grow them).");
                w.WriteString("At", start.AddSeconds(37 * i));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("Notes");
            w.WriteString("summary", "Storage is LiteDB, one file per process, direct mode; upgrades run on load.");
            w.WriteString("next", "Benchmark the three-step upgrade against JsonNode parse+edit+write on 2.4 KB and 11 KB.");
            w.WriteString("owner", "team-agents (Zürich + Montréal)");
            w.WriteString("ticket", "STATE-1234, STATE-1240 + STATE-1241");
            w.WriteString("risk", "Re-escaping '+' as \\u002B changes stored bytes; byte-stable output matters for diffs.");
            w.WriteString("glossary", "DOM = document object model; raw copy = bytes copied without parsing; 日本語 text stays UTF-8.");
            w.WriteString("contacts", "ana@example.com, jörg+agents@example.org, support+state@example.net");
            w.WriteString("plan", "1) rename Title → Subject 2) add Priority = 5 3) drop Obsolete; all three in one load.");
            w.WriteString(
                "retro",
                "What went well: the lock file caught two unbumped shape changes before review. What to improve: custom hooks " +
                "need examples for type changes (string → int, list → dictionary); the code fix should add the stub next to " +
                "the type. Follow-up owners: Ana (docs), Jörg (generator), Li (runtime + benchmarks).");
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] ToPlainAscii(byte[] document)
    {
        var text = new StringBuilder(Encoding.UTF8.GetString(document));
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] > 0x7E || "+'<>&`".Contains(text[i], StringComparison.Ordinal))
            {
                text[i] = '-';
            }
        }

        // The quotes escaped inside strings (\") become plain dashes too.
        return Encoding.UTF8.GetBytes(text.ToString().Replace("\\\"", "-", StringComparison.Ordinal));
    }

    /// <summary>Checks that <paramref name="upgraded"/> is <paramref name="v1"/> with the three steps applied.</summary>
    private static void CheckUpgraded(JsonElement upgraded, JsonElement v1, string who)
    {
        bool ok = !upgraded.TryGetProperty("Title", out _)
            && !upgraded.TryGetProperty("Obsolete", out _)
            && upgraded.TryGetProperty("Subject", out JsonElement subject)
            && subject.GetString() == v1.GetProperty("Title").GetString()
            && upgraded.TryGetProperty("Priority", out JsonElement priority)
            && priority.ValueKind == JsonValueKind.Number
            && priority.GetInt32() == 5
            && SemanticallyEqual(upgraded.GetProperty("Turns"), v1.GetProperty("Turns"), "$.Turns", out _)
            && SemanticallyEqual(upgraded.GetProperty("Notes"), v1.GetProperty("Notes"), "$.Notes", out _)
            && SemanticallyEqual(upgraded.GetProperty("Score"), v1.GetProperty("Score"), "$.Score", out _)
            && SemanticallyEqual(upgraded.GetProperty("Id"), v1.GetProperty("Id"), "$.Id", out _);
        if (!ok)
        {
            throw new InvalidOperationException($"The {who} upgrade did not apply rename, default and remove as expected: {upgraded.GetRawText()}");
        }
    }

    /// <summary>
    /// JSON equality ignoring property order: same property names (each once) with equal values, arrays equal element
    /// by element, strings compared after unescaping, numbers by their decimal value.
    /// </summary>
    private static bool SemanticallyEqual(JsonElement a, JsonElement b, string path, out string where)
    {
        where = path;
        if (a.ValueKind != b.ValueKind)
        {
            return false;
        }

        switch (a.ValueKind)
        {
            case JsonValueKind.Object:
                var left = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (JsonProperty p in a.EnumerateObject())
                {
                    if (!left.TryAdd(p.Name, p.Value))
                    {
                        where = path + "." + p.Name + " (duplicate)";
                        return false;
                    }
                }

                int count = 0;
                foreach (JsonProperty p in b.EnumerateObject())
                {
                    count++;
                    if (!left.TryGetValue(p.Name, out JsonElement value))
                    {
                        where = path + "." + p.Name + " (missing on one side)";
                        return false;
                    }

                    if (!SemanticallyEqual(value, p.Value, path + "." + p.Name, out where))
                    {
                        return false;
                    }
                }

                if (count != left.Count)
                {
                    where = path + " (property count or duplicates)";
                    return false;
                }

                return true;
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength())
                {
                    return false;
                }

                int i = 0;
                using (JsonElement.ArrayEnumerator ea = a.EnumerateArray())
                using (JsonElement.ArrayEnumerator eb = b.EnumerateArray())
                {
                    while (ea.MoveNext() && eb.MoveNext())
                    {
                        if (!SemanticallyEqual(ea.Current, eb.Current, $"{path}[{i++}]", out where))
                        {
                            return false;
                        }
                    }
                }

                return true;
            case JsonValueKind.String:
                return a.GetString() == b.GetString();
            case JsonValueKind.Number:
                return a.GetDecimal() == b.GetDecimal();
            default:
                return true; // true, false, null: the kind is the value.
        }
    }
}

/// <summary>How the text of the v1 document is written.</summary>
internal enum DocumentText
{
    /// <summary>'+' and non-ASCII unescaped (relaxed encoder): what the benchmark uses.</summary>
    Relaxed,

    /// <summary>The same content through the default encoder, as StateGen itself writes documents.</summary>
    DefaultEncoder,

    /// <summary>The characters the default encoder escapes replaced by '-': nothing to escape on either side.</summary>
    PlainAscii,
}
