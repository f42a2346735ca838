using StateGen;

string path = Path.Combine(Path.GetTempPath(), $"stategen-consumer-{Guid.NewGuid():N}.db");
try
{
    await using (StateManager manager = StateManager.OpenLiteDb(path))
    {
        var agent = new ConsumerAgent { Id = "c1", Goal = "ship", Secret = "consumer-secret-value" };
        agent.Steps.Add("plan");
        await agent.SaveStateAsync(manager);
    }

    await using (StateManager manager = StateManager.OpenLiteDb(path))
    {
        var agent = new ConsumerAgent { Id = "c1" };
        if (!await agent.LoadStateAsync(manager) || agent.Goal != "ship" || agent.Steps.Count != 1 || agent.Secret.Length != 0)
        {
            Console.WriteLine("consumer check: FAILED (state did not round-trip)");
            return 1;
        }
    }

    if (File.ReadAllText(path, System.Text.Encoding.Latin1).Contains("consumer-secret-value", StringComparison.Ordinal))
    {
        Console.WriteLine("consumer check: FAILED (sensitive value stored)");
        return 1;
    }

    Console.WriteLine("consumer check: OK");
    return 0;
}
finally
{
    File.Delete(path);
}

[PersistentState]
public partial class ConsumerAgent
{
    public string Id { get; set; } = "";
    public string Goal { get; set; } = "";
    [Sensitive] public string Secret { get; set; } = "";
    public List<string> Steps { get; set; } = new();
#if CHANGE_SHAPE
    public int Budget { get; set; } // a shape change without a [SchemaVersion] bump: the packaged analyzer reports SG0100
#endif
}
