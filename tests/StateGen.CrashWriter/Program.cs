using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.CrashWriter;

/// <summary>
/// <c>StateGen.CrashWriter db-path durable|relaxed seed [segmented|behind]</c>: writes single values and batches to keys <c>k0</c>..<c>k9</c>
/// of scope <c>kill</c> forever, each value derived from its key and version (<see cref="Payload"/>), and prints
/// <c>ack key version</c> for every key of a call once the call has returned: the acknowledged-writes ledger the test
/// checks after killing this process. Modes <c>backup</c> and <c>restore</c> (first argument) serve BackupProcessKillTests, <c>upgrade</c>
/// LiteDbUpgradeProcessKillTests, <c>reencrypt</c> (<see cref="ReEncryptMode"/>) LiteDbReEncryptProcessKillTests.
/// </summary>
internal static class Program
{
    public const int Keys = 10;

    private static async Task<int> Main(string[] args)
    {
        switch (args[0])
        {
            case "migrate":
                return await MigrateMode.RunAsync(args);
            case "upgrade":
                return await UpgradeMode.RunAsync(args);
            case "reencrypt":
                return await ReEncryptMode.RunAsync(args);
            case "backup":
                return await BackupForeverAsync(args[1], args[2], args.Length > 3 && args[3] == "segmented");
            case "restore":
                return await RestoreAsync(args[1], args[2], args[3]);
        }

        var store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = args[0],
            Durability = args[1] == "relaxed" ? StateDurability.Relaxed : StateDurability.Durable,
            SegmentChangeLog = args.Length > 3 && args[3] is "segmented" or "behind",
            WriteBehind = args.Length > 3 && args[3] == "behind",

            // Every third run checkpoints every 64 log pages, so that kills also land inside checkpoints.
            CheckpointPages = int.Parse(args[2], CultureInfo.InvariantCulture) % 3 == 2 ? 64 : null,
        });
        var random = new Random(int.Parse(args[2], CultureInfo.InvariantCulture));
        var versions = new long[Keys];
        for (int k = 0; k < Keys; k++)
        {
            versions[k] = (await store.GetAsync("kill", Key(k)))?.Version ?? 0;
        }

        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        var line = new StringBuilder();
        while (true)
        {
            int count = random.Next(3) == 0 ? random.Next(2, 4) : 1;
            var keys = new List<int>();
            while (keys.Count < count)
            {
                int k = random.Next(Keys);
                if (!keys.Contains(k))
                {
                    keys.Add(k);
                }
            }

            var ops = new List<StateOperation>();
            foreach (int k in keys)
            {
                ops.Add(new StateWrite("kill", Key(k), "T", 1, CrashPayload.Of(Key(k), versions[k] + 1), ExpectedVersion: versions[k]));
            }

            IReadOnlyList<StateOperationResult> results = await store.CommitAsync(ops);
            line.Clear();
            for (int i = 0; i < keys.Count; i++)
            {
                versions[keys[i]] = results[i].Stored!.Version;
                line.Append("ack ").Append(Key(keys[i])).Append(' ').Append(versions[keys[i]].ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            Console.Out.Write(line.ToString());
            Console.Out.Flush();
        }
    }

    /// <summary>
    /// <c>backup db-path backup-folder [segmented]</c>: writes to the store without pause on another task and makes backups
    /// one after another, printing <c>backup id</c> when each is complete (BackupProcessKillTests kills it mid-backup).
    /// With <c>segmented</c>, a new store keeps its change log in segment files of 16 KiB, so the writes roll segments
    /// while a backup copies them.
    /// </summary>
    private static async Task<int> BackupForeverAsync(string path, string folder, bool segmented)
    {
        await using var store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = path,
            Durability = StateDurability.Relaxed,
            SegmentChangeLog = segmented,
            SegmentLogOptions = segmented ? new() { RollBytes = 16 * 1024 } : null,
        });
        var backups = new BackupManager(new BackupManagerOptions { Directory = folder });
        _ = Task.Run(async () =>
        {
            for (long n = 0; ; n++)
            {
                string key = "w" + (n % 500).ToString(CultureInfo.InvariantCulture);
                await store.WriteAsync(new StateWrite("kill", key, "T", 1, Encoding.UTF8.GetBytes("{\"n\":" + n.ToString(CultureInfo.InvariantCulture) + "}")));
            }
        });
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        while (true)
        {
            BackupInfo backup = await backups.CreateAsync(store);
            Console.Out.WriteLine("backup " + backup.Id);
            Console.Out.Flush();
        }
    }

    /// <summary><c>restore db-path backup-folder backup-id</c>: restores the backup over the database, prints <c>restored</c>.</summary>
    private static async Task<int> RestoreAsync(string path, string folder, string backupId)
    {
        var backups = new BackupManager(new BackupManagerOptions { Directory = folder });
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        await backups.RestoreAsync(backupId, path);
        Console.Out.WriteLine("restored");
        Console.Out.Flush();
        return 0;
    }

    private static string Key(int k) => "k" + k.ToString(CultureInfo.InvariantCulture);
}
