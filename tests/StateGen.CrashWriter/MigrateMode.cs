using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Tasks;
using StateGen.Migrations;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Migrations;

namespace StateGen.CrashWriter;

/// <summary>
/// <c>StateGen.CrashWriter migrate db-path [batches ms]</c>: runs a store-wide migration of the <see cref="Ticket"/>
/// documents in the file in batches of 10 on a durable store, printing <c>batch migrated</c> after each committed batch
/// and <c>done</c> at the end. With <c>batches ms</c> it kills itself (<see cref="SelfKill"/>) <c>ms</c> after the report
/// of its <c>batches</c>-th batch, by its own clock, for MigrationProcessKillTests (a parent aiming the kill by when it
/// reads the lines can be late enough under load that the run has finished).
/// </summary>
internal static class MigrateMode
{
    public const int BatchSize = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        string path = args[1];
        (int Batches, SelfKill Kill)? aim = args.Length > 3
            ? (int.Parse(args[2], CultureInfo.InvariantCulture), new SelfKill(SelfKill.ParsePause(args[3]), Stopwatch.StartNew()))
            : null;
        await using var manager = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Durable }));
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        var progress = new LineProgress(aim);
        await new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { AllowDestructive = true, BatchSize = BatchSize }, progress);
        Console.Out.WriteLine("done");
        Console.Out.Flush();
        return 0;
    }

    private sealed class LineProgress((int Batches, SelfKill Kill)? aim) : IProgress<MigrationProgress>
    {
        private int _batches;

        public void Report(MigrationProgress value)
        {
            Console.Out.WriteLine("batch " + value.Migrated.ToString(CultureInfo.InvariantCulture));
            Console.Out.Flush();
            if (aim is { } kill && ++_batches == kill.Batches)
            {
                kill.Kill.Arm();
            }

            // A pause between batches, so the kill can land before the last batch even when batches are fast (with the
            // change log in segment files a batch of 10 takes a few milliseconds); the kill comes a random part of it after
            // the report, or later, so kills land in the pause and in the next batch's commit.
            System.Threading.Thread.Sleep(25);
        }
    }
}
