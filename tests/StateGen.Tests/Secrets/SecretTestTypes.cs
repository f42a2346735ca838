using System.Collections.Generic;

namespace StateGen.Tests.Secrets;

/// <summary>A state type with a string in every place a secret can hide: a member, a list, a nested object, a dictionary value.</summary>
[PersistentState("secret-holder")]
public partial class SecretHolder
{
    public string Id { get; set; } = "";

    public string? Text { get; set; }

    public List<string> Items { get; set; } = new();

    public SecretInner Nested { get; set; } = new();

    public Dictionary<string, string> Notes { get; set; } = new();

    public List<SecretInner> Turns { get; set; } = new();

    public int Runs { get; set; }

    [Sensitive]
    public string? ApiKey { get; set; }
}

/// <summary>A plain nested object.</summary>
public sealed class SecretInner
{
    public string? Text { get; set; }

    public string[] Lines { get; set; } = [];
}
