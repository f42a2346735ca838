using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using static StateGen.Tests.Backups.BackupTestSupport;

namespace StateGen.Tests.Backups;

/// <summary>
/// A synthetic 90-day history, two backups a day (03:00 and 15:00 UTC) from 2026-01-01 to 2026-03-31 (a Tuesday), the
/// clock at 2026-03-31 20:00. Each policy keeps exactly the set worked out by hand.
/// </summary>
public sealed class RetentionTests : IClassFixture<RetentionTests.History>, IDisposable
{
    private readonly History _history;
    private readonly TempDirectory _dir = new();

    public RetentionTests(History history) => _history = history;

    public void Dispose() => _dir.Dispose();

    /// <summary>The 180 backups, made once for the class; each test works on its own copy of the folder.</summary>
    public sealed class History : IDisposable
    {
        public static readonly DateTimeOffset Now = new(2026, 3, 31, 20, 0, 0, TimeSpan.Zero);
        private readonly TempDirectory _dir = new();

        public History()
        {
            var time = new ManualTimeProvider(new DateTimeOffset(2026, 1, 1, 3, 0, 0, TimeSpan.Zero));
            var store = new MemoryStateStore(time);
            store.WriteAsync(Write("agent/a", "k", 1)).AsTask().GetAwaiter().GetResult();
            var backups = new BackupManager(new BackupManagerOptions { Directory = Folder, TimeProvider = time });
            for (int day = 0; day < 90; day++)
            {
                backups.CreateAsync(store).GetAwaiter().GetResult();
                time.Advance(TimeSpan.FromHours(12));
                backups.CreateAsync(store).GetAwaiter().GetResult();
                time.Advance(TimeSpan.FromHours(12));
            }
        }

        public string Folder => _dir.File("backups");

        public void Dispose() => _dir.Dispose();
    }

    private async Task<BackupManager> CopyAsync()
    {
        string folder = _dir.File("backups");
        foreach (string source in Directory.GetDirectories(_history.Folder))
        {
            string target = Path.Combine(folder, Path.GetFileName(source));
            Directory.CreateDirectory(target);
            foreach (string file in Directory.GetFiles(source))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }

        var manager = new BackupManager(new BackupManagerOptions { Directory = folder, TimeProvider = new ManualTimeProvider(History.Now) });
        Assert.Equal(180, (await manager.ListAsync()).Count);
        return manager;
    }

    private static DateTimeOffset At(int month, int day, int hour) => new(2026, month, day, hour, 0, 0, TimeSpan.Zero);

    private static async Task<DateTimeOffset[]> KeptAsync(BackupManager manager, BackupRetentionPolicy policy)
    {
        BackupCleanupResult result = await manager.CleanupAsync(policy, dryRun: true);
        Assert.Equal(180, result.Kept.Count + result.Deleted.Count);
        return result.Kept.Select(b => b.CreatedAt).OrderBy(t => t).ToArray();
    }

    [Fact]
    public async Task Keep_last_5_keeps_the_5_newest()
        => Assert.Equal(
            new[] { At(3, 29, 15), At(3, 30, 3), At(3, 30, 15), At(3, 31, 3), At(3, 31, 15) },
            await KeptAsync(await CopyAsync(), new BackupRetentionPolicy { KeepLast = 5 }));

    [Fact]
    public async Task Keep_daily_7_keeps_the_last_backup_of_each_of_the_last_7_days()
        => Assert.Equal(
            Enumerable.Range(25, 7).Select(d => At(3, d, 15)).ToArray(),
            await KeptAsync(await CopyAsync(), new BackupRetentionPolicy { KeepDaily = 7 }));

    [Fact]
    public async Task Keep_weekly_4_keeps_the_last_backup_of_each_of_the_last_4_Monday_weeks()
        => Assert.Equal(
            new[] { At(3, 15, 15), At(3, 22, 15), At(3, 29, 15), At(3, 31, 15) },
            await KeptAsync(await CopyAsync(), new BackupRetentionPolicy { KeepWeekly = 4 }));

