using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0006: schema versions start at 1.</summary>
public sealed class SchemaVersionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public Task Schema_version_below_one_is_reported(int version)
        => AnalyzerTest.VerifyAsync(
            $$"""
            [PersistentState, SchemaVersion({{version}})]
            public partial class {|#0:Agent|}
            {
                public string Id { get; set; } = "";
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.InvalidSchemaVersion, 0, "The [SchemaVersion] of 'Agent' must be 1 or higher"));

    [Theory]
    [InlineData(1)]
    [InlineData(42)]
    public Task Schema_version_of_one_or_higher_reports_nothing(int version)
        => AnalyzerTest.VerifyAsync($$"""
            [PersistentState("agent")]
            [SchemaVersion({{version}})]
            public partial class Agent
            {
                public string Id { get; set; } = "";
            }
            """);
}
