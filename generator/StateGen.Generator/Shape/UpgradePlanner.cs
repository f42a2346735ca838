using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using StateGen.Generator.Helpers;

namespace StateGen.Generator.Shape;

/// <summary>
/// One step of a generated upgrade chain, from <see cref="FromVersion"/> to <c>FromVersion + 1</c>, computed from the two
/// recorded shapes and the <c>[RenamedFrom]</c> attributes. Members neither renamed, removed nor changed are copied.
/// </summary>
internal sealed record UpgradeStepShape
{
    public required int FromVersion { get; init; }

    /// <summary>Old stored name → new stored name, for members whose format did not change.</summary>
    public required EquatableArray<StepRename> Renames { get; init; }

    /// <summary>Members of the old version that the new version no longer stores.</summary>
    public required EquatableArray<string> Removed { get; init; }

    /// <summary>Members (old names) whose stored format changed and no transform covers: the step's hook must write them.</summary>
    public required EquatableArray<string> Changed { get; init; }

    /// <summary>Declared transforms (<c>[UpgradeTransform]</c>) of this step.</summary>
    public EquatableArray<StepTransform> Transforms { get; init; } = EquatableArray<StepTransform>.Empty;

    /// <summary>Human-readable summary of <see cref="Changed"/>, e.g. <c>'Topic' changed type</c>.</summary>
    public string ChangeSummary => string.Join(", ", Changed.Select(c => "'" + c + "'")) + " changed type";
}

/// <summary>A declared transform of a step: <see cref="Target"/> computed from <see cref="Source"/> of the old version.</summary>
internal sealed record StepTransform(string Target, string Source, bool ReplacesSource, string Transformer, EquatableArray<string> Arguments);

/// <summary>A member moved from <see cref="OldName"/> to <see cref="NewName"/> by one step.</summary>
internal sealed record StepRename(string OldName, string NewName);

/// <summary>Something that keeps a chain from being generated whole.</summary>
internal sealed record UpgradeGap(int MissingVersion);

/// <summary>The upgrade chain of a type: its steps, and the recorded versions it cannot reach from.</summary>
internal sealed record UpgradePlan(EquatableArray<UpgradeStepShape> Steps, EquatableArray<UpgradeGap> Gaps)
{
    public static UpgradePlan None { get; } = new(EquatableArray<UpgradeStepShape>.Empty, EquatableArray<UpgradeGap>.Empty);
}

/// <summary>
/// Plans the upgrade chain of a type from its lock file history to its current shape. Source-shared: the generator
/// emits the steps, the analyzer reports steps whose hook is missing and versions missing from the history.
/// </summary>
internal static class UpgradePlanner
{
    public static UpgradePlan Plan(PersistedTypeShape shape, LockFile lockFile)
    {
        ImmutableArray<int> recorded = lockFile.VersionsOf(shape.StableName);
        int oldest = recorded.Where(v => v < shape.SchemaVersion).DefaultIfEmpty(shape.SchemaVersion).Min();
        if (oldest >= shape.SchemaVersion)
        {
            return UpgradePlan.None;
        }

        ImmutableArray<LockLine> current = SchemaLock.LinesFor(shape);
        var steps = new List<UpgradeStepShape>();
        var gaps = new List<UpgradeGap>();
        for (int version = oldest; version < shape.SchemaVersion; version++)
        {
            ImmutableArray<LockLine> from = lockFile.For(shape.StableName, version);
            ImmutableArray<LockLine> to = version + 1 == shape.SchemaVersion ? current : lockFile.For(shape.StableName, version + 1);
            if (from.IsEmpty)
            {
                gaps.Add(new UpgradeGap(version));
                continue;
            }

            if (to.IsEmpty)
            {
                gaps.Add(new UpgradeGap(version + 1));
                continue;
            }

            steps.Add(PlanStep(shape, version, from, to));
        }

        return new UpgradePlan(steps.ToEquatableArray(), gaps.Distinct().ToEquatableArray());
    }

