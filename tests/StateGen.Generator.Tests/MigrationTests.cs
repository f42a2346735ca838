using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;

namespace StateGen.Generator.Tests;

/// <summary>
/// Schema evolution with the real compiler: version 1 of a type saves documents into a LiteDB file; version 3 of the same
/// type, compiled separately with the lock file's history, loads them through the generated upgrade chain.
/// </summary>
public sealed class MigrationTests : IDisposable
{
    internal const string PlannerV1 = """
        using System.Collections.Generic;
        using StateGen;

        namespace Planning;

        [PersistentState("planner")]
        public partial class Planner
        {
            public string Id { get; set; } = "";
            public string Title { get; set; } = "";
            public int Score { get; set; }
            public string Obsolete { get; set; } = "";
            public List<string> Tags { get; set; } = new();
        }
        """;

    /// <summary>v2: Title renamed to Subject, Obsolete removed, Priority added. v3: Score from int (0..100) to double (0..1).</summary>
    internal const string PlannerV3 = """
        using System.Collections.Generic;
        using StateGen;
        using StateGen.Migrations;

        namespace Planning;

        [PersistentState("planner")]
        [SchemaVersion(3)]
        public partial class Planner
        {
            public string Id { get; set; } = "";
            [RenamedFrom("Title", Version = 2)] public string Subject { get; set; } = "";
            public int Priority { get; set; } = 5;
            public double Score { get; set; }
            public List<string> Tags { get; set; } = new();

            static partial void UpgradeFromV2(SchemaUpgrade upgrade)
            {
                if (upgrade.Old("Score") is { } score)
                {
                    upgrade.Set("Score", score.GetInt32() / 100.0);
                }
            }
        }
        """;

    internal const string LockV1 = """
        planner | 1 | Id | string | plain
        planner | 1 | Obsolete | string | plain
        planner | 1 | Score | int32 | plain
        planner | 1 | Tags | list<string> | plain
        planner | 1 | Title | string | plain
        """;

    internal const string LockV3 = LockV1 + """

        planner | 2 | Id | string | plain
        planner | 2 | Priority | int32 | plain
        planner | 2 | Score | int32 | plain
        planner | 2 | Subject | string | plain
        planner | 2 | Tags | list<string> | plain
        planner | 3 | Id | string | plain
        planner | 3 | Priority | int32 | plain
        planner | 3 | Score | float64 | plain
        planner | 3 | Subject | string | plain
        planner | 3 | Tags | list<string> | plain
        """;

    private const string SaveProbe = """
        using System.Threading.Tasks;
        using StateGen;
        using Planning;

        public static class Probe
        {
            public static async Task<string> Run(string path)
            {
                await using StateManager manager = StateManager.OpenLiteDb(path);
                var planner = new Planner { Id = "p1", Title = "Write the chain", Score = 73, Obsolete = "dropped" };
                planner.Tags.Add("schema");
                await planner.SaveStateAsync(manager);
                return "saved";
            }
        }
        """;

