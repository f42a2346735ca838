using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;

namespace StateGen.Analyzers.Tests;

/// <summary>SG0200: a persisted string, byte[] or char[] whose name ends with a secret word must be [Sensitive].</summary>
public sealed class SensitiveDataTests
{
    [Fact]
    public Task Every_key_family_is_reported_with_its_word()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public string {|#0:ApiKey|} { get; set; } = "";
                public string {|#1:Openai_Api_Key|} { get; set; } = "";
                public string {|#2:AwsAccessKey|} { get; set; } = "";
                public string {|#3:PrivateKey|} { get; set; } = "";
                public byte[] {|#4:SigningKey|} { get; set; } = Array.Empty<byte>();
                public byte[]? {|#5:EncryptionKey|} { get; set; }
                public string {|#6:SessionKey|} { get; set; } = "";
                public string {|#7:APIKEY|} { get; set; } = "";
                public string {|#8:AzureSubscriptionKey|} { get; set; } = "";
            }
            """,
            Expect(0, "ApiKey", "Agent", "ApiKey"),
            Expect(1, "Openai_Api_Key", "Agent", "ApiKey"),
            Expect(2, "AwsAccessKey", "Agent", "AccessKey"),
            Expect(3, "PrivateKey", "Agent", "PrivateKey"),
            Expect(4, "SigningKey", "Agent", "SigningKey"),
            Expect(5, "EncryptionKey", "Agent", "EncryptionKey"),
            Expect(6, "SessionKey", "Agent", "SessionKey"),
            Expect(7, "APIKEY", "Agent", "ApiKey"),
            Expect(8, "AzureSubscriptionKey", "Agent", "SubscriptionKey"));

    [Fact]
    public Task Tokens_secrets_and_passwords_are_reported_with_their_word()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public string? {|#0:Token|} { get; set; }
                public string {|#1:AccessToken|} { get; set; } = "";
                public string {|#2:refreshToken|} = "";
                public string {|#3:OAuth2BearerToken|} { get; set; } = "";
                public string {|#4:Secret|} { get; set; } = "";
                public string {|#5:ClientSecret|} { get; set; } = "";
                public string {|#6:Password|} { get; set; } = "";
                public char[] {|#7:DbPasswd|} { get; set; } = Array.Empty<char>();
                public string {|#8:SmtpPwd|} { get; set; } = "";
                public string {|#9:Passphrase|} { get; set; } = "";
                public string {|#10:Password2|} { get; set; } = "";
            }
            """,
            Expect(0, "Token", "Agent", "Token"),
            Expect(1, "AccessToken", "Agent", "Token"),
            Expect(2, "refreshToken", "Agent", "Token"),
            Expect(3, "OAuth2BearerToken", "Agent", "Token"),
            Expect(4, "Secret", "Agent", "Secret"),
            Expect(5, "ClientSecret", "Agent", "Secret"),
            Expect(6, "Password", "Agent", "Password"),
            Expect(7, "DbPasswd", "Agent", "Passwd"),
            Expect(8, "SmtpPwd", "Agent", "Pwd"),
            Expect(9, "Passphrase", "Agent", "Passphrase"),
            Expect(10, "Password2", "Agent", "Password"));

    [Fact]
    public Task Connection_strings_credentials_pats_and_cookies_are_reported_with_their_word()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public string {|#0:ConnectionString|} { get; set; } = "";
                public string {|#1:db_connection_string|} { get; set; } = "";
                public string {|#2:Credential|} { get; set; } = "";
                public string {|#3:ServiceCredentials|} { get; set; } = "";
                public string {|#4:GithubPat|} { get; set; } = "";
                public string {|#5:GitHubPAT|} { get; set; } = "";
                public string {|#6:SessionCookie|} { get; set; } = "";
            }
            """,
            Expect(0, "ConnectionString", "Agent", "ConnectionString"),
            Expect(1, "db_connection_string", "Agent", "ConnectionString"),
            Expect(2, "Credential", "Agent", "Credential"),
            Expect(3, "ServiceCredentials", "Agent", "Credentials"),
            Expect(4, "GithubPat", "Agent", "Pat"),
            Expect(5, "GitHubPAT", "Agent", "Pat"),
            Expect(6, "SessionCookie", "Agent", "Cookie"));

    [Fact]
    public Task Members_of_nested_plain_objects_and_base_types_are_reported_where_they_are_declared()
        => VerifyAsync(
            """
            public class AgentBase
            {
                public string {|#0:WebhookSecret|} { get; set; } = "";
            }

            public sealed class ToolConfig
            {
                public string Name { get; set; } = "";
                public string {|#1:ApiKey|} { get; set; } = "";
                public Endpoint Endpoint { get; set; } = new();
            }

            public sealed class Endpoint
            {
                public string Url { get; set; } = "";
                public string {|#2:BearerToken|} { get; set; } = "";
            }

            public struct Login
            {
                public string User;
                public string {|#3:Password|};
            }

            [PersistentState]
            public partial class Agent : AgentBase
            {
                public string Id { get; set; } = "";
                public List<ToolConfig> Tools { get; set; } = new();
                public Dictionary<string, Login?> Logins { get; set; } = new();
            }
            """,
            Expect(0, "WebhookSecret", "AgentBase", "Secret"),
            Expect(1, "ApiKey", "ToolConfig", "ApiKey"),
            Expect(2, "BearerToken", "Endpoint", "Token"),
            Expect(3, "Password", "Login", "Password"));

    [Fact]
    public Task Object_shared_by_two_persisted_types_is_reported_once()
        => VerifyAsync(
            """
            public sealed class Connection
            {
                public string {|#0:ConnectionString|} { get; set; } = "";
            }

            [PersistentState]
            public partial class Planner
            {
                public string Id { get; set; } = "";
                public Connection Db { get; set; } = new();
            }

            [PersistentState]
            public partial class Executor
            {
                public string Id { get; set; } = "";
                public Connection[] Dbs { get; set; } = Array.Empty<Connection>();
            }
            """,
            Expect(0, "ConnectionString", "Connection", "ConnectionString"));

    [Fact]
    public Task Names_that_describe_a_secret_without_holding_one_are_not_reported()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public int MaxTokens { get; set; }
                public int TokenCount { get; set; }
                public string TokenCountText { get; set; } = "";
                public string TokenizerName { get; set; } = "";
                public string TokenLimit { get; set; } = "";
                public string TokenUsage { get; set; } = "";
                public string ApiKeyId { get; set; } = "";
                public string ApiKeyName { get; set; } = "";
                public string SecretType { get; set; } = "";
                public string PasswordHint { get; set; } = "";
                public string PasswordResetUrl { get; set; } = "";
                public string Tokens { get; set; } = "";
                public string Key { get; set; } = "";
                public string CacheKey { get; set; } = "";
                public string PublicKey { get; set; } = "";
                public string ContinuationToken { get; set; } = "";
                public string NextPageToken { get; set; } = "";
                public string StopToken { get; set; } = "";
                public string EosToken { get; set; } = "";
                public string Patch { get; set; } = "";
                public string Pattern { get; set; } = "";
                public string Secretary { get; set; } = "";
                public string Tokenizer { get; set; } = "";
            }
            """);

    [Fact]
    public Task Sensitive_ignored_and_non_persisted_members_are_not_reported()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                [Sensitive] public string ApiKey { get; set; } = "";
                [Sensitive] public byte[] PrivateKey { get; set; } = Array.Empty<byte>();
                [StateIgnore] public string Password { get; set; } = "";
                public string Token => "computed";
                private string _secret = "";
                internal readonly string ClientSecret = "";
                public static string ConnectionString { get; set; } = "";
                public const string Passphrase = "not state";
                public string Describe() => _secret;
            }
            """);

    [Fact]
    public Task Members_that_are_not_strings_or_bytes_are_not_reported()
        => VerifyAsync(
            """
            public sealed class Credentials
            {
                public DateTimeOffset IssuedAt { get; set; }
            }

            public enum TokenKind { Bearer, Basic }

            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                public Guid SessionKey { get; set; }
                public long AccessToken { get; set; }
                public TokenKind Token { get; set; }
                public Credentials Credentials { get; set; } = new();
                public List<string> ApiKey { get; set; } = new();
                public Dictionary<string, string> Secret { get; set; } = new();
                public bool Password { get; set; }
            }
            """);

    [Fact]
    public Task Types_without_persistent_state_or_without_a_shape_are_not_reported()
        => VerifyAsync(
            """
            public sealed class Settings
            {
                public string ApiKey { get; set; } = "";
            }

            public sealed class Unused
            {
                public string Password { get; set; } = "";
            }

            [PersistentState]
            public partial class NoId
            {
                public string Token { get; set; } = "";
                public Settings Settings { get; set; } = new();
            }
            """);

    [Fact]
    public Task Pragma_suppresses_the_warning()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";

            #pragma warning disable SG0200 // a public demo token, not a secret
                public string DemoToken { get; set; } = "";
            #pragma warning restore SG0200
            }
            """);

    [Theory]
    [InlineData("ApiKey", "ApiKey")]
    [InlineData("apiKey", "ApiKey")]
    [InlineData("_apiKey", "ApiKey")]
    [InlineData("m_apiKey", "ApiKey")]
    [InlineData("API_KEY", "ApiKey")]
    [InlineData("Apikey", "ApiKey")]
    [InlineData("OpenAIApiKey", "ApiKey")]
    [InlineData("accessKey", "AccessKey")]
    [InlineData("SecretKey", "SecretKey")]
    [InlineData("MasterKey", "MasterKey")]
    [InlineData("IdToken", "Token")]
    [InlineData("TOKEN", "Token")]
    [InlineData("s_token", "Token")]
    [InlineData("ConnectionString", "ConnectionString")]
    [InlineData("connectionstring", "ConnectionString")]
    [InlineData("credentials", "Credentials")]
    [InlineData("Pat", "Pat")]
    [InlineData("Cookie", "Cookie")]
    [InlineData("Pwd", "Pwd")]
    [InlineData("Password_1", "Password")]
    [InlineData("MaxTokens", null)]
    [InlineData("TokenCount", null)]
    [InlineData("TokenizerName", null)]
    [InlineData("PasswordHint", null)]
    [InlineData("KeyboardLayout", null)]
    [InlineData("Monkey", null)]
    [InlineData("Keys", null)]
    [InlineData("PartitionKey", null)]
    [InlineData("Spat", null)]
    [InlineData("Compat", null)]
    [InlineData("Passwords", null)]
    [InlineData("PageToken", null)]
    [InlineData("Connection", null)]
    [InlineData("_", null)]
    [InlineData("m_", null)]
    public void Secret_word_is_the_last_word_of_the_name(string name, string? expected)
        => Assert.Equal(expected, SensitiveDataAnalyzer.SecretWord(name));

    [Theory]
    [InlineData("GitHubPAT", "git,hub,pat")]
    [InlineData("APIKey", "api,key")]
    [InlineData("_api_key", "api,key")]
    [InlineData("OAuth2Token", "o,auth,2,token")]
    [InlineData("m_password", "password")]
    [InlineData("XMLHttpRequest", "xml,http,request")]
    public void Names_split_into_lower_case_words(string name, string expected)
        => Assert.Equal(expected, string.Join(",", SensitiveDataAnalyzer.SplitWords(name)));

    [Fact]
    public Task Every_mode_counts_as_sensitive_and_valid_options_report_nothing()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                [Sensitive] public string ApiKey { get; set; } = "";
                [Sensitive(SensitiveMode.Omit)] public string SessionToken { get; set; } = "";
                [Sensitive(SensitiveMode.Redact)] public string Password { get; set; } = "";
                [Sensitive(SensitiveMode.Redact, Fingerprint = true)] public string ClientSecret { get; set; } = "";
                [Sensitive(SensitiveMode.Encrypt)] public string ConnectionString { get; set; } = "";
                [Sensitive(SensitiveMode.Encrypt)] public byte[] PrivateKey { get; set; } = Array.Empty<byte>();
            }
            """);

    [Fact]
    public Task SG0201_fingerprint_without_redact_and_undefined_modes_are_errors()
        => VerifyAsync(
            """
            [PersistentState]
            public partial class Agent
            {
                public string Id { get; set; } = "";
                [{|#0:Sensitive(Fingerprint = true)|}] public string ApiKey { get; set; } = "";
                [{|#1:Sensitive(SensitiveMode.Encrypt, Fingerprint = true)|}] public string Token { get; set; } = "";
                [{|#2:Sensitive((SensitiveMode)7)|}] public string Secret { get; set; } = "";
                [Sensitive(SensitiveMode.Redact, Fingerprint = false)] public string Password { get; set; } = "";
            }
            """,
            Invalid(0, "ApiKey", "Fingerprint = true needs SensitiveMode.Redact, not Omit"),
            Invalid(1, "Token", "Fingerprint = true needs SensitiveMode.Redact, not Encrypt"),
            Invalid(2, "Secret", "7 is not a SensitiveMode (Omit, Redact or Encrypt)"));

    private static DiagnosticResult Invalid(int index, string member, string problem)
        => AnalyzerTest.At(DiagnosticDescriptors.InvalidSensitiveOptions, index, $"The [Sensitive] options of member '{member}' of 'Agent' are invalid: {problem}");

    private static Task VerifyAsync(string source, params DiagnosticResult[] expected)
        => AnalyzerTest.VerifyAsync<SensitiveDataAnalyzer>(source, expected);

    private static DiagnosticResult Expect(int index, string member, string type, string word)
        => AnalyzerTest.At(
            DiagnosticDescriptors.SecretNotSensitive,
            index,
            $"Member '{member}' of '{type}' looks like a secret ({word}) but is not [Sensitive]: it would be stored in plain text");
}
