using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage;

/// <summary>
/// Random byte flips in the files a killed process leaves of a store writing behind (suite item 5, write behind): the data
/// file, LiteDB's log and the change-log segments, where the segments hold records at or before <c>meta.S</c> and whole
/// commits after it that LiteDB does not hold yet (single writes, a delete, multi-op batches, across segments). Every open
/// and read is the typed <see cref="StateStoreCorruptedException"/>, or the store opens and every read agrees with one
/// commit boundary: the last commit when no flip hit the segments' records after <c>meta.S</c>, else no earlier than the
/// last commit that ends before the first damaged byte of the last segment (a damaged trailing commit is cut as a crash
/// would) and than every commit whose commit-end record there no flip hit (a damaged record before an intact flagged one
/// is the typed error, nothing cut), never a state that mixes commits. <c>STATEGEN_CORRUPTION_SEEDS</c> sets the number of seeds (1,000 by default).
/// </summary>
public sealed class LiteDbWriteBehindByteFlipTests
{
    /// <summary>The database path of the corpus (files on a <see cref="SimulatedDisk"/>); its own, not the other flip tests'.</summary>
    internal const string Path = "/wbflip/state.db";

    /// <summary>Small segments: the corpus's change log (about 25 KB) spans several, with commits after <c>meta.S</c> in more than one.</summary>
    private const long RollBytes = 4_000;

    private static readonly string[] Scopes = LiteDbSegmentedByteFlipTests.Scopes;
    private readonly ITestOutputHelper _output;

    public LiteDbWriteBehindByteFlipTests(ITestOutputHelper output) => _output = output;

    /// <summary>A value as a reader must see it.</summary>
    internal sealed record Value(long Version, string TypeName, byte[] Payload);

    /// <summary>The state after a commit (index 0: before any): its newest change sequence and every key's value.</summary>
    internal sealed record CommitState(long EndSequence, IReadOnlyDictionary<(string Scope, string Key), Value> Values);

    /// <summary>Where a record of the intact segments is: segment index, offset, length, sequence.</summary>
    internal readonly record struct RecordAt(int Segment, long Offset, long Length, long Sequence);

    /// <summary>
    /// The corpus: the files of the killed process, the intact change log, the state after every commit, the commit
    /// <c>meta.S</c> ends, the segments in order and where each record is in them.
    /// </summary>
    internal sealed record WriteBehindCorpus(
        IReadOnlyDictionary<string, byte[]> Images,
        StateChangeRecord[] Log,
        CommitState[] Commits,
        int AppliedCommit,
        string[] Segments,
        RecordAt[] Records)
    {
        public int LastCommit => Commits.Length - 1;

        public long AppliedSequence => Commits[AppliedCommit].EndSequence;

        public string LastSegment => Segments[^1];

        public IEnumerable<(string Scope, string Key)> Keys => Commits.SelectMany(c => c.Values.Keys).Distinct();
    }

    [Fact]
    public async Task Flipped_bytes_in_an_open_store_written_behind_give_the_typed_error_or_the_state_of_one_commit()
    {
        WriteBehindCorpus corpus = await BuildCorpusAsync();
        _output.WriteLine($"corpus: {string.Join(", ", corpus.Images.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => $"{Describe(corpus, i.Key)} {i.Value.Length} B"))}; "
                          + $"{corpus.Log.Length} records in {corpus.LastCommit} commits, meta.S = {corpus.AppliedSequence} (commit {corpus.AppliedCommit}), "
                          + $"records after it in segments {string.Join(",", corpus.Records.Where(r => r.Sequence > corpus.AppliedSequence).Select(r => r.Segment).Distinct())}");

        // The undamaged corpus opens at its last commit, with every commit after meta.S replayed.
        var undamaged = new Dictionary<string, int>(StringComparer.Ordinal);
        string? baseline = await ReadEverythingAsync(corpus.Images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal), corpus, [], undamaged);
        Assert.True(baseline is null && undamaged.GetValueOrDefault("seed: every read at the last commit") == 1, $"{baseline} {Describe(undamaged)}");

