using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using StateGen.Secrets;
using StateGen.Serialization;

namespace StateGen.Tests.Secrets;

/// <summary>
/// The generated writer scans every stored string wherever it sits (a member, a list element, a nested object's
/// member, a dictionary value), redacts it, and names its path; checked through a direct <c>WriteState</c> inside a
/// scan scope, for every kind.
/// </summary>
public sealed class SecretPlacementTests
{
    public static IEnumerable<object[]> Placements()
    {
        string[] places = { "member", "list", "nested", "dictionary", "list-of-objects" };
        return SecretSamples.All(11).SelectMany(s => places.Select(p => new object[] { s.Name, s.Kind, p }));
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public void Each_kind_is_redacted_and_named_in_every_placement(string name, SecretKind kind, string place)
    {
        string secret = SecretSamples.All(11).Single(s => s.Name == name).Value;
        string text = $"note: {secret} (from the vault)";
        var holder = new SecretHolder { Id = "h1", Text = "plain text that is long enough to be scanned" };
        holder.Items.Add("first item, nothing secret here");
        holder.Turns.Add(new SecretInner { Text = "turn zero, ordinary prose only" });
        string expectedPath;
        switch (place)
        {
            case "member":
                holder.Text = text;
                expectedPath = "Text";
                break;
            case "list":
                holder.Items.Add(text);
                expectedPath = "Items[1]";
                break;
            case "nested":
                holder.Nested.Text = text;
                expectedPath = "Nested.Text";
                break;
            case "dictionary":
                holder.Notes["ordinary"] = "a note that holds nothing secret";
                holder.Notes["token"] = text;
                expectedPath = "Notes[*]";
                break;
            default:
                holder.Turns.Add(new SecretInner { Text = "turn one", Lines = new[] { "line zero of turn one", text } });
                expectedPath = "Turns[1].Lines[1]";
                break;
        }

        string json;
        SecretFinding[] findings;
        using (SecretScanScope scan = SecretScan.Begin(SecretScanPolicy.RedactAndWarn))
        {
            json = Write(holder);
            findings = scan.Findings.ToArray();
            Assert.Equal(1, scan.Count);
        }

        Assert.Equal(new[] { new SecretFinding(expectedPath, kind) }, findings);
        Assert.DoesNotContain(Strings(json), v => v.Contains(secret, StringComparison.Ordinal));
        Assert.Contains(SecretScanner.MarkerOf(kind), Strings(json));

        // The instance keeps its value; only the stored document is redacted. The rest of the document is intact.
        Assert.Contains(text, new[] { holder.Text, holder.Nested.Text }.Concat(holder.Items).Concat(holder.Notes.Values).Concat(holder.Turns.SelectMany(t => t.Lines)));
        Assert.Contains("first item, nothing secret here", Strings(json));
        Assert.Contains("turn zero, ordinary prose only", Strings(json));
    }

    [Fact]
    public void Several_findings_are_recorded_in_document_order()
    {
        (string _, SecretKind _, string aws) = SecretSamples.All(5).First(s => s.Kind == SecretKind.AwsAccessKeyId);
        string jwt = SecretSamples.All(5).First(s => s.Kind == SecretKind.JsonWebToken).Value;
        var holder = new SecretHolder { Id = "h1", Text = aws };
        holder.Turns.Add(new SecretInner { Text = "ordinary turn text" });
        holder.Turns.Add(new SecretInner { Text = jwt });

        using SecretScanScope scan = SecretScan.Begin(SecretScanPolicy.Throw);
        Write(holder);

        Assert.Equal(new[] { new SecretFinding("Text", SecretKind.AwsAccessKeyId), new SecretFinding("Turns[1].Text", SecretKind.JsonWebToken) }, scan.Findings);
    }

    [Fact]
    public void Without_a_scan_scope_strings_are_still_redacted_but_nothing_is_recorded()
    {
        string secret = SecretSamples.All(6).First(s => s.Kind == SecretKind.GitHubToken).Value;
        var holder = new SecretHolder { Id = "h1", Text = secret };

        string json = Write(holder);

        Assert.DoesNotContain(secret, json, StringComparison.Ordinal);
        Assert.Contains("[redacted:github-token]", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Under_Off_strings_are_written_verbatim()
    {
        string secret = SecretSamples.All(6).First(s => s.Kind == SecretKind.SlackToken).Value;
        var holder = new SecretHolder { Id = "h1", Text = secret, Items = { secret } };

        using SecretScanScope scan = SecretScan.Begin(SecretScanPolicy.Off);
        string json = Write(holder);

        Assert.Empty(scan.Findings);
        Assert.Equal(2, Strings(json).Count(v => v == secret));
    }

    [Fact]
    public void Sensitive_members_are_neither_written_nor_scanned()
    {
        string secret = SecretSamples.All(6).First(s => s.Kind == SecretKind.OpenAiApiKey).Value;
        var holder = new SecretHolder { Id = "h1", ApiKey = secret };

        using SecretScanScope scan = SecretScan.Begin(SecretScanPolicy.Throw);
        string json = Write(holder);

        Assert.Empty(scan.Findings);
        Assert.DoesNotContain(secret, json, StringComparison.Ordinal);
        Assert.DoesNotContain("redacted", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Dictionary_keys_are_not_scanned()
    {
        string secret = SecretSamples.All(6).First(s => s.Kind == SecretKind.StripeSecretKey).Value;
        var holder = new SecretHolder { Id = "h1", Notes = { [secret] = "value" } };

        using SecretScanScope scan = SecretScan.Begin(SecretScanPolicy.RedactAndWarn);
        string json = Write(holder);

        Assert.Empty(scan.Findings);
        Assert.Contains(secret, json, StringComparison.Ordinal);
    }

    [Fact]
    public void Scopes_nest_and_a_disposed_scope_cannot_end_a_later_one()
    {
        string secret = SecretSamples.All(6).First(s => s.Kind == SecretKind.GoogleApiKey).Value;
        var holder = new SecretHolder { Id = "h1", Text = secret };

        SecretScanScope first = SecretScan.Begin(SecretScanPolicy.Off);
        first.Dispose();
        using SecretScanScope outer = SecretScan.Begin(SecretScanPolicy.RedactAndWarn);
        first.Dispose(); // a stale copy: no effect on the scope now open
        using (SecretScanScope inner = SecretScan.Begin(SecretScanPolicy.Off))
        {
            Assert.Contains(secret, Write(holder), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(secret, Write(holder), StringComparison.Ordinal);
        Assert.Single(outer.Findings);
        Assert.Empty(first.Findings);
    }

    /// <summary>Every string value and property name of a document, unescaped.</summary>
    internal static List<string> Strings(string json)
    {
        var strings = new List<string>();
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
            {
                strings.Add(reader.GetString()!);
            }
        }

        return strings;
    }

    internal static string Write(SecretHolder holder)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptions))
        {
            ((IPersistentState<SecretHolder>)holder).WriteState(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
