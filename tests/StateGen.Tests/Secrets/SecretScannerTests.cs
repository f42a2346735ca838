using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using StateGen.Secrets;

namespace StateGen.Tests.Secrets;

/// <summary>The scanner alone: each secret shape is recognised, alone and inside text; near misses are not.</summary>
public sealed class SecretScannerTests
{
    public static IEnumerable<object[]> Secrets()
        => new[] { 1, 2, 3 }.SelectMany(seed => SecretSamples.All(seed).Select(s => new object[] { s.Name + "#" + seed, s.Kind, s.Value }));

    [Theory]
    [MemberData(nameof(Secrets))]
    public void Each_secret_shape_is_detected_alone_and_inside_text(string name, SecretKind kind, string secret)
    {
        Assert.True(SecretScanner.TryFind(secret, out SecretKind alone), name);
        Assert.Equal(kind, alone);

        foreach (string text in new[]
        {
            $"Use {secret} for the nightly job.",
            $"export TOKEN=\"{secret}\"\n",
            $"config: {{\"key\":\"{secret}\"}}",
            $"Question 3: what changed in the storage layer since the last run?\n{secret}",
        })
        {
            Assert.True(SecretScanner.TryFind(text, out SecretKind found), name + " in: " + text.Length + " chars");
            Assert.Equal(kind, found);
        }
    }

    public static IEnumerable<object[]> NearMisses()
    {
        var r = new Random(7);
        string alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var bytes = new byte[3000];
        r.NextBytes(bytes);
        string[] cases =
        {
            "pk_live_" + SecretSamples.R(r, alnum, 24),                        // Stripe publishable key: public by design
            "pk_test_" + SecretSamples.R(r, alnum, 24),
            "AKIAIOSFODNN7EXAMPLE",                                              // AWS's documented example key
            "the example key AKIAIOSFODNN7EXAMPLE from the AWS docs",
            "sk-" + SecretSamples.R(r, alnum, 10),                              // too short for any OpenAI shape
            "sk-" + SecretSamples.R(r, alnum, 40),                              // no T3BlbkFJ marker
            "sk-ant-api03-" + SecretSamples.R(r, alnum, 20),                    // Anthropic prefix, too short
            "sk_live_short",
            "ghp_" + SecretSamples.R(r, alnum, 20),                             // GitHub prefix, too short
            "ghx_" + SecretSamples.R(r, alnum, 36),                             // not a GitHub token type
            "xoxb-hello world, this is prose",
            "AIza is how the key starts but this is prose",
            "A multitask-scheduler and a disk_live_backup_rotation job ran on the ASCII ACCAUNT list.",
            "Question 4: what changed in the storage layer since the last run, and which entries need a schema migration? "
                + "Answer: three entries were written with schema version 1; none needs migration. AWS, JWT, GitHub and Slack were not involved.",
            Convert.ToBase64String(bytes),                                       // a base64 blob is not a JWT
            Convert.ToBase64String(Encoding.UTF8.GetBytes("""{"model":"gpt","temperature":0.25,"stops":["\n"]}""")), // eyJ…, no dots
            "eyJhbGciOiJIUzI1NiJ9",                                              // one JWT part alone
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END CERTIFICATE-----",
            "[redacted:openai-api-key]",                                         // a marker is not a secret
            "2025-11-25T10:15:30.1234567Z research-agent/researcher-1",
        };
        return cases.Select(c => new object[] { c });
    }

    [Theory]
    [MemberData(nameof(NearMisses))]
    public void Near_misses_are_not_flagged(string text)
    {
        Assert.False(SecretScanner.TryFind(text, out SecretKind kind), $"flagged as {kind}");
    }

    [Fact]
    public void Text_shorter_than_the_shortest_secret_is_never_flagged()
    {
        Assert.False(SecretScanner.ContainsSecret("xoxb-123456789"));
        Assert.Equal(14, "xoxb-123456789".Length);
        Assert.True(SecretScanner.MinimumLength <= "xoxb-1234567890".Length);
    }

    [Fact]
    public void A_secret_glued_to_a_preceding_letter_or_digit_is_not_a_match()
    {
        string aws = "AKIA" + SecretSamples.R(new Random(3), "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16);
        Assert.True(SecretScanner.ContainsSecret(aws));
        Assert.False(SecretScanner.ContainsSecret("X" + aws));
        Assert.False(SecretScanner.ContainsSecret(aws + "Z")); // 21 key characters: not an access key id
    }

    [Fact]
    public void Every_kind_has_a_distinct_marker_and_name()
    {
        SecretKind[] kinds = Enum.GetValues<SecretKind>();
        Assert.Equal(kinds.Length, kinds.Select(SecretScanner.MarkerOf).Distinct().Count());
        foreach (SecretKind kind in kinds)
        {
            Assert.Equal($"[redacted:{SecretScanner.NameOf(kind)}]", SecretScanner.MarkerOf(kind));
        }

        Assert.Equal("[redacted:openai-api-key]", SecretScanner.MarkerOf(SecretKind.OpenAiApiKey));
    }

    [Fact]
    public void Every_kind_is_covered_by_the_samples()
    {
        Assert.Equal(Enum.GetValues<SecretKind>().OrderBy(k => k), SecretSamples.All(1).Select(s => s.Kind).Distinct().OrderBy(k => k));
    }
}