    private const string LoadProbe = """
        using System.Threading.Tasks;
        using StateGen;
        using Planning;

        public static class Probe
        {
            public static async Task<string> Run(string path)
            {
                await using StateManager manager = StateManager.OpenLiteDb(path, new StateManagerOptions { WriteBackUpgrades = WriteBack.Enabled });
                var planner = new Planner { Id = "p1" };
                bool found = await planner.LoadStateAsync(manager);
                var entry = await manager.Store.GetAsync("global", "planner/p1");
                return string.Join("|", found, planner.Subject, planner.Priority, planner.Score, string.Join(",", planner.Tags), entry!.SchemaVersion,
                    System.Text.Encoding.UTF8.GetString(entry.Payload.Span).Contains("Obsolete"));
            }
        }

        public static class WriteBack { public static bool Enabled; }
        """;

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "stategen-migration-tests", Guid.NewGuid().ToString("N"));

    public MigrationTests() => Directory.CreateDirectory(_folder);

    private string DbPath => Path.Combine(_folder, "planner.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Version_1_documents_load_into_version_3_through_rename_default_remove_and_custom_step()
    {
        Assert.Equal("saved", await RunAsync(LockV1, PlannerV1, SaveProbe));

        string loaded = await RunAsync(LockV3, PlannerV3, LoadProbe);

        // Subject from Title (rename), Priority keeps its initializer (added), Score 73 -> 0.73 (custom step),
        // Tags copied; without write-back the stored document stays at version 1 with Obsolete in it.
        Assert.Equal("True|Write the chain|5|0.73|schema|1|True", loaded);
    }

    [Fact]
    public async Task Write_back_stores_the_upgraded_document_at_the_current_version()
    {
        await RunAsync(LockV1, PlannerV1, SaveProbe);

        string loaded = await RunAsync(LockV3, PlannerV3, LoadProbe, writeBack: true);

        Assert.Equal("True|Write the chain|5|0.73|schema|3|False", loaded);
        Assert.Equal("True|Write the chain|5|0.73|schema|3|False", await RunAsync(LockV3, PlannerV3, LoadProbe));
    }

    private const string HookedLoadProbe = """
        using System.Threading.Tasks;
        using StateGen;
        using StateGen.Hooks;
        using Planning;

        public static class Probe
        {
            public static async Task<string> Run(string path)
            {
                await using StateManager manager = StateManager.OpenLiteDb(path, new StateManagerOptions { WriteBackUpgrades = true });
                var seen = new System.Collections.Generic.List<string>();
                manager.Hooks.Register(StateHookPoint.BeforeMigration, "gate", ctx =>
                {
                    seen.Add("before:" + ctx.CurrentVersion + ":" + ctx.SchemaVersion + ":" + ctx.Origin + ":" + (ctx.NewValue?.GetProperty("Subject").GetString() ?? "?"));
                    return WriteBack.Enabled ? StateHookResult.Continue : StateHookResult.Cancel("not now");
                });
                manager.Hooks.Register(StateHookPoint.AfterMigration, "audit", ctx =>
                {
                    seen.Add("after:" + ctx.CurrentVersion);
                    return StateHookResult.Continue;
                });
                var planner = new Planner { Id = "p1" };
                bool found = await planner.LoadStateAsync(manager);
                var entry = await manager.Store.GetAsync("global", "planner/p1");
                return string.Join("|", found, planner.Subject, entry!.SchemaVersion, entry.Version, string.Join(",", seen));
            }
        }

        public static class WriteBack { public static bool Enabled; }
        """;

    [Fact]
    public async Task Migration_hooks_run_around_the_write_back_and_a_before_hook_can_cancel_it()
    {
        await RunAsync(LockV1, PlannerV1, SaveProbe);

        // Canceled: the upgraded value is loaded, but the stored document stays at schema version 1; no after hook.
        Assert.Equal("True|Write the chain|1|1|before:1:3:upgrade:Write the chain", await RunAsync(LockV3, PlannerV3, HookedLoadProbe, writeBack: false));

        // Continued: written back at schema version 3 as stored version 2, and the after hook sees that version.
        Assert.Equal("True|Write the chain|3|2|before:1:3:upgrade:Write the chain,after:2", await RunAsync(LockV3, PlannerV3, HookedLoadProbe, writeBack: true));
    }

    private const string StoreWideProbe = """
        using System.Linq;
        using System.Threading.Tasks;
        using StateGen;
        using StateGen.Migrations;
        using Planning;

        public static class Probe
        {
            public static async Task<string> Run(string path)
            {
                await using StateManager manager = StateManager.OpenLiteDb(path);
                var migrations = new MigrationManager(manager).Register<Planner>();
                MigrationPlan plan = await migrations.PlanAsync();
                string steps = string.Join(",", plan.Types[0].Steps.Select(s => s.FromVersion + ">" + s.ToVersion + (s.IsDestructive ? "!" + string.Join("+", s.DroppedMembers) : "")));
                string refused = "";
                try { await migrations.ApplyAsync(); } catch (StateMigrationConfirmationRequiredException) { refused = "refused"; }
                MigrationReport report = await migrations.ApplyAsync(new MigrationRequest { AllowDestructive = true });
                var entry = await manager.Store.GetAsync("global", "planner/p1");
                var planner = new Planner { Id = "p1" };
                await planner.LoadStateAsync(manager);
                return string.Join("|", steps, refused, report.Migrated, entry!.SchemaVersion, planner.Subject, planner.Score);
            }
        }
        """;

    [Fact]
    public async Task A_store_wide_migration_plans_from_the_generated_steps_and_brings_version_1_documents_to_version_3()
    {
        await RunAsync(LockV1, PlannerV1, SaveProbe);

        // The generated step list tells the plan that 1->2 drops Obsolete, so applying needs the confirmation.
        Assert.Equal("1>2!Obsolete,2>3|refused|1|3|Write the chain|0.73", await RunAsync(LockV3, PlannerV3, StoreWideProbe));
    }

    [Fact]
    public async Task A_failing_custom_step_is_a_typed_error_and_the_stored_document_is_untouched()
    {
        await RunAsync(LockV1, PlannerV1, SaveProbe);
        string failing = PlannerV3.Replace("upgrade.Set(\"Score\", score.GetInt32() / 100.0);", "throw new System.InvalidOperationException(\"secret-in-hook-message\");", StringComparison.Ordinal);

        var error = await Assert.ThrowsAsync<StateMigrationException>(() => RunAsync(LockV3, failing, LoadProbe, writeBack: true));

        Assert.Equal(2, error.FromVersion);
        Assert.Equal("UpgradeFromV2", error.Transformer);
        Assert.Contains("planner/p1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-in-hook-message", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("True|Title|73", await ReadRawAsync());
    }

    [Fact]
    public async Task A_document_newer_than_the_program_is_a_typed_error_naming_both_versions()
    {
        await RunAsync(LockV3, PlannerV3, SaveProbe.Replace("Title = \"Write the chain\", Score = 73, Obsolete = \"dropped\"", "Subject = \"v3\"", StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<StateSchemaVersionException>(() => RunAsync(LockV1, PlannerV1, LoadProbe.Replace("planner.Subject, planner.Priority", "planner.Title, 0", StringComparison.Ordinal)));

        Assert.Equal(3, error.StoredVersion);
        Assert.Equal(1, error.ExpectedVersion);
    }

    [Fact]
    public async Task A_declarative_transform_replaces_the_custom_step()
    {
        await RunAsync(LockV1, PlannerV1, SaveProbe);
        string declarative = PlannerV3
            .Replace("public double Score { get; set; }", "[UpgradeTransform(\"normalize_score\", \"0\", \"100\", Version = 3)] public double Score { get; set; }", StringComparison.Ordinal)
            .Replace("static partial void UpgradeFromV2(", "static void Unused(", StringComparison.Ordinal);

        Assert.Equal("True|Write the chain|5|0.73|schema|1|True", await RunAsync(LockV3, declarative, LoadProbe));
    }

    [Fact]
    public void Migration_code_of_a_three_version_type_matches_baseline()
    {
        (Compilation output, GeneratorDriverRunResult result) = GeneratorHarness.RunWithLock(LockV3, PlannerV3);

        foreach (GeneratedSourceResult generated in result.Results.Single().GeneratedSources)
        {
            Snapshot.Match("PlannerV3", generated.HintName, generated.SourceText.ToString());
        }

        Assert.Contains(result.Results.Single().GeneratedSources, s => s.HintName == "Planning.Planner.Migrations.g.cs");
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));
    }

    [Fact]
    public void Sensitive_modes_are_lock_lines_and_a_changed_stored_form_is_dropped_by_the_upgrade_step()
    {
        const string keysV2 = """
            using StateGen;

            namespace Vaults;

            [PersistentState("keys")]
            [SchemaVersion(2)]
            public partial class Keys
            {
                public string Id { get; set; } = "";
                [Sensitive(SensitiveMode.Encrypt)] public string Key { get; set; } = "";
                [Sensitive(SensitiveMode.Encrypt), RenamedFrom("Vault", Version = 2)] public string Safe { get; set; } = "";
                [Sensitive(SensitiveMode.Redact), RenamedFrom("Memo", Version = 2)] public string Note { get; set; } = "";
                [Sensitive(SensitiveMode.Encrypt)] public string Kept { get; set; } = "";
                public string Plain { get; set; } = "";
                [Sensitive] public string Gone { get; set; } = "";
            }
            """;
        const string lockV2 = """
            keys | 1 | Gone | string | encrypt
            keys | 1 | Id | string | plain
            keys | 1 | Kept | string | encrypt
            keys | 1 | Key | string | plain
            keys | 1 | Memo | string | redact
            keys | 1 | Plain | string | redact
            keys | 1 | Vault | string | encrypt
            keys | 2 | Gone | string | omit
            keys | 2 | Id | string | plain
            keys | 2 | Kept | string | encrypt
            keys | 2 | Key | string | encrypt
            keys | 2 | Note | string | redact
            keys | 2 | Plain | string | plain
            keys | 2 | Safe | string | encrypt
            """;
        (Compilation output, GeneratorDriverRunResult result) = GeneratorHarness.RunWithLock(lockV2, keysV2);
        Assert.Equal(string.Empty, GeneratorHarness.Problems(output));

        // The lock lines of the current shape are exactly the recorded version 2 (no SG0100 would be reported).
        var shape = Generator.Shape.ShapeExtractor.Extract((INamedTypeSymbol)output.GetTypeByMetadataName("Vaults.Keys")!, default).Shape!;
        Assert.Equal(
            lockV2.Split('\n').Where(l => l.Contains("| 2 |", StringComparison.Ordinal)).Select(l => l.Trim()),
            Generator.Shape.SchemaLock.LinesFor(shape).Select(l => l.ToString()));

        // Plain → encrypt, redact → plain, omit: dropped; an encrypted member renamed: dropped (its ciphertext is bound
        // to the old name); a redacted one renamed: its marker moves; unchanged encrypt: kept as it is.
        string migrations = result.Results.Single().GeneratedSources.Single(s => s.HintName == "Vaults.Keys.Migrations.g.cs").SourceText.ToString();
        Assert.Contains("""new(1, new global::System.Collections.Generic.Dictionary<string, string> { ["Memo"] = "Note" }, new[] { "Gone", "Key", "Plain", "Vault" }, global::System.Array.Empty<string>(), null),""", migrations, StringComparison.Ordinal);
    }

    [Fact]
    public void A_type_without_recorded_history_gets_no_migrations_file()
    {
        (_, GeneratorDriverRunResult result) = GeneratorHarness.RunWithLock(LockV1, PlannerV1);

        Assert.Equal("Planning.Planner.State.g.cs", Assert.Single(result.Results.Single().GeneratedSources).HintName);
    }

    private async Task<string> ReadRawAsync()
    {
        await using StateManager manager = StateManager.OpenLiteDb(DbPath);
        Storage.StoredEntry? entry = await manager.Store.GetAsync("global", "planner/p1");
        string json = System.Text.Encoding.UTF8.GetString(entry!.Payload.Span);
        return string.Join("|", entry.SchemaVersion == 1, json.Contains("\"Title\"", StringComparison.Ordinal) ? "Title" : "?", json.Contains("73", StringComparison.Ordinal) ? "73" : "?");
    }

    private async Task<string> RunAsync(string lockText, string type, string probe, bool writeBack = false)
    {
        (Compilation output, _) = GeneratorHarness.RunWithLock(lockText, type, probe);
        byte[] image = GeneratorHarness.Emit(output);
        var context = new AssemblyLoadContext("migration-" + Guid.NewGuid(), isCollectible: true);
        try
        {
            Assembly assembly = context.LoadFromStream(new MemoryStream(image));
            assembly.GetType("WriteBack")?.GetField("Enabled")!.SetValue(null, writeBack);
            MethodInfo run = assembly.GetType("Probe")!.GetMethod("Run")!;
            try
            {
                return await (Task<string>)run.Invoke(null, new object[] { DbPath })!;
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                throw ex.InnerException;
            }
        }
        finally
        {
            context.Unload();
        }
    }
}
