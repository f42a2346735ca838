using System;
using System.Collections.Generic;
using System.ComponentModel;

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
    public UpgradeStep(int fromVersion, IReadOnlyDictionary<string, string> renames, IReadOnlyCollection<string> removed, IReadOnlyCollection<string> changed, Action<SchemaUpgrade>? hook)
    {
        FromVersion = fromVersion;
        Renames = renames ?? throw new ArgumentNullException(nameof(renames));
        Removed = new HashSet<string>(removed ?? throw new ArgumentNullException(nameof(removed)), StringComparer.Ordinal);
        Changed = new HashSet<string>(changed ?? throw new ArgumentNullException(nameof(changed)), StringComparer.Ordinal);
        Hook = hook;
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
}
