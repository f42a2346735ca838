using System;
using System.Buffers;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using StateGen.Secrets;

namespace StateGen.Serialization;

/// <summary>
/// Helpers that generated serializers call. Not meant for application code; the surface may change between minor
/// versions in step with the generator that ships in the same package.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class StateJson
{
    /// <summary>The hard nesting limit for stored documents (<see cref="StateManagerOptions.MaxDepth"/> may only lower it).</summary>
    public const int MaxDepth = 256;

    /// <summary>Writer options at the hard limit (schema upgrades; the manager applies its own limit).</summary>
    public static JsonWriterOptions WriterOptions => WriterOptionsFor(MaxDepth);

    /// <summary>Reader options at the hard limit (schema upgrades; the manager applies its own limit).</summary>
    public static JsonReaderOptions ReaderOptions => ReaderOptionsFor(MaxDepth);

    /// <summary>Writer options with a nesting limit.</summary>
    public static JsonWriterOptions WriterOptionsFor(int maxDepth) => new() { MaxDepth = maxDepth, SkipValidation = false };

    /// <summary>Reader options with a nesting limit.</summary>
    public static JsonReaderOptions ReaderOptionsFor(int maxDepth) => new() { MaxDepth = maxDepth, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Moves to the next token; throws when the document ends early.</summary>
    public static void Read(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw new StateJsonShapeException("The document ended early.");
        }
    }

    /// <summary>Throws unless the reader is on <paramref name="expected"/>.</summary>
    public static void Expect(ref Utf8JsonReader reader, JsonTokenType expected)
    {
        if (reader.TokenType != expected)
        {
            throw new StateJsonShapeException($"Expected {expected} but found {reader.TokenType}.");
        }
    }

    /// <summary>Reads a string value; <see langword="null"/> for a JSON null.</summary>
    public static string? ReadString(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        Expect(ref reader, JsonTokenType.String);
        return reader.GetString();
    }

    /// <summary>Writes a double; NaN and infinities as the strings <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>.</summary>
    /// <summary>Writes a double member: its pre-encoded <paramref name="name"/> and value in one call when the value is finite.</summary>
    public static void WriteDouble(Utf8JsonWriter writer, JsonEncodedText name, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumber(name, value);
        }
        else
        {
            writer.WritePropertyName(name);
            WriteDouble(writer, value);
        }
    }

    /// <summary>Writes a float member: its pre-encoded <paramref name="name"/> and value in one call when the value is finite.</summary>
    public static void WriteSingle(Utf8JsonWriter writer, JsonEncodedText name, float value)
    {
        if (float.IsFinite(value))
        {
            writer.WriteNumber(name, value);
        }
        else
        {
            writer.WritePropertyName(name);
            WriteSingle(writer, value);
        }
    }

    /// <summary>Writes a string-keyed dictionary entry holding a double: key and value in one call when the value is finite.</summary>
    public static void WriteDouble(Utf8JsonWriter writer, string key, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumber(key, value);
        }
        else
        {
            writer.WritePropertyName(key);
            WriteDouble(writer, value);
        }
    }

    /// <summary>Writes a string-keyed dictionary entry holding a float: key and value in one call when the value is finite.</summary>
    public static void WriteSingle(Utf8JsonWriter writer, string key, float value)
    {
        if (float.IsFinite(value))
        {
            writer.WriteNumber(key, value);
        }
        else
        {
            writer.WritePropertyName(key);
            WriteSingle(writer, value);
        }
    }

    /// <summary>Writes a double: a number when finite, else <c>"NaN"</c>, <c>"Infinity"</c> or <c>"-Infinity"</c>.</summary>
    public static void WriteDouble(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
        }
    }

    /// <summary>Reads what <see cref="WriteDouble(Utf8JsonWriter, double)"/> wrote.</summary>
    public static double ReadDouble(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString() switch
            {
                "NaN" => double.NaN,
                "Infinity" => double.PositiveInfinity,
                "-Infinity" => double.NegativeInfinity,
                _ => throw new StateJsonShapeException("Expected a number."),
            };
        }

        return reader.GetDouble();
    }

    /// <summary>Writes a float the way <see cref="WriteDouble(Utf8JsonWriter, double)"/> writes a double.</summary>
    public static void WriteSingle(Utf8JsonWriter writer, float value)
    {
        if (float.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteStringValue(float.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
        }
    }

    /// <summary>Reads what <see cref="WriteSingle(Utf8JsonWriter, float)"/> wrote.</summary>
    public static float ReadSingle(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return (float)ReadDouble(ref reader);
        }

        return reader.GetSingle();
    }

    /// <summary>Writes a char as a one-character string.</summary>
    public static void WriteChar(Utf8JsonWriter writer, char value)
    {
        Span<char> one = stackalloc char[1];
        one[0] = value;
        writer.WriteStringValue(one);
    }

    /// <summary>Reads what <see cref="WriteChar"/> wrote.</summary>
    public static char ReadChar(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.String);
        string? s = reader.GetString();
        if (s is null || s.Length != 1)
        {
            throw new StateJsonShapeException("Expected a one-character string.");
        }

        return s[0];
    }

    /// <summary>Writes a TimeSpan in the invariant constant format (<c>[-][d.]hh:mm:ss[.fffffff]</c>).</summary>
    public static void WriteTimeSpan(Utf8JsonWriter writer, TimeSpan value) => WriteFormatted(writer, value, "c");

    /// <summary>Reads what <see cref="WriteTimeSpan"/> wrote.</summary>
    public static TimeSpan ReadTimeSpan(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.String);
        if (!TimeSpan.TryParseExact(reader.GetString(), "c", CultureInfo.InvariantCulture, out TimeSpan value))
        {
            throw new StateJsonShapeException("Expected a time span.");
        }

        return value;
    }

    /// <summary>Formats an invariant-culture value into a stack buffer and writes it as a JSON string (no allocation).</summary>
    private static void WriteFormatted<T>(Utf8JsonWriter writer, T value, string format)
        where T : IUtf8SpanFormattable
    {
        // Formatted straight to UTF-8: no UTF-16 buffer to transcode.
        Span<byte> buffer = stackalloc byte[48];
        value.TryFormat(buffer, out int written, format, CultureInfo.InvariantCulture);
        writer.WriteStringValue(buffer.Slice(0, written));
    }

    private static readonly string[] IsoDateTimeFormats =
    {
        "yyyy'-'MM'-'dd'T'HH':'mm':'ssK",
        "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'FFFFFFFK",
    };

    /// <summary>Writes a DateTime member: its pre-encoded <paramref name="name"/> and the round-trip format in one call.</summary>
    public static void WriteDateTime(Utf8JsonWriter writer, JsonEncodedText name, DateTime value)
    {
        Span<byte> buffer = stackalloc byte[48];
        value.TryFormat(buffer, out int written, "O", CultureInfo.InvariantCulture);
        writer.WriteString(name, buffer.Slice(0, written));
    }

    /// <summary>Writes a DateTime in round-trip format, keeping its <see cref="DateTime.Kind"/>.</summary>
    public static void WriteDateTime(Utf8JsonWriter writer, DateTime value) => WriteFormatted(writer, value, "O");

    /// <summary>Reads what <see cref="WriteDateTime(Utf8JsonWriter, DateTime)"/> wrote: UTC stays UTC, unspecified stays unspecified, local stays local.</summary>
    public static DateTime ReadDateTime(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.String);

        // System.Text.Json's ISO 8601 parser has the same kind rules (Z: UTC, an offset: converted to local, none:
        // unspecified) and reads the "O" form without allocating; anything it refuses takes the path below.
        if (reader.TryGetDateTime(out DateTime parsed))
        {
            return parsed;
        }

        string? text = reader.GetString();

        // "O" is what StateGen writes; other ISO 8601 forms (fewer fraction digits, as System.Text.Json writes) are read
        // with the same kind rules: Z is UTC, an offset is local, none is unspecified.
        if (!DateTime.TryParseExact(text, "O", CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out DateTime value)
            && !DateTime.TryParseExact(text, IsoDateTimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out value))
        {
            throw new StateJsonShapeException("Expected a date and time.");
        }

        return value;
    }

    /// <summary>Writes a byte array as base64, or null.</summary>
    public static void WriteBytes(Utf8JsonWriter writer, byte[]? value)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteBase64StringValue(value);
        }
    }

    /// <summary>Reads what <see cref="WriteBytes"/> wrote.</summary>
    public static byte[]? ReadBytes(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        Expect(ref reader, JsonTokenType.String);
        return reader.GetBytesFromBase64();
    }

    /// <summary>Writes a DateOnly as <c>yyyy-MM-dd</c>.</summary>
    public static void WriteDateOnly(Utf8JsonWriter writer, DateOnly value) => WriteFormatted(writer, value, "O");

    /// <summary>Reads what <see cref="WriteDateOnly"/> wrote.</summary>
    public static DateOnly ReadDateOnly(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.String);
        return DateOnly.TryParseExact(reader.GetString(), "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly value)
            ? value
            : throw new StateJsonShapeException("Expected a date.");
    }

    /// <summary>Writes a TimeOnly as <c>HH:mm:ss.fffffff</c>.</summary>
    public static void WriteTimeOnly(Utf8JsonWriter writer, TimeOnly value) => WriteFormatted(writer, value, "O");

    /// <summary>Reads what <see cref="WriteTimeOnly"/> wrote.</summary>
    public static TimeOnly ReadTimeOnly(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.String);
        string? text = reader.GetString();
        return TimeOnly.TryParseExact(text, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out TimeOnly value)
            || TimeOnly.TryParseExact(text, "HH':'mm':'ss'.'FFFFFFF", CultureInfo.InvariantCulture, DateTimeStyles.None, out value)
            || TimeOnly.TryParseExact(text, "HH':'mm':'ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out value)
            ? value
            : throw new StateJsonShapeException("Expected a time of day.");
    }

    /// <summary>Writes a Uri as its original string, or null.</summary>
    public static void WriteUri(Utf8JsonWriter writer, Uri? value) => writer.WriteStringValue(value?.OriginalString);

    /// <summary>Reads what <see cref="WriteUri"/> wrote.</summary>
    public static Uri? ReadUri(ref Utf8JsonReader reader)
    {
        string? text = ReadString(ref reader);
        if (text is null)
        {
            return null;
        }

        return Uri.TryCreate(text, UriKind.RelativeOrAbsolute, out Uri? value) ? value : throw new StateJsonShapeException("Expected a URI.");
    }

    /// <summary>Writes a Version as text, or null.</summary>
    public static void WriteVersion(Utf8JsonWriter writer, Version? value) => writer.WriteStringValue(value?.ToString());

    /// <summary>Reads what <see cref="WriteVersion"/> wrote.</summary>
    public static Version? ReadVersion(ref Utf8JsonReader reader)
    {
        string? text = ReadString(ref reader);
        if (text is null)
        {
            return null;
        }

        return Version.TryParse(text, out Version? value) ? value : throw new StateJsonShapeException("Expected a version.");
    }

    /// <summary>
    /// Writes a <see cref="System.Text.Json.Nodes.JsonNode"/>, or null: as it is, except that every string value in it
    /// passes the secret scan like any other stored string (<see cref="WriteScanned"/>).
    /// </summary>
    public static void WriteNode(Utf8JsonWriter writer, System.Text.Json.Nodes.JsonNode? value)
    {
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        int maxDepth = MaxDepthOf(writer);
        WriteScanned(writer, value, static (node, scratch) => node.WriteTo(scratch), maxDepth, maxDepth + 1);
    }

    /// <summary>
    /// Writes a value of a type delegated to a <c>JsonSerializerContext</c> (generated writers call it): the context
    /// writes it, and every string value in what it wrote passes the secret scan like any other stored string. The
    /// context's own depth check applies (its <see cref="JsonException"/> goes to the caller).
    /// </summary>
    public static void WriteDelegated<T>(Utf8JsonWriter writer, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
        => WriteScanned(
            writer,
            (Value: value, TypeInfo: typeInfo),
            static (state, scratch) => JsonSerializer.Serialize(scratch, state.Value, state.TypeInfo),
            scratchMaxDepth: 0, // the writer's default (1,000): the context's MaxDepth is the check that applies
            readerMaxDepth: Math.Max(typeInfo.Options.MaxDepth, 64) + 1);

    private static int MaxDepthOf(Utf8JsonWriter writer) => writer.Options.MaxDepth == 0 ? 64 : writer.Options.MaxDepth;

    // The scratch buffer and writer of WriteScanned, kept per thread (taken while in use, so a nested call gets its own).
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scanBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_scanWriter;

    [ThreadStatic]
    private static int t_scanWriterDepth; // the MaxDepth t_scanWriter was made with (its Options may report 0 as the default)

    /// <summary>
    /// Writes a JSON value (written by <paramref name="write"/> into a scratch buffer first) token by token, so that every
    /// string value in it goes through <see cref="SecretScan.WriteString(Utf8JsonWriter, string?)"/>; property names,
    /// numbers and literals are copied. The scratch buffer is zeroed after each use (it may hold a secret or an encrypted
    /// member's plaintext) and kept per thread unless it grew large. Nesting deeper than the scratch writer or the reader
    /// allows fails as they do; the real writer applies its own depth limit to what is copied.
    /// </summary>
    private static void WriteScanned<TState>(Utf8JsonWriter writer, TState state, Action<TState, Utf8JsonWriter> write, int scratchMaxDepth, int readerMaxDepth)
    {
        ArrayBufferWriter<byte> buffer = t_scanBuffer ?? new ArrayBufferWriter<byte>(1024);
        Utf8JsonWriter? scratch = t_scanWriter;
        t_scanBuffer = null;
        t_scanWriter = null;
        if (scratch is null || t_scanWriterDepth != scratchMaxDepth)
        {
            // Not disposed: a writer left by a failed write may hold pending bytes, which Dispose would flush into the
            // buffer (it owns nothing else; Reset below discards them in a reused one).
            scratch = new Utf8JsonWriter(buffer, new JsonWriterOptions { MaxDepth = scratchMaxDepth, SkipValidation = true });
        }

        try
        {
            scratch.Reset(buffer);
            write(state, scratch);
            scratch.Flush();
            var reader = new Utf8JsonReader(buffer.WrittenSpan, new JsonReaderOptions { MaxDepth = readerMaxDepth });
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: writer.WriteStartObject(); break;
                    case JsonTokenType.EndObject: writer.WriteEndObject(); break;
                    case JsonTokenType.StartArray: writer.WriteStartArray(); break;
                    case JsonTokenType.EndArray: writer.WriteEndArray(); break;
                    case JsonTokenType.PropertyName:
                        if (reader.ValueIsEscaped)
                        {
                            writer.WritePropertyName(reader.GetString()!);
                        }
                        else
                        {
                            writer.WritePropertyName(reader.ValueSpan);
                        }

                        break;
                    case JsonTokenType.String:
                        if (!reader.ValueIsEscaped && reader.ValueSpan.Length < SecretScanner.MinimumLength)
                        {
                            writer.WriteStringValue(reader.ValueSpan); // too short to hold a secret
                        }
                        else
                        {
                            SecretScan.WriteString(writer, reader.GetString());
                        }

                        break;
                    case JsonTokenType.Number: writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true); break;
                    case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                    case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                    case JsonTokenType.Null: writer.WriteNullValue(); break;
                }
            }
        }
        finally
        {
            buffer.Clear();
            if (buffer.Capacity <= 1 << 20)
            {
                t_scanBuffer = buffer;
                t_scanWriter = scratch;
                t_scanWriterDepth = scratchMaxDepth;
            }
        }
    }

    /// <summary>Reads what <see cref="WriteNode"/> wrote, as <typeparamref name="T"/> (a JSON null: <see langword="null"/>).</summary>
    /// <exception cref="JsonException">The value is not a <typeparamref name="T"/> (for example an array for a <c>JsonObject</c> member).</exception>
    public static T? ReadNode<T>(ref Utf8JsonReader reader)
        where T : System.Text.Json.Nodes.JsonNode
    {
        EnsureTextDecodes(reader);
        System.Text.Json.Nodes.JsonNode? node = System.Text.Json.Nodes.JsonNode.Parse(ref reader);
        T? value = node switch
        {
            null => null,
            T typed => typed,
            _ => throw new StateJsonShapeException($"Expected a {typeof(T).Name}."),
        };
        try
        {
            // A JsonObject reads its members lazily: one stored twice would throw an untyped ArgumentException at the
            // caller's first access. Refused here, as duplicate members are everywhere else.
            EnsureNoDuplicateMembers(value);
        }
        catch (ArgumentException)
        {
            throw new StateJsonShapeException("A stored JSON object has a member more than once.");
        }

        return value;
    }

    private static void EnsureNoDuplicateMembers(System.Text.Json.Nodes.JsonNode? node)
    {
        switch (node)
        {
            case System.Text.Json.Nodes.JsonObject obj:
                foreach (KeyValuePair<string, System.Text.Json.Nodes.JsonNode?> member in obj)
                {
                    EnsureNoDuplicateMembers(member.Value);
                }

                break;
            case System.Text.Json.Nodes.JsonArray array:
                foreach (System.Text.Json.Nodes.JsonNode? item in array)
                {
                    EnsureNoDuplicateMembers(item);
                }

                break;
        }
    }

    /// <summary>Reads a JsonElement member's value (generated readers call it).</summary>
    /// <exception cref="JsonException">A string or name in it escapes an unpaired surrogate.</exception>
    public static JsonElement ReadElement(ref Utf8JsonReader reader)
    {
        EnsureTextDecodes(reader);
        return JsonElement.ParseValue(ref reader);
    }

    /// <summary>
    /// Throws when a string or name of the value at <paramref name="reader"/> (a copy: the caller's reader does not move)
    /// escapes an unpaired surrogate (<c>"\udc00"</c>). That is JSON syntax, so a JsonElement or JsonNode holds it, but
    /// writing it back (a save) or reading it as text throws an untyped <see cref="InvalidOperationException"/>. Only escaped
    /// strings are decoded.
    /// </summary>
    private static void EnsureTextDecodes(Utf8JsonReader reader)
    {
        try
        {
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                int depth = reader.CurrentDepth;
                while (reader.Read() && reader.CurrentDepth > depth)
                {
                    Decode(ref reader);
                }
            }
            else
            {
                Decode(ref reader);
            }
        }
        catch (InvalidOperationException)
        {
            throw new StateJsonShapeException("A stored string escapes an unpaired surrogate.");
        }

        static void Decode(ref Utf8JsonReader reader)
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
            {
                _ = reader.GetString();
            }
        }
    }

    /// <summary>
    /// Writes a JsonElement as it is, except that every string value in it passes the secret scan like any other stored
    /// string; an undefined element (<c>default</c>) as null.
    /// </summary>
    public static void WriteElement(Utf8JsonWriter writer, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            writer.WriteNullValue();
        }
        else if (value.ValueKind is JsonValueKind.Object or JsonValueKind.Array or JsonValueKind.String)
        {
            int maxDepth = MaxDepthOf(writer);
            WriteScanned(writer, value, static (element, scratch) => element.WriteTo(scratch), maxDepth, maxDepth + 1);
        }
        else
        {
            value.WriteTo(writer); // a number or a literal: no string in it
        }
    }

    /// <summary>
    /// Called by a generated reader before it assigns anything, for a get-only collection member that the stored
    /// document has: the instance must exist (unless the stored value is null) and not be read-only, or the load fails
    /// and leaves the object unchanged.
    /// </summary>
    /// <exception cref="JsonException">The getter returned null while items are stored, or a read-only collection.</exception>
    public static void EnsureFillable<T>(ICollection<T>? target, bool hasItems, string member)
    {
        if (target is null ? hasItems : target.IsReadOnly)
        {
            throw new MemberJsonException(member, $"The get-only collection member '{member}' is {(target is null ? "null" : "read-only")}, so the stored items cannot be added to it.");
        }
    }

    /// <summary>
    /// Fills a get-only collection member in place: clears the instance its getter returned and adds the read items
    /// (a stored null leaves it empty). A null instance is left null when nothing is stored.
    /// </summary>
    /// <exception cref="JsonException">See <see cref="EnsureFillable{T}"/>.</exception>
    public static void Fill<T>(ICollection<T>? target, IEnumerable<T>? items, string member)
    {
        EnsureFillable(target, items is not null, member);
        if (target is null)
        {
            return;
        }

        target.Clear();
        if (items is null)
        {
            return;
        }

        if (target is List<T> list)
        {
            list.AddRange(items);
            return;
        }

        foreach (T item in items)
        {
            target.Add(item);
        }
    }

    /// <summary>
    /// Whether an error from reading a member's value means the value is not of the member's shape: a wrong token type,
    /// a number out of range, an unknown enum name. Not a syntax error the reader reports with its position, and not an
    /// error that already names a member (a nested object's).
    /// </summary>
    public static bool IsShapeError(Exception error) => error switch
    {
        MemberJsonException => false,
        JsonException json => json.BytePositionInLine is null,
        InvalidOperationException or FormatException or OverflowException => true,
        _ => false,
    };

    /// <summary>
    /// The error for a member whose stored value is not of its shape, naming the member (<c>Topic</c>,
    /// <c>Turn.Text</c>). It never quotes the document: StateGen's own messages are kept, the reader's are reduced to their type.
    /// </summary>
    public static JsonException MemberShapeError(string member, Exception error) => new MemberJsonException(
        member,
        error is StateJsonShapeException
            ? $"The stored member '{member}' is not of its declared shape: {error.Message.TrimEnd('.')}."
            : $"The stored member '{member}' is not of its declared shape ({error.GetType().Name}).");

    /// <summary>
    /// The error for a stored object that has a member more than once (<c>{"Topic":"a","Topic":"b"}</c>): a hostile or
    /// corrupted document, refused rather than read as "last one wins".
    /// </summary>
    /// <param name="member">The member's stored name, prefixed by its type's simple name inside a nested object (<c>Turn.Text</c>).</param>
    public static JsonException DuplicateMember(string member) => new MemberJsonException(member, $"The stored object has member '{member}' more than once.");

    /// <summary>
    /// The error for a stored object that has a member this program does not know more than once, read into a
    /// <c>[JsonExtensionData]</c> member. The member is not named: its name is stored data, not a declaration.
    /// </summary>
    public static JsonException DuplicateUnknownMember() => new StateJsonShapeException("The stored object has a member that is not declared (kept in [JsonExtensionData]) more than once.");

    /// <summary>The error for a stored dictionary that has a key more than once. The key is not named: it is stored data.</summary>
    public static JsonException DuplicateKey() => new StateJsonShapeException("A stored dictionary has a key more than once.");

    /// <summary>Whether the current string is a list of names (<c>"Read, Write"</c>): a combination of <c>[Flags]</c> values as System.Text.Json writes it.</summary>
    public static bool IsNameList(ref Utf8JsonReader reader)
        => reader.ValueIsEscaped || reader.HasValueSequence
            ? reader.GetString()!.Contains(',', StringComparison.Ordinal)
            : reader.ValueSpan.IndexOf((byte)',') >= 0;

    /// <summary>The names of a list (<see cref="IsNameList"/>), trimmed; an empty part stays empty (and is an unknown name).</summary>
    public static string[] NameList(ref Utf8JsonReader reader)
        => reader.GetString()!.Split(',', StringSplitOptions.TrimEntries);

    /// <summary>Throws for an enum name or number that the enum does not declare.</summary>
    public static JsonException UnknownEnumValue(string enumName) => new StateJsonShapeException($"The value is not a member of enum '{enumName}'.");

    /// <summary>Writes a value of a nested persistent type, or null.</summary>
    public static void WriteNested<T>(Utf8JsonWriter writer, T? value)
        where T : IPersistentState<T>
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            value.WriteState(writer);
        }
    }

    /// <summary>
    /// Called by a generated reader on its object's end, before it assigns anything: when that object is the whole
    /// document, nothing but whitespace may follow it, so a document with trailing data leaves the instance unchanged.
    /// </summary>
    public static void EnsureDocumentEnds(Utf8JsonReader reader)
    {
        if (reader.CurrentDepth == 0 && reader.Read())
        {
            throw new StateJsonShapeException("Unexpected data after the document.");
        }
    }

    /// <summary>Reads a value of a nested persistent type, or null.</summary>
    public static T? ReadNested<T>(ref Utf8JsonReader reader)
        where T : IPersistentState<T>
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return default;
        }

        Expect(ref reader, JsonTokenType.StartObject);
        T value = T.CreateState();
        value.ReadState(ref reader);
        return value;
    }
}

/// <summary>
/// An error StateGen's own reading helpers raise: its message is fixed text and names of the type's declaration, never
/// bytes of the document, so it may be repeated in <see cref="StateSerializationException"/> (a <see cref="JsonException"/>
/// from a reader, a converter or a delegated context may quote the document and is reduced to its type).
/// </summary>
internal sealed class StateJsonShapeException(string message) : JsonException(message);

/// <summary>
/// A stored document is not of the type's shape at a member the message names. The message is built from the type's
/// declaration only, never from the document, so it is safe to show in <see cref="StateSerializationException"/>.
/// </summary>
internal sealed class MemberJsonException : JsonException
{
    public MemberJsonException(string member, string message)
        : base(message) => Member = member;

    /// <summary>The member (its path inside the type, e.g. <c>Turn.Text</c>).</summary>
    public string Member { get; }
}
