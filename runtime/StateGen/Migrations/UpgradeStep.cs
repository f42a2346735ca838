using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Linq;

namespace StateGen.Migrations;

/// <summary>
/// One generated step of an upgrade chain, from <see cref="FromVersion"/> to the next version: which top-level members
/// are renamed, which are dropped, and which changed type (those need the user's hook). Members not named here are
/// copied unchanged; members added in the new version are absent and keep their initial values on load.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class UpgradeStep
{
    /// <summary>Creates a step. Generated code calls this.</summary>
    /// <param name="fromVersion">The version the step reads.</param>
    /// <param name="renames">Old stored name to new stored name.</param>
    /// <param name="removed">Members dropped in the new version (the hook can still read them).</param>
    /// <param name="changed">Members whose stored format changed (the hook must write them).</param>
    /// <param name="hook">The user's custom logic for the step, or <see langword="null"/>.</param>
    /// <param name="transforms">Declared transforms (<see cref="UpgradeTransformAttribute"/>), applied before the hook.</param>
    public UpgradeStep(int fromVersion, IReadOnlyDictionary<string, string> renames, IReadOnlyCollection<string> removed, IReadOnlyCollection<string> changed, Action<SchemaUpgrade>? hook, IReadOnlyList<UpgradeTransform>? transforms = null)
    {
        FromVersion = fromVersion;
        Renames = renames ?? throw new ArgumentNullException(nameof(renames));
        Removed = new HashSet<string>(removed ?? throw new ArgumentNullException(nameof(removed)), StringComparer.Ordinal);
        Changed = new HashSet<string>(changed ?? throw new ArgumentNullException(nameof(changed)), StringComparer.Ordinal);
        Hook = hook;
        Transforms = transforms ?? Array.Empty<UpgradeTransform>();
        Captured = new HashSet<string>(Removed.Concat(Changed).Concat(Transforms.Select(t => t.Source)), StringComparer.Ordinal);
        NotCopied = new HashSet<string>(Removed.Concat(Changed).Concat(Transforms.Where(t => t.ReplacesSource).Select(t => t.Source)), StringComparer.Ordinal);
    }

    /// <summary>The version the step reads; it writes <c>FromVersion + 1</c>.</summary>
    public int FromVersion { get; }

    /// <summary>Old stored name to new stored name.</summary>
    public IReadOnlyDictionary<string, string> Renames { get; }

    /// <summary>Members dropped by this step.</summary>
    public IReadOnlySet<string> Removed { get; }

    /// <summary>Members whose stored format changed in this step.</summary>
    public IReadOnlySet<string> Changed { get; }

    /// <summary>The custom logic of the step.</summary>
    public Action<SchemaUpgrade>? Hook { get; }

    /// <summary>The declared transforms of the step.</summary>
    public IReadOnlyList<UpgradeTransform> Transforms { get; }

    /// <summary>Old members whose values the step parses, for its transforms and hook.</summary>
    internal HashSet<string> Captured { get; }

    /// <summary>Old members the step does not copy into the new document.</summary>
    internal HashSet<string> NotCopied { get; }
}

/// <summary>
/// A declared transform of one step: <see cref="Target"/> in the new version is computed by the transformer named
/// <see cref="Transformer"/> from <see cref="Source"/> in the old version.
/// </summary>
/// <param name="Target">The member written in the new version.</param>
/// <param name="Source">The member read from the old version.</param>
/// <param name="ReplacesSource">True when the source is the target's own old value (not copied as well).</param>
/// <param name="Transformer">The registered transformer name (<see cref="StateTransformers"/>).</param>
/// <param name="Arguments">The transformer's parameters.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record UpgradeTransform(string Target, string Source, bool ReplacesSource, string Transformer, IReadOnlyList<string> Arguments);
