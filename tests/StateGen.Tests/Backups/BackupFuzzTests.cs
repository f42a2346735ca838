using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using CsCheck;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Backups;

/// <summary>
/// CsCheck-driven mutation of a backup folder, untrusted bytes read by <see cref="BackupManager.ListAsync"/>,
/// <see cref="BackupManager.VerifyAsync"/> and <see cref="BackupManager.RestoreAsync"/> (issue #6, suite item 6): real
/// backups made by the library (of a memory store: <c>data.sgb</c> in each compression; of a LiteDB store in its default
/// configuration: <c>database.sgdb</c> and its change log, LZ4 and uncompressed, verified once so they carry
/// <c>verified.json</c>), one file of each draw mutated at byte level (<see cref="Mutations.Bytes"/>) or, for the JSON
/// files, at token level (<see cref="Mutations.Json"/>), and a data file mutated with the manifest's length and SHA-256
/// rewritten to match (a forged backup, which reaches the readers behind the hash check). List and verify never throw and,
/// unless the draw forged the hash (a forged file's keys are named as any key is), their problems never quote the
/// planted secret; a restore of a backup that failed verification throws
/// <see cref="StateBackupException"/> (or <see cref="StateStoreException"/>); a restore that succeeds gives the original
/// entries exactly unless the draw forged the hash, and then a store that opens and reads or gives the typed error. No
/// hang. <c>STATEGEN_FUZZ_ITERATIONS</c> / 4 draws (500 by default), <c>STATEGEN_FUZZ_SEED</c> the seed.
/// </summary>
public sealed class BackupFuzzTests : IDisposable
{
    private const string Secret = "sk-live-BACKUP-FUZZ-SECRET-9090";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Pristine(string Name, string Folder, string Id, SortedDictionary<string, string> Entries);

    [Fact]
    public async Task Mutated_backups_verify_and_restore_to_the_original_or_give_the_typed_error()
    {
        List<Pristine> corpus = await CorpusAsync();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        FuzzGuard.Sample(
            Gen.Select(Gen.Int[0, corpus.Count - 1], Gen.Int[0, 7], Gen.Int[0, Mutations.ByteKinds - 1], Gen.Int),
            (backup, target, kind, seed) =>
            {
                string outcome = FuzzGuard.Run(() => CheckAsync(corpus[backup], target, kind, seed));
                lock (outcomes)
                {
                    outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                }
            },
            iterations: Math.Max(1, ReliabilityRuns.FuzzIterations / 4), // 1: a replay (FuzzGuard.Sample)
            seed: ReliabilityRuns.FuzzSeed(81));

        Assert.True(ReliabilityRuns.FuzzIterations < 100 || (outcomes.GetValueOrDefault("restored") > 0 && outcomes.GetValueOrDefault("refused") > 0), string.Join(", ", outcomes));
    }

    /// <summary>
    /// Found by the long run (seed <c>cKZ7zyBC7us3</c>, draw <c>(0, 3, 0, 3752)</c>): a flipped bit in a string's length
    /// in an uncompressed <c>data.sgb</c> made a key read take in the bytes after it, a stored value with the secret, and
    /// verification's "the document at ... key ... is not valid JSON" quoted it (and logged it). A document's problem is
    /// now reported only when the file's hash is the manifest's (the file as written). Replays that draw.
    /// </summary>
    [Fact]
    public async Task A_damaged_key_length_in_an_entries_backup_never_quotes_stored_bytes()
    {
        List<Pristine> corpus = await CorpusAsync();

        Assert.Equal("refused", await CheckAsync(corpus[0], 3, 0, 3752)); // asserts the secret is in no problem
    }

