using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage;

/// <summary>
/// The change-log conversion (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>) killed with SIGKILL at random
/// moments: a child process (tests/StateGen.CrashWriter, mode <c>upgrade</c>) converts a fresh copy of a prepared
/// collection-layout file (about 2,250 change records and 650 pruned sequences, 325 values in 3 scopes, correlation ids,
/// hook records) and kills itself, 16 times (<c>STATEGEN_KILL_CYCLES</c> × 16/50 for the long run). After each kill the file opens with the default options and
/// every value, change record and hook record reads as in the prepared file, in whichever layout the kill left; a new
/// conversion finishes it (segment format, no <c>changes</c> collection, one <c>-upgrade-</c> folder) and it reads the same
/// again. Kills must land both before and after the switch of the format marker.
/// </summary>
public sealed class LiteDbUpgradeProcessKillTests : IDisposable
{
    private static readonly int Cycles = Math.Max(4, ReliabilityRuns.KillCycles * 16 / 50);
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public LiteDbUpgradeProcessKillTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// What a killed child printed: whether it reached the switch step and finished, its last line, when those lines were
    /// printed and when it killed itself (the child's own clock from its <c>ready</c>: the parent's reading of the lines can
    /// lag behind).
    /// </summary>
    private sealed record KillReport(bool SawSwitching, bool SawDone, string LastLine, TimeSpan SwitchingAt, TimeSpan DoneAt, TimeSpan KilledAt);

