using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0100–SG0105: every [PersistentState] type is checked against the committed schema lock file.</summary>
public sealed class SchemaLockTests
{
    private const string LockName = "StateGen.schema.txt";

    private const string AgentV1 = """
        [PersistentState("agent")]
        public partial class {|#0:Agent|}
        {
            public string Id { get; set; } = "";
            public string Topic { get; set; } = "";
            [Sensitive] public string ApiKey { get; set; } = "";
            public List<Turn> History { get; set; } = new();
        }

        public sealed class Turn
        {
            public string Text { get; set; } = "";
            public DateTimeOffset At { get; set; }
        }
        """;

    private const string LockV1 = """
        # StateGen schema lock
        agent | 1 | ApiKey | string | omit
        agent | 1 | History | list<object> | plain
        agent | 1 | History[].At | datetimeoffset | plain
        agent | 1 | History[].Text | string | plain
        agent | 1 | Id | string | plain
        agent | 1 | Topic | string | plain
        """;

    [Fact]
    public async Task Recorded_shape_that_matches_reports_nothing()
        => await VerifyAsync(AgentV1, LockV1);

    [Fact]
    public async Task Get_only_collection_filled_in_place_is_recorded_like_a_settable_one()
        => await VerifyAsync(AgentV1.Replace("public List<Turn> History { get; set; } = new();", "public List<Turn> History { get; } = new();\n    public int Count => History.Count;", System.StringComparison.Ordinal), LockV1);

    [Fact]
    public async Task Line_order_and_comments_in_the_lock_file_do_not_matter()
        => await VerifyAsync(AgentV1, """
            agent | 1 | Topic | string | plain

            # history
            agent | 1 | History[].Text | string | plain
            agent | 1 | History[].At | datetimeoffset | plain
            agent | 1 | History | list<object> | plain
            agent | 1 | Id | string | plain
            agent | 1 | ApiKey | string | omit
            """);

    [Fact]
    public async Task Added_removed_and_retyped_members_without_a_bump_are_reported_with_the_change()
    {
        const string changed = """
            [PersistentState("agent")]
            public partial class {|#0:Agent|}
            {
                public string Id { get; set; } = "";
                public int Topic { get; set; }
                public List<Turn> History { get; set; } = new();
                public double Budget { get; set; }
            }

            public sealed class Turn
            {
                public string Text { get; set; } = "";
                public DateTimeOffset At { get; set; }
            }
            """;
        await VerifyAsync(changed, LockV1, Expect(DiagnosticDescriptors.SchemaChanged, "The schema of 'Agent' changed since version 1 was recorded (added 'Budget', removed 'ApiKey', 'Topic' changed type): bump [SchemaVersion] to 2"));
    }

    [Fact]
    public async Task A_change_inside_a_nested_object_changes_the_member_that_holds_it()
    {
        string changed = AgentV1.Replace("public DateTimeOffset At { get; set; }", "public DateTime At { get; set; }", System.StringComparison.Ordinal);
        await VerifyAsync(changed, LockV1, Expect(DiagnosticDescriptors.SchemaChanged, "The schema of 'Agent' changed since version 1 was recorded ('History' changed type): bump [SchemaVersion] to 2"));
    }

    [Fact]
    public async Task Making_a_member_sensitive_is_a_shape_change()
    {
        string changed = AgentV1.Replace("public string Topic", "[Sensitive] public string Topic", System.StringComparison.Ordinal);
        await VerifyAsync(changed, LockV1, Expect(DiagnosticDescriptors.SchemaChanged, "The schema of 'Agent' changed since version 1 was recorded ('Topic' changed type): bump [SchemaVersion] to 2"));
    }

    [Fact]
    public async Task Renaming_the_clr_type_or_nested_class_is_not_a_shape_change()
    {
        string renamed = AgentV1.Replace("Agent|}", "ResearchAgent|}", System.StringComparison.Ordinal).Replace("Turn", "ChatTurn", System.StringComparison.Ordinal);
        await VerifyAsync(renamed, LockV1);
    }

    [Fact]
    public async Task Type_without_lock_lines_is_reported_as_not_recorded()
        => await VerifyAsync(AgentV1, "# empty\n", Expect(DiagnosticDescriptors.SchemaNotRecorded, "Schema version 1 of 'Agent' is not recorded in StateGen.schema.txt"));

