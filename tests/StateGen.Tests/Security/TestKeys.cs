using System;
using System.Linq;
using System.Text;
using StateGen.Security;

namespace StateGen.Tests.Security;

/// <summary>Deterministic keys and a planted secret for the security tests.</summary>
internal static class TestKeys
{
    public const string Secret = "sk-live-PLANTED-SECRET-4242";

    public static readonly byte[] SecretBytes = Encoding.UTF8.GetBytes(Secret);

    public static byte[] Key(byte seed) => Enumerable.Range(0, StateKeyRing.KeySizeInBytes).Select(i => (byte)(seed * 31 + i)).ToArray();

    public static string Base64(byte seed) => Convert.ToBase64String(Key(seed));

    public static StateKeyRing Ring(string keyId = "k1", byte seed = 1) => new(keyId, Key(seed));

    public static byte[] Aad(string key = "note/1") => StateAssociatedData.ForDocument("agent/a1", key, "Note", 1);

    public static bool Contains(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) => haystack.IndexOf(needle) >= 0;
}

/// <summary>Keeps every formatted log line.</summary>
internal sealed class CapturingLogger : Microsoft.Extensions.Logging.ILogger
{
    private readonly System.Collections.Generic.List<string> _lines = new();

    public System.Collections.Generic.IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.ToArray();
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines)
        {
            _lines.Add(formatter(state, exception) + exception);
        }
    }
}
