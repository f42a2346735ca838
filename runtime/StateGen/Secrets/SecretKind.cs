namespace StateGen.Secrets;

/// <summary>The kinds of secret the scanner recognises (the shapes public secret scanners look for).</summary>
public enum SecretKind
{
    /// <summary>An OpenAI API key: <c>sk-proj-…T3BlbkFJ…</c> (also <c>svcacct</c>, <c>admin</c>) or the legacy <c>sk-…T3BlbkFJ…</c>.</summary>
    OpenAiApiKey,

    /// <summary>An Anthropic API or admin key: <c>sk-ant-api03-…AA</c>, <c>sk-ant-admin01-…AA</c>.</summary>
    AnthropicApiKey,

    /// <summary>An AWS access key id: <c>AKIA</c>, <c>ASIA</c>, <c>ABIA</c>, <c>ACCA</c> or <c>A3T?</c> and 16 more characters.</summary>
    AwsAccessKeyId,

    /// <summary>A GitHub token: <c>ghp_</c>, <c>gho_</c>, <c>ghu_</c>, <c>ghs_</c>, <c>ghr_</c> or a fine-grained <c>github_pat_</c>.</summary>
    GitHubToken,

    /// <summary>A Slack token: <c>xoxb-</c>, <c>xoxa-</c>, <c>xoxp-</c>, <c>xoxr-</c>, <c>xoxs-</c>, <c>xoxe-</c>.</summary>
    SlackToken,

    /// <summary>A Google API key: <c>AIza</c> and 35 more characters.</summary>
    GoogleApiKey,

    /// <summary>A Stripe secret or restricted key: <c>sk_live_</c>, <c>rk_test_</c>, … (publishable <c>pk_</c> keys are not secret).</summary>
    StripeSecretKey,

    /// <summary>A JSON Web Token: three base64url parts, the first two JSON objects (<c>eyJ…</c>).</summary>
    JsonWebToken,

    /// <summary>A PEM private key block: <c>-----BEGIN … PRIVATE KEY-----</c>.</summary>
    PemPrivateKey,
}