        int seeds = ReliabilityRuns.CorruptionSeeds;
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        for (int seed = 1; seed <= seeds; seed++)
        {
            var rng = new Random(seed);
            Dictionary<string, byte[]> images = corpus.Images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal);
            LiteDbSegmentedByteFlipTests.Hit[] hits = LiteDbSegmentedByteFlipTests.Flip(images, rng);
            string where = string.Join(" ", hits.Select(h => $"{Describe(corpus, h.File)}@{h.Offset}"));
            // Every tenth seed also salvages the damaged files (before the open, which may cut a damaged tail).
            string? salvaged = seed % 10 == 0
                ? Salvage(new SimulatedDisk(images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal)), corpus, outcomes)
                : null;
            // Under a hang guard: a read that never ends fails the seed (and the test) instead of the whole run.
            Task<string?> read = Task.Run(() => ReadEverythingAsync(images, corpus, hits, outcomes));
            string? failure = (await Task.WhenAny(read, Task.Delay(LiteDbFaultTests.Hang)) == read ? await read : "an open or read of the damaged files hung") ?? salvaged;
            if (failure is not null)
            {
                failures.Add($"seed {seed} ({where}): {failure}");
            }
        }

        _output.WriteLine($"{seeds} seeds in {clock.Elapsed.TotalSeconds:F1} s: {Describe(outcomes)}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {seeds} seeds failed:{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(15))}");

        // Not vacuous: opens and reads were refused, most seeds read the last commit, and (with enough seeds) a damaged
        // trailing commit was cut and salvage ran.
        Assert.True(outcomes.GetValueOrDefault("typed error") > 0, Describe(outcomes));
        Assert.True(outcomes.GetValueOrDefault("seed: every read at the last commit") > seeds / 2, Describe(outcomes));
        Assert.True(outcomes.GetValueOrDefault("seed: segment records after meta.S flipped") > 0, Describe(outcomes));
        if (seeds >= 1000)
        {
            Assert.True(outcomes.GetValueOrDefault("seed: typed error at open") > 0, Describe(outcomes));
            Assert.True(outcomes.GetValueOrDefault("seed: every read at an earlier commit (trailing commit cut)") > 0, Describe(outcomes));
            Assert.True(outcomes.GetValueOrDefault("salvaged") > 0, Describe(outcomes));
        }
    }

    private static string Describe(Dictionary<string, int> outcomes) => string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}"));

    private static string Describe(WriteBehindCorpus corpus, string file)
        => file == Path ? "data"
            : file == LiteDbStateStore.LogPath(Path) ? "log"
            : file == corpus.LastSegment ? "last-segment"
            : "sealed-segment " + System.IO.Path.GetFileName(file);

    private static void Count(Dictionary<string, int> outcomes, string outcome) => LiteDbSegmentedByteFlipTests.Count(outcomes, outcome);

    internal static bool Same(Value? expected, StoredEntry? entry)
        => expected is null
            ? entry is null
            : entry is not null && entry.Version == expected.Version && entry.TypeName == expected.TypeName && entry.Payload.Span.SequenceEqual(expected.Payload);

    /// <summary>The intact change log as of commit <paramref name="commit"/>, without the records of <paramref name="gap"/>.</summary>
    private static bool LogAsOf(WriteBehindCorpus corpus, int commit, IReadOnlyList<StateChangeRecord> found, Func<StateChangeRecord, bool> filter, StateHistoryGap? gap)
    {
        long upTo = corpus.Commits[commit].EndSequence;
        StateChangeRecord[] expected = corpus.Log
            .Where(r => filter(r) && r.Sequence <= upTo && !(gap is not null && r.Sequence >= gap.FromSequence && r.Sequence <= gap.ToSequence))
            .ToArray();
        return found.Count == expected.Length && found.Zip(expected).All(p => LiteDbSegmentedByteFlipTests.SameRecord(p.First, p.Second));
    }

    /// <summary>
    /// The lowest commit the open may leave: the last one, unless a flip hit the last segment at or after the first record
    /// after <c>meta.S</c>; then the last commit whose end record ends before the first flipped byte of the last segment
    /// (a damaged trailing commit is cut as a crash would), or, if later, the last whose end record after <c>meta.S</c> in
    /// the last segment no flip hit (a damaged record with an intact commit-end record after it is the typed error, with
    /// nothing cut: an open that succeeds still holds that commit).
    /// </summary>
    internal static int LowestCommit(WriteBehindCorpus corpus, LiteDbSegmentedByteFlipTests.Hit[] hits)
    {
        int lastIndex = corpus.Segments.Length - 1;
        long[] inLast = hits.Where(h => h.File == corpus.LastSegment).Select(h => h.Offset).ToArray();
        RecordAt[] afterS = corpus.Records.Where(r => r.Segment == lastIndex && r.Sequence > corpus.AppliedSequence).ToArray();
        if (inLast.Length == 0 || afterS.Length == 0 || inLast.Max() < afterS[0].Offset)
        {
            return corpus.LastCommit;
        }

        long firstHit = inLast.Min();
        int lowest = 0;
        for (int c = 1; c <= corpus.LastCommit; c++)
        {
            RecordAt end = corpus.Records.Single(r => r.Sequence == corpus.Commits[c].EndSequence);
            // Ends before the damage; or its end record, after meta.S in the last segment, is intact: recovery refuses a
            // damaged record with an intact commit-end record after it (nothing cut), so the open never loses it.
            if (end.Segment < lastIndex || end.Offset + end.Length <= firstHit
                || (end.Sequence > corpus.AppliedSequence && !inLast.Any(h => h >= end.Offset && h < end.Offset + end.Length)))
            {
                lowest = c;
            }
        }

        return lowest;
    }

    /// <summary>
    /// Reads every value, both scopes' key lists, a scan, the whole change log and each key's, then closes the store:
    /// each read that works narrows the commits (from <paramref name="lowest"/> on) it agrees with, a typed error leaves
    /// them, any other exception or a read that agrees with no commit is a problem. <paramref name="logAt"/> says whether
    /// a change-log read (with its filter) is the log as of a commit.
    /// </summary>
    internal static async Task<(HashSet<int> Candidates, List<string> NarrowedBy, bool AnyTyped)> ReadAtCommitsAsync(
        LiteDbStateStore store,
        WriteBehindCorpus corpus,
        int lowest,
        Func<int, IReadOnlyList<StateChangeRecord>, Func<StateChangeRecord, bool>, bool> logAt,
        List<string> problems,
        Dictionary<string, int> outcomes)
    {
        var candidates = new HashSet<int>(Enumerable.Range(lowest, corpus.LastCommit - lowest + 1));
        var narrowedBy = new List<string>();
        bool anyTyped = false;
        async Task Read<T>(string what, Func<Task<T>> read, Func<int, T, bool> agrees)
        {
            try
            {
                T value = await read();
                int[] agreeing = Enumerable.Range(0, corpus.Commits.Length).Where(c => agrees(c, value)).ToArray();
                if (agreeing.Length == 0)
                {
                    problems.Add($"{what} read back data of no commit");
                }

                candidates.IntersectWith(agreeing);
                narrowedBy.Add($"{what}: {string.Join(",", agreeing)}");
                Count(outcomes, "intact");
            }
            catch (StateStoreCorruptedException)
            {
                anyTyped = true;
                Count(outcomes, "typed error");
            }
            catch (Exception ex)
            {
                problems.Add($"{what} threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        try
        {
            foreach (var (scope, key) in corpus.Keys)
            {
                await Read($"get {scope}/{key}", async () => await store.GetAsync(scope, key), (c, e) => Same(corpus.Commits[c].Values.GetValueOrDefault((scope, key)), e));
            }

            foreach (string scope in Scopes)
            {
                await Read($"list {scope}", async () => await store.ListKeysAsync(scope), (c, list) => list.Order(StringComparer.Ordinal)
                    .SequenceEqual(corpus.Commits[c].Values.Keys.Where(k => k.Scope == scope).Select(k => k.Key).Order(StringComparer.Ordinal)));
            }

            await Read("scan", async () => await store.ScanAsync(null, 1000), (c, list) => list.Count == corpus.Commits[c].Values.Count
                && list.Select(e => (e.Scope, e.Key)).Distinct().Count() == list.Count
                && list.All(e => Same(corpus.Commits[c].Values.GetValueOrDefault((e.Scope, e.Key)), e)));
            await Read("changes", async () => await store.ReadChangesAsync(new StateChangeQuery()), (c, list) => logAt(c, list, _ => true));
            foreach (var (scope, key) in corpus.Keys)
            {
                await Read($"changes of {scope}/{key}", async () => await store.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key }),
                    (c, list) => logAt(c, list, r => r.Scope == scope && r.Key == key));
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
                // A damaged file may fail its closing apply or checkpoint; that is typed too.
            }
            catch (Exception ex)
            {
                problems.Add($"dispose threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        return (candidates, narrowedBy, anyTyped);
    }

    /// <summary>
    /// Opens the damaged files writing behind and reads every value, both scopes' keys, a full scan, the whole change log
    /// and each key's. Returns null when the open is the typed error, or it succeeds and each read is the typed error or
    /// agrees with one commit boundary that every other read agrees with too, no earlier than <see cref="LowestCommit"/>;
    /// a history gap only with a flip in the last segment, no intact commit-end record after the first one.
    /// </summary>
    private static async Task<string?> ReadEverythingAsync(Dictionary<string, byte[]> images, WriteBehindCorpus corpus, LiteDbSegmentedByteFlipTests.Hit[] hits, Dictionary<string, int> outcomes)
    {
        var disk = new SimulatedDisk(images);
        bool hitSealed = hits.Any(h => corpus.Segments.Take(corpus.Segments.Length - 1).Contains(h.File));
        bool hitLast = hits.Any(h => h.File == corpus.LastSegment);
        bool hitAfterS = hits.Any(h => corpus.Records.Any(r => corpus.Segments[r.Segment] == h.File && r.Sequence > corpus.AppliedSequence && h.Offset >= r.Offset && h.Offset < r.Offset + r.Length));
        int lowest = LowestCommit(corpus, hits);
        if (hitAfterS)
        {
            Count(outcomes, "seed: segment records after meta.S flipped");
        }

        LiteDbStateStore store;
        try
        {
            store = new LiteDbStateStore(Options(Path, disk));
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "typed error");
            Count(outcomes, "seed: typed error at open");
            if (hitSealed)
            {
                Count(outcomes, "seed: sealed segment flipped, typed error at open");
            }

            return null;
        }
        catch (Exception ex)
        {
            return $"open threw {ex.GetType().Name}: {ex.Message}";
        }

        var problems = new List<string>();
        StateHistoryGap? gap = null;
        if (store.HistoryGaps.Count > 0)
        {
            Count(outcomes, "seed: history gap");
            gap = store.HistoryGaps[0];
            long firstHit = hits.Where(h => h.File == corpus.LastSegment).Select(h => h.Offset).DefaultIfEmpty(long.MaxValue).Min();
            int lastIndex = corpus.Segments.Length - 1;
            bool flaggedAfter = corpus.Records.Any(r => r.Segment == lastIndex && r.Offset > firstHit && r.Sequence > corpus.AppliedSequence
                && corpus.Commits.Any(c => c.EndSequence == r.Sequence) && !hits.Any(h => h.File == corpus.LastSegment && h.Offset >= r.Offset && h.Offset < r.Offset + r.Length));
            if (!hitLast || store.HistoryGaps.Count != 1 || flaggedAfter)
            {
                problems.Add($"history gaps {string.Join(", ", store.HistoryGaps.Select(g => $"{g.FromSequence}..{g.ToSequence}"))} with {(hitLast ? "an intact commit-end record after the first flip in the last segment" : "no flip in the last segment")}");
            }
        }

        (HashSet<int> candidates, List<string> narrowedBy, bool anyTyped) = await ReadAtCommitsAsync(store, corpus, lowest, (c, list, filter) => LogAsOf(corpus, c, list, filter, gap), problems, outcomes);

        if (problems.Count == 0 && candidates.Count == 0)
        {
            problems.Add($"the reads agree with no single commit from {lowest} to {corpus.LastCommit} (the lowest this seed allows): {string.Join("; ", narrowedBy)}");
        }

        if (problems.Count > 0)
        {
            return string.Join("; ", problems);
        }

        if (hitSealed)
        {
            Count(outcomes, "seed: sealed segment flipped, opened");
        }

        if (anyTyped)
        {
            Count(outcomes, "seed: opened, some reads typed errors");
        }
        else if (candidates.Contains(corpus.LastCommit))
        {
            Count(outcomes, "seed: every read at the last commit");
        }
        else
        {
            Count(outcomes, "seed: every read at an earlier commit (trailing commit cut)");
        }

        return null;
    }

    /// <summary>Salvage of the damaged files: only the typed error escapes, and every value it returns is its key's value at some commit boundary.</summary>
    internal static string? Salvage(SimulatedDisk disk, WriteBehindCorpus corpus, Dictionary<string, int> outcomes, string path = Path)
    {
        try
        {
            LiteDbSalvageResult result = LiteDbStateStore.Salvage(path, disk.Open);
            Count(outcomes, "salvaged");
            outcomes["salvaged values (all checked)"] = outcomes.GetValueOrDefault("salvaged values (all checked)") + result.Entries.Count + result.Recovered.Count;
            StoredEntry? wrong = result.Entries.Concat(result.Recovered)
                .FirstOrDefault(e => !corpus.Commits.Any(c => c.Values.TryGetValue((e.Scope, e.Key), out Value? v) && Same(v, e)));
            return wrong is null ? null : $"salvage returned {wrong.Scope}/{wrong.Key} v{wrong.Version}, the value of no commit";
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

    internal static LiteDbStateStoreOptions Options(string path, SimulatedDisk disk) => new()
    {
        Path = path,
        OpenFile = disk.Open,
        ChangeLogLayout = LiteDbChangeLogLayout.SegmentFiles,
        SegmentLogOptions = new() { RollBytes = RollBytes },
        WriteBehind = true,
    };

    /// <summary>Every record of intact segments (a sealed one's up to its seal), with the sequences the headers give.</summary>
    private static RecordAt[] Records(IReadOnlyDictionary<string, byte[]> images, string[] segments)
    {
        var records = new List<RecordAt>();
        for (int i = 0; i < segments.Length; i++)
        {
            byte[] segment = images[segments[i]];
            Assert.Null(SegmentFormat.ReadHeader(segment.AsSpan(0, SegmentFormat.HeaderSize), out _, out long sequence, out _));
            long offset = SegmentFormat.HeaderSize;
            while (offset + SegmentFormat.RecordPrefixSize <= segment.Length && BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan((int)offset)) == SegmentFormat.RecordMagic)
            {
                long length = BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan((int)offset + 4));
                records.Add(new RecordAt(i, offset, length, sequence++));
                offset += length;
            }

            Assert.True(offset == segment.Length || (i < segments.Length - 1 && offset + SegmentFormat.SealSize == segment.Length), $"segment {i} ends at {offset} of {segment.Length}");
        }

        return [.. records];
    }

    /// <summary>
    /// Writes behind, in two scopes: seven commits (single writes, a batch of three, a delete), then a list that applies them
    /// to LiteDB (<c>meta.S</c>), then eight more commits (single writes, a delete, batches of two and four with a delete)
    /// that stay in the overlay. The files are taken while the store is open (a killed process: every byte written,
    /// flushed or not), and the state after every commit is recorded (checked against the store's point reads, which leave
    /// the overlay alone).
    /// </summary>
    internal static async Task<WriteBehindCorpus> BuildCorpusAsync()
    {
        var disk = new SimulatedDisk();
        // Built under a name of its own (a store registers its path as open in this process), then renamed to Path.
        string buildPath = $"/corpus/{Guid.NewGuid():N}.db";
        var store = new LiteDbStateStore(Options(buildPath, disk));
        var rng = new Random(7);
        var state = new Dictionary<(string Scope, string Key), Value>();
        var commits = new List<CommitState> { new(0, new Dictionary<(string, string), Value>()) };
        int ops = 0;

        StateWrite W(int scope, string key)
        {
            byte[] payload = [(byte)'"', .. Enumerable.Range(0, rng.Next(300, 1200)).Select(_ => (byte)rng.Next('a', 'z' + 1)), (byte)'"'];
            return new StateWrite(Scopes[scope], key, "Agent.Note", 1, payload) { CorrelationId = $"corr-{ops++}", Origin = "save" };
        }

        StateDelete D(int scope, string key) => new(Scopes[scope], key);

        async Task CommitAsync(params StateOperation[] operations)
        {
            long applied = store.AppliedSequence;
            IReadOnlyList<StateOperationResult> results = await store.CommitAsync(operations);
            for (int i = 0; i < operations.Length; i++)
            {
                Assert.Equal(commits[^1].EndSequence + i + 1, results[i].ChangeSequence);
                if (operations[i] is StateWrite write)
                {
                    state[(write.Scope, write.Key)] = new Value(results[i].Stored!.Version, write.TypeName, write.Payload.ToArray());
                }
                else
                {
                    Assert.True(state.Remove((operations[i].Scope, operations[i].Key)));
                }
            }

            commits.Add(new CommitState(commits[^1].EndSequence + operations.Length, new Dictionary<(string, string), Value>(state)));
            Assert.Equal(applied, store.AppliedSequence); // written behind: LiteDB untouched
            foreach (var (scope, key) in commits.SelectMany(c => c.Values.Keys).Distinct())
            {
                Assert.True(Same(state.GetValueOrDefault((scope, key)), await store.GetAsync(scope, key)), $"{scope}/{key} after commit {commits.Count - 1}");
            }
        }

        // Before meta.S.
        await CommitAsync(W(0, "k0"));
        await CommitAsync(W(1, "k1"));
        await CommitAsync(W(0, "k2"));
        await CommitAsync(W(1, "k3"));
        await CommitAsync(W(0, "k4"), W(1, "k1"), W(0, "k0"));
        await CommitAsync(D(0, "k2"));
        await CommitAsync(W(1, "k5"));
        Assert.True(store.PendingValueCount > 0);
        Assert.Equal(state.Keys.Where(k => k.Scope == Scopes[0]).Select(k => k.Key).Order(StringComparer.Ordinal), await store.ListKeysAsync(Scopes[0]));
        int appliedCommit = commits.Count - 1;
        Assert.Equal(commits[^1].EndSequence, store.AppliedSequence);
        Assert.Equal(0, store.PendingValueCount);

        // After meta.S: in the overlay and the log only.
        await CommitAsync(W(0, "k2"));
        await CommitAsync(W(1, "k3"));
        await CommitAsync(D(1, "k1"));
        await CommitAsync(W(0, "k6"), W(1, "k5"), D(0, "k4"), W(0, "k0"));
        await CommitAsync(W(1, "k7"));
        await CommitAsync(W(0, "k6"));
        await CommitAsync(W(1, "k3"), W(0, "k2"));
        await CommitAsync(W(0, "k4"));
        Assert.True(store.PendingValueCount > 0);
        StateChangeRecord[] log = [.. await store.ReadChangesAsync(new StateChangeQuery())];
        Assert.Equal(commits[^1].EndSequence, log.Length);
        Assert.Equal(commits[appliedCommit].EndSequence, store.AppliedSequence);
        Assert.Empty(store.HistoryGaps);

        // A killed process: never closed.
        Dictionary<string, byte[]> images = SimulatedDisk.Rename(disk.Contents(), buildPath, Path);
        store.Dispose();

        string folder = SegmentLog.FolderFor(Path) + System.IO.Path.DirectorySeparatorChar;
        string[] segments = images.Keys.Where(p => p.StartsWith(folder, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        Assert.True(images.Keys.All(p => p == Path || p == LiteDbStateStore.LogPath(Path) || segments.Contains(p)), string.Join(", ", images.Keys));
        Assert.True(images.GetValueOrDefault(LiteDbStateStore.LogPath(Path))?.Length > 0, "the corpus has LiteDB's log");
        RecordAt[] records = Records(images, segments);
        Assert.Equal(log.Select(r => r.Sequence), records.Select(r => r.Sequence));
        var corpus = new WriteBehindCorpus(images, log, [.. commits], appliedCommit, segments, records);

        // Records at or before meta.S and several commits after it, these across at least two segments.
        Assert.Contains(records, r => r.Sequence <= corpus.AppliedSequence);
        Assert.True(records.Where(r => r.Sequence > corpus.AppliedSequence).Select(r => r.Segment).Distinct().Count() >= 2, $"{segments.Length} segments");
        return corpus;
    }
}