    [Fact]
    public async Task Rules_combine_as_a_union()
        => Assert.Equal(
            new[] { At(3, 29, 15), At(3, 30, 15), At(3, 31, 3), At(3, 31, 15) },
            await KeptAsync(await CopyAsync(), new BackupRetentionPolicy { KeepLast = 2, KeepDaily = 3, KeepWeekly = 2 }));

    [Fact]
    public async Task Weekly_rule_reaches_back_past_the_start_of_the_history()
    {
        DateTimeOffset[] kept = await KeptAsync(await CopyAsync(), new BackupRetentionPolicy { KeepWeekly = 20 });

        // 2026-01-01 is a Thursday: its week (Dec 29 - Jan 4) ends on Sunday Jan 4; 14 Monday weeks hold backups.
        Assert.Equal(14, kept.Length);
        Assert.Equal(At(1, 4, 15), kept[0]);
        Assert.Equal(At(3, 31, 15), kept[^1]);
    }

    [Fact]
    public async Task Size_cap_gives_up_the_oldest_kept_backups()
    {
        BackupManager manager = await CopyAsync();
        IReadOnlyList<BackupInfo> all = await manager.ListAsync();
        long size = all[^1].SizeBytes;
        Assert.All(all, b => Assert.Equal(size, b.SizeBytes));
        DateTimeOffset[] kept = await KeptAsync(manager, new BackupRetentionPolicy { KeepLast = 50, MaxTotalBytes = (10 * size) + (size / 2) });
        Assert.Equal(all.Skip(170).Select(b => b.CreatedAt), kept);
    }

    [Fact]
    public async Task Dry_run_deletes_nothing_and_the_real_run_deletes_exactly_what_it_listed()
    {
        BackupManager manager = await CopyAsync();
        var policy = new BackupRetentionPolicy { KeepLast = 3, KeepDaily = 10, KeepWeekly = 8 };
        BackupCleanupResult dry = await manager.CleanupAsync(policy, dryRun: true);
        Assert.True(dry.DryRun);
        Assert.NotEmpty(dry.Deleted);
        Assert.Equal(180, (await manager.ListAsync()).Count);
        Assert.Equal(180, Directory.GetDirectories(manager.Directory).Length);

        BackupCleanupResult real = await manager.CleanupAsync(policy);
        Assert.Equal(dry.Deleted.Select(b => b.Id), real.Deleted.Select(b => b.Id));
        Assert.Equal(dry.Kept.Select(b => b.Id).Order(StringComparer.Ordinal), (await manager.ListAsync()).Select(b => b.Id).Order(StringComparer.Ordinal));
        Assert.Equal(dry.Kept.Count, Directory.GetDirectories(manager.Directory).Length);
    }

    [Fact]
    public async Task Cleanup_never_deletes_the_newest_valid_backup_even_when_newer_ones_are_damaged()
    {
        BackupManager manager = await CopyAsync();
        IReadOnlyList<BackupInfo> all = await manager.ListAsync();

        // The two newest are damaged (a flipped byte: still listed, fails verification).
        foreach (BackupInfo damaged in all.TakeLast(2))
        {
            byte[] bytes = File.ReadAllBytes(DataFile(damaged));
            bytes[bytes.Length / 2] ^= 0x01;
            File.WriteAllBytes(DataFile(damaged), bytes);
        }

        BackupCleanupResult result = await manager.CleanupAsync(new BackupRetentionPolicy { KeepLast = 1 });
        Assert.Equal(new[] { all[^1].Id, all[^3].Id }, result.Kept.Select(b => b.Id));
        Assert.True((await manager.VerifyAsync(all[^3].Id)).IsValid);

        // A size cap of one byte still keeps the only valid backup.
        BackupCleanupResult capped = await manager.CleanupAsync(new BackupRetentionPolicy { KeepLast = 1, MaxTotalBytes = 1 });
        Assert.Equal(all[^3].Id, Assert.Single(capped.Kept).Id);
        Assert.Equal(all[^3].Id, Assert.Single(await manager.ListAsync()).Id);
    }
}
