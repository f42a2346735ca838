using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using CsCheck;
using StateGen.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Security;

/// <summary>
/// CsCheck-driven mutation of the key parsers (issue #6, suite item 6): a key file written by
/// <see cref="FileStateKeyProvider.WriteAsync"/> (three keys, one active) mutated at byte level and at token level, and
/// the <c>STATEGEN_KEYS</c> text of <see cref="EnvironmentStateKeyProvider"/> mutated character by character. A read gives
/// a key ring whose keys all decode to 32 bytes (and a file written from it reads back the same), or
/// <see cref="StateKeyConfigurationException"/> whose message holds no key material; nothing else, no hang.
/// <c>STATEGEN_FUZZ_ITERATIONS</c> sets the size (2,000 by default), <c>STATEGEN_FUZZ_SEED</c> the seed.
/// </summary>
public sealed class KeyFileFuzzTests : IDisposable
{
    private static readonly string[] KeyIds = ["k1", "k2.rotated", "old_key-3"];
    private static readonly string[] Keys = [TestKeys.Base64(11), TestKeys.Base64(12), TestKeys.Base64(13)];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StateKeyOptions Options() => new()
    {
        ActiveKeyId = KeyIds[1],
        Keys = KeyIds.Zip(Keys).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal),
    };

    [Fact]
    public async Task Mutated_key_files_give_a_usable_ring_or_StateKeyConfigurationException_without_key_material()
    {
        string original = _dir.File("original.json");
        await FileStateKeyProvider.WriteAsync(original, Options());
        byte[] valid = await File.ReadAllBytesAsync(original);
        byte[] withBom = [0xEF, 0xBB, 0xBF, .. valid];
        int read = 0, refused = 0;
        FuzzGuard.Sample(
            Gen.Select(Gen.Bool, Gen.Int[0, Mutations.ByteKinds + 3], Gen.Int),
            (bom, kind, seed) =>
            {
                var random = new Random(seed);
                byte[] source = bom ? withBom : valid;
                byte[] input = kind < Mutations.ByteKinds ? Mutations.Bytes(source, kind, random) : Mutations.Json(valid, random, Keys[random.Next(Keys.Length)]);
                if (FuzzGuard.Run(() => ReadAsync(input)))
                {
                    System.Threading.Interlocked.Increment(ref read);
                }
                else
                {
                    System.Threading.Interlocked.Increment(ref refused);
                }
            },
            iterations: ReliabilityRuns.FuzzIterations,
            seed: ReliabilityRuns.FuzzSeed(71));

        Assert.True(ReliabilityRuns.FuzzIterations < 100 || (read > 0 && refused > 0), $"{read} read, {refused} refused: the mutations do not reach both outcomes");
    }

    [Fact]
    public void Mutated_key_variables_give_a_usable_ring_or_StateKeyConfigurationException_without_key_material()
    {
        string variable = "STATEGEN_FUZZ_KEYS_" + Guid.NewGuid().ToString("N");
        string active = variable + "_ACTIVE";
        string valid = string.Join(";", KeyIds.Zip(Keys).Select(p => $"{p.First}:{p.Second}"));
        FuzzGuard.Sample(
            Gen.Select(Gen.Int[0, Mutations.ByteKinds - 1], Gen.Int, Gen.Int[0, 3]),
            (kind, seed, activeChoice) =>
            {
                // Characters, not bytes: an environment variable is text (and never holds NUL).
                byte[] mutated = Mutations.Bytes(Encoding.UTF8.GetBytes(valid), kind, new Random(seed));
                string text = Encoding.UTF8.GetString(mutated).Replace('\0', ' ');
                Environment.SetEnvironmentVariable(variable, text);
                Environment.SetEnvironmentVariable(active, activeChoice < KeyIds.Length ? KeyIds[activeChoice] : null);
                try
                {
                    using StateKeyRing ring = new EnvironmentStateKeyProvider(variable, active).GetKeyRingAsync().AsTask().GetAwaiter().GetResult();
                    Assert.True(StateKeyRing.IsValidKeyId(ring.ActiveKeyId));
                    Assert.All(ring.KeyIds, id => Assert.True(StateKeyRing.IsValidKeyId(id)));
                }
                catch (StateKeyConfigurationException e)
                {
                    AssertNoKeyMaterial(e, text.Split(';').Where(i => i.Contains(':')).Select(i => i[..i.IndexOf(':')].Trim()));
                }
            },
            iterations: ReliabilityRuns.FuzzIterations,
            seed: ReliabilityRuns.FuzzSeed(72),
            parallel: false); // one variable, set per draw
        Environment.SetEnvironmentVariable(variable, null);
        Environment.SetEnvironmentVariable(active, null);
    }

    /// <summary>
    /// Found by this fuzz: invalid UTF-8 (seed <c>47dUBT3e2wI2</c>, a flipped bit) or an escaped unpaired surrogate (seed
    /// <c>4IzEbJH9e-C2</c>, a token edit) inside a key, a key id or the format passed the JSON parse and then escaped as an
    /// untyped <see cref="InvalidOperationException"/> when it was read.
    /// </summary>
    [Theory]
    [InlineData("key", false)]
    [InlineData("id", false)]
    [InlineData("format", false)]
    [InlineData("key", true)]
    [InlineData("id", true)]
    [InlineData("format", true)]
    public async Task A_key_file_with_invalid_text_is_a_typed_error(string where, bool escapedSurrogate)
    {
        string key = Keys[0];
        string text = where switch
        {
            "key" => $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k1\":\"{key}\u0001\"}}}}",
            "id" => $"{{\"format\":\"stategen-keys/1\",\"keys\":{{\"k\u0001\":\"{key}\"}}}}",
            _ => $"{{\"format\":\"stategen-keys/1\u0001\",\"keys\":{{\"k1\":\"{key}\"}}}}",
        };
        byte[] bytes = Encoding.UTF8.GetBytes(escapedSurrogate ? text.Replace("\u0001", "\\udc00", StringComparison.Ordinal) : text);
        if (!escapedSurrogate)
        {
            bytes[Array.IndexOf(bytes, (byte)1)] = 0xED; // a lone lead byte, as the fuzz left it
        }

        string path = _dir.File();
        await File.WriteAllBytesAsync(path, bytes);

        var e = await Assert.ThrowsAsync<StateKeyConfigurationException>(async () => await new FileStateKeyProvider(path).GetKeyRingAsync());

        Assert.Contains(escapedSurrogate ? "not valid text" : "not valid UTF-8", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, e.ToString(), StringComparison.Ordinal);
        Assert.Null(e.InnerException);
    }

    /// <summary>Reads a mutated key file; true when it gave a ring.</summary>
    private async Task<bool> ReadAsync(byte[] input)
    {
        string path = _dir.File(Guid.NewGuid().ToString("N") + ".json");
        string copy = path + ".rewritten";
        await File.WriteAllBytesAsync(path, input);
        try
        {
            var provider = new FileStateKeyProvider(path);
            StateKeyOptions options;
            try
            {
                options = await provider.ReadAsync();
                using StateKeyRing ring = await provider.GetKeyRingAsync();
                Assert.True(StateKeyRing.IsValidKeyId(ring.ActiveKeyId));
                Assert.Equal(options.Keys.Keys.Order(StringComparer.Ordinal), ring.KeyIds);
            }
            catch (StateKeyConfigurationException e)
            {
                AssertNoKeyMaterial(e, Regex.Matches(Encoding.UTF8.GetString(input), "\"([A-Za-z0-9._-]{1,64})\"\\s*:").Select(m => m.Groups[1].Value));
                Assert.Contains(path, e.Message, StringComparison.Ordinal);
                return false;
            }

            // What was read writes back and reads again as the same keys.
            await FileStateKeyProvider.WriteAsync(copy, options);
            StateKeyOptions again = await new FileStateKeyProvider(copy).ReadAsync();
            Assert.Equal(options.ActiveKeyId ?? options.Keys.Keys.Single(), again.ActiveKeyId);
            Assert.Equal(Decoded(options), Decoded(again)); // the same bytes (base64 may keep inner whitespace, which decoding skips)
            return true;
        }
        finally
        {
            File.Delete(path);
            File.Delete(copy);
        }
    }

    private static IEnumerable<(string Id, string Key)> Decoded(StateKeyOptions options)
        => options.Keys.Select(p => (p.Key, Convert.ToBase64String(Convert.FromBase64String(p.Value.Trim())))).Order();

    /// <summary>
    /// No part of a key in the message. Key ids are named by design (they are not secrets), so a valid id the input
    /// configures is taken out first: a mutation can move key characters into an id, which the user would see as their own.
    /// </summary>
    private static void AssertNoKeyMaterial(StateKeyConfigurationException e, IEnumerable<string> configuredIds)
    {
        string text = e.ToString();
        foreach (string id in configuredIds.Where(StateKeyRing.IsValidKeyId).OrderByDescending(i => i.Length))
        {
            text = text.Replace(id, "<id>", StringComparison.Ordinal);
        }

        foreach (string key in Keys)
        {
            // The whole key, and any 12 characters of it (a key cut or shifted by the mutation).
            for (int at = 0; at + 12 <= key.Length; at += 4)
            {
                Assert.DoesNotContain(key.Substring(at, 12), text, StringComparison.Ordinal);
            }
        }
    }
}
