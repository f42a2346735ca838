using System.Threading.Tasks;
using StateGen.Analyzers;

namespace StateGen.CodeFixes.Tests;

/// <summary>
/// The SG0200 code fix: <c>[Sensitive]</c> in its own attribute list on the line above the member, keeping its comments
/// and indentation, qualified when <c>StateGen</c> is not imported.
/// </summary>
public sealed class AddSensitiveCodeFixTests
{
    [Fact]
    public Task Property_gets_the_attribute_on_its_own_line_keeping_comment_and_indentation()
        => VerifyAsync(
            """
            using StateGen;

            namespace Sample
            {
                [PersistentState]
                public partial class Agent
                {
                    public string Id { get; set; } = "";

                    /// <summary>The provider key.</summary>
                    public string {|SG0200:ApiKey|} { get; set; } = "";
                }
            }
            """,
            """
            using StateGen;

            namespace Sample
            {
                [PersistentState]
                public partial class Agent
                {
                    public string Id { get; set; } = "";

                    /// <summary>The provider key.</summary>
                    [Sensitive]
                    public string ApiKey { get; set; } = "";
                }
            }
            """);

    [Fact]
    public Task Without_using_StateGen_the_attribute_is_qualified()
        => VerifyAsync(
            """
            namespace Sample;

            [StateGen.PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                // Issued by the identity provider.
                public string {|SG0200:RefreshToken|} = "";
            }
            """,
            """
            namespace Sample;

            [StateGen.PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                // Issued by the identity provider.
                [StateGen.Sensitive]
                public string RefreshToken = "";
            }
            """);

    [Fact]
    public Task Using_inside_the_namespace_counts_as_imported()
        => VerifyAsync(
            """
            namespace Sample
            {
                using StateGen;

                [PersistentState]
                public partial class Agent
                {
                    public string Id { get; set; } = "";
                    public string {|SG0200:Password|} { get; set; } = "";
                }
            }
            """,
            """
            namespace Sample
            {
                using StateGen;

                [PersistentState]
                public partial class Agent
                {
                    public string Id { get; set; } = "";
                    [Sensitive]
                    public string Password { get; set; } = "";
                }
            }
            """);

    [Fact]
    public Task New_attribute_list_goes_before_existing_attributes()
        => VerifyAsync(
            """
            using System;
            using StateGen;

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                [Obsolete("use Vault")]
                public string {|SG0200:ClientSecret|} { get; set; } = "";

                [Obsolete] public string {|SG0200:ConnectionString|} { get; set; } = "";
            }
            """,
            """
            using System;
            using StateGen;

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

                [Sensitive]
                [Obsolete("use Vault")]
                public string ClientSecret { get; set; } = "";

                [Sensitive]
                [Obsolete] public string ConnectionString { get; set; } = "";
            }
            """);

    [Fact]
    public Task Member_that_shares_its_line_gets_the_attribute_in_front()
        => VerifyAsync(
            """
            using StateGen;

            [PersistentState]
            public partial class Agent { public string Id { get; set; } = ""; public string {|SG0200:Token|} { get; set; } = ""; }
            """,
            """
            using StateGen;

            [PersistentState]
            public partial class Agent { public string Id { get; set; } = ""; [Sensitive] public string Token { get; set; } = ""; }
            """);

    [Fact]
    public Task Member_of_a_nested_plain_class_is_fixed_where_it_is_declared()
        => VerifyAsync(
            """
            using System.Collections.Generic;
            using StateGen;

            public sealed class ToolConfig
            {
                public string Name { get; set; } = "";
                public byte[] {|SG0200:SigningKey|} { get; set; } = new byte[0];
            }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public List<ToolConfig> Tools { get; set; } = new();
            }
            """,
            """
            using System.Collections.Generic;
            using StateGen;

            public sealed class ToolConfig
            {
                public string Name { get; set; } = "";
                [Sensitive]
                public byte[] SigningKey { get; set; } = new byte[0];
            }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public List<ToolConfig> Tools { get; set; } = new();
            }
            """);

    [Fact]
    public Task Fix_all_marks_every_secret_member()
        => VerifyAsync(
            """
            using StateGen;

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public string {|SG0200:ApiKey|} { get; set; } = "";
                public string Topic { get; set; } = "";
                public string {|SG0200:GithubPat|} { get; set; } = "";
                public string {|SG0200:db_password|} = "";
            }

            [PersistentState]
            public partial class Session
            {
                public string Id { get; set; } = "";
                public string {|SG0200:Cookie|} { get; set; } = "";
            }
            """,
            """
            using StateGen;

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                [Sensitive]
                public string ApiKey { get; set; } = "";
                public string Topic { get; set; } = "";
                [Sensitive]
                public string GithubPat { get; set; } = "";
                [Sensitive]
                public string db_password = "";
            }

            [PersistentState]
            public partial class Session
            {
                public string Id { get; set; } = "";
                [Sensitive]
                public string Cookie { get; set; } = "";
            }
            """);

    [Fact]
    public Task Field_declaring_several_variables_gets_no_fix()
    {
        // The attribute would mark every variable of the declaration; the user splits it first.
        const string source = """
            using StateGen;

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public string User = "", {|SG0200:Password|} = "";
            }
            """;
        return VerifyAsync(source, source);
    }

    private static Task VerifyAsync(string source, string fixedSource)
        => CodeFixTest.VerifyAsync<SensitiveDataAnalyzer, AddSensitiveCodeFixProvider>(source, fixedSource);
}
