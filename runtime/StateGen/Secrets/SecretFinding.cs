namespace StateGen.Secrets;

/// <summary>
/// A stored string that had the shape of a secret: where it was and what it looked like, never the value.
/// </summary>
/// <param name="MemberPath">
/// The member's path in the stored document, by stored (JSON) names, e.g. <c>History[3].Text</c>; a dictionary value
/// is <c>Notes[*]</c> (keys are stored data, so they are not named).
/// </param>
/// <param name="Kind">The kind of secret.</param>
public readonly record struct SecretFinding(string MemberPath, SecretKind Kind)
{
    /// <summary>The kind's short name, as in the marker: e.g. <c>openai-api-key</c>.</summary>
    public string KindName => SecretScanner.NameOf(Kind);

    /// <inheritdoc/>
    public override string ToString() => $"{MemberPath} ({KindName})";
}
