using System;
using System.Buffers;
using System.Text.RegularExpressions;

namespace StateGen.Secrets;

/// <summary>
/// Recognises the shapes of well-known secrets in text (<see cref="SecretKind"/>). Cheap enough to run on every stored
/// string: text shorter than <see cref="MinimumLength"/> is not looked at; otherwise one vectorized search finds the
/// few characters every secret prefix contains (<c>-</c>, <c>_</c>, <c>A</c>, <c>J</c>), a handful of character
/// comparisons reject almost every hit, and only a real prefix (<c>sk-</c>, <c>AKIA</c>, <c>ghp_</c>, <c>eyJ</c>, …)
/// is confirmed by an anchored, source-generated regular expression.
/// </summary>
/// <remarks>
/// A secret must start at the beginning of the text or after a character that is not an ASCII letter or digit
/// (<c>task-…</c> is not an OpenAI key), and fixed-length shapes must not run on into more letters or digits. The
/// documented AWS example key (<c>AKIAIOSFODNN7EXAMPLE</c>, and any key id ending in <c>EXAMPLE</c>) is ignored.
/// </remarks>
public static partial class SecretScanner
{
    /// <summary>The length of the shortest text that can hold a secret (a Slack token); shorter text is never scanned.</summary>
    public const int MinimumLength = 15;

    // Every prefix contains one of these: '-' (sk-, xox?-, -----BEGIN), '_' (sk_, rk_, gh?_, github_pat_),
    // 'A' (AKIA/ASIA/ABIA/ACCA/A3T, AIza), 'J' (eyJ).
    private static readonly SearchValues<char> s_anchors = SearchValues.Create("-_AJ");

    /// <summary>Finds the first secret in <paramref name="text"/>.</summary>
    /// <param name="text">The text to scan.</param>
    /// <param name="kind">The kind of the first secret found.</param>
    /// <returns><see langword="true"/> when the text contains a secret.</returns>
    public static bool TryFind(ReadOnlySpan<char> text, out SecretKind kind)
    {
        kind = default;
        if (text.Length < MinimumLength)
        {
            return false;
        }

        int offset = 0;
        while (true)
        {
            int hit = text.Slice(offset).IndexOfAny(s_anchors);
            if (hit < 0)
            {
                return false;
            }

            int at = offset + hit;
            if (!Plausible(text, at))
            {
                offset = at + 1; // prose: a hyphen, a capital A, an underscore that starts no known prefix
                continue;
            }

            bool found = text[at] switch
            {
                // sk-…, -----BEGIN, xox?-
                '-' => TryAt(text, at - 2, out kind) || TryAt(text, at, out kind) || TryAt(text, at - 4, out kind),

                // sk_ / rk_, gh?_, github_
                '_' => TryAt(text, at - 2, out kind) || TryAt(text, at - 3, out kind) || TryAt(text, at - 6, out kind),

                // AKIA…, AIza…
                'A' => TryAt(text, at, out kind),

                // eyJ
                _ => TryAt(text, at - 2, out kind),
            };

            if (found)
            {
                return true;
            }

            offset = at + 1;
        }
    }

    /// <summary>
    /// A cheap look at the characters around an anchor: whether any prefix that contains it could be there. Most anchors
    /// in prose (hyphens, a capital A, underscores in identifiers) fail it, and <see cref="TryAt"/> is not called.
    /// </summary>
    private static bool Plausible(ReadOnlySpan<char> text, int at)
    {
        return text[at] switch
        {
            // sk-, xox?-, -----BEGIN
            '-' => At(text, at - 1) == 'k' || At(text, at - 4) == 'x' || At(text, at + 1) == '-',

            // sk_ / rk_, gh?_, github_pat_
            '_' => At(text, at - 1) == 'k' || At(text, at - 3) == 'g' || At(text, at - 6) == 'g',

            // AKIA / ASIA / ABIA / ACCA / A3T, AIza
            'A' => At(text, at + 1) is 'K' or 'S' or 'B' or 'C' or '3' or 'I',

            // eyJ
            _ => At(text, at - 1) == 'y',
        };

        static char At(ReadOnlySpan<char> text, int index) => (uint)index < (uint)text.Length ? text[index] : '\0';
    }

    /// <summary>Whether <paramref name="text"/> contains a secret.</summary>
    public static bool ContainsSecret(ReadOnlySpan<char> text) => TryFind(text, out _);

    /// <summary>The short name of a kind, as used in markers and logs: e.g. <c>openai-api-key</c>.</summary>
    public static string NameOf(SecretKind kind) => kind switch
    {
        SecretKind.OpenAiApiKey => "openai-api-key",
        SecretKind.AnthropicApiKey => "anthropic-api-key",
        SecretKind.AwsAccessKeyId => "aws-access-key-id",
        SecretKind.GitHubToken => "github-token",
        SecretKind.SlackToken => "slack-token",
        SecretKind.GoogleApiKey => "google-api-key",
        SecretKind.StripeSecretKey => "stripe-secret-key",
        SecretKind.JsonWebToken => "jwt",
        SecretKind.PemPrivateKey => "pem-private-key",
        _ => "secret",
    };

