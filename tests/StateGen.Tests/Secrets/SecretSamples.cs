using System;
using System.Collections.Generic;
using System.Text;
using StateGen.Secrets;

namespace StateGen.Tests.Secrets;

/// <summary>
/// Realistic secrets of each kind, built at test time from random characters (seeded, so a failure reproduces), so no
/// real-looking secret sits in the repository.
/// </summary>
public static class SecretSamples
{
    private const string Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    private const string Lower = "abcdefghijklmnopqrstuvwxyz";
    private const string Digits = "0123456789";
    private const string Alnum = Upper + Lower + Digits;
    private const string UrlSafe = Alnum + "-_";

    /// <summary>One generated example per shape (two for kinds with two shapes), with its kind.</summary>
    public static IEnumerable<(string Name, SecretKind Kind, string Value)> All(int seed)
    {
        var r = new Random(seed);
        yield return ("openai-legacy", SecretKind.OpenAiApiKey, "sk-" + R(r, Alnum, 20) + "T3BlbkFJ" + R(r, Alnum, 20));
        yield return ("openai-project", SecretKind.OpenAiApiKey, "sk-proj-" + R(r, UrlSafe, 74) + "T3BlbkFJ" + R(r, UrlSafe, 74));
        yield return ("anthropic", SecretKind.AnthropicApiKey, "sk-ant-api03-" + R(r, UrlSafe, 93) + "AA");
        yield return ("aws", SecretKind.AwsAccessKeyId, "AKIA" + R(r, Upper + Digits, 16));
        yield return ("aws-session", SecretKind.AwsAccessKeyId, "ASIA" + R(r, Upper + Digits, 16));
        yield return ("github-classic", SecretKind.GitHubToken, "ghp_" + R(r, Alnum, 36));
        yield return ("github-app", SecretKind.GitHubToken, "ghs_" + R(r, Alnum, 36));
        yield return ("github-fine-grained", SecretKind.GitHubToken, "github_pat_" + R(r, Alnum, 22) + "_" + R(r, Alnum, 59));
        yield return ("slack-bot", SecretKind.SlackToken, "xoxb-" + R(r, Digits, 12) + "-" + R(r, Digits, 13) + "-" + R(r, Alnum, 24));
        yield return ("slack-user", SecretKind.SlackToken, "xoxp-" + R(r, Digits, 12) + "-" + R(r, Digits, 12) + "-" + R(r, Digits, 13) + "-" + R(r, Digits + "abcdef", 32));
        yield return ("google", SecretKind.GoogleApiKey, "AIza" + R(r, UrlSafe, 35));
        yield return ("stripe-secret", SecretKind.StripeSecretKey, "sk_live_" + R(r, Alnum, 24));
        yield return ("stripe-restricted", SecretKind.StripeSecretKey, "rk_test_" + R(r, Alnum, 24));
        yield return ("jwt", SecretKind.JsonWebToken, Jwt(r));
        yield return ("pem", SecretKind.PemPrivateKey, Pem(r, "RSA PRIVATE KEY"));
        yield return ("pem-pkcs8", SecretKind.PemPrivateKey, Pem(r, "PRIVATE KEY"));
    }

    /// <summary>Random characters from an alphabet.</summary>
    public static string R(Random r, string alphabet, int length)
    {
        var chars = new char[length];
        for (int i = 0; i < length; i++)
        {
            chars[i] = alphabet[r.Next(alphabet.Length)];
        }

        return new string(chars);
    }

    /// <summary>A JWT of a real header and payload with a random signature.</summary>
    public static string Jwt(Random r)
    {
        string header = Base64Url("""{"alg":"HS256","typ":"JWT"}""");
        string payload = Base64Url($$"""{"sub":"{{R(r, Digits, 10)}}","name":"agent","iat":{{r.Next(1_600_000_000, 1_800_000_000)}}}""");
        return header + "." + payload + "." + R(r, UrlSafe, 43);
    }

    /// <summary>A PEM block of random key bytes.</summary>
    public static string Pem(Random r, string label)
    {
        var bytes = new byte[256];
        r.NextBytes(bytes);
        string body = Convert.ToBase64String(bytes, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal);
        return $"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n";
    }

    public static string Base64Url(string text)
        => Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
