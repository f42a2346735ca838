using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using StateGen.Analyzers;

namespace StateGen.CodeFixes.Tests;

/// <summary>The schema lock code fixes write canonical lines, keep history, bump versions, and batch in Fix All.</summary>
public sealed class SchemaLockCodeFixTests
{
    private const string LockName = "StateGen.schema.txt";
    private const string Header = "# StateGen schema lock: one line per persisted member per schema version. Checked on every build; commit it.\n# type | version | path | format | sensitive\n";

    private const string Agent = """
        using StateGen;

        [PersistentState("agent")]
        public partial class {|#0:Agent|}
        {
            public string Id { get; set; } = "";
            [Sensitive] public string ApiKey { get; set; } = "";
        }
        """;

    private const string AgentV1Lines = "agent | 1 | ApiKey | string | omit\nagent | 1 | Id | string | plain\n";

    [Fact]
    public async Task Not_recorded_type_gets_its_lines_in_sorted_canonical_form()
    {
        var test = Create(Agent, Agent);
        test.TestState.AdditionalFiles.Add((LockName, "# old comment\n"));
        test.ExpectedDiagnostics.Add(new DiagnosticResult(DiagnosticDescriptors.SchemaNotRecorded).WithLocation(0).WithArguments("Agent", 1, LockName));
        test.FixedState.AdditionalFiles.Add((LockName, Header + AgentV1Lines));
        await test.RunAsync();
    }