    [Fact]
    public async Task Sigkill_at_random_moments_of_a_conversion_leaves_a_file_that_reads_as_before_and_a_new_run_finishes_it()
    {
        string writer = CrashWriterChild.Path();
        string prepared = _dir.File("prepared.db");
        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = prepared, ChangeLogLayout = LiteDbChangeLogLayout.Collection, Durability = StateDurability.Relaxed }))
        {
            await UpgradeHistory.SeedAsync(store, keysPerScope: 120, commits: 1_500, keepPerKey: 4);
        }

        List<string> before;
        using (var store = new LiteDbStateStore(prepared))
        {
            Assert.Null(store.ChangeLogFolder);
            before = await UpgradeHistory.SnapshotAsync(store);
        }

        // The copies are of the data file alone: everything is in it.
        Assert.False(File.Exists(LiteDbStateStore.LogPath(prepared)), "the prepared file kept a LiteDB log beside it");

        (int records, int values) = UpgradeHistory.Size(before);
        Assert.True(records > 1_000 && values > 300, $"{records} records, {values} values");

        // A first run to its end: when the switch step comes and when the conversion ends, to aim the kills.
        var clock = Stopwatch.StartNew();
        string calibrationPath = CopyPrepared(prepared, -1);
        KillReport timeline = await RunAndKillAsync(writer, calibrationPath, anchor: null, TimeSpan.Zero);
        _output.WriteLine($"prepared: {records} records, {values} values; a whole conversion: switch step at {timeline.SwitchingAt.TotalMilliseconds:F0} ms, done at {timeline.DoneAt.TotalMilliseconds:F0} ms after ready");
        Assert.Equal("Switched", await VerifyAsync(calibrationPath, before, -1));

        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var random = new Random(3303);

        // The switch step's moment, the earliest seen: the calibration's, or a later child's (a calibration run slowed by a
        // busy machine would aim the even cycles' kills past the switch of a faster run).
        TimeSpan switchingAt = timeline.SwitchingAt;
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            string path = CopyPrepared(prepared, cycle);

            // Even cycles: a random moment up to the switch step (the moving of values, the copy of the records). Odd cycles:
            // a random moment after the switch step is reported, up to 1.3 times as long as the rest took in the first run
            // (the meta write, the marker, the reopen that drops the old collection, and past the end). The child kills
            // itself then, by its own clock from its ready or its report of the switch step.
            TimeSpan pause = cycle % 2 == 0
                ? switchingAt * (random.NextDouble() * 1.05)
                : (timeline.DoneAt - timeline.SwitchingAt) * (random.NextDouble() * 1.3);
            string anchor = cycle % 2 == 0 ? "ready" : "switching";
            KillReport kill = await RunAndKillAsync(writer, path, anchor, pause);
            if (kill.SawSwitching && kill.SwitchingAt > TimeSpan.Zero && kill.SwitchingAt < switchingAt)
            {
                switchingAt = kill.SwitchingAt;
            }

            string outcome = await VerifyAsync(path, before, cycle);
            string key = outcome + (kill.SawDone ? " (after done)" : string.Empty);
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
            _output.WriteLine($"cycle {cycle}: aimed {pause.TotalMilliseconds:F1} ms after {anchor}, killed at {kill.KilledAt.TotalMilliseconds:F1} ms after ready, last line '{kill.LastLine}': {outcome}");
        }

        string distribution = string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}"));
        _output.WriteLine($"{Cycles} kills in {clock.Elapsed.TotalSeconds:F1} s: {distribution}");
        Assert.True(outcomes.Where(o => o.Key.StartsWith("Before", StringComparison.Ordinal)).Sum(o => o.Value) > 0, $"no kill landed before the switch: {distribution}");
        Assert.True(outcomes.Where(o => o.Key.StartsWith("Switched", StringComparison.Ordinal)).Sum(o => o.Value) > 0, $"no kill landed after the switch: {distribution}");
    }

    /// <summary>A fresh copy of the prepared file in its own folder (the collection layout has no folder beside it).</summary>
    private string CopyPrepared(string prepared, int cycle)
    {
        string folder = Path.Combine(_dir.Path, "cycle" + cycle.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "state.db");
        File.Copy(prepared, path);
        return path;
    }

    /// <summary>
    /// Starts the child on <paramref name="path"/> and waits for its <c>ready</c>. Without <paramref name="anchor"/> (the
    /// calibration) waits for the end of the conversion and kills it (SIGKILL); with it, the child kills itself (SIGKILL)
    /// <paramref name="pause"/> after its <c>ready</c> (<c>ready</c>) or its report of the switch step (<c>switching</c>),
    /// by its own clock, and this waits for it to be gone. Returns what it printed.
    /// </summary>
    private static async Task<KillReport> RunAndKillAsync(string writer, string path, string? anchor, TimeSpan pause)
    {
        var lines = new ConcurrentQueue<string>();
        var errors = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var switching = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TimeSpan switchingAt = TimeSpan.Zero, doneAt = TimeSpan.Zero;
        using Process child = anchor is null
            ? CrashWriterChild.Create(writer, "upgrade", path)
            : CrashWriterChild.Create(writer, "upgrade", path, anchor, pause.TotalMilliseconds.ToString("F3", System.Globalization.CultureInfo.InvariantCulture));
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lines.Enqueue(e.Data);
            if (e.Data == "ready")
            {
                ready.TrySetResult();
            }
            else if (e.Data.StartsWith("progress Switching 0 ", StringComparison.Ordinal))
            {
                switchingAt = ChildClock(e.Data);
                switching.TrySetResult();
            }
            else if (e.Data.StartsWith("done ", StringComparison.Ordinal))
            {
                doneAt = ChildClock(e.Data);
                switching.TrySetResult();
                done.TrySetResult();
            }
        };
        child.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        child.Start();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        var exited = child.WaitForExitAsync();
        try
        {
            await Task.WhenAny(ready.Task, exited, Task.Delay(Startup));
            Assert.True(ready.Task.IsCompleted, $"{path}: the child did not start within {Startup.TotalSeconds} s: {errors}");
            if (anchor is null)
            {
                await Task.WhenAny(done.Task, exited, Task.Delay(Startup));
                Assert.True(done.Task.IsCompleted, $"{path}: the child did not reach the end: {string.Join(" | ", lines)} {errors}");
                Assert.False(child.HasExited, $"{path}: the child stopped before it was killed: {string.Join(" | ", lines)} {errors}");
            }
            else
            {
                await Task.WhenAny(exited, Task.Delay(Startup));
                Assert.True(exited.IsCompleted, $"{path}: the child did not kill itself within {Startup.TotalSeconds} s of its ready ({pause.TotalMilliseconds:F1} ms after {anchor}): {string.Join(" | ", lines)} {errors}");
            }
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill(); // SIGKILL on Unix
            }

            await exited; // also drains the redirected output
        }

        TimeSpan killedAt = TimeSpan.Zero;
        if (anchor is not null)
        {
            string stderr;
            lock (errors)
            {
                stderr = errors.ToString();
            }

            // Killed by itself: SIGKILL (128 + 9), after its line saying when.
            Assert.True(child.ExitCode == 137, $"{path}: the child exited with {child.ExitCode}, not killed by itself: {string.Join(" | ", lines)} {stderr}");
            string? kill = stderr.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("kill @", StringComparison.Ordinal));
            Assert.True(kill is not null, $"{path}: the child was killed, not by itself: {stderr}");
            killedAt = ChildClock(kill);
        }

        return new KillReport(switching.Task.IsCompleted, done.Task.IsCompleted, lines.LastOrDefault() ?? string.Empty, switchingAt, doneAt, killedAt);
    }

    /// <summary>The child's clock at a line it printed: its last word, <c>@</c> and milliseconds since its <c>ready</c>.</summary>
    private static TimeSpan ChildClock(string line)
    {
        int at = line.LastIndexOf(" @", StringComparison.Ordinal);
        Assert.True(at > 0, $"the child's line has no clock: '{line}'");
        return TimeSpan.FromMilliseconds(double.Parse(line.AsSpan(at + 2), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Checks a killed conversion's file: it opens with the default options and reads as <paramref name="before"/>; a new
    /// conversion finishes it and it reads the same, in the segment format with one <c>-upgrade-</c> folder. Returns where
    /// the kill landed: <c>Before the switch</c>, <c>Switched, collection not dropped</c> or <c>Switched</c>.
    /// </summary>
    private async Task<string> VerifyAsync(string path, List<string> before, int cycle)
    {
        // Where the kill landed, read from a copy (LiteDB applies its log at an open: the original is opened by the store).
        (int format, bool collection) = Probe(path);
        string outcome = format switch
        {
            DocumentIntegrity.CountedFormat => "Before the switch",
            _ when DocumentIntegrity.IsSegmented(format) => collection ? "Switched, collection not dropped" : "Switched",
            _ => throw new InvalidOperationException($"cycle {cycle}: the file has format 0x{format:x8}"),
        };
        int leftBehind = UpgradeFolders(path).Length;
        bool switched = DocumentIntegrity.IsSegmented(format);
        using (var store = new LiteDbStateStore(path))
        {
            Assert.Equal(switched, store.ChangeLogFolder is not null);
            Assert.True(store.HistoryGaps.Count == 0, $"cycle {cycle} ({outcome}): history gaps {string.Join(", ", store.HistoryGaps)}");
            string? difference = UpgradeHistory.Difference(before, await UpgradeHistory.SnapshotAsync(store));
            Assert.True(difference is null, $"cycle {cycle} ({outcome}, {leftBehind} folder(s) left): after the kill, {difference}");

            ChangeLogUpgradeResult rerun = await store.UpgradeChangeLogAsync();
            Assert.Equal(!switched, rerun.Upgraded);
            Assert.NotNull(store.ChangeLogFolder);
        }

        (format, collection) = Probe(path);
        Assert.Equal(DocumentIntegrity.WriteBehindFormat, format); // the store that finished it writes behind (the default)
        Assert.False(collection, $"cycle {cycle} ({outcome}): the changes collection is still there after the conversion");
        string folder = Assert.Single(UpgradeFolders(path));
        Assert.False(Directory.Exists(SegmentLog.FolderFor(path)));
        using (var reopened = new LiteDbStateStore(path))
        {
            Assert.Equal(folder, reopened.ChangeLogFolder);
            Assert.Empty(reopened.HistoryGaps);
            string? difference = UpgradeHistory.Difference(before, await UpgradeHistory.SnapshotAsync(reopened));
            Assert.True(difference is null, $"cycle {cycle} ({outcome}): after the new conversion, {difference}");
        }

        return outcome;
    }

    /// <summary>The format marker and whether the <c>changes</c> collection is there, read from a copy of the files.</summary>
    private (int Format, bool ChangesCollection) Probe(string path)
    {
        string probe = _dir.NewDatabaseFile();
        File.Copy(path, probe);
        if (File.Exists(LiteDbStateStore.LogPath(path)))
        {
            File.Copy(LiteDbStateStore.LogPath(path), LiteDbStateStore.LogPath(probe));
        }

        try
        {
            using LiteDatabase raw = LiteDbScopeCountTests.Raw(probe);
            return (raw.UserVersion, raw.CollectionExists("changes"));
        }
        finally
        {
            File.Delete(probe);
            File.Delete(LiteDbStateStore.LogPath(probe));
        }
    }

    private static string[] UpgradeFolders(string path)
        => Directory.GetDirectories(Path.GetDirectoryName(path)!, Path.GetFileName(SegmentLog.FolderFor(path)) + LiteDbStateStore.UpgradeFolderInfix + "*");
}
