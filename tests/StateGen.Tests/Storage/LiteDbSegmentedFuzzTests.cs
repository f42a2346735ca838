using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using CsCheck;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;
using SegmentedCorpus = StateGen.Tests.Storage.LiteDbSegmentedByteFlipTests.SegmentedCorpus;

namespace StateGen.Tests.Storage;

/// <summary>
/// CsCheck mutation of whole files of the default layout (issue #6, suite item 6, as <see cref="LiteDbFuzzTests"/> does
/// for the collection layout): the data file, LiteDB's log and every change-log segment of the segmented byte-flip test's
/// corpus (<see cref="LiteDbSegmentedByteFlipTests.BuildCorporaAsync"/>: five segments, four sealed). One mutation per
/// draw: in the data file or the log, runs of random or zero bytes, a page copied over another, truncation to whole
/// pages, flips; in the segments, truncation, zeroed and random runs, flips, a run of one segment's bytes copied over
/// another's, a whole segment copied over another, a segment deleted, two segments swapped, garbage appended to the last
/// one; the oldest segments deleted together. <c>STATEGEN_FUZZ_ITERATIONS</c> sets the size (half of it: 1,000 draws by
/// default, each a full open and read).
/// </summary>
/// <remarks>
/// What is allowed is decided from the bytes, not from the kind of mutation: a segment file is damaged where its bytes
/// differ from the intact file's (or it is gone). Damage to a sealed segment must fail the open with
/// <see cref="StateStoreCorruptedException"/>. A history gap is allowed only with every sealed segment intact and the
/// last segment's header intact: exactly one gap, from the first record of the last segment whose bytes are not intact
/// to the newest committed sequence, its bytes from that record on kept in <c>&lt;segment&gt;.lost-&lt;sequence&gt;</c> (no
/// file when nothing is left from it), and a second open reports the same gap and reads the same log. Every read is
/// the intact answer or the typed error (<see cref="LiteDbSegmentedByteFlipTests.ReadAllAsync"/>: values, lists, scan,
/// hooks, the change log record by record against the intact log). Whatever the open's outcome, no intact record that
/// was in the files before it is gone from the disk after it, unless it was moved to a <c>.lost-</c> file; only when
/// LiteDB's log was damaged (it can lose its newest commits, as a power cut would) may the open cut a tail of the log,
/// and only then may the change log end before the newest record.
/// </remarks>
public sealed class LiteDbSegmentedFuzzTests
{
    private readonly ITestOutputHelper _output;

    public LiteDbSegmentedFuzzTests(ITestOutputHelper output) => _output = output;

    /// <summary>What one draw does; the numbers are reduced to the corpus's files and sizes by <see cref="Apply"/>.</summary>
    /// <param name="Corpus">The closed corpus (0) or the open one, with LiteDB's log (1).</param>
    /// <param name="Target">Which file kind: 0–14 the data file, 15–24 LiteDB's log (the data file when the log is empty), else a segment.</param>
    /// <param name="Kind">Which mutation of that file kind.</param>
    /// <param name="A">A file, offset or length, reduced modulo what it picks from.</param>
    /// <param name="B">Another.</param>
    /// <param name="C">Another.</param>
    /// <param name="Seed">Random bytes' seed.</param>
    /// <param name="Salvage">0: also salvage the damaged files (a tenth of the draws).</param>
    public sealed record Draw(int Corpus, int Target, int Kind, int A, int B, int C, int Seed, int Salvage);

    /// <summary>A draw applied: the damaged files, what was done, whether it touched LiteDB's files (not the segments), and its log.</summary>
    internal sealed record Damage(Dictionary<string, byte[]> Images, string What, bool LiteDbFiles, bool LiteDbLog = false, bool PageCopy = false);

    [Fact]
    public Task Mutated_data_file_log_and_segment_files_open_and_read_to_the_intact_answer_a_gap_in_the_last_segment_or_the_typed_error()
        => MutatedFilesAsync(ReliabilityRuns.FuzzSeed(4), Math.Max(50, ReliabilityRuns.FuzzIterations / 2));

