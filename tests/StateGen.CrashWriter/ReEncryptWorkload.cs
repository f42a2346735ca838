using System;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using StateGen.Security;
using StateGen.Storage;

namespace StateGen.CrashWriter;

/// <summary>
/// What the <c>reencrypt</c> child (<c>ReEncryptMode</c>) writes and with which keys, compiled into both the child
/// and StateGen.Tests (linked, as <c>CrashPayload</c> is), so the test rebuilds the child's key ring and checks
/// every value, change record and hook record against the same formulas.
/// </summary>
internal static class ReEncryptWorkload
{
    /// <summary>Keys of the seeded values (each written <see cref="SeedRounds"/> times), in <see cref="SeedScopes"/> scopes.</summary>
    public const int SeedKeys = 120;

    /// <summary>How many times each seeded value is written before the first rotation (so the log holds old records).</summary>
    public const int SeedRounds = 4;

    /// <summary>The seeded values' scopes: <c>seed/0</c> ..</summary>
    public const int SeedScopes = 3;

    /// <summary>Hook records appended before the first rotation, each with an old, a new and a result value.</summary>
    public const int SeedHooks = 150;

    /// <summary>Keys the child's writer task writes while the job runs, in scope <see cref="WriterScope"/>.</summary>
    public const int WriterKeys = 10;

    /// <summary>The scope of the writer task's keys (<c>w0</c> ..).</summary>
    public const string WriterScope = "kill";

    /// <summary>The change-log segment size of the child's store: small, so the history part has many segments to rewrite.</summary>
    public const long RollBytes = 16 * 1024;

    /// <summary>Entries (and hook records) per step of the job.</summary>
    public const int PageSize = 16;

    /// <summary>The key id of key number <paramref name="n"/> (1: the key the store was seeded under).</summary>
    public static string KeyId(int n) => "k" + n.ToString(CultureInfo.InvariantCulture);

    /// <summary>The key bytes of a key id, derived from it, so a ring can be rebuilt from the ids alone.</summary>
    public static byte[] KeyBytes(string keyId) => SHA256.HashData(Encoding.UTF8.GetBytes("stategen-reencrypt-kill/" + keyId));

    /// <summary>A ring holding keys <c>k1</c> .. <c>k<paramref name="active"/></c>, the last one active.</summary>
    public static StateKeyRing Ring(int active)
    {
        var ring = new StateKeyRing(KeyId(1), KeyBytes(KeyId(1)));
        for (int n = 2; n <= active; n++)
        {
            ring.Rotate(KeyId(n), KeyBytes(KeyId(n)));
        }

        return ring;
    }

    /// <summary>The scope of seeded key <paramref name="i"/>.</summary>
    public static string SeedScope(int i) => "seed/" + (i % SeedScopes).ToString(CultureInfo.InvariantCulture);

    /// <summary>The name of seeded key <paramref name="i"/>.</summary>
    public static string SeedKey(int i) => "s" + i.ToString("D3", CultureInfo.InvariantCulture);

    /// <summary>The value of seeded key <paramref name="i"/> in round <paramref name="round"/> (about 300 bytes).</summary>
    public static byte[] SeedValue(int i, int round) => Padded("seed " + SeedKey(i) + " round " + round.ToString(CultureInfo.InvariantCulture), 300);

    /// <summary>The writer task's key <paramref name="k"/>.</summary>
    public static string WriterKey(int k) => "w" + k.ToString(CultureInfo.InvariantCulture);

    /// <summary>The <paramref name="n"/>-th value the writer task writes to <paramref name="key"/> (about 200 bytes).</summary>
    public static byte[] WriterValue(string key, long n) => Padded("write " + key + " n " + n.ToString(CultureInfo.InvariantCulture), 200);

    /// <summary>The <c>n</c> of a writer value, or -1 when the bytes are not a writer value of <paramref name="key"/>.</summary>
    public static long WriterNumber(string key, ReadOnlySpan<byte> value)
    {
        string text = Encoding.ASCII.GetString(value);
        string prefix = "write " + key + " n ";
        if (!text.StartsWith(prefix, StringComparison.Ordinal))
        {
            return -1;
        }

        int end = text.IndexOf(';', prefix.Length);
        return end > 0
            && long.TryParse(text.AsSpan(prefix.Length, end - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long n)
            && value.SequenceEqual(WriterValue(key, n))
            ? n
            : -1;
    }

    /// <summary>Seeded hook record <paramref name="h"/> (id 0: the store assigns it), with its three values.</summary>
    public static HookExecutionRecord SeedHook(int h)
        => new(
            0, "audit", "BeforeChange", SeedScope(h), SeedKey(h % SeedKeys), "Note", "Modified", null, TimeSpan.FromMilliseconds(1),
            DateTimeOffset.UnixEpoch.AddMinutes(h), "run-" + (h % 5).ToString(CultureInfo.InvariantCulture),
            HookValue(h, "old"), HookValue(h, "new"), HookValue(h, "result"));

    /// <summary>One value of seeded hook record <paramref name="h"/>.</summary>
    public static byte[] HookValue(int h, string field) => Padded("hook " + h.ToString(CultureInfo.InvariantCulture) + " " + field, 120);

    /// <summary>The text, a <c>;</c>, then the text repeated up to <paramref name="length"/> bytes.</summary>
    private static byte[] Padded(string text, int length)
    {
        var bytes = new byte[length];
        byte[] unit = Encoding.ASCII.GetBytes(text + ";");
        for (int i = 0; i < length; i++)
        {
            bytes[i] = unit[i % unit.Length];
        }

        return bytes;
    }
}
