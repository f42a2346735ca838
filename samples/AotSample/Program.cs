using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using AotSample;
using StateGen;

// Native AOT round trip: save an agent into a LiteDB file, close it, reopen it, load into a new instance and compare.
string dir = Path.Combine(Path.GetTempPath(), "stategen-aot-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(dir);
string path = Path.Combine(dir, "aot.db");
const string Secret = "sk-aot-demo-not-a-real-key-0123456789";

try
{
    var original = new AotAgent
    {
        Id = "aot-agent-1",
        ApiKey = Secret,
        Mode = AgentMode.Acting,
        StartedAt = new DateTimeOffset(2025, 3, 14, 15, 9, 26, 535, TimeSpan.FromHours(2)),
        Steps = 42,
        Turns =
        {
            new ChatTurn { Speaker = Speaker.User, Text = "Summarize the AOT publish.", At = new DateTimeOffset(2025, 3, 14, 15, 10, 0, TimeSpan.FromHours(2)) },
            new ChatTurn { Speaker = Speaker.Tool, Text = "publish: 0 warnings from StateGen", At = new DateTimeOffset(2025, 3, 14, 13, 10, 1, TimeSpan.Zero) },
            new ChatTurn { Speaker = Speaker.Assistant, Text = "Unicode too: é ✓ 😀", At = new DateTimeOffset(2025, 3, 14, 8, 10, 2, TimeSpan.FromHours(-5)) },
        },
        Settings = { ["model"] = "small", ["temperature"] = "0.2", ["empty"] = "" },
    };

    using (StateManager manager = StateManager.OpenLiteDb(path))
    {
        await original.SaveStateAsync(manager);
    }

    // [Sensitive(Encrypt)] and fingerprinted [Sensitive(Redact)] members need a key ring.
    using var ring = new StateGen.Security.StateKeyRing("aot-key", StateGen.Security.StateKeyRing.GenerateKey());
    var keyed = new StateManagerOptions { SensitiveKeyRing = ring };
    const string Connection = "Server=aot;Password=aot-demo-connection-secret";
    using (StateManager manager = StateManager.OpenLiteDb(path, keyed))
    {
        await new AotVault { Id = "vault-1", ConnectionString = Connection, Headers = { ["Authorization"] = "Bearer aot-demo-header" }, ApiKey = Secret }.SaveStateAsync(manager);
    }

    var vault = new AotVault { Id = "vault-1", ApiKey = "kept-in-memory" };
    bool vaultFound;
    string? storedApiKey;
    using (StateManager manager = StateManager.OpenLiteDb(path, keyed))
    {
        vaultFound = await vault.LoadStateAsync(manager);
        storedApiKey = (await manager.GetJsonAsync(StateScope.Global, "aot-vault/vault-1"))?.GetProperty("ApiKey").GetString();
    }

    var loaded = new AotAgent { Id = original.Id, ApiKey = "kept-in-memory" };
    bool found;
    AotAgent? byKey;
    string? rawJson;
    IReadOnlyList<string> keys;
    using (StateManager manager = StateManager.OpenLiteDb(path))
    {
        found = await loaded.LoadStateAsync(manager);

        // The rest of the public surface, so the native compiler analyzes (and this run exercises) it too.
        byKey = await manager.GetAsync<AotAgent>(StateScope.Global, StateManager.KeyOf(original));
        using (JsonDocument note = JsonDocument.Parse("""{"note":"raw JSON","n":[1,2.5,null]}"""))
        {
            await manager.SetJsonAsync(StateScope.Agent(original.Id), "notes/first", note.RootElement);
        }

        rawJson = (await manager.GetJsonAsync(StateScope.Agent(original.Id), "notes/first"))?.GetRawText();
        keys = await manager.ListKeysAsync(StateScope.Agent(original.Id));
        if (!await manager.DeleteAsync(StateScope.Agent(original.Id), "notes/first") || await manager.ExistsAsync(StateScope.Agent(original.Id), "notes/first"))
        {
            keys = Array.Empty<string>();
        }
    }

    var mismatches = new List<string>();
    void Check<T>(string member, T expected, T actual)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
        {
            mismatches.Add($"{member}: expected '{expected}', got '{actual}'");
        }
    }

    Check("found", true, found);
    Check(nameof(AotAgent.Id), original.Id, loaded.Id);
    Check(nameof(AotAgent.ApiKey) + " (omitted: left alone on load)", "kept-in-memory", loaded.ApiKey);
    Check(nameof(AotAgent.Mode), original.Mode, loaded.Mode);
    Check(nameof(AotAgent.StartedAt), original.StartedAt, loaded.StartedAt);
    Check(nameof(AotAgent.StartedAt) + ".Offset", original.StartedAt.Offset, loaded.StartedAt.Offset);
    Check(nameof(AotAgent.Steps), original.Steps, loaded.Steps);
    Check(nameof(AotAgent.Turns) + ".Count", original.Turns.Count, loaded.Turns.Count);
    for (int i = 0; i < Math.Min(original.Turns.Count, loaded.Turns.Count); i++)
    {
        Check($"Turns[{i}].Speaker", original.Turns[i].Speaker, loaded.Turns[i].Speaker);
        Check($"Turns[{i}].Text", original.Turns[i].Text, loaded.Turns[i].Text);
        Check($"Turns[{i}].At", original.Turns[i].At, loaded.Turns[i].At);
        Check($"Turns[{i}].At.Offset", original.Turns[i].At.Offset, loaded.Turns[i].At.Offset);
    }

    Check(nameof(AotAgent.Settings) + ".Count", original.Settings.Count, loaded.Settings.Count);
    foreach (KeyValuePair<string, string> pair in original.Settings)
    {
        Check($"Settings[{pair.Key}]", pair.Value, loaded.Settings.TryGetValue(pair.Key, out string? value) ? value : "<missing>");
    }

    Check("GetAsync<AotAgent>.Steps", original.Steps, byKey?.Steps ?? -1);
    Check("GetAsync<AotAgent>.Turns.Count", original.Turns.Count, byKey?.Turns.Count ?? -1);
    Check("GetJsonAsync", """{"note":"raw JSON","n":[1,2.5,null]}""", rawJson);
    Check("ListKeysAsync + DeleteAsync", "notes/first", string.Join(",", keys));
    Check("AotVault found", true, vaultFound);
    Check(nameof(AotVault.ConnectionString) + " (encrypted: restored)", Connection, vault.ConnectionString);
    Check(nameof(AotVault.Headers) + " (encrypted: restored)", "Bearer aot-demo-header", vault.Headers.TryGetValue("Authorization", out string? header) ? header : "<missing>");
    Check(nameof(AotVault.ApiKey) + " (redacted: left alone on load)", "kept-in-memory", vault.ApiKey);
    Check("AotVault.ApiKey fingerprint matches", true, StateGen.Security.SensitiveData.TryGetFingerprint(storedApiKey, out string? fingerprint)
        && new StateGen.Security.StateFingerprinter(ring).Matches(fingerprint, StateGen.Security.SensitiveData.FingerprintContext("aot-vault", "ApiKey"), Secret));

    // [Sensitive] omit: the key must not be anywhere in the file.
    string latin1 = File.ReadAllText(path, System.Text.Encoding.Latin1), utf8 = File.ReadAllText(path, System.Text.Encoding.UTF8);
    foreach (string planted in new[] { Secret, Connection, "Bearer aot-demo-header" })
    {
        Check($"'{planted[..10]}...' absent from the database file", false, latin1.Contains(planted, StringComparison.Ordinal) || utf8.Contains(planted, StringComparison.Ordinal));
    }

    // The CoreCLR host hands the runtime its assembly list; a native AOT binary has no host and no such list.
    // (RuntimeFeature.IsDynamicCodeSupported is false under `dotnet run` too once PublishAot is set.)
    bool nativeAot = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is null;
    Console.WriteLine($"Runtime: {(nativeAot ? "native AOT" : "JIT (not native AOT)")}");
    Console.WriteLine($"Saved and loaded '{loaded.Id}': mode {loaded.Mode}, {loaded.Steps} steps, {loaded.Turns.Count} turns, {loaded.Settings.Count} settings, started {loaded.StartedAt:O}.");
    if (mismatches.Count > 0)
    {
        Console.WriteLine("AOT round trip: MISMATCH");
        foreach (string mismatch in mismatches)
        {
            Console.WriteLine("  " + mismatch);
        }

        return 1;
    }

    Console.WriteLine("AOT round trip: OK");
    return 0;
}
finally
{
    Directory.Delete(dir, recursive: true);
}
