using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage.LiteDb;

namespace StateGen.CrashWriter;

/// <summary>
/// <c>StateGen.CrashWriter upgrade db-path</c>: opens the file with the default options, prints <c>ready</c>, converts its
/// change log to segment files (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>) printing <c>progress stage done
/// total @ms</c> at each report and <c>done upgraded records tombstones @ms</c> at the end, then waits to be killed:
/// LiteDbUpgradeProcessKillTests kills it at random moments of the conversion. <c>@ms</c> is this process's own clock since
/// <c>ready</c>: the parent aims its kills by it, since its own reading of the lines can lag (a busy test host's thread
/// pool delivered all three lines of a calibration run at once, and every kill then landed before the switch).
/// </summary>
internal static class UpgradeMode
{
    public static async Task<int> RunAsync(string path)
    {
        using var store = new LiteDbStateStore(path);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        var clock = Stopwatch.StartNew();
        ChangeLogUpgradeResult result = await store.UpgradeChangeLogAsync(new LineProgress(clock));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done {result.Upgraded} {result.RecordsCopied} {result.Tombstones} @{clock.Elapsed.TotalMilliseconds:F3}"));
        Console.Out.Flush();
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    /// <summary>Prints each report on the conversion's own thread (it reports inside the store's lock), so the line is out before the step after it.</summary>
    private sealed class LineProgress(Stopwatch clock) : IProgress<ChangeLogUpgradeProgress>
    {
        public void Report(ChangeLogUpgradeProgress value)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"progress {value.Stage} {value.Done} {value.Total} @{clock.Elapsed.TotalMilliseconds:F3}"));
            Console.Out.Flush();
        }
    }
}
