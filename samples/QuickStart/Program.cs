using System;
using System.IO;
using QuickStart;
using StateGen;
using StateGen.Events;
using StateGen.History;
using StateGen.Hooks;

// Run it twice: the second run restores what the first one saved. The API key is [Sensitive] and never stored.
// With no argument this is the embedded default: a LiteDB file named stategen.db in the current directory.
await using StateManager manager = StateManager.OpenLiteDb(args.Length > 0 ? args[0] : null);
string path = ((StateGen.Storage.LiteDb.LiteDbStateStore)manager.Store).FilePath;

// Every change goes through hooks (here: refuse an agent without a topic) and publishes a change event; every change
// of this run shares one correlation id, which the change log records.
manager.Hooks.Register(StateHookPoint.BeforeChange, "topic-required", change =>
    change.NewValue?.GetProperty("Topic").GetString() is { Length: > 0 } ? StateHookResult.Continue : StateHookResult.Cancel("an agent needs a topic"));
using StateEventSubscription changes = manager.Events.Subscribe(new StateEventFilter { KeyPattern = "research-agent/*" });
using StateCorrelation.Scope run = StateCorrelation.Begin();

var agent = new ResearchAgent
{
    Id = "researcher-1",
    ApiKey = Environment.GetEnvironmentVariable("QUICKSTART_API_KEY") ?? "sk-demo-not-a-real-key-0123456789",
};

if (await agent.LoadStateAsync(manager))
{
    Console.WriteLine($"Restored '{agent.Id}': topic \"{agent.Topic}\", {agent.Runs} earlier run(s), last at {agent.LastRunUtc:O}, {agent.History.Count} turn(s).");
    foreach (Turn turn in agent.History)
    {
        Console.WriteLine($"  {turn.At:u} {turn.Role}: {turn.Text}");
    }
}
else
{
    Console.WriteLine($"No saved state for '{agent.Id}' yet: starting fresh.");
    agent.Topic = "durable state for .NET agents";
}

// Do some "work".
agent.Runs++;
agent.LastRunUtc = DateTime.UtcNow;
agent.History.Add(new Turn { Role = Role.User, Text = $"Run {agent.Runs}: what is new about {agent.Topic}?", At = DateTimeOffset.UtcNow });
agent.History.Add(new Turn { Role = Role.Assistant, Text = "Compile-time checked, versioned state.", At = DateTimeOffset.UtcNow });
agent.Notes["last-run"] = agent.Runs.ToString(System.Globalization.CultureInfo.InvariantCulture);

StateWriteResult saved = await agent.SaveStateAsync(manager);   // expects the version it loaded: no lost update
Console.WriteLine($"Saved run {agent.Runs} to {path} as version {saved.Version}.");
while (changes.Reader.TryRead(out StateChangeEvent? change))
{
    Console.WriteLine($"Change event: {change.Key} v{change.Version} ({change.Origin}), members changed: {string.Join(", ", change.ChangedMembers)}");
}

var timeline = await manager.GetTimelineAsync(new StateTimelineQuery { Scope = StateScope.Global, Key = StateManager.KeyOf(agent) });
Console.WriteLine($"Change log: {timeline.Count} saved version(s) of '{agent.Id}', the first at {timeline[0].Timestamp:u}.");

await manager.DisposeAsync();
bool keyInFile = File.ReadAllText(path, System.Text.Encoding.Latin1).Contains(agent.ApiKey, StringComparison.Ordinal);
Console.WriteLine(keyInFile ? "ERROR: the API key is in the database file." : "The API key is not in the database file.");
return keyInFile ? 1 : 0;
