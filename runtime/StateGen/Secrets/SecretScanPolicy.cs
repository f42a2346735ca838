namespace StateGen;

/// <summary>
/// What a save does with a stored string (a member that is not <see cref="SensitiveAttribute">[Sensitive]</see>) that
/// has the shape of a well-known secret: an API key, an access token, a JWT or a PEM private key. Set it with
/// <see cref="StateManagerOptions.SecretScanning"/>; see <c>docs/secret-scanning.md</c>.
/// </summary>
public enum SecretScanPolicy
{
    /// <summary>
    /// The default: the stored string is replaced by a marker such as <c>[redacted:openai-api-key]</c> and a warning
    /// names the type, the member path and the kind of secret (never the value). The in-memory instance is unchanged.
    /// </summary>
    RedactAndWarn = 0,

    /// <summary>The save fails with a <see cref="StateSecretDetectedException"/>; nothing is stored.</summary>
    Throw = 1,

    /// <summary>No scanning: strings are stored verbatim.</summary>
    Off = 2,
}
