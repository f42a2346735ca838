using System;
using System.Threading.Tasks;
using StateGen.Migrations;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Migrations;

namespace StateGen.CrashWriter;

/// <summary>
/// <c>StateGen.CrashWriter migrate db-path</c>: runs a store-wide migration of the <see cref="Ticket"/> documents in the
/// file in batches of 10 on a durable store, printing <c>batch migrated</c> after each committed batch and <c>done</c> at
/// the end, for MigrationProcessKillTests to kill it midway.
/// </summary>
internal static class MigrateMode
{
    public const int BatchSize = 10;

    public static async Task<int> RunAsync(string path)
    {
        await using var manager = new StateManager(new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, Durability = StateDurability.Durable }));
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        var progress = new LineProgress();
        await new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { AllowDestructive = true, BatchSize = BatchSize }, progress);
        Console.Out.WriteLine("done");
        Console.Out.Flush();
        return 0;
    }

    private sealed class LineProgress : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value)
        {
            Console.Out.WriteLine("batch " + value.Migrated.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Console.Out.Flush();

            // A pause between batches, so the parent's kill can land before the last batch even when batches are fast
            // (with the change log in segment files a batch of 10 takes a few milliseconds); the parent waits a random
            // part of it, or longer, so kills land in the pause and in the next batch's commit.
            System.Threading.Thread.Sleep(25);
        }
    }
}
