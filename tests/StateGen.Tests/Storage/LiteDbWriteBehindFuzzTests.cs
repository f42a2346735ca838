using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using CsCheck;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;
using CommitState = StateGen.Tests.Storage.LiteDbWriteBehindByteFlipTests.CommitState;
using Draw = StateGen.Tests.Storage.LiteDbSegmentedFuzzTests.Draw;
using Hit = StateGen.Tests.Storage.LiteDbSegmentedByteFlipTests.Hit;
using WriteBehindCorpus = StateGen.Tests.Storage.LiteDbWriteBehindByteFlipTests.WriteBehindCorpus;

namespace StateGen.Tests.Storage;

/// <summary>
/// The segmented fuzz's whole-file mutations (<see cref="LiteDbSegmentedFuzzTests.Apply(IReadOnlyDictionary{string, byte[]}, string[], Func{string, long[]}, Func{string, string}, Draw)"/>:
/// runs, page copies, truncation and flips in the data file and LiteDB's log; truncation, runs, flips, copied runs and
/// whole copies, deletion, swaps and appended garbage in the change-log segments) applied to the files a killed process
/// leaves of a store writing behind (<see cref="LiteDbWriteBehindByteFlipTests.BuildCorpusAsync"/>: commits after
/// <c>meta.S</c> only in the segments and the overlay, across segments). One mutation per draw;
/// <c>STATEGEN_FUZZ_ITERATIONS</c> sets the size (half of it: 1,000 draws by default), <c>STATEGEN_FUZZ_SEED</c> the seed.
/// </summary>
/// <remarks>
/// Every open and read is the typed <see cref="StateStoreCorruptedException"/> (no other exception, no hang), or the
/// store opens and every read agrees with one commit boundary C, never a mix of commits, no value or change record that
/// no commit produced. The lowest C allowed is decided from the bytes:
/// <list type="bullet">
/// <item>Only the last segment's bytes after its header differ (truncated, overwritten, appended to): the byte-flip twin's
/// rule (<see cref="LiteDbWriteBehindByteFlipTests.LowestCommit"/>, every byte that differs or is gone a hit): no earlier
/// than the last commit whose records all end before the first damaged byte, nor than any commit after <c>meta.S</c>
/// whose commit-end record there is intact; a history gap only without an intact commit-end record after the first
/// damaged byte.</item>
/// <item>Damage to LiteDB's files (the data file, its log): LiteDB may refuse, or come up at an older state with an older
/// <c>meta.S</c> (as after a power cut); the whole commits past it are then loaded from the intact segments, so the
/// reads must be at the last commit (since session 13; with the check for a file that lost its marker beside a folder
/// of records removed, seed <c>6CgnCWVLVgY2</c> fails it); no history gap.</item>
/// <item>A sealed segment damaged, or any segment deleted, swapped or replaced, or the last segment's header damaged:
/// the typed error or any single commit boundary (a history gap and a change log that starts later allowed).</item>
/// </list>
/// A tenth of the draws also salvage the damaged files: only the typed error escapes, every value is some commit's.
/// </remarks>
public sealed class LiteDbWriteBehindFuzzTests
{
    private readonly ITestOutputHelper _output;

    public LiteDbWriteBehindFuzzTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public Task Mutated_files_of_a_store_written_behind_give_the_typed_error_or_the_state_of_one_commit()
        => MutatedFilesAsync(ReliabilityRuns.FuzzSeed(5), Math.Max(50, ReliabilityRuns.FuzzIterations / 2));

    /// <summary>What damage a draw did, from the bytes: the class of rule that applies and the lowest commit allowed.</summary>
    private sealed record Rules(string Class, int Lowest, bool GapAllowed, bool LogMayStartLater, Hit[] Hits);

