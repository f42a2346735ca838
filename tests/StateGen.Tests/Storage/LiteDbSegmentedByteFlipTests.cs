using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage;

/// <summary>
/// Random byte flips in every file of the default layout (suite item 5): the data file, LiteDB's log and every change-log
/// segment (<c>&lt;db&gt;.changes/000001.seg</c>, ...). Every open and every read gives the intact answer or
/// <see cref="StateStoreCorruptedException"/>, with one more outcome this layout allows: damage in the last segment's
/// records may be a history gap (docs/storage.md, "History gaps"); a flip in a sealed segment is always the typed error.
/// <c>STATEGEN_CORRUPTION_SEEDS</c> sets the number of seeds (1,000 by default).
/// </summary>
public sealed class LiteDbSegmentedByteFlipTests
{
    /// <summary>The database path of the corpora (files on a <see cref="SimulatedDisk"/>); its own, not the collection layout test's.</summary>
    private const string Path = "/segflip/state.db";
    internal static readonly string[] Scopes = ["agent/a1", "agent/a2"];
    internal static readonly string[] Correlations = ["corr-w0", "corr-w1", "corr-w2"];
    private readonly ITestOutputHelper _output;

    public LiteDbSegmentedByteFlipTests(ITestOutputHelper output) => _output = output;

    /// <summary>A corpus of the segment layout: the collection-layout corpus's checks plus the intact change log and its segments.</summary>
    internal sealed record SegmentedCorpus(
        LiteDbByteFlipTests.Corpus Values,
        StateChangeRecord[] Log,
        (string Path, long FirstSequence)[] Segments,
        (long Offset, long Sequence)[] LastSegmentRecords)
    {
        public long LastSequence => Log[^1].Sequence;

        public string LastSegment => Segments[^1].Path;
    }

    /// <summary>Where one flip landed.</summary>
    internal readonly record struct Hit(string File, long Offset);

