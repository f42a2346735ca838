using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;

namespace StateGen.Migrations;

/// <summary>What a transformer gets: the old value, its parameters, and where it runs (for error reports).</summary>
public sealed class TransformContext
{
    internal TransformContext(string typeName, int fromVersion, string member, JsonElement? value, IReadOnlyList<string> arguments)
    {
        TypeName = typeName;
        FromVersion = fromVersion;
        Member = member;
        Value = value;
        Arguments = arguments;
    }

    /// <summary>The stable type name.</summary>
    public string TypeName { get; }

    /// <summary>The version the step reads.</summary>
    public int FromVersion { get; }

    /// <summary>The member the transformer writes.</summary>
    public string Member { get; }

    /// <summary>The old value, or <see langword="null"/> when the old document did not have it.</summary>
    public JsonElement? Value { get; }

    /// <summary>The transformer's parameters from <see cref="UpgradeTransformAttribute"/>.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>The parameter at <paramref name="index"/> as a number; throws <see cref="FormatException"/> when absent or not a number.</summary>
    public double NumberArgument(int index)
        => index < Arguments.Count && double.TryParse(Arguments[index], NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            ? value
            : throw new FormatException($"Parameter {index + 1} of the transform of '{Member}' must be a number.");
}

/// <summary>A named, parameterized conversion used by schema upgrade steps.</summary>
public interface IStateTransformer
{
    /// <summary>Writes exactly one JSON value: the member's new value. Throw to fail the load (with a typed error).</summary>
    void Transform(TransformContext context, Utf8JsonWriter writer);
}

/// <summary>
/// The transformers that <see cref="UpgradeTransformAttribute"/> names. Built in: <c>now_iso8601</c>,
/// <c>normalize_score</c> (min, max), <c>has_valid_email</c>, <c>lower</c>, <c>upper</c>, <c>trim</c>,
/// <c>parse_number</c>, <c>to_string</c>, <c>split</c> (separator), <c>join</c> (separator), <c>map_enum</c>
/// (<c>old=new</c> pairs), <c>default</c> (a JSON literal, used when the old value is missing or null).
/// </summary>
public static class StateTransformers
{
    private static readonly ConcurrentDictionary<string, IStateTransformer> Registry = new(StringComparer.Ordinal)
    {
        ["now_iso8601"] = new Delegating(static (c, w) => w.WriteStringValue(DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture))),
        ["normalize_score"] = new Delegating(NormalizeScore),
        ["has_valid_email"] = new Delegating(static (c, w) => w.WriteBooleanValue(IsValidEmail(StringOf(c)))),
        ["lower"] = new Delegating(static (c, w) => w.WriteStringValue(StringOf(c)?.ToLowerInvariant())),
        ["upper"] = new Delegating(static (c, w) => w.WriteStringValue(StringOf(c)?.ToUpperInvariant())),
        ["trim"] = new Delegating(static (c, w) => w.WriteStringValue(StringOf(c)?.Trim())),
        ["parse_number"] = new Delegating(ParseNumber),
        ["to_string"] = new Delegating(ToText),
        ["split"] = new Delegating(Split),
        ["join"] = new Delegating(Join),
        ["map_enum"] = new Delegating(MapEnum),
        ["default"] = new Delegating(Default),
    };

