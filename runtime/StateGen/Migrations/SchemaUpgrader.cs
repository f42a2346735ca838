using System;
using System.Buffers;
using System.Collections.Generic;
using System.ComponentModel;
using System.Text.Json;
using StateGen.Serialization;

namespace StateGen.Migrations;

/// <summary>
/// Runs generated upgrade chains over stored JSON, streaming from a <see cref="Utf8JsonReader"/> to a
/// <see cref="Utf8JsonWriter"/>: copied members are copied as raw bytes (no re-escaping, no intermediate CLR types);
/// only the members a step removes or changes are parsed, for its hook.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SchemaUpgrader
{
    /// <summary>
    /// Applies the steps from <paramref name="fromVersion"/> up to <paramref name="toVersion"/>, or returns
    /// <see langword="null"/> when <paramref name="steps"/> has no step for one of those versions.
    /// </summary>
    /// <exception cref="StateMigrationException">A step failed; the input is not changed.</exception>
    public static byte[]? Upgrade(string typeName, int fromVersion, int toVersion, ReadOnlySpan<byte> document, IReadOnlyList<UpgradeStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        byte[]? current = null;
        for (int version = fromVersion; version < toVersion; version++)
        {
            UpgradeStep? step = Find(steps, version);
            if (step is null)
            {
                return null;
            }

            current = Apply(typeName, step, current is null ? document : current);
        }

        return current ?? document.ToArray();
    }

    private static UpgradeStep? Find(IReadOnlyList<UpgradeStep> steps, int version)
    {
        foreach (UpgradeStep step in steps)
        {
            if (step.FromVersion == version)
            {
                return step;
            }
        }

        return null;
    }

    private static void ApplyTransform(string typeName, UpgradeStep step, UpgradeTransform transform, Dictionary<string, JsonElement> old, Utf8JsonWriter writer)
    {
        if (!StateTransformers.TryGet(transform.Transformer, out IStateTransformer transformer))
        {
            throw Failure($"no transformer named '{transform.Transformer}' is registered (StateTransformers.Register)");
        }

        writer.WritePropertyName(transform.Target);
        try
        {
            var context = new TransformContext(typeName, step.FromVersion, transform.Target, old.TryGetValue(transform.Source, out JsonElement value) ? value : null, transform.Arguments);
            transformer.Transform(context, writer);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException and not StateMigrationException)
        {
            // The transformer's own message is not copied: it may quote a stored value.
            throw Failure($"the transformer failed with {ex.GetType().Name}");
        }

        StateMigrationException Failure(string reason) => new(
            $"The upgrade of '{typeName}' from version {step.FromVersion} to {step.FromVersion + 1} failed at member '{transform.Target}' with transformer '{transform.Transformer}': {reason}.")
        {
            TypeName = typeName,
            FromVersion = step.FromVersion,
            Member = transform.Target,
            Transformer = transform.Transformer,
        };
    }

    private static byte[] Apply(string typeName, UpgradeStep step, ReadOnlySpan<byte> document)
    {
        var output = new ArrayBufferWriter<byte>(document.Length + 64);
        string? member = null;
        try
        {
            using var writer = new Utf8JsonWriter(output, StateJson.WriterOptions);
            var reader = new Utf8JsonReader(document, StateJson.ReaderOptions);
            StateJson.Read(ref reader);
            StateJson.Expect(ref reader, JsonTokenType.StartObject);
            writer.WriteStartObject();
            var old = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            while (true)
            {
                StateJson.Read(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }

                member = reader.GetString()!;
                StateJson.Read(ref reader);
                int start = (int)reader.TokenStartIndex;
                if (step.Captured.Contains(member))
                {
                    old[member] = JsonElement.ParseValue(ref reader);
                }
                else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }

                if (!step.NotCopied.Contains(member))
                {
                    // Unchanged values are copied as raw bytes: no re-escaping, no intermediate objects.
                    writer.WritePropertyName(step.Renames.TryGetValue(member, out string? renamed) ? renamed : member);
                    writer.WriteRawValue(document.Slice(start, (int)reader.BytesConsumed - start), skipInputValidation: true);
                }
            }

            if (reader.Read())
            {
                throw new JsonException("Unexpected data after the document.");
            }

            member = null;
            foreach (UpgradeTransform transform in step.Transforms)
            {
                ApplyTransform(typeName, step, transform, old, writer);
            }

            if (step.Hook is not null)
            {
                var upgrade = new SchemaUpgrade(typeName, step.FromVersion, old, writer);
                member = null;
                try
                {
                    step.Hook(upgrade);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The hook's own message is not copied: it may quote a stored value.
                    throw new StateMigrationException(
                        $"The upgrade of '{typeName}' from version {step.FromVersion} to {step.FromVersion + 1} failed in its custom hook (UpgradeFromV{step.FromVersion}) with {ex.GetType().Name}{(upgrade.CurrentMember is null ? "" : $" while writing member '{upgrade.CurrentMember}'")}.")
                    {
                        TypeName = typeName,
                        FromVersion = step.FromVersion,
                        Member = upgrade.CurrentMember,
                        Transformer = "UpgradeFromV" + step.FromVersion,
                    };
                }
            }

            writer.WriteEndObject();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new StateMigrationException(
                $"The upgrade of '{typeName}' from version {step.FromVersion} to {step.FromVersion + 1} could not read the stored document{(member is null ? "" : $" at member '{member}'")} ({ex.GetType().Name}).")
            {
                TypeName = typeName,
                FromVersion = step.FromVersion,
                Member = member,
            };
        }

        return output.WrittenSpan.ToArray();
    }
}
