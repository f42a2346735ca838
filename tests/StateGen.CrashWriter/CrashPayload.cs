using System.Globalization;
using System.Text;

namespace StateGen.CrashWriter;

/// <summary>
/// The value the kill tests' child writes for a key at a version: 20 B to 20 KB, checkable byte for byte. Compiled into
/// both the child and StateGen.Tests (linked), so the two can never disagree.
/// </summary>
internal static class CrashPayload
{
    public static byte[] Of(string key, long version)
    {
        string unit = key + ":" + version.ToString(CultureInfo.InvariantCulture) + ";";
        int length = 20 + (int)(version * 7919 % 20_000);
        var bytes = new byte[length];
        byte[] pattern = Encoding.ASCII.GetBytes(unit);
        for (int i = 0; i < length; i++)
        {
            bytes[i] = pattern[i % pattern.Length];
        }

        return bytes;
    }
}
