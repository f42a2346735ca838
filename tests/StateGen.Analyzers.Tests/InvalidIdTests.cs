using System.Threading.Tasks;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0004: exactly one id, of a key-friendly type, never sensitive.</summary>
public sealed class InvalidIdTests
{
    [Fact]
    public Task Second_StateId_member_is_reported()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                [StateId]
                public string First { get; set; } = "";

                [StateId]
                public string {|#0:Second|} { get; set; } = "";
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.InvalidId, 0, "Invalid instance id: 'Agent' has more than one [StateId] member"));

    [Fact]
    public Task Sensitive_id_is_reported_at_the_id()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                [StateId, Sensitive]
                public string {|#0:ApiKey|} { get; set; } = "";
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.InvalidId, 0, "Invalid instance id: 'ApiKey' is [Sensitive], but the id is stored in plain text as part of the key"));

    [Fact]
    public Task Id_of_unsupported_type_is_reported_with_its_type()
        => AnalyzerTest.VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public double {|#0:Id|} { get; set; }
            }
            """,
            AnalyzerTest.At(DiagnosticDescriptors.InvalidId, 0, "Invalid instance id: 'Id' is of type 'double'; an id must be string, Guid, int or long"));

    [Fact]
    public Task StateId_field_of_wrong_type_is_reported()
        => AnalyzerTest.VerifyAsync("""
            [PersistentState]
            public partial class Agent
            {
                [StateId]
                public DateTime {|SG0004:CreatedAt|};
            }
            """);

    [Theory]
    [InlineData("string")]
    [InlineData("Guid")]
    [InlineData("int")]
    [InlineData("long")]
    public Task Id_of_supported_type_reports_nothing(string idType)
        => AnalyzerTest.VerifyAsync($$"""
            [PersistentState]
            public partial class Agent
            {
                [StateId]
                public {{idType}} Key { get; set; } = default!;
            }
            """);
}