    private static UpgradeStepShape PlanStep(PersistedTypeShape shape, int version, ImmutableArray<LockLine> from, ImmutableArray<LockLine> to)
    {
        Dictionary<string, Member> before = Group(from);
        Dictionary<string, Member> after = Group(to);

        // Renames declared for this step: the member's name before version+1 → its name at version+1.
        var renamedTo = new Dictionary<string, string>(StringComparer.Ordinal); // new name -> old name
        foreach (MemberShape member in shape.Members)
        {
            foreach (RenameShape rename in member.Renames)
            {
                if (rename.Version == version + 1)
                {
                    string newName = NameAt(member, version + 1);
                    if (before.ContainsKey(rename.OldName) && after.ContainsKey(newName))
                    {
                        renamedTo[newName] = rename.OldName;
                    }
                }
            }
        }

        var renames = new List<StepRename>();
        var removed = new List<string>();
        var changed = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, Member> target in after.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            string source = renamedTo.TryGetValue(target.Key, out string? old) ? old : target.Key;
            if (!before.TryGetValue(source, out Member? previous))
            {
                continue; // added: absent from old documents, keeps its initial value on load
            }

            used.Add(source);
            if (target.Value.Mode == "omit")
            {
                removed.Add(source); // now [Sensitive]: its stored value is dropped
            }
            else if (previous.Mode == "omit")
            {
                continue; // was never stored: nothing to move
            }
            else if (previous.Mode != target.Value.Mode || (target.Value.Mode == "encrypt" && (source != target.Key || !previous.Signature.SequenceEqual(target.Value.Signature))))
            {
                // The stored form changed (plain, marker, ciphertext), or a ciphertext would have to move to another
                // member or type, which its associated data forbids: an upgrade step has no keys, so the old value is
                // dropped and the member keeps its initial value until the next save.
                removed.Add(source);
            }
            else if (!previous.Signature.SequenceEqual(target.Value.Signature))
            {
                changed.Add(source);
            }
            else if (source != target.Key)
            {
                renames.Add(new StepRename(source, target.Key));
            }
        }

        removed.AddRange(before.Keys.Where(k => !used.Contains(k)));

        // Declared transforms compute a member from an old value: they replace the hook for that member.
        var transforms = new List<StepTransform>();
        foreach (MemberShape member in shape.Members)
        {
            foreach (TransformShape transform in member.Transforms)
            {
                if (transform.Version != version + 1)
                {
                    continue;
                }

                string target = NameAt(member, version + 1);
                string source = transform.From ?? (renamedTo.TryGetValue(target, out string? old) ? old : target);
                bool replaces = transform.From is null;
                transforms.Add(new StepTransform(target, source, replaces, transform.Transformer, transform.Arguments));
                if (replaces)
                {
                    changed.Remove(source);
                    renames.RemoveAll(r => r.OldName == source);
                }
            }
        }

        return new UpgradeStepShape
        {
            FromVersion = version,
            Transforms = transforms.ToEquatableArray(),
            Renames = renames.OrderBy(r => r.OldName, StringComparer.Ordinal).ToEquatableArray(),
            Removed = removed.Distinct().OrderBy(r => r, StringComparer.Ordinal).ToEquatableArray(),
            Changed = changed.OrderBy(c => c, StringComparer.Ordinal).ToEquatableArray(),
        };
    }

    /// <summary>The stored name of a member at a version, from its renames (oldest first).</summary>
    private static string NameAt(MemberShape member, int version)
    {
        foreach (RenameShape rename in member.Renames)
        {
            if (rename.Version > version)
            {
                return rename.OldName;
            }
        }

        return member.JsonName;
    }

    private static Dictionary<string, Member> Group(ImmutableArray<LockLine> lines)
        => lines.GroupBy(l => l.TopLevelMember).ToDictionary(
            g => g.Key,
            g => new Member(
                g.Where(l => l.Path == g.Key).Select(l => l.Sensitivity).FirstOrDefault() ?? "plain",
                g.Select(l => l.Path.Substring(g.Key.Length) + LockLine.Separator + l.Descriptor + LockLine.Separator + l.Sensitivity)
                    .OrderBy(x => x, StringComparer.Ordinal)
                    .ToImmutableArray()),
            StringComparer.Ordinal);

    private sealed record Member(string Mode, ImmutableArray<string> Signature);
}
