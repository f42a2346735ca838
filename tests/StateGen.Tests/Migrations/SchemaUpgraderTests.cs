using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using StateGen.Migrations;

namespace StateGen.Tests.Migrations;

/// <summary>The streaming upgrade steps that generated chains run, and the built-in and user transformers.</summary>
public sealed class SchemaUpgraderTests
{
    private static readonly Dictionary<string, string> NoRenames = new();

    [Fact]
    public void Unchanged_members_are_copied_byte_for_byte_and_renamed_and_removed_ones_are_moved_and_dropped()
    {
        const string v1 = """{"Id":"a","Title":"C++ \u00e9t\u00e9 + more","Obsolete":{"deep":[1,2,3]},"Tags":["x+y"]}""";
        var step = new UpgradeStep(1, new Dictionary<string, string> { ["Title"] = "Subject" }, new[] { "Obsolete" }, Array.Empty<string>(), null);

        string v2 = Run(v1, 1, 2, step);

        Assert.Equal("""{"Id":"a","Subject":"C++ \u00e9t\u00e9 + more","Tags":["x+y"]}""", v2);
    }

    [Fact]
    public void Steps_run_in_order_and_a_hook_reads_old_values_and_writes_new_ones()
    {
        var first = new UpgradeStep(1, NoRenames, Array.Empty<string>(), new[] { "Score" }, u => u.Set("Score", u.Old("Score")!.Value.GetInt32() / 10.0));
        var second = new UpgradeStep(2, new Dictionary<string, string> { ["Score"] = "Rating" }, Array.Empty<string>(), Array.Empty<string>(), u => u.Set("Priority", 5L));

        string result = Run("""{"Id":"a","Score":73}""", 1, 3, first, second);

        Assert.Equal("""{"Id":"a","Rating":7.3,"Priority":5}""", result);
    }

    [Fact]
    public void A_missing_step_in_the_chain_means_no_upgrade_path()
    {
        var first = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null);

