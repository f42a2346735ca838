using System.Collections.Generic;
using StateGen.Secrets;

namespace StateGen;

/// <summary>
/// A save found a string with the shape of a secret while <see cref="StateManagerOptions.SecretScanning"/> is
/// <see cref="SecretScanPolicy.Throw"/>. Nothing was stored. The message names the scope, key, type, member path and
/// kind of secret, never the value. Mark the member <see cref="SensitiveAttribute">[Sensitive]</see> if it is meant to
/// hold a secret (it is then never stored), or remove the secret from the data.
/// </summary>
public sealed class StateSecretDetectedException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="scope">The scope path.</param>
    /// <param name="key">The key.</param>
    /// <param name="typeName">The stable type name.</param>
    /// <param name="findings">What was found (at least one).</param>
    /// <param name="count">How many strings held a secret (may exceed <paramref name="findings"/>' count).</param>
    public StateSecretDetectedException(string scope, string key, string typeName, IReadOnlyList<SecretFinding> findings, int count)
        : base(Describe(scope, key, typeName, findings, count))
    {
        Scope = scope;
        Key = key;
        TypeName = typeName;
        Findings = findings;
        MemberPath = findings.Count > 0 ? findings[0].MemberPath : string.Empty;
        Kind = findings.Count > 0 ? findings[0].Kind : default;
    }

    /// <summary>The stable type name.</summary>
    public string TypeName { get; }

    /// <summary>The path of the first member found, e.g. <c>History[3].Text</c>.</summary>
    public string MemberPath { get; }

    /// <summary>The kind of the first secret found.</summary>
    public SecretKind Kind { get; }

    /// <summary>Every finding (at most 32), in document order.</summary>
    public IReadOnlyList<SecretFinding> Findings { get; }

    private static string Describe(string scope, string key, string typeName, IReadOnlyList<SecretFinding> findings, int count)
    {
        string first = findings.Count > 0 ? $"member '{findings[0].MemberPath}' holds what looks like a {findings[0].KindName}" : "a member holds what looks like a secret";
        string more = count > 1 ? $" ({count - 1} more string(s) too)" : string.Empty;
        return $"The state at '{scope}' key '{key}' of type '{typeName}' was not stored: {first}{more}. " +
            "Mark the member [Sensitive] if it is meant to hold a secret, or set StateManagerOptions.SecretScanning to RedactAndWarn or Off.";
    }
}