    /// <summary>Registers (or replaces) a transformer.</summary>
    public static void Register(string name, IStateTransformer transformer)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(transformer);
        Registry[name] = transformer;
    }

    /// <summary>Registers (or replaces) a transformer written as a delegate.</summary>
    public static void Register(string name, Action<TransformContext, Utf8JsonWriter> transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        Register(name, new Delegating(transform));
    }

    /// <summary>Finds a transformer by name.</summary>
    public static bool TryGet(string name, out IStateTransformer transformer)
    {
        bool found = Registry.TryGetValue(name, out IStateTransformer? value);
        transformer = value!;
        return found;
    }

    private static string? StringOf(TransformContext context) => context.Value is { ValueKind: JsonValueKind.String } value
        ? value.GetString()
        : context.Value is null or { ValueKind: JsonValueKind.Null } ? null : throw new FormatException($"'{context.Member}' is not text.");

    private static void NormalizeScore(TransformContext context, Utf8JsonWriter writer)
    {
        double min = context.NumberArgument(0);
        double max = context.NumberArgument(1);
        if (!(max > min))
        {
            throw new FormatException($"normalize_score of '{context.Member}' needs min < max.");
        }

        if (context.Value is not { ValueKind: JsonValueKind.Number } value)
        {
            writer.WriteNullValue();
            return;
        }

        double normalized = (value.GetDouble() - min) / (max - min);
        writer.WriteNumberValue(Math.Clamp(normalized, 0.0, 1.0));
    }

    private static bool IsValidEmail(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > 254)
        {
            return false;
        }

        int at = text.IndexOf('@');
        return at > 0 && at == text.LastIndexOf('@') && at < text.Length - 3
            && text.IndexOf('.', at) > at + 1 && text[^1] != '.'
            && System.Net.Mail.MailAddress.TryCreate(text, out System.Net.Mail.MailAddress? address) && address.Address == text;
    }

    private static void ParseNumber(TransformContext context, Utf8JsonWriter writer)
    {
        string? text = StringOf(context);
        if (text is null)
        {
            writer.WriteNullValue();
        }
        else if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long integer))
        {
            writer.WriteNumberValue(integer);
        }
        else if (decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal number))
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            throw new FormatException($"'{context.Member}' is not a number.");
        }
    }

    private static void ToText(TransformContext context, Utf8JsonWriter writer)
    {
        switch (context.Value)
        {
            case null or { ValueKind: JsonValueKind.Null }:
                writer.WriteNullValue();
                break;
            case { ValueKind: JsonValueKind.String } value:
                value.WriteTo(writer);
                break;
            case { ValueKind: JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False } value:
                writer.WriteStringValue(value.GetRawText());
                break;
            default:
                throw new FormatException($"'{context.Member}' is not a simple value.");
        }
    }

    private static void Split(TransformContext context, Utf8JsonWriter writer)
    {
        string separator = context.Arguments.Count > 0 ? context.Arguments[0] : ",";
        string? text = StringOf(context);
        writer.WriteStartArray();
        if (!string.IsNullOrEmpty(text))
        {
            foreach (string part in text.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                writer.WriteStringValue(part);
            }
        }

        writer.WriteEndArray();
    }

    private static void Join(TransformContext context, Utf8JsonWriter writer)
    {
        string separator = context.Arguments.Count > 0 ? context.Arguments[0] : ",";
        if (context.Value is not { ValueKind: JsonValueKind.Array } array)
        {
            writer.WriteNullValue();
            return;
        }

        var parts = new List<string>();
        foreach (JsonElement item in array.EnumerateArray())
        {
            parts.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : item.GetRawText());
        }

        writer.WriteStringValue(string.Join(separator, parts));
    }

    private static void MapEnum(TransformContext context, Utf8JsonWriter writer)
    {
        string? text = StringOf(context);
        foreach (string pair in context.Arguments)
        {
            int eq = pair.IndexOf('=');
            if (eq > 0 && string.Equals(pair.Substring(0, eq), text, StringComparison.Ordinal))
            {
                writer.WriteStringValue(pair.Substring(eq + 1));
                return;
            }
        }

        writer.WriteStringValue(text);
    }

    private static void Default(TransformContext context, Utf8JsonWriter writer)
    {
        if (context.Value is { ValueKind: not JsonValueKind.Null } value)
        {
            value.WriteTo(writer);
            return;
        }

        string literal = context.Arguments.Count > 0 ? context.Arguments[0] : "null";
        using JsonDocument parsed = JsonDocument.Parse(literal);
        parsed.RootElement.WriteTo(writer);
    }

    private sealed class Delegating : IStateTransformer
    {
        private readonly Action<TransformContext, Utf8JsonWriter> _transform;

        public Delegating(Action<TransformContext, Utf8JsonWriter> transform) => _transform = transform;

        public void Transform(TransformContext context, Utf8JsonWriter writer) => _transform(context, writer);
    }
}
