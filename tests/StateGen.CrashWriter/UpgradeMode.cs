using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage.LiteDb;

namespace StateGen.CrashWriter;

/// <summary>
/// <c>StateGen.CrashWriter upgrade db-path [ready|switching ms]</c>: opens the file with the default options, prints
/// <c>ready</c>, converts its change log to segment files (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>) printing
/// <c>progress stage done total @ms</c> at each report and <c>done upgraded records tombstones @ms</c> at the end, then
/// waits to be killed. <c>@ms</c> is this process's own clock since <c>ready</c>. With <c>ready ms</c> or
/// <c>switching ms</c> it kills itself (<see cref="SelfKill"/>) <c>ms</c> after it printed <c>ready</c> or
/// <c>progress Switching 0 1</c>, by its own clock: LiteDbUpgradeProcessKillTests aims its kills so, since its own reading
/// of the lines can lag (a busy test host's thread pool delivered all three lines of a calibration run at once).
/// </summary>
internal static class UpgradeMode
{
    public static async Task<int> RunAsync(string[] args)
    {
        string path = args[1];
        string? anchor = args.Length > 3 ? args[2] : null;
        if (anchor is not (null or "ready" or "switching"))
        {
            throw new ArgumentException($"the kill's anchor is 'ready' or 'switching', not '{anchor}'");
        }

        var clock = new Stopwatch();
        SelfKill? kill = anchor is null ? null : new SelfKill(SelfKill.ParsePause(args[3]), clock);
        using var store = new LiteDbStateStore(path);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        clock.Start();
        if (anchor == "ready")
        {
            kill!.Arm();
        }

        ChangeLogUpgradeResult result = await store.UpgradeChangeLogAsync(new LineProgress(clock, anchor == "switching" ? kill : null));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done {result.Upgraded} {result.RecordsCopied} {result.Tombstones} @{clock.Elapsed.TotalMilliseconds:F3}"));
        Console.Out.Flush();
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    /// <summary>
    /// Prints each report on the conversion's own thread (it reports inside the store's lock), so the line is out before the
    /// step after it; arms <paramref name="atSwitching"/> once the switch step's first report is out.
    /// </summary>
    private sealed class LineProgress(Stopwatch clock, SelfKill? atSwitching) : IProgress<ChangeLogUpgradeProgress>
    {
        public void Report(ChangeLogUpgradeProgress value)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"progress {value.Stage} {value.Done} {value.Total} @{clock.Elapsed.TotalMilliseconds:F3}"));
            Console.Out.Flush();
            if (value.Stage == ChangeLogUpgradeStage.Switching && value.Done == 0)
            {
                atSwitching?.Arm();
            }
        }
    }
}