    private async Task MutatedFilesAsync(string? seed, long iterations)
    {
        // A path of its own (a store registers its path as open in this process), not the byte-flip twin's.
        string path = $"/wbfuzz/{Guid.NewGuid():N}.db";
        WriteBehindCorpus corpus = Renamed(await LiteDbWriteBehindByteFlipTests.BuildCorpusAsync(), path);
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var byMutation = new Dictionary<string, int>(StringComparer.Ordinal);

        // The undamaged corpus opens at its last commit, every read intact (no typed error).
        var undamaged = new Dictionary<string, int>(StringComparer.Ordinal);
        string? baseline = await OpenAndReadAsync(path, corpus, Copy(corpus.Images), new Rules("intact", corpus.LastCommit, false, false, []), undamaged);
        Assert.True(baseline is null && undamaged.GetValueOrDefault("draw: every read at the last commit") == 1 && !undamaged.ContainsKey("typed error"),
            $"{baseline} {string.Join(", ", undamaged)}");

        var clock = Stopwatch.StartNew();
        Gen<Draw> draws = Gen.Select(Gen.Int[0, 99], Gen.Int[0, 99], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue])
            .SelectMany(t => Gen.Select(Gen.Int, Gen.Int[0, 9], (seedBytes, salvage) => new Draw(1, t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, seedBytes, salvage)));
        await FuzzGuard.SampleAsync(
            draws,
            async draw =>
            {
                LiteDbSegmentedFuzzTests.Damage damage = Apply(corpus, draw);
                Rules rules = RulesFor(corpus, damage.Images);
                Count(outcomes, $"damage: {rules.Class}");
                string? salvaged = draw.Salvage == 0
                    ? LiteDbWriteBehindByteFlipTests.Salvage(new SimulatedDisk(Copy(damage.Images)), corpus, outcomes, path)
                    : null;
                var local = new Dictionary<string, int>(StringComparer.Ordinal);
                string? failure;
                try
                {
                    // The hang guard of the byte-flip tests: an open or read that never ends fails the draw.
                    failure = await Task.Run(() => OpenAndReadAsync(path, corpus, damage.Images, rules, local)).WaitAsync(LiteDbFaultTests.Hang);
                }
                catch (TimeoutException)
                {
                    failure = "an open or read of the damaged files hung";
                }

                foreach (var (outcome, count) in local)
                {
                    outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + count;
                }

                string result = local.Keys.FirstOrDefault(k => k.StartsWith("draw: ", StringComparison.Ordinal)) ?? "failed";
                Count(byMutation, $"{Regex.Replace(damage.What, "[0-9]+", "#")} -> {result}");
                failure ??= salvaged;
                Assert.True(failure is null, $"{damage.What} ({rules.Class}, lowest commit {rules.Lowest}): {failure}");
            },
            iterations,
            seed,
            print: draw => $"{draw} ({Apply(corpus, draw).What})");

        _output.WriteLine($"{iterations} mutated corpora in {clock.Elapsed.TotalSeconds:F1} s ({corpus.LastCommit} commits, meta.S at commit {corpus.AppliedCommit}): "
                          + string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}")));
        foreach (var (mutation, count) in byMutation.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            _output.WriteLine($"  {mutation}: {count}");
        }

        if (iterations >= 200)
        {
            // Not vacuous: refused opens, intact reads, reads at the last commit and at an earlier one (a damaged trailing
            // commit cut), damage of every class, salvage.
            foreach (string outcome in new[]
                     {
                         "typed error", "intact", "draw: open refused", "draw: every read at the last commit", "draw: every read at an earlier commit",
                         "damage: last segment only", "damage: LiteDB's files", "damage: segments deleted, swapped, replaced or sealed one damaged", "salvaged",
                     })
            {
                Assert.True(outcomes.GetValueOrDefault(outcome) > 0, $"no '{outcome}': {string.Join(", ", outcomes)}");
            }
        }
    }

    private static void Count(Dictionary<string, int> outcomes, string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    private static Dictionary<string, byte[]> Copy(IReadOnlyDictionary<string, byte[]> images)
        => images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal);

    /// <summary>The corpus with its files at <paramref name="path"/>.</summary>
    private static WriteBehindCorpus Renamed(WriteBehindCorpus corpus, string path)
    {
        const string From = LiteDbWriteBehindByteFlipTests.Path;
        string Map(string file) => SimulatedDisk.Rename(new Dictionary<string, byte[]> { [file] = [] }, From, path).Keys.Single();
        return corpus with { Images = SimulatedDisk.Rename(corpus.Images, From, path), Segments = [.. corpus.Segments.Select(Map)] };
    }

    private static LiteDbSegmentedFuzzTests.Damage Apply(WriteBehindCorpus corpus, Draw draw)
        => LiteDbSegmentedFuzzTests.Apply(
            corpus.Images,
            corpus.Segments,
            file => [.. corpus.Records.Where(r => corpus.Segments[r.Segment] == file).Select(r => r.Offset + r.Length)],
            file => corpus.Segments.Contains(file)
                ? System.IO.Path.GetFileName(file) + (file == corpus.LastSegment ? " (last)" : " (sealed)")
                : file.EndsWith("-log.db", StringComparison.Ordinal) ? "log" : "data",
            draw);

    /// <summary>The rules a draw's damage falls under, from the bytes (see the class remarks).</summary>
    private static Rules RulesFor(WriteBehindCorpus corpus, Dictionary<string, byte[]> damaged)
    {
        bool Same(string file) => damaged.TryGetValue(file, out byte[]? now) && now.AsSpan().SequenceEqual(corpus.Images[file]);
        bool liteDb = corpus.Images.Keys.Where(f => !corpus.Segments.Contains(f)).Any(f => !Same(f));
        bool segmentsIntact = corpus.Segments.All(Same);
        if (liteDb)
        {
            // (A draw mutates one file: the segments are intact.)
            return new Rules("LiteDB's files", corpus.LastCommit, GapAllowed: false, LogMayStartLater: false, []);
        }

        byte[] intactLast = corpus.Images[corpus.LastSegment];
        byte[]? last = damaged.GetValueOrDefault(corpus.LastSegment);
        bool onlyLast = corpus.Segments.Take(corpus.Segments.Length - 1).All(Same) && damaged.Count == corpus.Images.Count;
        if (segmentsIntact)
        {
            return new Rules("none", corpus.LastCommit, false, false, []);
        }

        if (!onlyLast || last is null || last.Length < SegmentFormat.HeaderSize
            || !last.AsSpan(0, SegmentFormat.HeaderSize).SequenceEqual(intactLast.AsSpan(0, SegmentFormat.HeaderSize)))
        {
            return new Rules("segments deleted, swapped, replaced or sealed one damaged", 0, GapAllowed: true, LogMayStartLater: true, []);
        }

        // Every byte of the intact last segment that differs or is gone is a hit (bytes appended after it are none).
        var hits = new List<Hit>();
        for (int i = SegmentFormat.HeaderSize; i < intactLast.Length; i++)
        {
            if (i >= last.Length || last[i] != intactLast[i])
            {
                hits.Add(new Hit(corpus.LastSegment, i));
            }
        }

        Hit[] all = [.. hits];
        return new Rules("last segment only", LiteDbWriteBehindByteFlipTests.LowestCommit(corpus, all), GapAllowed: true, LogMayStartLater: false, all);
    }