        Assert.Null(SchemaUpgrader.Upgrade("t", 1, 3, Encoding.UTF8.GetBytes("{}"), new[] { first }));
    }

    [Fact]
    public void Output_is_byte_for_byte_stable_across_runs()
    {
        const string v1 = """{"Id":"a","Title":"t","Notes":{"k":"v + w"},"Score":1}""";
        var step = new UpgradeStep(1, new Dictionary<string, string> { ["Title"] = "Subject" }, new[] { "Score" }, Array.Empty<string>(), u => u.Set("Added", true));

        Assert.Equal(Run(v1, 1, 2, step), Run(v1, 1, 2, step));
    }

    [Theory]
    [InlineData("normalize_score", new[] { "0", "100" }, "73", "0.73")]
    [InlineData("normalize_score", new[] { "0", "100" }, "250", "1")]
    [InlineData("normalize_score", new[] { "10", "20" }, "5", "0")]
    [InlineData("has_valid_email", new string[0], "\"ada@example.org\"", "true")]
    [InlineData("has_valid_email", new string[0], "\"not an email\"", "false")]
    [InlineData("has_valid_email", new string[0], "\"a@b\"", "false")]
    [InlineData("lower", new string[0], "\"MiXeD\"", "\"mixed\"")]
    [InlineData("upper", new string[0], "\"MiXeD\"", "\"MIXED\"")]
    [InlineData("trim", new string[0], "\"  x \"", "\"x\"")]
    [InlineData("parse_number", new string[0], "\"42\"", "42")]
    [InlineData("parse_number", new string[0], "\"4.50\"", "4.50")]
    [InlineData("to_string", new string[0], "17", "\"17\"")]
    [InlineData("split", new[] { ";" }, "\"a; b;;c\"", "[\"a\",\"b\",\"c\"]")]
    [InlineData("join", new[] { "," }, "[\"a\",\"b\"]", "\"a,b\"")]
    [InlineData("map_enum", new[] { "Bot=Assistant", "Human=User" }, "\"Bot\"", "\"Assistant\"")]
    [InlineData("map_enum", new[] { "Bot=Assistant" }, "\"Other\"", "\"Other\"")]
    [InlineData("default", new[] { "5" }, "null", "5")]
    [InlineData("default", new[] { "5" }, "7", "7")]
    public void Built_in_transformers_convert_the_old_value(string transformer, string[] arguments, string oldJson, string expectedJson)
    {
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null,
            new[] { new UpgradeTransform("V", "V", true, transformer, arguments) });

        string result = Run($$"""{"V":{{oldJson}},"Keep":1}""", 1, 2, step);

        Assert.Equal($$"""{"Keep":1,"V":{{expectedJson}}}""", result);
    }

    [Fact]
    public void now_iso8601_writes_the_current_utc_time()
    {
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null, new[] { new UpgradeTransform("MigratedAt", "MigratedAt", false, "now_iso8601", Array.Empty<string>()) });
        DateTimeOffset before = DateTimeOffset.UtcNow;

        using JsonDocument result = JsonDocument.Parse(Run("{}", 1, 2, step));

        DateTimeOffset stamped = result.RootElement.GetProperty("MigratedAt").GetDateTimeOffset();
        Assert.InRange(stamped, before, DateTimeOffset.UtcNow);
        Assert.Equal(TimeSpan.Zero, stamped.Offset);
    }

    [Fact]
    public void A_transform_can_derive_a_new_member_from_another_that_is_kept()
    {
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null, new[] { new UpgradeTransform("HasValidEmail", "Email", false, "has_valid_email", Array.Empty<string>()) });

        Assert.Equal("""{"Email":"ada@example.org","HasValidEmail":true}""", Run("""{"Email":"ada@example.org"}""", 1, 2, step));
    }

    [Fact]
    public void User_registered_transformers_get_their_parameters()
    {
        StateTransformers.Register("test_multiply", (context, writer) => writer.WriteNumberValue(context.Value!.Value.GetDouble() * context.NumberArgument(0)));
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null, new[] { new UpgradeTransform("Cost", "Cost", true, "test_multiply", new[] { "100" }) });

        Assert.Equal("""{"Cost":250}""", Run("""{"Cost":2.5}""", 1, 2, step));
    }

    [Fact]
    public void A_failing_transformer_is_a_typed_error_naming_step_member_and_transformer_without_the_value()
    {
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null, new[] { new UpgradeTransform("Count", "Count", true, "parse_number", Array.Empty<string>()) });

        var error = Assert.Throws<StateMigrationException>(() => Run("""{"Count":"sk-live-SECRET-not-a-number"}""", 1, 2, step));

        Assert.Equal(1, error.FromVersion);
        Assert.Equal("Count", error.Member);
        Assert.Equal("parse_number", error.Transformer);
        Assert.Contains("'Count'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_transformer_is_a_typed_error()
    {
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), Array.Empty<string>(), null, new[] { new UpgradeTransform("X", "X", true, "no_such_transformer", Array.Empty<string>()) });

        var error = Assert.Throws<StateMigrationException>(() => Run("""{"X":1}""", 1, 2, step));

        Assert.Contains("no_such_transformer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failing_hook_is_a_typed_error_that_does_not_quote_its_message()
    {
        var step = new UpgradeStep(1, NoRenames, Array.Empty<string>(), new[] { "A" }, _ => throw new InvalidOperationException("hook saw sk-live-SECRET"));

        var error = Assert.Throws<StateMigrationException>(() => Run("""{"A":1}""", 1, 2, step));

        Assert.Equal("UpgradeFromV1", error.Transformer);
        Assert.DoesNotContain("SECRET", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"A":1""")]
    [InlineData("""[1,2]""")]
    [InlineData("""{"A":1} trailing""")]
    [InlineData("")]
    public void A_malformed_document_is_a_typed_error(string document)
    {
        var step = new UpgradeStep(1, NoRenames, new[] { "A" }, Array.Empty<string>(), null);

        Assert.Throws<StateMigrationException>(() => Run(document, 1, 2, step));
    }

    private static string Run(string document, int from, int to, params UpgradeStep[] steps)
        => Encoding.UTF8.GetString(SchemaUpgrader.Upgrade("test", from, to, Encoding.UTF8.GetBytes(document), steps)!);
}
