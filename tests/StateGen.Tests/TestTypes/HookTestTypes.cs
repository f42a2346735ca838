using System.Collections.Generic;

namespace StateGen.Tests.TestTypes;

/// <summary>The agent state of the hook, event and correlation tests: simple members and a [Sensitive] secret.</summary>
[PersistentState("hook-agent")]
public partial class HookAgent
{
    public string? Id { get; set; }

    public string? Name { get; set; }

    public int Step { get; set; }

    public List<string>? Log { get; set; }

    [Sensitive]
    public string? Secret { get; set; }
}
