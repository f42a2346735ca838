using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using StateGen.Secrets;
using StateGen.Storage;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Secrets;

/// <summary>
/// The policy end to end through <see cref="StateManager"/>: what is stored (in a real LiteDB file, reopened), what is
/// logged, what is thrown.
/// </summary>
public sealed class SecretScanningManagerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void RedactAndWarn_is_the_default()
        => Assert.Equal(SecretScanPolicy.RedactAndWarn, new StateManagerOptions().SecretScanning);

    [Fact]
    public async Task RedactAndWarn_stores_the_marker_the_file_never_holds_the_secret_and_the_log_names_the_member_not_the_value()
    {
        string path = _dir.File("agent.db");
        string secret = SecretSamples.All(21).First(s => s.Kind == SecretKind.AnthropicApiKey).Value;
        string jwt = SecretSamples.All(21).First(s => s.Kind == SecretKind.JsonWebToken).Value;
        var holder = new SecretHolder { Id = "h1", Text = "ordinary text, long enough to scan", Runs = 3 };
        holder.Turns.Add(new SecretInner { Text = "the user pasted a key: " + secret });
        holder.Notes["session"] = jwt;
        var logs = new CapturingLoggerFactory();

        // No slow-operation warning on a loaded machine: the test counts the warnings the scan logs.
        await using (StateManager manager = StateManager.OpenLiteDb(path, new StateManagerOptions { SlowOperationThreshold = null }, logs))
        {
            await holder.SaveStateAsync(manager, StateScope.Agent("a"));
        }

        // The in-memory instance is untouched.
        Assert.Contains(secret, holder.Turns[0].Text, StringComparison.Ordinal);

        // The database file, after the manager let go of it, holds neither secret (raw bytes, UTF-8 and UTF-16).
        byte[] file = System.IO.File.ReadAllBytes(path);
        foreach (string value in new[] { secret, jwt })
        {
            Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(value)));
            Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(value.Substring(0, 24))));
        }

        await using (StateManager reopened = StateManager.OpenLiteDb(path))
        {
            StoredEntry stored = (await reopened.Store.GetAsync("agent/a", "secret-holder/h1"))!;
            List<string> strings = SecretPlacementTests.Strings(Backends.Utf8(stored.Payload));
            Assert.Contains("[redacted:anthropic-api-key]", strings);
            Assert.Contains("[redacted:jwt]", strings);
            Assert.DoesNotContain(strings, v => v.Contains(secret, StringComparison.Ordinal) || v.Contains(jwt, StringComparison.Ordinal));

            var loaded = new SecretHolder { Id = "h1" };
            Assert.True(await loaded.LoadStateAsync(reopened, StateScope.Agent("a")));
            Assert.Equal("[redacted:anthropic-api-key]", loaded.Turns[0].Text); // the whole string is replaced
            Assert.Equal("ordinary text, long enough to scan", loaded.Text);
            Assert.Equal(3, loaded.Runs);
        }

        string[] warnings = logs.Lines.Where(l => l.Level == LogLevel.Warning).Select(l => l.Message).ToArray();
        Assert.Equal(2, warnings.Length);
        Assert.Contains(warnings, w => w.Contains("Turns[0].Text", StringComparison.Ordinal) && w.Contains("anthropic-api-key", StringComparison.Ordinal)
            && w.Contains("secret-holder", StringComparison.Ordinal) && w.Contains("agent/a", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("Notes[*]", StringComparison.Ordinal) && w.Contains("jwt", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains(secret.Substring(0, 20), StringComparison.Ordinal) || l.Message.Contains(jwt.Substring(0, 20), StringComparison.Ordinal) || l.Message.Contains("session", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Throw_raises_a_typed_exception_that_names_the_member_not_the_value_and_stores_nothing()
    {
        string secret = SecretSamples.All(22).First(s => s.Kind == SecretKind.AwsAccessKeyId).Value;
        var logs = new CapturingLoggerFactory();
        await using StateManager manager = StateManager.OpenLiteDb(_dir.File(), new StateManagerOptions { SecretScanning = SecretScanPolicy.Throw }, logs);
        var holder = new SecretHolder { Id = "h1", Nested = { Text = secret } };

        StateSecretDetectedException ex = await Assert.ThrowsAsync<StateSecretDetectedException>(() => holder.SaveStateAsync(manager).AsTask());

        Assert.IsAssignableFrom<StateGenException>(ex);
        Assert.Equal(("global", "secret-holder/h1", "secret-holder", "Nested.Text", SecretKind.AwsAccessKeyId), (ex.Scope, ex.Key, ex.TypeName, ex.MemberPath, ex.Kind));
        Assert.Contains("Nested.Text", ex.Message, StringComparison.Ordinal);
        Assert.Contains("aws-access-key-id", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains(secret, StringComparison.Ordinal));
        Assert.Null(await manager.Store.GetAsync("global", "secret-holder/h1"));
        Assert.Empty(await manager.ListKeysAsync(StateScope.Global));

        // An earlier clean save stays as it was.
        holder.Nested.Text = "nothing secret";
        await holder.SaveStateAsync(manager);
        holder.Nested.Text = secret;
        await Assert.ThrowsAsync<StateSecretDetectedException>(() => holder.SaveStateAsync(manager).AsTask());
        var loaded = new SecretHolder { Id = "h1" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal("nothing secret", loaded.Nested.Text);
    }

    [Fact]
    public async Task Off_stores_the_value_verbatim_and_logs_nothing()
    {
        string secret = SecretSamples.All(23).First(s => s.Kind == SecretKind.StripeSecretKey).Value;
        var logs = new CapturingLoggerFactory();
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { SecretScanning = SecretScanPolicy.Off, SlowOperationThreshold = null }, logs.CreateLogger<StateManager>());
        var holder = new SecretHolder { Id = "h1", Items = { secret } };

        await holder.SaveStateAsync(manager);

        var loaded = new SecretHolder { Id = "h1" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(secret, loaded.Items.Single());
        Assert.DoesNotContain(logs.Lines, l => l.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Sensitive_members_are_not_scanned_even_under_Throw()
    {
        string secret = SecretSamples.All(24).First(s => s.Kind == SecretKind.OpenAiApiKey).Value;
        await using var manager = new StateManager(new MemoryStateStore(), new StateManagerOptions { SecretScanning = SecretScanPolicy.Throw });
        var holder = new SecretHolder { Id = "h1", ApiKey = secret, Text = "ordinary text, long enough to scan" };

        await holder.SaveStateAsync(manager);

        StoredEntry stored = (await manager.Store.GetAsync("global", "secret-holder/h1"))!;
        Assert.DoesNotContain(secret, Backends.Utf8(stored.Payload), StringComparison.Ordinal);
    }

    /// <summary>Keeps every formatted log line with its level.</summary>
    private sealed class CapturingLoggerFactory : ILoggerFactory
    {
        private readonly List<(LogLevel Level, string Message)> _lines = new();

        public IReadOnlyList<(LogLevel Level, string Message)> Lines
        {
            get
            {
                lock (_lines)
                {
                    return _lines.ToArray();
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerFactory owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner._lines)
                {
                    owner._lines.Add((logLevel, formatter(state, exception) + exception));
                }
            }
        }
    }
}
