using System.Collections.Generic;
using StateGen;

namespace AotSample;

/// <summary>Credentials kept across restarts: encrypted and redacted [Sensitive] members under Native AOT.</summary>
[PersistentState("aot-vault")]
public partial class AotVault
{
    /// <summary>The vault's id.</summary>
    public string Id { get; set; } = "";

    /// <summary>Stored encrypted with the manager's key ring; restored on load.</summary>
    [Sensitive(SensitiveMode.Encrypt)]
    public string? ConnectionString { get; set; }

    /// <summary>Any member type can be encrypted: its JSON is.</summary>
    [Sensitive(SensitiveMode.Encrypt)]
    public Dictionary<string, string> Headers { get; set; } = new();

    /// <summary>Stored as a marker with a keyed fingerprint; left alone on load.</summary>
    [Sensitive(SensitiveMode.Redact, Fingerprint = true)]
    public string? ApiKey { get; set; }
}