    [Fact]
    public async Task Flipped_bytes_in_data_file_log_and_segments_give_the_intact_answer_the_typed_error_or_a_gap_in_the_last_segment()
    {
        SegmentedCorpus[] corpora = await BuildCorporaAsync();
        foreach (SegmentedCorpus corpus in corpora)
        {
            _output.WriteLine($"{corpus.Values.Name}: {string.Join(", ", corpus.Values.Images.Select(i => $"{Describe(corpus, i.Key)} {i.Value.Length} B"))}, {corpus.Log.Length} records");
        }

        int seeds = ReliabilityRuns.CorruptionSeeds;
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        for (int seed = 1; seed <= seeds; seed++)
        {
            var rng = new Random(seed);
            SegmentedCorpus corpus = corpora[seed % corpora.Length];
            Dictionary<string, byte[]> images = corpus.Values.Images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal);
            Hit[] hits = Flip(images, rng);
            string where = string.Join(" ", hits.Select(h => $"{Describe(corpus, h.File)}@{h.Offset}"));
            // Every tenth seed also salvages the damaged files (before the open, which may cut a lost tail): salvage reads the
            // segments read-only, and every value it returns must be intact, every recovered one a write that was made.
            string? salvaged = seed % 10 == 0
                ? LiteDbByteFlipTests.Salvage(new SimulatedDisk(images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal)), corpus.Values, outcomes, Path)
                : null;
            // Under a hang guard: a read that never ends fails the seed (and the test) instead of the whole run.
            Task<string?> read = Task.Run(() => ReadEverythingAsync(images, corpus, hits, outcomes));
            string? failure = (await Task.WhenAny(read, Task.Delay(LiteDbFaultTests.Hang)) == read ? await read : "an open or read of the damaged files hung") ?? salvaged;
            if (failure is not null)
            {
                failures.Add($"seed {seed} ({corpus.Values.Name}, {where}): {failure}");
            }
        }

        _output.WriteLine($"{seeds} seeds in {clock.Elapsed.TotalSeconds:F1} s: {Describe(outcomes)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {seeds} seeds failed:{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(15))}");

        // Every outcome was reached: reads refused, reads intact, a lost tail reported as a gap, a sealed segment refused.
        Assert.True(outcomes.GetValueOrDefault("typed error") > 0, Describe(outcomes));
        Assert.True(outcomes.GetValueOrDefault("intact") > seeds / 2, Describe(outcomes));
        Assert.True(outcomes.GetValueOrDefault("seed: history gap") > 0, Describe(outcomes));
        Assert.True(outcomes.GetValueOrDefault("seed: sealed segment refused") > 0, Describe(outcomes));
    }

    private static string Describe(Dictionary<string, int> outcomes) => string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}"));

    private static string Describe(SegmentedCorpus corpus, string file)
        => file == Path ? "data"
            : file == LiteDbStateStore.LogPath(Path) ? "log"
            : file == corpus.LastSegment ? "last-segment"
            : "sealed-segment " + System.IO.Path.GetFileName(file);

    internal static void Count(Dictionary<string, int> outcomes, string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    /// <summary>Flips 1–3 bytes, each in any of the files (in proportion to their sizes), as the collection layout's test does.</summary>
    internal static Hit[] Flip(Dictionary<string, byte[]> images, Random rng)
    {
        var files = images.Where(i => i.Value.Length > 0).OrderBy(i => i.Key, StringComparer.Ordinal).ToArray();
        long total = files.Sum(f => (long)f.Value.Length);
        var hits = new List<Hit>();
        for (int n = rng.Next(1, 4); n > 0; n--)
        {
            long at = rng.NextInt64(total);
            foreach (var (name, bytes) in files)
            {
                if (at < bytes.Length)
                {
                    bytes[at] ^= (byte)rng.Next(1, 256);
                    hits.Add(new Hit(name, at));
                    break;
                }

                at -= bytes.Length;
            }
        }

        return [.. hits];
    }

    internal static bool SameRecord(StateChangeRecord a, StateChangeRecord b)
        => a.Sequence == b.Sequence && a.Scope == b.Scope && a.Key == b.Key && a.Kind == b.Kind && a.TypeName == b.TypeName
           && a.SchemaVersion == b.SchemaVersion && a.Version == b.Version && a.Timestamp == b.Timestamp
           && a.Payload.Span.SequenceEqual(b.Payload.Span) && a.PreviousSequence == b.PreviousSequence
           && a.CorrelationId == b.CorrelationId && a.Origin == b.Origin;

    /// <summary>
    /// Whether a change-log read is intact: exactly the intact records that match <paramref name="filter"/>, outside the
    /// reported gap, up to the end of the log the store kept: the last intact record when <paramref name="end"/> is given
    /// (a cleanly closed file, or the end of a gap), else any prefix (the open corpus: damage to LiteDB's log can lose its
    /// newest commits, and the records of commits LiteDB does not have are cut at open).
    /// </summary>
    internal static bool IntactLog(SegmentedCorpus corpus, IReadOnlyList<StateChangeRecord> found, Func<StateChangeRecord, bool> filter, StateHistoryGap? gap, long? end)
    {
        long upTo = end ?? (found.Count > 0 ? found[^1].Sequence : 0);
        StateChangeRecord[] expected = corpus.Log
            .Where(r => filter(r) && r.Sequence <= upTo && !(gap is not null && r.Sequence >= gap.FromSequence && r.Sequence <= gap.ToSequence))
            .ToArray();
        return found.Count == expected.Length && found.Zip(expected).All(p => SameRecord(p.First, p.Second));
    }

    /// <summary>
    /// Opens the damaged files and reads every value, both scopes' keys, a full scan, the hook records (all, by
    /// correlation id) and the change log (all records, each key's, each correlation id's). Returns null when every read
    /// is intact or the typed error and the seed's outcome is one its flips allow:
    /// <list type="bullet">
    /// <item>a flip in a sealed segment (not the last): the open is the typed error;</item>
    /// <item>a history gap (<see cref="LiteDbStateStore.HistoryGaps"/> non-empty): only with a flip in the last segment, one
    /// gap, from a sequence inside the last segment to the newest committed one (the last intact record for the closed
    /// file), its preserved tail (when named) a <c>.lost-</c> file on the disk; values intact as without a gap, and every
    /// change-log read exactly the intact records outside the gap;</item>
    /// <item>otherwise every change-log read exactly the intact records (closed file), or an intact prefix of them that
    /// agrees with the values read in the same session (open corpus).</item>
    /// </list>
    /// </summary>
    private static async Task<string?> ReadEverythingAsync(Dictionary<string, byte[]> images, SegmentedCorpus corpus, Hit[] hits, Dictionary<string, int> outcomes)
    {
        LiteDbByteFlipTests.Corpus values = corpus.Values;
        var disk = new SimulatedDisk(images);
        bool hitSealed = hits.Any(h => corpus.Segments.Take(corpus.Segments.Length - 1).Any(s => s.Path == h.File));
        bool hitLast = hits.Any(h => h.File == corpus.LastSegment);
        LiteDbStateStore store;
        try
        {
            store = new LiteDbStateStore(Options(Path, disk));
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "typed error");
            Count(outcomes, hitSealed ? "seed: sealed segment refused" : "seed: open refused");
            return null;
        }
        catch (Exception ex)
        {
            return $"open threw {ex.GetType().Name}: {ex.Message}";
        }

        var problems = new List<string>();
        if (hitLast && store.HistoryGaps.Count == 0)
        {
            Count(outcomes, "seed: last segment flipped, opened without a gap");
        }

        if (hitSealed)
        {
            problems.Add("a flip in a sealed segment was not refused at open");
        }

        IReadOnlyList<StateHistoryGap> gaps = store.HistoryGaps;
        StateHistoryGap? gap = null;
        if (gaps.Count > 0)
        {
            Count(outcomes, "seed: history gap");
            gap = gaps[0];
            long lastFirst = corpus.Segments[^1].FirstSequence;
            if (!hitLast)
            {
                problems.Add($"a history gap {gaps[0].FromSequence}..{gaps[0].ToSequence} without a flip in the last segment");
            }
            else if (gaps.Count != 1 || gap.FromSequence < lastFirst || gap.ToSequence < gap.FromSequence || gap.ToSequence > corpus.LastSequence
                     || (values.Strict && gap.ToSequence != corpus.LastSequence))
            {
                problems.Add($"history gaps {string.Join(", ", gaps.Select(g => $"{g.FromSequence}..{g.ToSequence}"))}, the last segment starting at {lastFirst}, the log ending at {corpus.LastSequence}");
            }
            else
            {
                // The first damaged record of the last segment starts the gap, and the bytes from it on (as damaged) are
                // kept aside in <segment>.lost-<its sequence>.
                long firstHit = hits.Where(h => h.File == corpus.LastSegment).Min(h => h.Offset);
                (long offset, long sequence) = corpus.LastSegmentRecords.LastOrDefault(r => r.Offset <= firstHit);
                byte[] damaged = images[corpus.LastSegment];
                string lostPath = corpus.LastSegment + SegmentLog.LostTailInfix + gap.FromSequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (sequence == 0 || gap.FromSequence != sequence)
                {
                    problems.Add($"the gap starts at {gap.FromSequence}, but the first flipped record of the last segment is {(sequence == 0 ? "none (its header)" : sequence)}");
                }
                else if (gap.PreservedBytesPath != lostPath || !disk.Contents().TryGetValue(lostPath, out byte[]? lost) || !lost.AsSpan().SequenceEqual(damaged.AsSpan((int)offset)))
                {
                    problems.Add($"the gap's preserved tail is {gap.PreservedBytesPath ?? "none"}, not {lostPath} holding the last segment's bytes from offset {offset}");
                }
                else
                {
                    Count(outcomes, "seed: gap, tail kept");
                }
            }
        }

        // With a gap the log ends at its end (the newest committed sequence); without, at the last record (closed file).
        long? end = gap?.ToSequence ?? (values.Strict ? corpus.LastSequence : null);
        IReadOnlyList<StateChangeRecord>? all = await ReadAllAsync(store, corpus, gap, end, outcomes, problems);
        if (gap is not null && problems.Count == 0)
        {
            await ReopenAfterGapAsync(disk, gap, all, outcomes, problems);
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>
    /// Reads every value, both scopes' keys, a full scan, the hook records (all, by correlation id) and the change log (all
    /// records, each key's, each correlation id's) from an open store, then disposes it: each read must be intact (with
    /// <paramref name="gap"/> reported, the change log outside it; up to <paramref name="end"/>, see <see cref="IntactLog"/>)
    /// or the typed error; problems are added to <paramref name="problems"/>. Returns the whole change log when it was read.
    /// Without a gap each key's newest change record must agree with its value, unless <paramref name="valuesAgreeWithLog"/>
    /// is false (a caller's documented exception).
    /// </summary>
    internal static async Task<IReadOnlyList<StateChangeRecord>?> ReadAllAsync(LiteDbStateStore store, SegmentedCorpus corpus, StateHistoryGap? gap, long? end, Dictionary<string, int> outcomes, List<string> problems, bool valuesAgreeWithLog = true)
    {
        LiteDbByteFlipTests.Corpus values = corpus.Values;
        var reads = new Dictionary<(string Scope, string Key), bool?>();
        var readValues = new Dictionary<(string Scope, string Key), StoredEntry?>();
        IReadOnlyList<StateChangeRecord>? all = null;
        Task Read<T>(string what, Func<Task<T>> read, Func<T, bool> intact) => LiteDbByteFlipTests.ReadCheckedAsync(what, read, intact, outcomes, problems);

        try
        {
            foreach (var (scope, key) in values.History.Keys)
            {
                reads[(scope, key)] = null;
                await Read($"get {scope}/{key}", async () => await store.GetAsync(scope, key), e =>
                {
                    reads[(scope, key)] = e is not null;
                    readValues[(scope, key)] = e;
                    return values.Intact(scope, key, e);
                });
            }

            foreach (string scope in Scopes)
            {
                await Read($"list {scope}", async () => await store.ListKeysAsync(scope), list => values.IntactList(scope, list, reads));
            }

            await Read("scan", async () => await store.ScanAsync(null, 1000), list => list.All(e => Scopes.Contains(e.Scope) && values.Intact(e.Scope, e.Key, e))
                && Scopes.All(scope => values.IntactList(scope, list.Where(e => e.Scope == scope).Select(e => e.Key), reads)));
            static bool IntactHook(HookExecutionRecord h)
                => h.HookId == "hook-1" && h.Key == "key-0" && h.CorrelationId == "corr-1" && h.NewValue.Span.SequenceEqual("2"u8);
            await Read("hooks", async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery()), list => (!values.Strict || list.Count == 1) && list.All(IntactHook));
            // Through the hook history's correlation index, checked against the correlation's chain and stored newest
            // (LiteDbStateStore.HookChains.cs): complete like the read by id, never the record left out (closed file).
            await Read("hooks by correlation id", async () => await store.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" }), list => (!values.Strict || list.Count == 1) && list.All(IntactHook));

            await Read("changes", async () => await store.ReadChangesAsync(new StateChangeQuery()), list =>
            {
                all = list;
                return IntactLog(corpus, list, _ => true, gap, end);
            });

            // A key's or a correlation id's records: the same records as the whole log holds for it (when it was read), and
            // in any case intact records outside the gap up to the log's end.
            foreach (var (scope, key) in values.History.Keys)
            {
                await Read($"changes of {scope}/{key}", async () => await store.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key }), list =>
                {
                    bool Of(StateChangeRecord r) => r.Scope == scope && r.Key == key;
                    return all is null
                        ? IntactLog(corpus, list, Of, gap, end)
                        : list.Count == all.Count(Of) && list.Zip(all.Where(Of)).All(p => SameRecord(p.First, p.Second));
                });
            }

            foreach (string correlation in Correlations)
            {
                await Read($"changes of {correlation}", async () => await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = correlation }), list =>
                {
                    bool Of(StateChangeRecord r) => r.CorrelationId == correlation;
                    return all is null
                        ? IntactLog(corpus, list, Of, gap, end)
                        : list.Count == all.Count(Of) && list.Zip(all.Where(Of)).All(p => SameRecord(p.First, p.Second));
                });
            }

            // Without a gap the log the store kept ends where its values do: each key's newest record is its value's write
            // (or a delete, or nothing, for an absent key).
            if (valuesAgreeWithLog && gap is null && all is not null)
            {
                foreach (var ((scope, key), entry) in readValues)
                {
                    StateChangeRecord? newest = all.LastOrDefault(r => r.Scope == scope && r.Key == key);
                    bool agrees = entry is null
                        ? newest is null or { Kind: StateChangeKind.Delete }
                        : newest is { Kind: StateChangeKind.Write } && newest.Version == entry.Version && newest.Payload.Span.SequenceEqual(entry.Payload.Span);
                    if (!agrees)
                    {
                        problems.Add($"{scope}/{key} read v{entry?.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(absent)"}, but its newest change record is {(newest is null ? "none" : $"{newest.Sequence} ({newest.Kind} of v{newest.Version})")}");
                    }
                }
            }
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

        return all;
    }

    /// <summary>
    /// After a gap, the next open of what the first left (the cut segment, its seal, the segment after the gap) opens as
    /// it did: the same gap (from the header of the segment after it), and the same change log, with nothing cut again.
    /// </summary>
    internal static async Task ReopenAfterGapAsync(SimulatedDisk disk, StateHistoryGap gap, IReadOnlyList<StateChangeRecord>? all, Dictionary<string, int> outcomes, List<string> problems, string path = Path)
    {
        LiteDbStateStore reopened;
        try
        {
            reopened = new LiteDbStateStore(Options(path, new SimulatedDisk(disk.Contents())));
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "seed: gap, reopen refused");
            return;
        }
        catch (Exception ex)
        {
            problems.Add($"the reopen after the gap threw {ex.GetType().Name}: {ex.Message}");
            return;
        }

        try
        {
            if (reopened.HistoryGaps.Count != 1 || reopened.HistoryGaps[0] != gap)
            {
                problems.Add($"the reopen after the gap {gap} reports {string.Join(", ", reopened.HistoryGaps)}");
                return;
            }

            IReadOnlyList<StateChangeRecord> again = await reopened.ReadChangesAsync(new StateChangeQuery());
            if (all is not null && (again.Count != all.Count || !again.Zip(all).All(p => SameRecord(p.First, p.Second))))
            {
                problems.Add("the reopen after the gap reads another change log");
                return;
            }

            Count(outcomes, "seed: gap, reopened the same");
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "seed: gap, reopen refused");
        }
        catch (Exception ex)
        {
            problems.Add($"the reopen after the gap threw {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            try
            {
                reopened.Dispose();
            }
            catch (StateStoreException)
            {
                // A damaged file may fail its closing checkpoint; that is typed too.
            }
        }
    }

    internal static LiteDbStateStoreOptions Options(string path, SimulatedDisk disk) => new()
    {
        Path = path,
        OpenFile = disk.Open,
        ChangeLogLayout = LiteDbChangeLogLayout.SegmentFiles,
        SegmentLogOptions = new() { RollBytes = RollBytes },
        WriteBehind = false, // files written directly; the write-behind twins: LiteDbWriteBehindByteFlipTests, LiteDbWriteBehindFuzzTests
    };

    /// <summary>Small segments: the corpus's change log (about 40 KB) spans several, so sealed ones and a last one are flipped.</summary>
    private const long RollBytes = 12_000;

    /// <summary>Where each record of an intact segment without a seal starts, and its sequence.</summary>
    private static (long Offset, long Sequence)[] Records(byte[] segment, long firstSequence)
    {
        var records = new List<(long, long)>();
        long offset = SegmentFormat.HeaderSize;
        for (long sequence = firstSequence; offset < segment.Length; sequence++)
        {
            Assert.Equal(SegmentFormat.RecordMagic, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan((int)offset)));
            records.Add((offset, sequence));
            offset += System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan((int)offset + 4));
        }

        Assert.Equal(segment.Length, offset);
        return [.. records];
    }

    /// <summary>
    /// The collection layout test's database (10 keys in two scopes, 1–3 writes each, a hook record, one key deleted), with
    /// its change log in segment files and a correlation id on each write: after a clean close and while still open.
    /// </summary>
    internal static async Task<SegmentedCorpus[]> BuildCorporaAsync()
    {
        var corpora = new List<SegmentedCorpus>();
        foreach (bool close in new[] { true, false })
        {
            var disk = new SimulatedDisk();
            // Built under a name of its own (a store registers its path as open in this process, and test classes run in
            // parallel), then renamed to Path.
            string buildPath = $"/corpus/{Guid.NewGuid():N}.db";
            var store = new LiteDbStateStore(Options(buildPath, disk));
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
                    byte[] payload = [(byte)'"', .. Enumerable.Range(0, rng.Next(200, 3000)).Select(_ => (byte)rng.Next('a', 'z' + 1)), (byte)'"'];
                    IReadOnlyList<StateOperationResult> results = await store.CommitAsync([new StateWrite(scope, key, "Agent.Note", 1, payload) { CorrelationId = Correlations[round], Origin = "save" }]);
                    StoredEntry stored = results[0].Stored!;
                    expected[(scope, key)] = (stored.Version, payload);
                    history.TryAdd((scope, key), []);
                    history[(scope, key)].Add((stored.Version, payload));
                }
            }

            await store.AppendHookExecutionsAsync([new HookExecutionRecord(0, "hook-1", "BeforeChange", Scopes[0], "key-0", "Agent.Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-1", "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty)]);
            Assert.True(await store.DeleteAsync(Scopes[1], "key-9"));
            expected.Remove((Scopes[1], "key-9"));
            StateChangeRecord[] log = [.. await store.ReadChangesAsync(new StateChangeQuery())];
            Assert.Empty(store.HistoryGaps);
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

            string folder = SegmentLog.FolderFor(Path) + System.IO.Path.DirectorySeparatorChar;
            var segments = images.Keys.Where(p => p.StartsWith(folder, StringComparison.Ordinal)).Order(StringComparer.Ordinal)
                .Select(p =>
                {
                    Assert.Null(SegmentFormat.ReadHeader(images[p].AsSpan(0, SegmentFormat.HeaderSize), out _, out long first, out _));
                    return (p, first);
                })
                .ToArray();
            Assert.True(segments.Length >= 3, $"{segments.Length} segment(s): {string.Join(", ", images.Select(i => $"{i.Key} {i.Value.Length} B"))}");
            // Nothing else: the data file, LiteDB's log (empty after a clean close) and the segments.
            Assert.True(images.Keys.All(p => p == Path || p == LiteDbStateStore.LogPath(Path) || segments.Any(s => s.p == p)), string.Join(", ", images.Keys));
            corpora.Add(new SegmentedCorpus(
                new LiteDbByteFlipTests.Corpus(close ? "closed" : "open, with log", images, expected, history, Strict: close),
                log,
                segments,
                Records(images[segments[^1].p], segments[^1].first)));
        }

        Assert.True(corpora[1].Values.Images[LiteDbStateStore.LogPath(Path)].Length > 0, "the open corpus has a log");
        return [.. corpora];
    }
}