    [Fact]
    public async Task A_bumped_version_whose_shape_is_not_recorded_yet_is_reported_as_not_recorded()
    {
        string bumped = "[SchemaVersion(2)]\n" + AgentV1;
        await VerifyAsync(bumped, LockV1, Expect(DiagnosticDescriptors.SchemaNotRecorded, "Schema version 2 of 'Agent' is not recorded in StateGen.schema.txt"));
    }

    [Fact]
    public async Task Version_lower_than_the_highest_recorded_is_an_error()
    {
        string lockV2 = LockV1 + "\n" + LockV1.Replace("agent | 1 |", "agent | 2 |", System.StringComparison.Ordinal).Replace("# StateGen schema lock", "", System.StringComparison.Ordinal);
        await VerifyAsync(AgentV1, lockV2, Expect(DiagnosticDescriptors.SchemaVersionBelowRecorded, "'Agent' declares schema version 1, lower than version 2 recorded in StateGen.schema.txt"));
    }

    [Fact]
    public async Task Older_versions_stay_in_the_file_as_history()
    {
        string lockV1V2 = LockV1 + "\n" + "agent | 2 | ApiKey | string | omit\nagent | 2 | History | list<object> | plain\nagent | 2 | History[].At | datetimeoffset | plain\nagent | 2 | History[].Text | string | plain\nagent | 2 | Id | string | plain\nagent | 2 | Topic | string | plain\n";
        await VerifyAsync("[SchemaVersion(2)]\n" + AgentV1, lockV1V2);
    }

    [Fact]
    public async Task Missing_lock_file_is_reported_once_for_the_project()
    {
        const string twoTypes = AgentV1 + """

            [PersistentState("zeta")]
            public partial class Zeta { public string Id { get; set; } = ""; }
            """;
        await VerifyAsync(twoTypes, lockText: null, Expect(DiagnosticDescriptors.LockFileMissing, "No schema lock file 'StateGen.schema.txt': shape changes of [PersistentState] types are not checked"));
    }

    [Fact]
    public async Task Lines_of_a_type_that_no_longer_exists_are_reported_in_the_lock_file()
    {
        string withStale = LockV1 + "\ngone | 1 | Id | string | plain\n";
        await VerifyAsync(AgentV1, withStale, new DiagnosticResult(DiagnosticDescriptors.StaleLockLines)
            .WithSpan(LockName, 8, 1, 8, 31)
            .WithMessage("The lock file records 'gone', which is not a [PersistentState] type of this project"));
    }

    [Fact]
    public async Task Malformed_and_duplicate_lines_are_errors_located_in_the_lock_file()
    {
        string broken = LockV1 + "\nagent | x | Id | string | plain\nagent | 1 | Id\nagent | 1 | Id | string | plain\nagent | 1 | Extra | string | secret\n";
        await VerifyAsync(AgentV1, broken,
            new DiagnosticResult(DiagnosticDescriptors.MalformedLockLine).WithSpan(LockName, 8, 1, 8, 32).WithMessage("Schema lock line is not valid: 'x' is not a schema version (a whole number from 1)"),
            new DiagnosticResult(DiagnosticDescriptors.MalformedLockLine).WithSpan(LockName, 9, 1, 9, 15).WithMessage("Schema lock line is not valid: expected 5 fields 'type | version | path | format | sensitive', found 3"),
            new DiagnosticResult(DiagnosticDescriptors.MalformedLockLine).WithSpan(LockName, 10, 1, 10, 32).WithMessage("Schema lock line is not valid: duplicate line for 'agent' version 1 path 'Id'"),
            new DiagnosticResult(DiagnosticDescriptors.MalformedLockLine).WithSpan(LockName, 11, 1, 11, 36).WithMessage("Schema lock line is not valid: 'secret' is not a sensitive mode ('plain', 'omit', 'redact' or 'encrypt')"));
    }

    [Fact]
    public async Task The_msbuild_property_names_another_lock_file()
    {
        var test = CreateTest(AgentV1, lockText: null);
        test.TestState.AdditionalFiles.Add(("agents.lock.txt", LockV1));
        test.TestState.AnalyzerConfigFiles.Add(("/.globalconfig", "is_global = true\nbuild_property.StateGenSchemaFile = agents.lock.txt\n"));
        await test.RunAsync();
    }