    /// <summary>
    /// The intact change log as of <paramref name="commit"/>, filtered, without the records in <paramref name="gaps"/>;
    /// with <paramref name="mayStartLater"/>, any suffix of it (the oldest segments gone).
    /// </summary>
    private static bool LogAsOf(WriteBehindCorpus corpus, int commit, IReadOnlyList<StateChangeRecord> found, Func<StateChangeRecord, bool> filter, IReadOnlyList<StateHistoryGap> gaps, bool mayStartLater)
    {
        long upTo = corpus.Commits[commit].EndSequence;
        StateChangeRecord[] expected = corpus.Log
            .Where(r => filter(r) && r.Sequence <= upTo && !gaps.Any(g => r.Sequence >= g.FromSequence && r.Sequence <= g.ToSequence))
            .ToArray();
        if (mayStartLater && found.Count > 0)
        {
            expected = [.. expected.SkipWhile(r => r.Sequence < found[0].Sequence)];
        }

        return found.Count == expected.Length && found.Zip(expected).All(p => LiteDbSegmentedByteFlipTests.SameRecord(p.First, p.Second));
    }

    /// <summary>
    /// Opens the damaged files writing behind and reads every value, both scopes' keys, a full scan, the whole change log
    /// and each key's (as the byte-flip twin does). Null when the outcome is one <paramref name="rules"/> allow.
    /// </summary>
    private static async Task<string?> OpenAndReadAsync(string path, WriteBehindCorpus corpus, Dictionary<string, byte[]> images, Rules rules, Dictionary<string, int> outcomes)
    {
        var disk = new SimulatedDisk(Copy(images));
        LiteDbStateStore store;
        try
        {
            store = new LiteDbStateStore(LiteDbWriteBehindByteFlipTests.Options(path, disk));
        }
        catch (StateStoreCorruptedException)
        {
            Count(outcomes, "typed error");
            Count(outcomes, "draw: open refused");
            Count(outcomes, $"{rules.Class}: open refused");
            return null;
        }
        catch (Exception ex)
        {
            return $"open threw {ex.GetType().Name}: {ex.Message}{Environment.NewLine}{ex}";
        }

        var problems = new List<string>();
        IReadOnlyList<StateHistoryGap> gaps = store.HistoryGaps;
        if (gaps.Count > 0)
        {
            Count(outcomes, "history gap");
            bool flaggedAfter = rules.Hits.Length > 0 && corpus.Records.Any(r => r.Segment == corpus.Segments.Length - 1 && r.Offset > rules.Hits[0].Offset
                && r.Sequence > corpus.AppliedSequence && corpus.Commits.Any(c => c.EndSequence == r.Sequence)
                && !rules.Hits.Any(h => h.Offset >= r.Offset && h.Offset < r.Offset + r.Length));
            if (!rules.GapAllowed || (rules.Hits.Length > 0 && (gaps.Count != 1 || flaggedAfter)))
            {
                problems.Add($"history gaps {string.Join(", ", gaps.Select(g => $"{g.FromSequence}..{g.ToSequence}"))} after damage of class '{rules.Class}'{(flaggedAfter ? " with an intact commit-end record after the first damaged byte of the last segment" : "")}");
            }
        }

        (HashSet<int> candidates, List<string> narrowedBy, bool anyTyped) = await LiteDbWriteBehindByteFlipTests.ReadAtCommitsAsync(
            store, corpus, rules.Lowest, (c, list, filter) => LogAsOf(corpus, c, list, filter, gaps, rules.LogMayStartLater), problems, outcomes);

        if (problems.Count == 0 && candidates.Count == 0)
        {
            problems.Add($"the reads agree with no single commit from {rules.Lowest} to {corpus.LastCommit} (the lowest this damage allows): {string.Join("; ", narrowedBy)}");
        }

        if (problems.Count > 0)
        {
            return string.Join("; ", problems);
        }

        string outcome = anyTyped ? "draw: opened, some reads typed errors"
            : candidates.Contains(corpus.LastCommit) ? "draw: every read at the last commit"
            : "draw: every read at an earlier commit";
        Count(outcomes, outcome);
        Count(outcomes, $"{rules.Class}: {outcome[6..]}");
        return null;
    }
}
