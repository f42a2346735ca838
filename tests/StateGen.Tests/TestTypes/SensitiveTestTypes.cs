using System.Collections.Generic;

namespace StateGen.Tests.TestTypes;

/// <summary>The members the sink tests use, so one test runs over each [Sensitive] mode.</summary>
public interface ISensitiveHolder
{
    string? Id { get; set; }

    string? Name { get; set; }

    int Step { get; set; }

    List<string>? Log { get; set; }

    string? Secret { get; set; }
}

/// <summary><see cref="HookAgent"/> holds its secret as [Sensitive] (Omit).</summary>
public partial class HookAgent : ISensitiveHolder
{
}

/// <summary>The hook agent's shape with a redacted, fingerprinted secret.</summary>
[PersistentState("redact-agent")]
public partial class RedactHookAgent : ISensitiveHolder
{
    public string? Id { get; set; }

    public string? Name { get; set; }

    public int Step { get; set; }

    public List<string>? Log { get; set; }

    [Sensitive(SensitiveMode.Redact, Fingerprint = true)]
    public string? Secret { get; set; }
}

/// <summary>The hook agent's shape with an encrypted secret.</summary>
[PersistentState("encrypt-agent")]
public partial class EncryptHookAgent : ISensitiveHolder
{
    public string? Id { get; set; }

    public string? Name { get; set; }

    public int Step { get; set; }

    public List<string>? Log { get; set; }

    [Sensitive(SensitiveMode.Encrypt)]
    public string? Secret { get; set; }
}

/// <summary>A nested plain object with an encrypted and a redacted member.</summary>
public sealed class VaultCredentials
{
    public string User { get; set; } = "";

    [Sensitive(SensitiveMode.Encrypt)]
    public string Password { get; set; } = "";

    [Sensitive(SensitiveMode.Redact)]
    public string? Hint { get; set; }
}

/// <summary>All three modes on several member types.</summary>
[PersistentState("vault")]
public partial class Vault
{
    public string Id { get; set; } = "";

    public string Topic { get; set; } = "";

    [Sensitive]
    public string? SessionToken { get; set; }

    [Sensitive(SensitiveMode.Redact)]
    public string? Note { get; set; }

    [Sensitive(SensitiveMode.Redact, Fingerprint = true)]
    public string? ApiKey { get; set; }

    [Sensitive(SensitiveMode.Redact, Fingerprint = true)]
    public List<string>? Scopes { get; set; }

    [Sensitive(SensitiveMode.Encrypt)]
    public string? ConnectionString { get; set; }

    [Sensitive(SensitiveMode.Encrypt)]
    public string? BackupConnectionString { get; set; }

    [Sensitive(SensitiveMode.Encrypt)]
    public byte[]? PrivateKey { get; set; }

    [Sensitive(SensitiveMode.Encrypt)]
    public Dictionary<string, string>? Headers { get; set; }

    [Sensitive(SensitiveMode.Encrypt)]
    public int? Budget { get; set; }

    public VaultCredentials? Login { get; set; }
}

/// <summary>A state type holding another state type whose members are encrypted.</summary>
[PersistentState("vault-holder")]
public partial class VaultHolder
{
    public string Id { get; set; } = "";

    public EncryptHookAgent? Agent { get; set; }
}

/// <summary>A node of a tree (a type that can reach itself, so its writer is cycle-guarded) with an encrypted member.</summary>
public sealed class SecretNode
{
    public string Name { get; set; } = "";

    public List<SecretNode> Children { get; set; } = new();

    [Sensitive(SensitiveMode.Encrypt)]
    public string? Secret { get; set; }
}

/// <summary>A state type holding a <see cref="SecretNode"/> tree.</summary>
[PersistentState("secret-tree")]
public partial class SecretTree
{
    public string Id { get; set; } = "";

    public SecretNode Root { get; set; } = new();
}