    /// <summary>The text stored in place of a redacted string: <c>[redacted:{name}]</c>.</summary>
    public static string MarkerOf(SecretKind kind) => kind switch
    {
        SecretKind.OpenAiApiKey => "[redacted:openai-api-key]",
        SecretKind.AnthropicApiKey => "[redacted:anthropic-api-key]",
        SecretKind.AwsAccessKeyId => "[redacted:aws-access-key-id]",
        SecretKind.GitHubToken => "[redacted:github-token]",
        SecretKind.SlackToken => "[redacted:slack-token]",
        SecretKind.GoogleApiKey => "[redacted:google-api-key]",
        SecretKind.StripeSecretKey => "[redacted:stripe-secret-key]",
        SecretKind.JsonWebToken => "[redacted:jwt]",
        SecretKind.PemPrivateKey => "[redacted:pem-private-key]",
        _ => "[redacted:secret]",
    };

    /// <summary>Whether a secret starts exactly at <paramref name="start"/>.</summary>
    private static bool TryAt(ReadOnlySpan<char> text, int start, out SecretKind kind)
    {
        kind = default;
        if (start < 0 || (start > 0 && char.IsAsciiLetterOrDigit(text[start - 1])))
        {
            return false;
        }

        ReadOnlySpan<char> s = text.Slice(start);
        if (s.Length < MinimumLength)
        {
            return false;
        }

        // Cheap character checks first; the regex runs only on a real prefix.
        switch (s[0])
        {
            case 's' when s[1] == 'k' && s[2] == '-':
                return s.StartsWith("sk-ant-", StringComparison.Ordinal)
                    ? Confirm(AnthropicPattern().IsMatch(s), SecretKind.AnthropicApiKey, out kind)
                    : Confirm(OpenAiPattern().IsMatch(s), SecretKind.OpenAiApiKey, out kind);

            case 's' or 'r' when s[1] == 'k' && s[2] == '_':
                return Confirm(StripePattern().IsMatch(s), SecretKind.StripeSecretKey, out kind);

            case 'g' when s[1] == 'h' && s[3] == '_' && s[2] is 'p' or 'o' or 'u' or 's' or 'r':
                return Confirm(GitHubPattern().IsMatch(s), SecretKind.GitHubToken, out kind);

            case 'g' when s.StartsWith("github_pat_", StringComparison.Ordinal):
                return Confirm(GitHubFineGrainedPattern().IsMatch(s), SecretKind.GitHubToken, out kind);

            case 'x' when s[1] == 'o' && s[2] == 'x' && s[4] == '-':
                return Confirm(SlackPattern().IsMatch(s), SecretKind.SlackToken, out kind);

            case 'A' when s[1] == 'I' && s[2] == 'z' && s[3] == 'a':
                return Confirm(GooglePattern().IsMatch(s), SecretKind.GoogleApiKey, out kind);

            case 'A' when s.Slice(1).StartsWith("KIA", StringComparison.Ordinal) || s.Slice(1).StartsWith("SIA", StringComparison.Ordinal)
                || s.Slice(1).StartsWith("BIA", StringComparison.Ordinal) || s.Slice(1).StartsWith("CCA", StringComparison.Ordinal)
                || s.Slice(1).StartsWith("3T", StringComparison.Ordinal):
                return Confirm(AwsPattern().IsMatch(s) && !s.Slice(0, 20).EndsWith("EXAMPLE", StringComparison.Ordinal), SecretKind.AwsAccessKeyId, out kind);

            case 'e' when s[1] == 'y' && s[2] == 'J':
                return Confirm(JwtPattern().IsMatch(s), SecretKind.JsonWebToken, out kind);

            case '-' when s.StartsWith("-----BEGIN", StringComparison.Ordinal):
                return Confirm(PemPattern().IsMatch(s), SecretKind.PemPrivateKey, out kind);

            default:
                return false;
        }
    }

    private static bool Confirm(bool matched, SecretKind candidate, out SecretKind kind)
    {
        kind = candidate;
        return matched;
    }

    // The shapes (docs/secret-scanning.md). Each is anchored at the candidate's start; the match may end anywhere.
    private const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture;

    [GeneratedRegex(@"^sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA(?![A-Za-z0-9_-])", Options)]
    private static partial Regex AnthropicPattern();

    [GeneratedRegex(@"^sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?![A-Za-z0-9]))", Options)]
    private static partial Regex OpenAiPattern();

    [GeneratedRegex(@"^(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", Options)]
    private static partial Regex AwsPattern();

    [GeneratedRegex(@"^gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])", Options)]
    private static partial Regex GitHubPattern();

    [GeneratedRegex(@"^github_pat_[A-Za-z0-9_]{82}(?![A-Za-z0-9_])", Options)]
    private static partial Regex GitHubFineGrainedPattern();

    [GeneratedRegex(@"^xox[baprse]-(?:[0-9]{1,14}-){0,3}[A-Za-z0-9]{10,}", Options)]
    private static partial Regex SlackPattern();

    [GeneratedRegex(@"^AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", Options)]
    private static partial Regex GooglePattern();

    [GeneratedRegex(@"^(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99}(?![A-Za-z0-9])", Options)]
    private static partial Regex StripePattern();

    [GeneratedRegex(@"^eyJ[A-Za-z0-9_-]{5,}\.ey[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}", Options)]
    private static partial Regex JwtPattern();

    [GeneratedRegex(@"^-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY-----", Options)]
    private static partial Regex PemPattern();
}