    [Fact]
    public async Task Missing_lock_file_is_created_with_every_type_recorded()
    {
        const string twoTypes = Agent + """

            [PersistentState("memo")]
            public partial class Memo { public int Id { get; set; } public string Text { get; set; } = ""; }
            """;
        var test = Create(twoTypes, twoTypes);
        test.ExpectedDiagnostics.Add(new DiagnosticResult(DiagnosticDescriptors.LockFileMissing).WithLocation(0).WithArguments(LockName));

        // SG0103 is reported once per project at compilation end, so it is not local to the type it points at.
        test.CodeFixTestBehaviors |= CodeFixTestBehaviors.SkipLocalDiagnosticCheck;
        test.FixedState.AdditionalFiles.Add((LockName, Header + AgentV1Lines + "memo | 1 | Id | int32 | plain\nmemo | 1 | Text | string | plain\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Changed_shape_bumps_the_version_and_appends_the_new_shape_keeping_history()
    {
        const string changed = """
            using StateGen;

            [PersistentState("agent")]
            public partial class {|#0:Agent|}
            {
                public string Id { get; set; } = "";
                [Sensitive] public string ApiKey { get; set; } = "";
                public int Budget { get; set; }
            }
            """;
        const string fixedSource = """
            using StateGen;

            [PersistentState("agent")]
            [SchemaVersion(2)]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                [Sensitive] public string ApiKey { get; set; } = "";
                public int Budget { get; set; }
            }
            """;
        var test = Create(changed, fixedSource);
        test.TestState.AdditionalFiles.Add((LockName, Header + AgentV1Lines));
        test.ExpectedDiagnostics.Add(new DiagnosticResult(DiagnosticDescriptors.SchemaChanged).WithLocation(0).WithArguments("Agent", 1, "added 'Budget'", 2));
        test.FixedState.AdditionalFiles.Add((LockName, Header + AgentV1Lines + "agent | 2 | ApiKey | string | omit\nagent | 2 | Budget | int32 | plain\nagent | 2 | Id | string | plain\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Existing_schema_version_argument_is_incremented()
    {
        const string changed = """
            using StateGen;

            [PersistentState("agent"), SchemaVersion(2)]
            public partial class {|#0:Agent|}
            {
                public string Id { get; set; } = "";
                public long Budget { get; set; }
            }
            """;
        const string fixedSource = """
            using StateGen;

            [PersistentState("agent"), SchemaVersion(3)]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public long Budget { get; set; }

                static partial void UpgradeFromV2(StateGen.Migrations.SchemaUpgrade upgrade)
                {
                    // Version 3 changed the stored format of 'Budget'.
                    // The old values are passed on as they were; convert them here if the new types cannot read them.
                    if (upgrade.Old("Budget") is { } oldBudget)
                    {
                        upgrade.Set("Budget", oldBudget);
                    }
                }
            }
            """;
        var test = Create(changed, fixedSource);

        // What the generator declares once the lock file records version 3 (the generator does not run in this test).
        const string generated = "partial class Agent { static partial void UpgradeFromV2(StateGen.Migrations.SchemaUpgrade upgrade); }";
        test.TestState.Sources.Add(("Generated.g.cs", generated));
        test.FixedState.Sources.Add(("Generated.g.cs", generated));
        string v2 = "agent | 2 | Budget | int32 | plain\nagent | 2 | Id | string | plain\n";
        test.TestState.AdditionalFiles.Add((LockName, Header + v2));
        test.ExpectedDiagnostics.Add(new DiagnosticResult(DiagnosticDescriptors.SchemaChanged).WithLocation(0).WithArguments("Agent", 2, "'Budget' changed type", 3));
        test.FixedState.AdditionalFiles.Add((LockName, Header + v2 + "agent | 3 | Budget | int64 | plain\nagent | 3 | Id | string | plain\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Fix_all_bumps_every_changed_type_of_the_project_in_one_lock_file_edit()
    {
        const string changed = """
            using StateGen;

            [PersistentState("a")]
            public partial class {|#0:A|}
            {
                public string Id { get; set; } = "";
                public int X { get; set; }
            }

            [PersistentState("b")]
            public partial class {|#1:B|}
            {
                public string Id { get; set; } = "";
                public int Y { get; set; }
            }
            """;
        const string fixedSource = """
            using StateGen;

            [PersistentState("a")]
            [SchemaVersion(2)]
            public partial class A
            {
                public string Id { get; set; } = "";
                public int X { get; set; }
            }

            [PersistentState("b")]
            [SchemaVersion(2)]
            public partial class B
            {
                public string Id { get; set; } = "";
                public int Y { get; set; }
            }
            """;
        var test = Create(changed, fixedSource);
        test.TestState.AdditionalFiles.Add((LockName, Header + "a | 1 | Id | string | plain\nb | 1 | Id | string | plain\n"));
        test.ExpectedDiagnostics.Add(new DiagnosticResult(DiagnosticDescriptors.SchemaChanged).WithLocation(0).WithArguments("A", 1, "added 'X'", 2));
        test.ExpectedDiagnostics.Add(new DiagnosticResult(DiagnosticDescriptors.SchemaChanged).WithLocation(1).WithArguments("B", 1, "added 'Y'", 2));
        test.FixedState.AdditionalFiles.Add((LockName, Header
            + "a | 1 | Id | string | plain\na | 2 | Id | string | plain\na | 2 | X | int32 | plain\n"
            + "b | 1 | Id | string | plain\nb | 2 | Id | string | plain\nb | 2 | Y | int32 | plain\n"));
        test.NumberOfFixAllIterations = 1;
        test.NumberOfFixAllInDocumentIterations = 1;
        test.NumberOfFixAllInProjectIterations = 1;
        test.NumberOfIncrementalIterations = 2;
        await test.RunAsync();
    }

    private static CSharpCodeFixTest<SchemaLockAnalyzer, SchemaLockCodeFixProvider, DefaultVerifier> Create(string source, string fixedSource)
    {
        var test = new CSharpCodeFixTest<SchemaLockAnalyzer, SchemaLockCodeFixProvider, DefaultVerifier>
        {
            TestCode = source,
            FixedCode = fixedSource,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),
        };
        test.TestState.AdditionalReferences.AddRange(Net100.References.All);
        test.TestState.AdditionalReferences.Add(MetadataReference.CreateFromFile(typeof(PersistentStateAttribute).Assembly.Location));
        return test;
    }
}
