using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.ComponentModel;
using System.Text.Json;
using StateGen.Serialization;

namespace StateGen.Migrations;

/// <summary>
/// Runs generated upgrade chains over stored JSON in <b>one</b> streaming pass, whatever the number of steps: each
/// stored member's fate through the whole chain (renamed, dropped, handed to a step's transform or hook) is worked out
/// from its name, unchanged values are copied as raw bytes (no re-escaping, no intermediate CLR types), and only the
/// values a step's transform or hook reads are parsed. Values written by a step's hook or transform go through the
/// later steps the same way. The result is the same document as running the steps one after another.
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
        if (toVersion <= fromVersion)
        {
            return document.ToArray();
        }

        var chain = new UpgradeStep[toVersion - fromVersion];
        for (int version = fromVersion; version < toVersion; version++)
        {
            UpgradeStep? step = Find(steps, version);
            if (step is null)
            {
                return null;
            }

            chain[version - fromVersion] = step;
        }

        return new Pass(typeName, chain).Run(document);
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

    /// <summary>One upgrade of one document through a chain of steps.</summary>
    private sealed class Pass
    {
        private readonly string _typeName;
        private readonly UpgradeStep[] _chain;

        // Per step: the old values its transforms and hook read, by their name at that step's version.
        private readonly Dictionary<string, JsonElement>?[] _captured;
        private Utf8JsonWriter _writer = null!;

        public Pass(string typeName, UpgradeStep[] chain)
        {
            _typeName = typeName;
            _chain = chain;
            _captured = new Dictionary<string, JsonElement>?[chain.Length];
        }

        public byte[] Run(ReadOnlySpan<byte> document)
        {
            var output = new ArrayBufferWriter<byte>(document.Length + 64);
            string? member = null;
            int stepIndex = 0;
            try
            {
                using var writer = new Utf8JsonWriter(output, StateJson.WriterOptions);
                _writer = writer;
                var reader = new Utf8JsonReader(document, StateJson.ReaderOptions);
                StateJson.Read(ref reader);
                StateJson.Expect(ref reader, JsonTokenType.StartObject);
                writer.WriteStartObject();
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
                    (string? final, bool captured) = Trace(member, 0, out List<(int Step, string Name)>? captures);
                    if (captured)
                    {
                        JsonElement value = JsonElement.ParseValue(ref reader);
                        Capture(captures!, value);
                    }
                    else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }

                    if (final is not null)
                    {
                        // Unchanged values are copied as raw bytes: no re-escaping, no intermediate objects.
                        writer.WritePropertyName(final);
                        writer.WriteRawValue(document.Slice(start, (int)reader.BytesConsumed - start), skipInputValidation: true);
                    }
                }

                if (reader.Read())
                {
                    throw new JsonException("Unexpected data after the document.");
                }

                member = null;
                for (stepIndex = 0; stepIndex < _chain.Length; stepIndex++)
                {
                    RunStep(stepIndex);
                }

                writer.WriteEndObject();
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                UpgradeStep step = _chain[Math.Min(stepIndex, _chain.Length - 1)];

                // A stored name is stored data (a damaged document can hold anything there): only a name the chain
                // declares is shown.
                string? shown = member is not null && Declares(member) ? member : null;
                throw new StateMigrationException(
                    $"The upgrade of '{_typeName}' from version {step.FromVersion} to {step.FromVersion + 1} could not read the stored document{(member is null ? "" : shown is null ? " at a member the upgrade does not declare" : $" at member '{shown}'")} ({ex.GetType().Name}).")
                {
                    TypeName = _typeName,
                    FromVersion = step.FromVersion,
                    Member = shown,
                };
            }

            return output.WrittenSpan.ToArray();
        }

        /// <summary>Whether a step of the chain names <paramref name="name"/> (renames, drops, changes or reads it).</summary>
        private bool Declares(string name)
        {
            foreach (UpgradeStep step in _chain)
            {
                if (step.Renames.ContainsKey(name) || step.NotCopied.Contains(name) || step.Captured.Contains(name) || step.Changed.Contains(name)
                    || step.Renames.Values.Contains(name, StringComparer.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>
        /// Follows a member named <paramref name="name"/> at step <paramref name="from"/>'s version through the rest of
        /// the chain: its final name (null when a step drops it) and the steps that read it.
        /// </summary>
        private (string? Final, bool Captured) Trace(string name, int from, out List<(int Step, string Name)>? captures)
        {
            captures = null;
            for (int i = from; i < _chain.Length; i++)
            {
                UpgradeStep step = _chain[i];
                if (step.Captured.Contains(name))
                {
                    (captures ??= new List<(int, string)>()).Add((i, name));
                }

                if (step.NotCopied.Contains(name))
                {
                    return (null, captures is not null);
                }

                if (step.Renames.TryGetValue(name, out string? renamed))
                {
                    name = renamed;
                }
            }

            return (name, captures is not null);
        }

        private void Capture(List<(int Step, string Name)> captures, JsonElement value)
        {
            foreach ((int step, string name) in captures)
            {
                (_captured[step] ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[name] = value;
            }
        }

        /// <summary>Writes a member produced by step <paramref name="stepIndex"/>, through the later steps.</summary>
        private void WriteFromStep(int stepIndex, string name, Action<Utf8JsonWriter> write)
        {
            (string? final, bool captured) = Trace(name, stepIndex + 1, out List<(int Step, string Name)>? captures);
            if (!captured)
            {
                if (final is not null)
                {
                    _writer.WritePropertyName(final);
                    write(_writer);
                }

                return;
            }

            // A later step reads this value: materialize it once.
            var buffer = new ArrayBufferWriter<byte>(64);
            using (var valueWriter = new Utf8JsonWriter(buffer, StateJson.WriterOptions))
            {
                write(valueWriter);
            }

            using JsonDocument parsed = JsonDocument.Parse(buffer.WrittenMemory);
            JsonElement value = parsed.RootElement.Clone();
            Capture(captures!, value);
            if (final is not null)
            {
                _writer.WritePropertyName(final);
                value.WriteTo(_writer);
            }
        }

        private void RunStep(int stepIndex)
        {
            UpgradeStep step = _chain[stepIndex];
            Dictionary<string, JsonElement> old = _captured[stepIndex] ?? new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (UpgradeTransform transform in step.Transforms)
            {
                ApplyTransform(stepIndex, step, transform, old);
            }

            if (step.Hook is null)
            {
                return;
            }

            var upgrade = new SchemaUpgrade(_typeName, step.FromVersion, old, (name, write) => WriteFromStep(stepIndex, name, write));
            try
            {
                step.Hook(upgrade);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException and not StateMigrationException)
            {
                // The hook's own message is not copied: it may quote a stored value.
                throw new StateMigrationException(
                    $"The upgrade of '{_typeName}' from version {step.FromVersion} to {step.FromVersion + 1} failed in its custom hook (UpgradeFromV{step.FromVersion}) with {ex.GetType().Name}{(upgrade.CurrentMember is null ? "" : $" while writing member '{upgrade.CurrentMember}'")}.")
                {
                    TypeName = _typeName,
                    FromVersion = step.FromVersion,
                    Member = upgrade.CurrentMember,
                    Transformer = "UpgradeFromV" + step.FromVersion,
                };
            }
        }

        private void ApplyTransform(int stepIndex, UpgradeStep step, UpgradeTransform transform, Dictionary<string, JsonElement> old)
        {
            if (!StateTransformers.TryGet(transform.Transformer, out IStateTransformer transformer))
            {
                throw Failure($"no transformer named '{transform.Transformer}' is registered (StateTransformers.Register)");
            }

            try
            {
                var context = new TransformContext(_typeName, step.FromVersion, transform.Target, old.TryGetValue(transform.Source, out JsonElement value) ? value : null, transform.Arguments);
                WriteFromStep(stepIndex, transform.Target, writer => transformer.Transform(context, writer));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException and not StateMigrationException)
            {
                // The transformer's own message is not copied: it may quote a stored value.
                throw Failure($"the transformer failed with {ex.GetType().Name}");
            }

            StateMigrationException Failure(string reason) => new(
                $"The upgrade of '{_typeName}' from version {step.FromVersion} to {step.FromVersion + 1} failed at member '{transform.Target}' with transformer '{transform.Transformer}': {reason}.")
            {
                TypeName = _typeName,
                FromVersion = step.FromVersion,
                Member = transform.Target,
                Transformer = transform.Transformer,
            };
        }
    }
}