    /// <summary>
    /// A defect this fuzz found (helper session 32), fixed in session 11: a page of LiteDB's log copied over a later page
    /// of it (the open corpus) can make LiteDB read a mix of commits, older pages of the current values with the newest
    /// page of the sequence record; a key's newest change record was then a later write than its value (seed
    /// <c>dFsiPfbGTk61</c>: log page 35 copied over page 130, agent/a1/key-6 read v2 while record 25, its write of v3, was
    /// in the log), with no error. Reads now refuse a value older than its key's newest record.
    /// </summary>
    [Theory]
    [InlineData("dFsiPfbGTk61")]
    [InlineData("ekC_dVuTVeu3")]
    public Task A_copied_log_page_leaves_no_value_older_than_its_newest_change_record(string seed)
        => MutatedFilesAsync(seed, 1);

    /// <summary>
    /// A defect this fuzz found (helper session 32), fixed in session 11: damage to the data file that hid the sequence
    /// record (the store then read the committed sequence as 0) made the change log's recovery cut every record as
    /// uncommitted before the open's next check refused the file, so the intact history was gone (seed
    /// <c>9qSCvBIfk5p4</c>: the closed corpus, 93 random bytes at offset 58,060 of the data file). That check now comes
    /// before the recovery: the open is refused with every record still on the disk.
    /// </summary>
    [Theory]
    [InlineData("9qSCvBIfk5p4")]
    public Task A_refused_open_after_damage_to_the_data_file_keeps_the_change_log(string seed)
        => MutatedFilesAsync(seed, 1);

