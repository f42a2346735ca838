using System;
using BenchmarkDotNet.Running;

namespace StateGen.Benchmarks;

internal static class Program
{
    /// <summary>
    /// <c>dotnet run -c Release --project benchmarks/StateGen.Benchmarks -- --filter '*'</c> runs the BenchmarkDotNet
    /// suites; <c>-- --paired</c> runs the interleaved cross-check in <see cref="PairedCheck"/> instead, and
    /// <c>-- --paired-upgrade</c> only its upgrade-chain part, <c>-- --paired-representative</c> issue #3's serializer set, <c>-- --paired-encryption</c> only plain against encrypted saves,
    /// <c>-- --durability</c> the durable-save harness in <see cref="DurabilityCheck"/>, <c>-- --counts</c> what the per-scope
    /// count adds to creates and deletes (<see cref="CountCheck"/>), <c>-- --paired-backup</c> backup,
    /// restore and point-in-time replay beside a plain file copy (<see cref="BackupCheck"/>), <c>-- --migration</c> the
    /// store-wide migration rate in <see cref="MigrationCheck"/>, and <c>-- --changelog-probe</c> what a change record
    /// costs LiteDB itself (<see cref="ChangeLogProbe"/>), <c>-- --changelog-upgrade</c> a change-log conversion beside a raw
    /// floor (<see cref="ConversionCheck"/>), <c>-- --write-behind-probe</c> a write-behind save's parts (<see cref="WriteBehindProbe"/>), <c>-- --reencrypt-history</c> the re-encryption job with its history part beside its crypto floor (<see cref="ReEncryptionCheck"/>); <c>-- --loop-runtime save-unlogged|save-segmented|load-segmented [seconds]</c>
    /// runs one of the runtime operations in a loop, for a profiler (<c>dotnet-trace collect -- ...</c>).
    /// </summary>
    private static void Main(string[] args)
    {
        if (Array.IndexOf(args, "--paired-backup") >= 0)
        {
            BackupCheck.Run();
            return;
        }

        if (Array.IndexOf(args, "--paired-encryption") >= 0)
        {
            PairedCheck.RunEncryption();
            return;
        }

        if (Array.IndexOf(args, "--paired-upgrade") >= 0)
        {
            PairedCheck.RunUpgrade();
            return;
        }

        if (Array.IndexOf(args, "--changelog-probe") >= 0)
        {
            ChangeLogProbe.Run();
            return;
        }

        if (Array.IndexOf(args, "--migration") >= 0)
        {
            MigrationCheck.Run();
            return;
        }

        if (Array.IndexOf(args, "--counts") >= 0)
        {
            CountCheck.Run();
            return;
        }

        if (Array.IndexOf(args, "--write-behind-probe") >= 0)
        {
            WriteBehindProbe.Run();
            return;
        }

        if (Array.IndexOf(args, "--changelog-upgrade") >= 0)
        {
            ConversionCheck.Run();
            return;
        }

        if (Array.IndexOf(args, "--reencrypt-history") >= 0)
        {
            ReEncryptionCheck.Run();
            return;
        }

        if (Array.IndexOf(args, "--durability") >= 0)
        {
            DurabilityCheck.Run();
            return;
        }

        if (Array.IndexOf(args, "--paired-representative") >= 0)
        {
            PairedCheck.RunRepresentative();
            return;
        }

        if (Array.IndexOf(args, "--loop-runtime") is int loop and >= 0)
        {
            PairedCheck.LoopRuntime(args[loop + 1], args.Length > loop + 2 ? int.Parse(args[loop + 2], System.Globalization.CultureInfo.InvariantCulture) : 15);
            return;
        }

        if (Array.IndexOf(args, "--paired-runtime") >= 0)
        {
            PairedCheck.RunRuntime();
            return;
        }

        if (Array.IndexOf(args, "--paired") >= 0)
        {
            PairedCheck.Run();
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