    /// <summary>
    /// Found by this fuzz (seeds <c>atZkRDdmgoo2</c> and one before it): damaged data in a Brotli or LZ4 backup of a memory
    /// store made the decompressing stream throw <see cref="InvalidOperationException"/>, which escaped
    /// <see cref="BackupManager.VerifyAsync"/> (and a restore's verification) instead of being reported as a problem.
    /// </summary>
    [Theory]
    [InlineData(BackupCompression.Brotli)]
    [InlineData(BackupCompression.Lz4)]
    public async Task A_damaged_brotli_or_lz4_data_file_is_a_verification_problem(BackupCompression compression)
    {
        var memory = new MemoryStateStore();
        await Seed(memory);
        string root = Path.Combine(_dir.Path, "damaged-" + compression);
        var backups = new BackupManager(new BackupManagerOptions { Directory = root, Compression = compression });
        BackupInfo info = await backups.CreateAsync(memory);
        string data = Path.Combine(info.Path, "data.sgb");
        byte[] bytes = await File.ReadAllBytesAsync(data);
        bytes.AsSpan(bytes.Length / 3, 48).Fill(0xFF);
        await File.WriteAllBytesAsync(data, bytes);

        BackupVerification verification = await backups.VerifyAsync(info.Id);

        Assert.Contains(verification.Problems, p => p.Contains("data.sgb could not be read to its end (InvalidDataException)", StringComparison.Ordinal));
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(info.Id, Path.Combine(root, "restored.db")));
    }

    /// <summary>
    /// Found by the long run of this fuzz (seed <c>a314VmAyfv9e</c>, session 15): an LZ4 frame header whose flags ask for a
    /// predefined dictionary made the K4os decoder throw <see cref="NotImplementedException"/>, which escaped
    /// <see cref="BackupManager.VerifyAsync"/>. Every decoder error is now damaged data: a verification problem, a refused
    /// restore.
    /// </summary>
    [Fact]
    public async Task An_lz4_frame_asking_for_a_dictionary_is_a_verification_problem_not_NotImplementedException()
    {
        var memory = new MemoryStateStore();
        await Seed(memory);
        string root = Path.Combine(_dir.Path, "lz4-dictionary");
        var backups = new BackupManager(new BackupManagerOptions { Directory = root, Compression = BackupCompression.Lz4 });
        BackupInfo info = await backups.CreateAsync(memory);
        string data = Path.Combine(info.Path, "data.sgb");
        byte[] bytes = await File.ReadAllBytesAsync(data);
        Assert.Equal(0x184D2204u, BitConverter.ToUInt32(bytes, 0)); // an LZ4 frame: magic, flags, block descriptor, [size], checksum

        // The same frame with the dictionary id flag and an id (0) after the descriptor, and the header's checksum to match.
        int descriptorEnd = (bytes[4] & 0x08) != 0 ? 14 : 6;
        byte[] descriptor = [.. bytes.AsSpan(4, descriptorEnd - 4), 0, 0, 0, 0];
        descriptor[0] |= 0x01;
        byte checksum = (byte)(System.IO.Hashing.XxHash32.HashToUInt32(descriptor) >> 8);
        bytes = [.. bytes.AsSpan(0, 4), .. descriptor, checksum, .. bytes.AsSpan(descriptorEnd + 1)];
        await File.WriteAllBytesAsync(data, bytes);

        var read = Assert.Throws<InvalidDataException>(() => BackupDataFile.Read(data, BackupCompression.Lz4, new BackupDataFile.ReadCheck()).ToList());
        Assert.IsType<NotImplementedException>(read.InnerException);
        BackupVerification verification = await backups.VerifyAsync(info.Id);
        Assert.Contains(verification.Problems, p => p.Contains("data.sgb could not be read to its end (InvalidDataException)", StringComparison.Ordinal));
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(info.Id, Path.Combine(root, "restored.db")));
    }

    /// <summary>
    /// Found by this fuzz (seed <c>b6Wgm1xA6Ak1</c>, a token edit): a manifest with a JSON null where a file list, a file
    /// entry or a name belongs made <see cref="BackupManager.ListAsync"/> throw <see cref="ArgumentNullException"/> (and
    /// verify report a crash of its reader). Such a manifest is now unreadable: not listed, and a verification problem.
    /// </summary>
    [Theory]
    [InlineData("\"files\":null")]
    [InlineData("\"files\":[null]")]
    [InlineData("\"files\":[{\"name\":null,\"length\":1,\"sha256\":\"00\"}]")]
    [InlineData("\"types\":null")]
    [InlineData("\"id\":null")]
    public async Task A_manifest_with_a_null_where_a_list_or_name_belongs_is_unreadable(string member)
    {
        var memory = new MemoryStateStore();
        await Seed(memory);
        string root = Path.Combine(_dir.Path, "nulls-" + Guid.NewGuid().ToString("N"));
        var backups = new BackupManager(new BackupManagerOptions { Directory = root });
        BackupInfo info = await backups.CreateAsync(memory);
        string manifest = Path.Combine(info.Path, "manifest.json");
        JsonObject json = JsonNode.Parse(await File.ReadAllBytesAsync(manifest))!.AsObject();
        JsonObject replacement = JsonNode.Parse("{" + member + "}")!.AsObject();
        foreach ((string name, JsonNode? value) in replacement.ToList())
        {
            replacement.Remove(name);
            json[name] = value;
        }

        await File.WriteAllTextAsync(manifest, json.ToJsonString());

        Assert.Empty(await backups.ListAsync());
        Assert.Equal(["the manifest is missing or unreadable"], (await backups.VerifyAsync(info.Id)).Problems);
        await Assert.ThrowsAsync<StateBackupVerificationException>(() => backups.RestoreAsync(info.Id, Path.Combine(root, "restored.db")));
    }

    /// <summary>
    /// One draw: <paramref name="target"/> 0–1 the manifest (bytes, tokens), 2–3 the data file (bytes), 4 the data file
    /// with the manifest's hash rewritten, 5 the change-log file or <c>verified.json</c> when there is one (else the data
    /// file), 6 any file with the hash rewritten, 7 the manifest's tokens again.
    /// </summary>
    private async Task<string> CheckAsync(Pristine pristine, int target, int kind, int seed)
    {
        var random = new Random(seed);
        string root = Path.Combine(_dir.Path, "draws", Guid.NewGuid().ToString("N"));
        string folder = Path.Combine(root, pristine.Id);
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.EnumerateFiles(pristine.Folder))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }

        try
        {
            string manifestPath = Path.Combine(folder, "manifest.json");
            string[] names = Directory.EnumerateFiles(folder).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
            string[] dataFiles = names.Where(n => n is "data.sgb" or "database.sgdb" or "changes.sglog").ToArray();
            string main = names.Single(n => n is "data.sgb" or "database.sgdb");
            string[] extras = names.Where(n => n is "changes.sglog" or "verified.json").ToArray();
            bool forged = target is 4 or 6;
            string file = target switch
            {
                0 or 1 or 7 => "manifest.json",
                5 => extras.Length > 0 ? extras[random.Next(extras.Length)] : main,
                6 => dataFiles[random.Next(dataFiles.Length)],
                _ => main,
            };
            string path = Path.Combine(folder, file);
            byte[] original = await File.ReadAllBytesAsync(path);
            byte[] mutated = target is 1 or 7 || (file.EndsWith(".json", StringComparison.Ordinal) && kind == 0 && random.Next(2) == 0)
                ? Mutations.Json(original, random, "manifest-marker") // the manifest holds no stored value: it may name what it holds
                : Mutations.Bytes(original, kind, random);
            await File.WriteAllBytesAsync(path, mutated);
            if (forged)
            {
                await File.WriteAllBytesAsync(manifestPath, Rehash(await File.ReadAllBytesAsync(manifestPath), file, mutated));
            }

            var backups = new BackupManager(new BackupManagerOptions { Directory = root });
            IReadOnlyList<BackupInfo> listed = await backups.ListAsync();
            Assert.All(listed, b => Assert.Equal(pristine.Id, b.Id));
            BackupVerification verification = await backups.VerifyAsync(pristine.Id);
            if (!forged)
            {
                // A forged file is what the backup holds, and its keys are named as any key is: only damage must not quote.
                Assert.All(verification.Problems, p => Assert.DoesNotContain(Secret, p, StringComparison.Ordinal));
            }

            string restored = Path.Combine(root, "restored.db");
            try
            {
                await backups.RestoreAsync(pristine.Id, restored);
            }
            catch (StateStoreException e)
            {
                Assert.True(forged || !e.ToString().Contains(Secret, StringComparison.Ordinal), e.ToString());
                return "refused";
            }
            catch (StateBackupException e)
            {
                Assert.True(forged || !e.ToString().Contains(Secret, StringComparison.Ordinal), e.ToString());
                return "refused";
            }

            Assert.True(verification.IsValid, "a backup that failed verification was restored: " + string.Join("; ", verification.Problems));
            try
            {
                await using var store = new LiteDbStateStore(restored);
                SortedDictionary<string, string> entries = await BackupTestSupport.ReadAllAsync(store);
                if (!forged)
                {
                    Assert.Equal(pristine.Entries, entries);
                }
            }
            catch (StateStoreException e) when (forged)
            {
                Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
                return "restored, then refused";
            }

            return "restored";
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // The test folder is removed on dispose.
            }
        }
    }

    /// <summary>The manifest with <paramref name="file"/>'s length and SHA-256 set to <paramref name="content"/>'s; unchanged when it does not parse.</summary>
    private static byte[] Rehash(byte[] manifest, string file, byte[] content)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(manifest);
        }
        catch (System.Text.Json.JsonException)
        {
            return manifest;
        }

        foreach (JsonNode? entry in root?["files"] as JsonArray ?? new JsonArray())
        {
            if (entry is JsonObject obj && obj["name"]?.GetValue<string>() == file)
            {
                obj["length"] = content.Length;
                obj["sha256"] = Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant();
            }
        }

        return Encoding.UTF8.GetBytes(root!.ToJsonString());
    }

    /// <summary>Backups of a memory store in each compression and of a LiteDB store (LZ4 and none), with the secret in payloads.</summary>
    private async Task<List<Pristine>> CorpusAsync()
    {
        var corpus = new List<Pristine>();
        var memory = new MemoryStateStore();
        await Seed(memory);
        SortedDictionary<string, string> memoryEntries = await BackupTestSupport.ReadAllAsync(memory);
        foreach (BackupCompression compression in new[] { BackupCompression.None, BackupCompression.GZip, BackupCompression.Brotli, BackupCompression.Lz4 })
        {
            var backups = new BackupManager(new BackupManagerOptions { Directory = Path.Combine(_dir.Path, "pristine-memory-" + compression), Compression = compression });
            BackupInfo info = await backups.CreateAsync(memory);
            corpus.Add(new Pristine("memory " + compression, info.Path, info.Id, memoryEntries));
        }

        string database = _dir.File("source.db");
        SortedDictionary<string, string> liteEntries;
        await using (var lite = new LiteDbStateStore(database))
        {
            await Seed(lite);
            liteEntries = await BackupTestSupport.ReadAllAsync(lite);
            foreach (BackupCompression compression in new[] { BackupCompression.None, BackupCompression.Lz4 })
            {
                var backups = new BackupManager(new BackupManagerOptions { Directory = Path.Combine(_dir.Path, "pristine-litedb-" + compression), Compression = compression });
                BackupInfo info = await backups.CreateAsync(lite);
                Assert.True((await backups.VerifyAsync(info.Id)).IsValid);
                corpus.Add(new Pristine("litedb " + compression, info.Path, info.Id, liteEntries));
            }
        }

        Assert.Contains(corpus, p => File.Exists(Path.Combine(p.Folder, "verified.json")));
        return corpus;
    }

    private static async Task Seed(IStateStore store)
    {
        for (int i = 0; i < 24; i++)
        {
            string payload = $"{{\"note\":\"{(i % 3 == 0 ? Secret : "plain " + i)}\",\"n\":{i},\"list\":[1,2,{{\"deep\":\"{Secret}\"}}]}}";
            await store.WriteAsync(new StateWrite("agent/a" + (i % 4), "k" + i, i % 2 == 0 ? "Note" : "Plan", 1 + (i % 2), Encoding.UTF8.GetBytes(payload)));
        }

        await store.WriteAsync(new StateWrite("agent/a0", "k0", "Note", 1, Encoding.UTF8.GetBytes($"{{\"note\":\"{Secret}\",\"n\":-1}}")));
        await store.DeleteAsync("agent/a1", "k1");
    }
}