    private async Task MutatedFilesAsync(string? seed, long iterations)
    {
        // Each test opens its damaged copies at a path of its own (a store registers its path as open in this process).
        string path = $"/segfuzz/{Guid.NewGuid():N}.db";
        SegmentedCorpus[] corpora = [.. (await LiteDbSegmentedByteFlipTests.BuildCorporaAsync()).Select(c => Renamed(c, path))];
        Dictionary<string, SegmentRecord[]>[] layouts = [.. corpora.Select(Layout)];
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var byMutation = new Dictionary<string, int>(StringComparer.Ordinal); // what each kind of mutation led to, for the log
        var clock = Stopwatch.StartNew();
        Gen<Draw> draws = Gen.Select(Gen.Int[0, 1], Gen.Int[0, 99], Gen.Int[0, 99], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue])
            .SelectMany(t => Gen.Select(Gen.Int, Gen.Int[0, 9], (seedBytes, salvage) => new Draw(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, seedBytes, salvage)));
        await FuzzGuard.SampleAsync(
            draws,
            async draw =>
            {
                SegmentedCorpus corpus = corpora[draw.Corpus];
                Damage damage = Apply(corpus, draw);
                string? salvaged = draw.Salvage == 0
                    ? LiteDbByteFlipTests.Salvage(new SimulatedDisk(Copy(damage.Images)), corpus.Values, outcomes, path)
                    : null;
                string? failure;
                (int refused, int gaps) = (outcomes.GetValueOrDefault("draw: open refused") + outcomes.GetValueOrDefault("draw: sealed segment damaged, refused"), outcomes.GetValueOrDefault("draw: history gap"));
                try
                {
                    // The hang guard of the byte-flip tests: an open or read that never ends fails the draw.
                    failure = await Task.Run(() => OpenAndReadAsync(path, corpus, layouts[draw.Corpus], damage, outcomes)).WaitAsync(LiteDbFaultTests.Hang);
                }
                catch (TimeoutException)
                {
                    failure = "an open or read of the damaged files hung";
                }

                failure ??= salvaged;
                string result = outcomes.GetValueOrDefault("draw: open refused") + outcomes.GetValueOrDefault("draw: sealed segment damaged, refused") > refused ? "refused"
                    : outcomes.GetValueOrDefault("draw: history gap") > gaps ? "gap" : "opened";
                Count(byMutation, $"{System.Text.RegularExpressions.Regex.Replace(damage.What, "[0-9]+", "#")} -> {result}");
                Assert.True(failure is null, $"{corpus.Values.Name}, {damage.What}: {failure}");
            },
            iterations,
            seed,
            print: draw => $"{draw} ({Apply(corpora[draw.Corpus], draw).What})");

        _output.WriteLine($"{iterations} mutated files in {clock.Elapsed.TotalSeconds:F1} s: {string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}"))}");
        foreach (var (mutation, count) in byMutation.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            _output.WriteLine($"  {mutation}: {count}");
        }

        if (iterations >= 200)
        {
            // The draws reached every outcome: refused opens (a damaged sealed segment among them), intact reads, gaps.
            foreach (string outcome in new[] { "typed error", "intact", "draw: sealed segment damaged, refused", "draw: history gap, as damaged" })
            {
                Assert.True(outcomes.GetValueOrDefault(outcome) > 0, $"no '{outcome}': {string.Join(", ", outcomes)}");
            }
        }
    }

    private static void Count(Dictionary<string, int> outcomes, string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    private static Dictionary<string, byte[]> Copy(IReadOnlyDictionary<string, byte[]> images)
        => images.ToDictionary(i => i.Key, i => (byte[])i.Value.Clone(), StringComparer.Ordinal);

    /// <summary>The corpus with its files at <paramref name="path"/>.</summary>
    private static SegmentedCorpus Renamed(SegmentedCorpus corpus, string path)
    {
        string from = corpus.Values.Images.Keys.Single(k => k.EndsWith(".db", StringComparison.Ordinal) && !k.EndsWith("-log.db", StringComparison.Ordinal));
        string Map(string file) => SimulatedDisk.Rename(new Dictionary<string, byte[]> { [file] = [] }, from, path).Keys.Single();
        return corpus with
        {
            Values = corpus.Values with { Images = SimulatedDisk.Rename(corpus.Values.Images, from, path) },
            Segments = [.. corpus.Segments.Select(s => (Map(s.Path), s.FirstSequence))],
        };
    }

    /// <summary>One record of an intact segment: where it is and its sequence.</summary>
    private readonly record struct SegmentRecord(long Offset, int Length, long Sequence);

    /// <summary>The records of each intact segment (a sealed one's end before its seal).</summary>
    private static Dictionary<string, SegmentRecord[]> Layout(SegmentedCorpus corpus)
    {
        var layout = new Dictionary<string, SegmentRecord[]>(StringComparer.Ordinal);
        long total = 0;
        for (int i = 0; i < corpus.Segments.Length; i++)
        {
            (string file, long first) = corpus.Segments[i];
            byte[] bytes = corpus.Values.Images[file];
            long end = i < corpus.Segments.Length - 1 ? bytes.Length - SegmentFormat.SealSize : bytes.Length;
            var records = new List<SegmentRecord>();
            long offset = SegmentFormat.HeaderSize;
            for (long sequence = first; offset < end; sequence++)
            {
                Assert.Equal(SegmentFormat.RecordMagic, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)offset)));
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)offset + 4));
                records.Add(new SegmentRecord(offset, length, sequence));
                offset += length;
            }

            Assert.Equal(end, offset);
            Assert.True(i == corpus.Segments.Length - 1 || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)end)) == SegmentFormat.SealMagic, $"{file} is sealed");
            layout[file] = [.. records];
            total += records.Count;
        }

        Assert.Equal(corpus.Log.Length, total);
        Assert.True(layout[corpus.LastSegment].Length >= 2, "the last segment holds records");
        return layout;
    }

    private static string Name(SegmentedCorpus corpus, string file)
        => file == corpus.Values.Images.Keys.First(k => corpus.Segments.All(s => s.Path != k) && !k.EndsWith("-log.db", StringComparison.Ordinal)) ? "data"
            : file.EndsWith("-log.db", StringComparison.Ordinal) ? "log"
            : System.IO.Path.GetFileName(file) + (file == corpus.LastSegment ? " (last)" : " (sealed)");

    /// <summary>Applies <paramref name="draw"/> to a copy of the corpus's files.</summary>
    private static Damage Apply(SegmentedCorpus corpus, Draw draw)
        => Apply(corpus.Values.Images, [.. corpus.Segments.Select(s => s.Path)], file => [.. Layout(corpus)[file].Select(r => r.Offset + r.Length)], file => Name(corpus, file), draw);

    /// <summary>
    /// Applies <paramref name="draw"/> to a copy of <paramref name="intact"/>: a data file, LiteDB's log and the change-log
    /// <paramref name="segments"/> (oldest first); <paramref name="recordEnds"/> gives where each record of a segment ends,
    /// <paramref name="name"/> a file's name in descriptions. Also used by <see cref="LiteDbWriteBehindFuzzTests"/>.
    /// </summary>
    internal static Damage Apply(IReadOnlyDictionary<string, byte[]> intact, string[] segments, Func<string, long[]> recordEnds, Func<string, string> name, Draw draw)
    {
        Dictionary<string, byte[]> images = Copy(intact);
        string data = images.Keys.Single(k => !segments.Contains(k) && !k.EndsWith("-log.db", StringComparison.Ordinal));
        string log = LiteDbStateStore.LogPath(data);
        if (draw.Target < 25)
        {
            string file = draw.Target >= 15 && images.GetValueOrDefault(log) is { Length: > 0 } ? log : data;
            (images[file], string what) = FileMutation(images[file], draw);
            return new Damage(images, $"{name(file)}: {what}", LiteDbFiles: true, LiteDbLog: file == log, PageCopy: draw.Kind % 4 == 1);
        }

        // Half the in-file mutations hit the last segment (the only one where damage can be a gap), half any segment.
        string target = draw.A % 2 == 0 ? segments[^1] : segments[draw.A / 2 % segments.Length];
        string other = segments[(Array.IndexOf(segments, target) + 1 + (draw.B % (segments.Length - 1))) % segments.Length];
        byte[] bytes = images[target];
        var rng = new Random(draw.Seed);
        string description;
        switch (draw.Kind % 10)
        {
            case 0:
            {
                int keep = draw.B % bytes.Length;
                images[target] = bytes[..keep];
                description = $"cut to {keep} of {bytes.Length} bytes";
                break;
            }

            case 1:
            case 2:
            {
                int at = draw.B % bytes.Length;
                int length = Math.Min(1 + (draw.C % 256), bytes.Length - at);
                bool zero = draw.Kind % 10 == 1;
                if (zero)
                {
                    bytes.AsSpan(at, length).Clear();
                }
                else
                {
                    rng.NextBytes(bytes.AsSpan(at, length));
                }

                description = $"{(zero ? "zeroed" : "random")} run of {length} at {at}";
                break;
            }

            case 3:
            {
                var at = new List<int>();
                for (int n = 1 + (draw.C % 4); n > 0; n--)
                {
                    at.Add(rng.Next(bytes.Length));
                    bytes[at[^1]] ^= (byte)rng.Next(1, 256);
                }

                description = $"flipped at {string.Join(", ", at)}";
                break;
            }

            case 4:
            {
                // A run of another segment's bytes over this one's (records, headers and seals look alike in every segment).
                byte[] source = images[other];
                int from = draw.B % source.Length;
                int to = draw.C % bytes.Length;
                int length = Math.Min(Math.Min(1 + rng.Next(4096), source.Length - from), bytes.Length - to);
                source.AsSpan(from, length).CopyTo(bytes.AsSpan(to));
                description = $"{length} bytes of {name(other)} from {from} copied over it at {to}";
                break;
            }

            case 5:
                images[target] = (byte[])images[other].Clone();
                description = $"replaced by a copy of {name(other)}";
                break;

            case 6 when draw.C % 3 == 0:
            {
                // The oldest segments deleted together, as retention deletes them.
                int count = 1 + (draw.B % (segments.Length - 1));
                foreach (string segment in segments.Take(count))
                {
                    images.Remove(segment);
                }

                target = segments[0];
                description = $"deleted with the {count - 1} after it";
                break;
            }

            case 6:
                images.Remove(target);
                description = "deleted";
                break;

            case 7:
                (images[target], images[other]) = (images[other], images[target]);
                description = $"swapped with {name(other)}";
                break;

            case 8:
            {
                // Garbage after the last segment's records: random bytes, zeros, or a copy of one of its own records.
                target = segments[^1];
                bytes = images[target];
                byte[] garbage = (draw.B % 3) switch
                {
                    0 => new byte[1 + (draw.C % 512)],
                    1 => RandomBytes(rng, 1 + (draw.C % 512)),
                    _ => bytes[SegmentFormat.HeaderSize..],
                };
                images[target] = [.. bytes, .. garbage];
                description = $"{garbage.Length} bytes of {((draw.B % 3) switch { 0 => "zeros", 1 => "random bytes", _ => "its own records" })} appended";
                break;
            }

            default:
            {
                // The end of the file cut at a record boundary (a power cut's clean end), or just before its seal.
                long[] ends = [SegmentFormat.HeaderSize, .. recordEnds(target)];
                int keep = (int)ends[draw.B % ends.Length];
                images[target] = bytes[..keep];
                description = $"cut at a record boundary, {keep} of {bytes.Length} bytes";
                break;
            }
        }

        return new Damage(images, $"{name(target)}: {description}", LiteDbFiles: false);
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        byte[] bytes = new byte[length];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Runs of random or zero bytes, a page copied over another, truncation to whole pages, flipped bytes (as <see cref="LiteDbFuzzTests"/>).</summary>
    private static (byte[] Bytes, string What) FileMutation(byte[] source, Draw draw)
    {
        const int Page = 8192;
        int pages = source.Length / Page;
        byte[] copy = (byte[])source.Clone();
        var rng = new Random(draw.Seed);
        switch (draw.Kind % 4)
        {
            case 0:
            {
                int at = draw.A % copy.Length;
                int length = Math.Min(1 + (draw.B % 256), copy.Length - at);
                bool zero = draw.C % 2 == 0;
                if (zero)
                {
                    copy.AsSpan(at, length).Clear();
                }
                else
                {
                    rng.NextBytes(copy.AsSpan(at, length));
                }

                return (copy, $"{(zero ? "zeroed" : "random")} run of {length} at {at}");
            }

            case 1:
            {
                int from = draw.A % pages;
                int to = draw.B % pages;
                source.AsSpan(from * Page, Page).CopyTo(copy.AsSpan(to * Page));
                return (copy, $"page {from} copied over page {to}");
            }

            case 2:
            {
                int keep = 1 + (draw.A % pages);
                return (source[..(keep * Page)], $"cut to {keep} of {pages} pages");
            }

            default:
            {
                var at = new List<int>();
                for (int n = 1 + (draw.C % 4); n > 0; n--)
                {
                    at.Add(rng.Next(copy.Length));
                    copy[at[^1]] ^= (byte)rng.Next(1, 256);
                }

                return (copy, $"flipped at {string.Join(", ", at)}");
            }
        }
    }

    /// <summary>
    /// Opens the damaged files and reads everything back; returns null when the outcome is one the damage allows (see the
    /// class remarks), else what is wrong.
    /// </summary>
    private static async Task<string?> OpenAndReadAsync(string path, SegmentedCorpus corpus, Dictionary<string, SegmentRecord[]> layout, Damage damage, Dictionary<string, int> outcomes)
    {
        IReadOnlyDictionary<string, byte[]> intact = corpus.Values.Images;
        var disk = new SimulatedDisk(Copy(damage.Images));
        string[] sealedSegments = [.. corpus.Segments.Take(corpus.Segments.Length - 1).Select(s => s.Path)];
        bool Same(string file) => damage.Images.TryGetValue(file, out byte[]? now) && now.AsSpan().SequenceEqual(intact[file]);
        bool sealedDamaged = !sealedSegments.All(Same);

        // The oldest segments deleted and nothing else changed: what retention leaves (it deletes whole sealed segments from
        // the oldest end, keeping the kept records one consecutive range, with no record of what it deleted), so the open
        // may take it for that. Retention never deletes a current value's record: the reads check that each value's record
        // is in the log.
        int leadingDeleted = corpus.Segments.TakeWhile(s => !damage.Images.ContainsKey(s.Path)).Count();
        bool asRetention = leadingDeleted > 0 && leadingDeleted < corpus.Segments.Length && corpus.Segments.Skip(leadingDeleted).All(s => Same(s.Path));
        byte[]? last = damage.Images.GetValueOrDefault(corpus.LastSegment);
        bool lastHeaderIntact = last is not null && last.Length >= SegmentFormat.HeaderSize
            && last.AsSpan(0, SegmentFormat.HeaderSize).SequenceEqual(intact[corpus.LastSegment].AsSpan(0, SegmentFormat.HeaderSize));

        // The first record of the last segment whose bytes are not all there as written: where a gap may start.
        SegmentRecord? firstDamaged = last is null ? null : layout[corpus.LastSegment]
            .Select(r => (SegmentRecord?)r)
            .FirstOrDefault(r => r!.Value.Offset + r.Value.Length > last.Length
                || !last.AsSpan((int)r.Value.Offset, r.Value.Length).SequenceEqual(intact[corpus.LastSegment].AsSpan((int)r.Value.Offset, r.Value.Length)));

        var problems = new List<string>();
        LiteDbStateStore? store = null;
        string? refusal = null;
        try
        {
            store = new LiteDbStateStore(LiteDbSegmentedByteFlipTests.Options(path, disk));
        }
        catch (StateStoreCorruptedException ex)
        {
            Count(outcomes, "typed error");
            Count(outcomes, sealedDamaged ? "draw: sealed segment damaged, refused" : "draw: open refused");
            refusal = ex.Message;
        }
        catch (Exception ex)
        {
            problems.Add($"open threw {ex.GetType().Name}: {ex.Message}{Environment.NewLine}{ex}");
        }

        // Whatever the open did, it lost no intact record that was in the files (it may have moved some aside). An open that
        // went on after damage to LiteDB's log may have cut a tail of it: the records of commits the damaged log lost, as
        // after a power cut. A refused open cuts nothing (A_refused_open_after_damage_to_the_data_file_keeps_the_change_log).
        NothingLost(corpus, layout, damage, disk.Contents(), tailCutAllowed: store is not null && damage.LiteDbLog, problems);
        if (store is null)
        {
            return problems.Count == 0 ? null : $"{string.Join("; ", problems)} (the open was refused: {refusal})";
        }

        bool valuesAgreeWithLog = true;
        if (asRetention)
        {
            Count(outcomes, "draw: oldest segments deleted, opened as after retention");
            long firstKept = corpus.Segments[leadingDeleted].FirstSequence;
            if (corpus.Log.GroupBy(r => (r.Scope, r.Key)).Any(g => g.Last() is { Kind: StateChangeKind.Write } newest && newest.Sequence < firstKept))
            {
                // A current value's record was deleted: not what retention does, so its reads are the typed error (seed
                // 6LBiQYNx_Uj1, segments 1-3 of the closed corpus deleted, found by this fuzz; fixed in session 11).
                Count(outcomes, "draw: a current value's record deleted with the oldest segments");
            }

            corpus = corpus with { Log = [.. corpus.Log.Where(r => r.Sequence >= firstKept)] };
        }
        else if (sealedDamaged)
        {
            problems.Add("damage to a sealed segment was not refused at open");
        }

        IReadOnlyList<StateHistoryGap> gaps = store.HistoryGaps;
        StateHistoryGap? gap = gaps.Count > 0 ? gaps[0] : null;
        if (gap is not null)
        {
            Count(outcomes, "draw: history gap");
            if (damage.LiteDbFiles || sealedDamaged || !lastHeaderIntact || firstDamaged is not { } from)
            {
                problems.Add($"a history gap {gap.FromSequence}..{gap.ToSequence} without damage to the last segment's records");
            }
            else if (gaps.Count != 1 || gap.FromSequence != from.Sequence || gap.ToSequence != corpus.LastSequence)
            {
                problems.Add($"history gaps {string.Join(", ", gaps.Select(g => $"{g.FromSequence}..{g.ToSequence}"))}, but the first damaged record of the last segment is {from.Sequence} and the log ends at {corpus.LastSequence}");
            }
            else
            {
                // Its bytes from that record on (as damaged) are kept aside, unless nothing is left of them.
                string lostPath = corpus.LastSegment + SegmentLog.LostTailInfix + gap.FromSequence.ToString(CultureInfo.InvariantCulture);
                bool kept = last!.Length <= from.Offset
                    ? gap.PreservedBytesPath is null || (gap.PreservedBytesPath == lostPath && disk.Contents().GetValueOrDefault(lostPath) is { Length: 0 })
                    : gap.PreservedBytesPath == lostPath && disk.Contents().TryGetValue(lostPath, out byte[]? lost) && lost.AsSpan().SequenceEqual(last.AsSpan((int)from.Offset));
                if (!kept)
                {
                    problems.Add($"the gap's preserved tail is {gap.PreservedBytesPath ?? "none"}, not {lostPath} holding the last segment's bytes from offset {from.Offset}");
                }
                else
                {
                    Count(outcomes, "draw: history gap, as damaged");
                }
            }
        }
        else if (firstDamaged is not null && !sealedDamaged && !damage.LiteDbFiles)
        {
            Count(outcomes, "draw: last segment's records damaged, opened without a gap");
        }

        // Damage to the segments or the data file leaves LiteDB's commits as they were: the log must reach the newest one.
        // Damage to LiteDB's log can lose its newest commits (then the log ends at any record: an intact prefix).
        long? end = gap?.ToSequence ?? (damage.LiteDbLog ? null : corpus.LastSequence);
        IReadOnlyList<StateChangeRecord>? all = await LiteDbSegmentedByteFlipTests.ReadAllAsync(store, corpus, gap, end, outcomes, problems, valuesAgreeWithLog);
        if (gap is not null && problems.Count == 0)
        {
            await LiteDbSegmentedByteFlipTests.ReopenAfterGapAsync(disk, gap, all, outcomes, problems, path);
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>
    /// Every intact record that was in the damaged segment files before the open (its bytes where they were written) is
    /// still there after it, or in a <c>.lost-</c> file the open made beside its segment, at the same distance from the
    /// cut. Unless <paramref name="tailCutAllowed"/>, when a tail of the log may be cut (all records after some sequence).
    /// Returns whether any was cut.
    /// </summary>
    private static bool NothingLost(SegmentedCorpus corpus, Dictionary<string, SegmentRecord[]> layout, Damage damage, Dictionary<string, byte[]> after, bool tailCutAllowed, List<string> problems)
    {
        var cut = new List<long>();
        var kept = new List<long>();
        foreach ((string file, SegmentRecord[] records) in layout)
        {
            byte[] written = corpus.Values.Images[file];
            if (!damage.Images.TryGetValue(file, out byte[]? before))
            {
                continue;
            }

            byte[]? now = after.GetValueOrDefault(file);
            (string Path, byte[] Bytes)[] lostFiles = [.. after.Where(f => f.Key.StartsWith(file + SegmentLog.LostTailInfix, StringComparison.Ordinal) && !damage.Images.ContainsKey(f.Key)).Select(f => (f.Key, f.Value))];
            foreach (SegmentRecord record in records)
            {
                byte[] bytes = written[(int)record.Offset..(int)(record.Offset + record.Length)];
                if (before.Length < record.Offset + record.Length || !before.AsSpan((int)record.Offset, record.Length).SequenceEqual(bytes))
                {
                    continue; // not intact before the open
                }

                bool there = now is not null && now.Length >= record.Offset + record.Length && now.AsSpan((int)record.Offset, record.Length).SequenceEqual(bytes);
                // Kept aside: a new .lost- file holds the file's bytes from a cut on, as they were before the open (the
                // segment itself was cut there, and may have been sealed for the gap after it).
                bool aside = lostFiles.Any(l =>
                {
                    long at = before.Length - l.Bytes.Length;
                    return at >= 0 && at <= record.Offset && before.AsSpan((int)at).SequenceEqual(l.Bytes)
                           && now is not null && now.Length >= at && now.AsSpan(0, (int)at).SequenceEqual(before.AsSpan(0, (int)at));
                });
                if (there || aside)
                {
                    kept.Add(record.Sequence);
                }
                else
                {
                    cut.Add(record.Sequence);
                }
            }
        }

        if (cut.Count > 0 && (!tailCutAllowed || (kept.Count > 0 && cut.Min() < kept.Max())))
        {
            problems.Add($"the open lost intact change records {string.Join(", ", cut.Order())} from the segment files");
        }

        return cut.Count > 0;
    }
}
