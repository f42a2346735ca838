using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage;

/// <summary>
/// Random byte flips in the data file and the log (issue #6, suite item 5): every open and every read gives the intact
/// value or <see cref="StateStoreCorruptedException"/>, never another exception and never a wrong value. One small
/// database is built once; each seed flips bytes in an in-memory copy of its files (<see cref="SimulatedDisk"/>) and
/// reads everything back. <c>STATEGEN_CORRUPTION_SEEDS</c> sets the number of seeds (1,000 by default).
/// </summary>
public sealed class LiteDbByteFlipTests : IDisposable
{
    /// <summary>The database path of the corpora (files on a <see cref="SimulatedDisk"/>).</summary>
    internal const string Path = "/flip/state.db";
    private static readonly string[] Scopes = ["agent/a1", "agent/a2"];
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public LiteDbByteFlipTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    /// <summary>The files of one database (closed cleanly: data file only; or open: data file and log) and what they hold.</summary>
    /// <remarks>
    /// With a log, damage to the log can lose its newest commits (LiteDB log pages carry no checksum, and nothing outside
    /// the log says how many commits it held: the same as a power cut before the flush), so there a value may be any
    /// version that was acknowledged, or absent if its first write is lost; it may never be anything else. Without a log
    /// (<see cref="Strict"/>) every value must be the last one.
    /// </remarks>
    internal sealed record Corpus(
        string Name,
        IReadOnlyDictionary<string, byte[]> Images,
        Dictionary<(string Scope, string Key), (long Version, byte[] Payload)> Expected,
        Dictionary<(string Scope, string Key), List<(long Version, byte[] Payload)>> History,
        bool Strict)
    {
        /// <summary>Whether an entry read back is intact: the last value, or (with a log) any acknowledged one.</summary>
        public bool Intact(string scope, string key, StoredEntry? entry)
        {
            if (Strict)
            {
                return Expected.TryGetValue((scope, key), out var x)
                    ? entry is not null && entry.Version == x.Version && entry.Payload.Span.SequenceEqual(x.Payload)
                    : entry is null;
            }

            return entry is null
                || (History.TryGetValue((scope, key), out var versions) && versions.Any(v => v.Version == entry.Version && entry.Payload.Span.SequenceEqual(v.Payload)));
        }

        /// <summary>
        /// Whether the keys a list or scan found in <paramref name="scope"/> are complete and nothing more: with no log, exactly
        /// the expected keys; with a log, exactly the keys whose read in the same session gave a value, plus perhaps keys
        /// whose read was the typed error (an earlier acknowledged state is allowed, but the list must agree with it).
        /// </summary>
        public bool IntactList(string scope, IEnumerable<string> keys, IReadOnlyDictionary<(string Scope, string Key), bool?> reads)
        {
            string[] found = keys.ToArray();
            if (found.Distinct(StringComparer.Ordinal).Count() != found.Length || !found.All(k => History.ContainsKey((scope, k))))
            {
                return false;
            }

            if (Strict && !found.Order(StringComparer.Ordinal).SequenceEqual(Expected.Keys.Where(k => k.Scope == scope).Select(k => k.Key).Order(StringComparer.Ordinal)))
            {
                return false;
            }

            // Read back: true (a value), false (absent), null (the typed error).
            var inScope = reads.Where(r => r.Key.Scope == scope).ToArray();
            return inScope.Where(r => r.Value == true).All(r => found.Contains(r.Key.Key, StringComparer.Ordinal))
                   && inScope.Where(r => r.Value == false).All(r => !found.Contains(r.Key.Key, StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task Flipped_bytes_in_data_file_and_log_give_the_intact_value_or_the_typed_error()
    {
        Corpus[] corpora = await BuildCorporaAsync();
        int seeds = ReliabilityRuns.CorruptionSeeds;
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int seed = 1; seed <= seeds; seed++)
        {
            var rng = new Random(seed);
            Corpus corpus = corpora[seed % corpora.Length];
            Dictionary<string, byte[]> images = corpus.Images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal);
            string where = Flip(images, rng);
            // Every list and scan is whole (checked against the per-scope counts) or the typed error.
            // Under a hang guard: a read that never ends fails the seed (and the test) instead of the whole run.
            // Each seed at a path of its own: a store that hangs keeps its path open, and later seeds must not fail for it.
            string seedPath = $"/flip/{seed}/state.db";
            Task<string?> read = Task.Run(() => ReadEverythingAsync(new SimulatedDisk(SimulatedDisk.Rename(images, Path, seedPath)), seedPath, corpus, outcomes));
            string? failure = (await Task.WhenAny(read, Task.Delay(LiteDbFaultTests.Hang)) == read ? await read : $"an open or read of the damaged files hung (they are kept in {KeepHungImages(images)}: the corpus differs from run to run)")
                ?? (seed % 10 == 0 ? Salvage(new SimulatedDisk(images), corpus, outcomes) : null);
            if (failure is not null)
            {
                failures.Add($"seed {seed} ({corpus.Name}, {where}): {failure}");
            }
        }

        _output.WriteLine($"{seeds} seeds: {Describe(outcomes)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {seeds} seeds failed:{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(15))}");

        // The flips did reach data that matters: some reads were refused, most read back intact.
        Assert.True(outcomes.GetValueOrDefault("typed error") > 0, Describe(outcomes));
        Assert.True(outcomes.GetValueOrDefault("intact") > seeds / 2, Describe(outcomes));
    }

    /// <summary>Writes the files of a seed whose read hung to a new temporary folder, to replay it; returns the folder.</summary>
    private static string KeepHungImages(Dictionary<string, byte[]> images)
    {
        string folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "stategen-hung-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        foreach (var (name, bytes) in images)
        {
            File.WriteAllBytes(System.IO.Path.Combine(folder, System.IO.Path.GetFileName(name)), bytes);
        }

        return folder;
    }

    [Fact]
    public async Task Every_single_byte_of_a_stored_value_flipped_in_the_data_file_is_caught()
    {
        // Without the per-document checksum, LiteDB (no page checksums) would hand back these bytes as the value.
        string path = _dir.File();
        byte[] payload = Enumerable.Range(0, 200).Select(i => (byte)('a' + (i % 26))).ToArray();
        await using (var store = CollectionLayout.Open(path))
        {
            await store.WriteAsync(new StateWrite("agent/a1", "k", "T", 1, Json(payload)));
        }

        byte[] file = await File.ReadAllBytesAsync(path);
        int at = file.AsSpan().IndexOf(Json(payload).Span);
        Assert.True(at > 0, "the value is stored as is");
        int caught = 0;
        for (int i = 0; i < Json(payload).Length; i++)
        {
            byte[] copy = (byte[])file.Clone();
            copy[at + i] ^= 0x01;
            await File.WriteAllBytesAsync(path, copy);

            // The open reads the newest change record (for the sequence), so it may be the open that refuses.
            var ex = await Assert.ThrowsAsync<StateStoreCorruptedException>(async () =>
            {
                await using var store = CollectionLayout.Open(path);
                await store.GetAsync("agent/a1", "k");
            });
            Assert.Contains("checksum", ex.Failure, StringComparison.Ordinal);
            Assert.DoesNotContain("klmnopqrst", ex.Message, StringComparison.Ordinal); // a run of the stored value (no hex path can hold it)
            caught++;
        }

        Assert.Equal(Json(payload).Length, caught);
    }

    private static string Describe(Dictionary<string, int> outcomes) => string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}"));

    private static ReadOnlyMemory<byte> Json(byte[] text) => new([(byte)'"', .. text, (byte)'"']);

    /// <summary>Flips 1–3 bytes, each in the data file or the log (in proportion to their sizes); says where.</summary>
    private static string Flip(Dictionary<string, byte[]> images, Random rng)
    {
        var files = images.Where(i => i.Value.Length > 0).ToArray();
        long total = files.Sum(f => (long)f.Value.Length);
        var where = new List<string>();
        for (int n = rng.Next(1, 4); n > 0; n--)
        {
            long at = rng.NextInt64(total);
            foreach (var (name, bytes) in files)
            {
                if (at < bytes.Length)
                {
                    bytes[at] ^= (byte)rng.Next(1, 256);
                    where.Add($"{(name.EndsWith("-log.db", StringComparison.Ordinal) ? "log" : "data")}@{at}");
                    break;
                }

                at -= bytes.Length;
            }
        }

        return string.Join(" ", where);
    }

    /// <summary>
    /// One read of a damaged store: counts "intact" when <paramref name="intact"/> accepts its answer and "typed error" for
    /// <see cref="StateStoreCorruptedException"/>; a wrong answer or any other exception is a problem naming the read.
    /// </summary>
    internal static async Task ReadCheckedAsync<T>(string what, Func<Task<T>> read, Func<T, bool> intact, Dictionary<string, int> outcomes, List<string> problems)
    {
        try
        {
            T value = await read();
            if (intact(value))
            {
                Count(outcomes, "intact");
            }
            else
            {
                problems.Add($"{what} read back wrong data");
            }
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "typed error");
        }
        catch (Exception ex)
        {
            problems.Add($"{what} threw {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>
    /// Opens the damaged files and reads every value, every scope's keys, a full scan and the change log. Returns null
    /// when each of them gave the intact answer or a <see cref="StateStoreCorruptedException"/>; a list or scan must also
    /// agree with the reads of single values in the same session (no key omitted that a read found, none added that a read
    /// found absent).
    /// </summary>
    internal static async Task<string?> ReadEverythingAsync(
        SimulatedDisk disk,
        string path,
        Corpus corpus,
        Dictionary<string, int> outcomes)
    {
        LiteDbStateStore store;
        try
        {
            store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open });
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "typed error");
            return null;
        }
        catch (Exception ex)
        {
            return $"open threw {ex.GetType().Name}: {ex.Message}";
        }

        var problems = new List<string>();
        var reads = new Dictionary<(string Scope, string Key), bool?>();
        Task Read<T>(string what, Func<Task<T>> read, Func<T, bool> intact) => LiteDbByteFlipTests.ReadCheckedAsync(what, read, intact, outcomes, problems);

        try
        {
            foreach (var (scope, key) in corpus.History.Keys)
            {
                reads[(scope, key)] = null;
                await Read($"get {scope}/{key}", async () => await store.GetAsync(scope, key), e =>
                {
                    reads[(scope, key)] = e is not null;
                    return corpus.Intact(scope, key, e);
                });
            }

            foreach (string scope in Scopes)
            {
                await Read($"list {scope}", async () => await store.ListKeysAsync(scope), list => corpus.IntactList(scope, list, reads));
            }

            await Read("scan", async () => await store.ScanAsync(null, 1000), list => list.All(e => Scopes.Contains(e.Scope) && corpus.Intact(e.Scope, e.Key, e))
                && Scopes.All(scope => corpus.IntactList(scope, list.Where(e => e.Scope == scope).Select(e => e.Key), reads)));
            await Read("hooks", async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery()), list => (!corpus.Strict || list.Count == 1)
                && list.All(h => h.HookId == "hook-1" && h.Key == "key-0" && h.CorrelationId == "corr-1" && h.NewValue.Span.SequenceEqual("2"u8)));
            await Read("changes", async () => await store.ReadChangesAsync(new StateChangeQuery { Limit = 10_000 }), list => (!corpus.Strict || list.Count > 0)
                && list.All(c => c.Kind == StateChangeKind.Delete || corpus.History[(c.Scope, c.Key)].Any(v => v.Version == c.Version && c.Payload.Span.SequenceEqual(v.Payload))));
        }
        finally
        {
            try
            {
                store.Dispose();
            }
            catch (StateStoreException)
            {
                // A damaged file may fail its closing checkpoint; that is typed too.
            }
            catch (Exception ex)
            {
                problems.Add($"dispose threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>Salvage of the damaged files (at <paramref name="path"/>, <see cref="Path"/> by default): only the typed error escapes, and every value it calls intact is.</summary>
    internal static string? Salvage(SimulatedDisk disk, Corpus corpus, Dictionary<string, int> outcomes, string path = Path)
    {
        try
        {
            LiteDbSalvageResult result = LiteDbStateStore.Salvage(path, disk.Open);
            Count(outcomes, "salvaged");
            return result.Entries.All(e => corpus.Intact(e.Scope, e.Key, e))
                   && result.Recovered.All(e => corpus.History[(e.Scope, e.Key)].Any(v => v.Version == e.Version && e.Payload.Span.SequenceEqual(v.Payload)))
                ? null
                : "salvage returned a value that is not intact";
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "salvage refused");
            return null;
        }
        catch (Exception ex)
        {
            return $"salvage threw {ex.GetType().Name}: {ex.Message}";
        }
    }

    private static void Count(Dictionary<string, int> outcomes, string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    /// <summary>
    /// One database of 10 keys in two scopes, each written 1–3 times (values 200 B–3 KB), a hook record, one key deleted: its files
    /// after a clean close (the data file alone) and while still open (data file and log, nothing checkpointed yet).
    /// </summary>
    internal static async Task<Corpus[]> BuildCorporaAsync()
    {
        var corpora = new List<Corpus>();
        foreach (bool close in new[] { true, false })
        {
            var disk = new SimulatedDisk();
            // The collection layout: the corpus is the data file and LiteDB's log (segment files are not flipped here).
            // Built under a name of its own (a store registers its path as open in this process, and the tests that
            // read damaged copies at Path run in parallel), then renamed to Path.
            string buildPath = $"/corpus/{Guid.NewGuid():N}.db";
            var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = buildPath, OpenFile = disk.Open, ChangeLogLayout = LiteDbChangeLogLayout.Collection });
            var expected = new Dictionary<(string Scope, string Key), (long Version, byte[] Payload)>();
            var history = new Dictionary<(string Scope, string Key), List<(long Version, byte[] Payload)>>();
            var rng = new Random(42);
            for (int round = 0; round < 3; round++)
            {
                for (int k = 0; k < 10; k++)
                {
                    if (round > 0 && rng.Next(3) == 0)
                    {
                        continue;
                    }

                    string scope = Scopes[k % 2];
                    string key = $"key-{k}";
                    byte[] payload = Json(Enumerable.Range(0, rng.Next(200, 3000)).Select(_ => (byte)rng.Next('a', 'z' + 1)).ToArray()).ToArray();
                    StoredEntry stored = await store.WriteAsync(new StateWrite(scope, key, "Agent.Note", 1, payload));
                    expected[(scope, key)] = (stored.Version, payload);
                    history.TryAdd((scope, key), []);
                    history[(scope, key)].Add((stored.Version, payload));
                }
            }

            await store.AppendHookExecutionsAsync([new HookExecutionRecord(0, "hook-1", "BeforeChange", Scopes[0], "key-0", "Agent.Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-1", "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty)]);
            Assert.True(await store.DeleteAsync(Scopes[1], "key-9"));
            expected.Remove((Scopes[1], "key-9"));
            IReadOnlyDictionary<string, byte[]> images;
            if (close)
            {
                store.Dispose();
                images = SimulatedDisk.Rename(disk.Images(), buildPath, Path);
            }
            else
            {
                images = SimulatedDisk.Rename(disk.Images(), buildPath, Path);
                store.Dispose();
            }

            corpora.Add(new Corpus(close ? "closed" : "open, with log", images, expected, history, Strict: close));
        }

        Assert.True(corpora[1].Images[LiteDbStateStore.LogPath(Path)].Length > 0, "the open corpus has a log");
        return [.. corpora];
    }
}