    private const string ScoreV2 = """
        [PersistentState("scored")]
        [SchemaVersion(2)]
        public partial class {|#0:Scored|}
        {
            public string Id { get; set; } = "";
            public double Score { get; set; }

            // What the generator declares for the step 1 -> 2:
            static partial void UpgradeFromV1(StateGen.Migrations.SchemaUpgrade upgrade);
        }
        """;

    private const string ScoreLock = """
        scored | 1 | Id | string | plain
        scored | 1 | Score | int32 | plain
        scored | 2 | Id | string | plain
        scored | 2 | Score | float64 | plain
        """;

    [Fact]
    public async Task A_step_that_changes_a_member_type_without_an_implemented_hook_is_an_error()
        => await VerifyAsync(ScoreV2, ScoreLock, Expect(DiagnosticDescriptors.UpgradeHookMissing, "The upgrade of 'Scored' from version 1 to 2 needs code ('Score' changed type): implement 'static partial void UpgradeFromV1(SchemaUpgrade upgrade)'"));

    [Fact]
    public async Task An_implemented_hook_closes_the_gap()
    {
        string implemented = ScoreV2.Replace("// What the generator declares", "static partial void UpgradeFromV1(StateGen.Migrations.SchemaUpgrade upgrade) => upgrade.Set(\"Score\", 1.0);\n    // What the generator declares", System.StringComparison.Ordinal);
        await VerifyAsync(implemented, ScoreLock);
    }

    [Fact]
    public async Task A_declared_transform_closes_the_gap_without_a_hook()
    {
        string transformed = ScoreV2.Replace("public double Score", "[UpgradeTransform(\"normalize_score\", \"0\", \"100\")] public double Score", System.StringComparison.Ordinal);
        await VerifyAsync(transformed, ScoreLock);
    }

    [Fact]
    public async Task Renames_removals_and_additions_need_no_hook()
    {
        const string v2 = """
            [PersistentState("renamed")]
            [SchemaVersion(2)]
            public partial class Renamed
            {
                public string Id { get; set; } = "";
                [RenamedFrom("Title")] public string Subject { get; set; } = "";
                public int Added { get; set; }
            }
            """;
        const string lockText = """
            renamed | 1 | Id | string | plain
            renamed | 1 | Removed | bool | plain
            renamed | 1 | Title | string | plain
            renamed | 2 | Added | int32 | plain
            renamed | 2 | Id | string | plain
            renamed | 2 | Subject | string | plain
            """;
        await VerifyAsync(v2, lockText);
    }

    [Fact]
    public async Task A_version_missing_between_recorded_versions_is_a_gap()
    {
        const string v3 = """
            [PersistentState("gappy")]
            [SchemaVersion(3)]
            public partial class {|#0:Gappy|}
            {
                public string Id { get; set; } = "";
            }
            """;
        const string lockText = """
            gappy | 1 | Id | string | plain
            gappy | 3 | Id | string | plain
            """;
        await VerifyAsync(v3, lockText, Expect(DiagnosticDescriptors.UpgradeVersionMissing, "Schema version 2 of 'Gappy' is missing from StateGen.schema.txt, so documents of the versions before it cannot be upgraded"));
    }

    internal static CSharpAnalyzerTest<SchemaLockAnalyzer, DefaultVerifier> CreateTest(string source, string? lockText)
    {
        var test = new CSharpAnalyzerTest<SchemaLockAnalyzer, DefaultVerifier>
        {
            TestCode = AnalyzerTest.Usings + source,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),
        };
        test.TestState.AdditionalReferences.AddRange(Net100.References.All);
        test.TestState.AdditionalReferences.Add(MetadataReference.CreateFromFile(typeof(PersistentStateAttribute).Assembly.Location));
        if (lockText is not null)
        {
            test.TestState.AdditionalFiles.Add((LockName, lockText));
        }

        return test;
    }

    private static Task VerifyAsync(string source, string? lockText, params DiagnosticResult[] expected)
    {
        var test = CreateTest(source, lockText);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    private static DiagnosticResult Expect(DiagnosticDescriptor descriptor, string message)
        => new DiagnosticResult(descriptor).WithLocation(0).WithMessage(message);
}
