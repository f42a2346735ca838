using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.Migrations;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Migrations;

/// <summary>Store-wide migrations: plan, dry run, apply in batches, roll-back on failure, resume, downgrade.</summary>
public sealed class MigrationManagerTests : IDisposable
{
    private static readonly StateScope Scope = StateScope.Agent("support");
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> AllBackends => new() { Backends.Memory, Backends.LiteDb };

    [Theory]
    [MemberData(nameof(AllBackends))]
    public async Task Plan_counts_stored_versions_per_type_and_marks_the_step_that_drops_a_member_destructive(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await SeedAsync(manager, v1: 3, v2: 2, v3: 4);
        await manager.SetJsonAsync(Scope, "notes", Backends.Json("""{"a":1}"""));
        await manager.Store.WriteAsync(new StateWrite(Scope.Path, "other/1", "other", 1, Encoding.UTF8.GetBytes("{}")));

        MigrationPlan plan = await new MigrationManager(manager).Register<Ticket>().PlanAsync();

        Assert.Equal(11, plan.DocumentsScanned);
        Assert.Equal(5, plan.DocumentsToMigrate);
        Assert.True(plan.IsDestructive);
        MigrationTypePlan ticket = Assert.Single(plan.Types, t => t.TypeName == Ticket.TypeName);
        Assert.True(ticket.Registered);
        Assert.Equal(3, ticket.TargetVersion);
        Assert.Equal([new MigrationVersionCount(1, 3), new MigrationVersionCount(2, 2), new MigrationVersionCount(3, 4)], ticket.StoredVersions);
        Assert.Collection(
            ticket.Steps,
            s => Assert.Equal((1, 2, true, true, "Legacy"), (s.FromVersion, s.ToVersion, s.Available, s.IsDestructive, string.Join(",", s.DroppedMembers))),
            s => Assert.Equal((2, 3, true, false, ""), (s.FromVersion, s.ToVersion, s.Available, s.IsDestructive, string.Join(",", s.DroppedMembers))));
        Assert.All(plan.Types.Where(t => t.TypeName != Ticket.TypeName), t => Assert.False(t.Registered));
        Assert.Equal(["json", "other", "ticket"], plan.Types.Select(t => t.TypeName));
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public async Task Dry_run_writes_nothing_and_names_each_document_that_would_fail_without_quoting_it(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await SeedAsync(manager, v1: 4, v2: 3, v3: 1, poisonAt: [2, 5]);
        List<Snapshot> before = await SnapshotAsync(manager.Store);

        MigrationReport report = await new MigrationManager(manager).Register<Ticket>().DryRunAsync();

        Assert.Equal(MigrationMode.DryRun, report.Mode);
        Assert.False(report.Succeeded);
        Assert.Equal(5, report.Migrated);
        Assert.Equal(1, report.Unchanged);
        Assert.Equal([Key(2), Key(5)], report.Failures.Select(f => f.Key));
        Assert.All(report.Failures, f =>
        {
            Assert.Contains("UpgradeFromV2", f.Reason, StringComparison.Ordinal);
            Assert.DoesNotContain("poison", f.Reason, StringComparison.Ordinal);
            Assert.Equal(nameof(StateMigrationException), f.ErrorType);
        });
        Assert.Equal(before, await SnapshotAsync(manager.Store));
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public async Task Apply_refuses_a_plan_that_drops_data_until_confirmed_and_writes_nothing(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await SeedAsync(manager, v1: 2, v2: 1, v3: 0);
        List<Snapshot> before = await SnapshotAsync(manager.Store);
        bool backedUp = false;
        var migrations = new MigrationManager(manager).Register<Ticket>();

        var refused = await Assert.ThrowsAsync<StateMigrationConfirmationRequiredException>(() => migrations.ApplyAsync(new MigrationRequest { Backup = _ => { backedUp = true; return ValueTask.FromResult("b1"); } }).AsTask());

        Assert.Contains("'ticket' 1->2 drops Legacy", refused.Message, StringComparison.Ordinal);
        Assert.False(backedUp);
        Assert.Equal(before, await SnapshotAsync(manager.Store));

        MigrationReport report = await migrations.ApplyAsync(new MigrationRequest { AllowDestructive = true });
        Assert.Equal(3, report.Migrated);
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public async Task Apply_backs_up_first_then_migrates_every_document_in_batches_with_hooks_events_and_one_correlation_id(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await SeedAsync(manager, v1: 7, v2: 5, v3: 2);
        List<Snapshot> atBackup = [];
        var seenByHooks = new List<(StateHookPoint, string, string)>();
        manager.Hooks.Register(StateHookPoint.BeforeMigration, "before", c => { lock (seenByHooks) { seenByHooks.Add((c.Point, c.Key, c.Origin)); } return StateHookResult.Continue; });
        manager.Hooks.Register(StateHookPoint.AfterMigration, "after", c => { lock (seenByHooks) { seenByHooks.Add((c.Point, c.Key, c.Origin)); } return StateHookResult.Continue; });
        manager.Hooks.Register(StateHookPoint.BeforeChange, "not-a-change", c => StateHookResult.Cancel("plain change hooks do not run for migrations"));
        using StateEventSubscription events = manager.Events.Subscribe();
        var progress = new List<MigrationProgress>();

        MigrationReport report = await new MigrationManager(manager).Register<Ticket>().ApplyAsync(
            new MigrationRequest
            {
                AllowDestructive = true,
                BatchSize = 5,
                CorrelationId = "migrate-2026-11",
                Backup = async ct => { atBackup = await SnapshotAsync(manager.Store); return "backup-1"; },
            },
            new SyncProgress<MigrationProgress>(progress.Add));

        Assert.True(report.Succeeded);
        Assert.Equal((12L, 2L, "backup-1", "migrate-2026-11"), (report.Migrated, report.Unchanged, report.BackupId, report.CorrelationId));
        Assert.All(atBackup.Where(s => s.Key != Key(12) && s.Key != Key(13)), s => Assert.NotEqual(3, s.SchemaVersion)); // the backup saw the store before any write

        for (int i = 0; i < 14; i++)
        {
            var ticket = new Ticket { Id = Id(i) };
            Assert.True(await manager.LoadAsync(ticket, Scope));
            Assert.Equal(("subject-" + i, i % 3 == 0 ? 1 : 3), (ticket.Subject, ticket.Priority));
        }

        Assert.All(await SnapshotAsync(manager.Store), s => Assert.Equal(3, s.SchemaVersion));
        Assert.Equal(Enumerable.Range(0, 12).Select(Key).Order(StringComparer.Ordinal), seenByHooks.Where(h => h.Item1 == StateHookPoint.BeforeMigration).Select(h => h.Item2).Order(StringComparer.Ordinal));
        Assert.Equal(12, seenByHooks.Count(h => h.Item1 == StateHookPoint.AfterMigration));
        Assert.All(seenByHooks, h => Assert.Equal("migration", h.Item3));

        var published = new List<StateChangeEvent>();
        while (events.Reader.TryRead(out StateChangeEvent? e))
        {
            published.Add(e);
        }

        Assert.Equal(12, published.Count);
        Assert.All(published, e => Assert.Equal(("migration", "migrate-2026-11", 3), (e.Origin, e.CorrelationId, e.SchemaVersion)));
        Assert.Equal(14, progress[^1].Scanned);
        Assert.Equal(12, progress[^1].Migrated);
        Assert.True(progress.Count >= 3); // once per batch of 5
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public async Task A_failing_step_rolls_back_every_document_the_run_wrote_to_its_original_bytes(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await SeedAsync(manager, v1: 120, v2: 60, v3: 20, poisonAt: [150]);
        List<Snapshot> before = await SnapshotAsync(manager.Store);

        var failed = await Assert.ThrowsAsync<StateMigrationFailedException>(() => new MigrationManager(manager).Register<Ticket>()
            .ApplyAsync(new MigrationRequest { AllowDestructive = true, BatchSize = 25, Backup = _ => ValueTask.FromResult("backup-7") }).AsTask());

        MigrationReport report = failed.Report;
        Assert.Equal(150, report.RolledBack); // six batches of 25 were committed before document 150 failed
        Assert.Empty(report.NotRolledBack);
        Assert.Equal(Key(150), Assert.Single(report.Failures).Key);
        Assert.Contains("backup-7", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("poison", failed.Message, StringComparison.Ordinal);
        Assert.Equal(before.Select(s => s.Content), (await SnapshotAsync(manager.Store)).Select(s => s.Content));
    }

    [Fact]
    public async Task A_StateGen_backup_taken_before_the_run_restores_the_store_as_it_was_before_the_migration()
    {
        string path = _dir.NewDatabaseFile();
        var backups = new StateGen.Backups.BackupManager(new StateGen.Backups.BackupManagerOptions { Directory = _dir.File("backups") });
        List<Snapshot> before;
        MigrationReport report;
        await using (var manager = new StateManager(new LiteDbStateStore(path)))
        {
            await SeedAsync(manager, v1: 10, v2: 10, v3: 5);
            before = await SnapshotAsync(manager.Store);
            report = await new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { AllowDestructive = true, Backup = MigrationRequest.BackupWith(backups, manager.Store) });
            Assert.All(await SnapshotAsync(manager.Store), s => Assert.Equal(3, s.SchemaVersion));
        }

        StateGen.Backups.BackupInfo backup = Assert.Single(await backups.ListAsync());
        Assert.Equal(backup.Id, report.BackupId);
        await backups.RestoreAsync(backup.Id, path);

        await using var restored = new StateManager(new LiteDbStateStore(path));
        Assert.Equal(before.Select(s => s.Content), (await SnapshotAsync(restored.Store)).Select(s => s.Content));
    }

    [Fact]
    public async Task A_before_migration_hook_that_cancels_stops_the_run_and_rolls_it_back()
    {
        await using StateManager manager = Backends.CreateManager(Backends.LiteDb, _dir);
        await SeedAsync(manager, v1: 0, v2: 30, v3: 0);
        List<Snapshot> before = await SnapshotAsync(manager.Store);
        manager.Hooks.Register(StateHookPoint.BeforeMigration, "guard", c => c.Key == Key(17) ? StateHookResult.Cancel("not this one") : StateHookResult.Continue);

        var failed = await Assert.ThrowsAsync<StateMigrationFailedException>(() => new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { BatchSize = 10 }).AsTask());

        Assert.Equal(10, failed.Report.RolledBack);
        Assert.Contains("'guard' canceled", Assert.Single(failed.Report.Failures).Reason, StringComparison.Ordinal);
        Assert.Equal(before.Select(s => s.Content), (await SnapshotAsync(manager.Store)).Select(s => s.Content));
    }

    [Fact]
    public async Task A_run_stopped_midway_leaves_each_document_old_or_new_and_a_rerun_after_a_restart_finishes_it()
    {
        string path = _dir.NewDatabaseFile();
        using var stop = new CancellationTokenSource();
        await using (var manager = new StateManager(new LiteDbStateStore(path)))
        {
            await SeedAsync(manager, v1: 40, v2: 40, v3: 0);
            var progress = new SyncProgress<MigrationProgress>(p =>
            {
                if (p.Migrated >= 30)
                {
                    stop.Cancel();
                }
            });

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new MigrationManager(manager).Register<Ticket>()
                .ApplyAsync(new MigrationRequest { AllowDestructive = true, BatchSize = 10 }, progress, stop.Token).AsTask());
        }

        await using (var reopened = new StateManager(new LiteDbStateStore(path)))
        {
            List<Snapshot> midway = await SnapshotAsync(reopened.Store);
            Assert.Equal(30, midway.Count(s => s.SchemaVersion == 3));
            Assert.Equal(50, midway.Count(s => s.SchemaVersion != 3));

            MigrationReport rerun = await new MigrationManager(reopened).Register<Ticket>().ApplyAsync(new MigrationRequest { AllowDestructive = true, BatchSize = 10 });

            Assert.Equal((50L, 30L), (rerun.Migrated, rerun.Unchanged));
            for (int i = 0; i < 80; i++)
            {
                var ticket = new Ticket { Id = Id(i) };
                Assert.True(await reopened.LoadAsync(ticket, Scope));
                Assert.Equal("subject-" + i, ticket.Subject);
            }
        }
    }

    [Fact]
    public async Task Writers_during_a_run_are_never_overwritten_and_their_documents_are_migrated_from_the_new_value()
    {
        await using StateManager manager = Backends.CreateManager(Backends.LiteDb, _dir);
        await SeedAsync(manager, v1: 0, v2: 200, v3: 0);
        int rewrites = 0;
        int duringRun = 0;
        using var done = new CancellationTokenSource();
        var writing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task writer = Task.Run(async () =>
        {
            var random = new Random(7);
            while (!done.IsCancellationRequested)
            {
                int i = random.Next(200);
                await manager.Store.WriteAsync(new StateWrite(Scope.Path, Key(i), Ticket.TypeName, 2, Encoding.UTF8.GetBytes(Ticket.V2(Id(i), "rewritten-" + i, "low"))));
                Interlocked.Increment(ref rewrites);
                writing.TrySetResult();
                await Task.Delay(1);
            }
        });

        // The first batch waits until the writer has written 20 more times, so writes certainly overlap the run.
        manager.Hooks.Register(StateHookPoint.BeforeMigration, "overlap", async (_, token) =>
        {
            if (Interlocked.Exchange(ref duringRun, 1) == 0)
            {
                int start = Volatile.Read(ref rewrites);
                while (Volatile.Read(ref rewrites) < start + 20)
                {
                    await Task.Delay(1, token);
                }
            }

            return StateHookResult.Continue;
        }, new StateHookOptions { Timeout = TimeSpan.FromMinutes(5) }); // 20 durable writes can outlast the default 10 s on a loaded machine
        await writing.Task;

        MigrationReport report = await new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { BatchSize = 20 });
        done.Cancel();
        await writer;

        // Each document is now either migrated (v3: the last value the run saw, migrated) or a writer's later v2 value.
        MigrationReport rerun = await new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { BatchSize = 20 });
        Assert.True(rewrites > 0);
        Assert.True(report.Migrated + rerun.Migrated >= 200);
        for (int i = 0; i < 200; i++)
        {
            var ticket = new Ticket { Id = Id(i) };
            Assert.True(await manager.LoadAsync(ticket, Scope));
            Assert.Contains(ticket.Subject, new[] { "subject-" + i, "rewritten-" + i });
            Assert.Equal(ticket.Subject!.StartsWith("rewritten", StringComparison.Ordinal) || i % 3 == 0 ? 1 : 3, ticket.Priority);
        }
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public async Task Downgrade_runs_the_declared_reverse_steps_and_a_destructive_one_needs_confirmation(string backend)
    {
        await using StateManager manager = Backends.CreateManager(backend, _dir);
        await SeedAsync(manager, v1: 0, v2: 2, v3: 3);
        var migrations = new MigrationManager(manager).Register<Ticket>(t => t
            .Downgrade(3, doc =>
            {
                doc["Priority"] = doc["Priority"]!.GetValue<int>() switch { 1 => "low", 3 => "high", _ => "normal" };
                return doc;
            })
            .Downgrade(2, doc =>
            {
                var v1 = new JsonObject { ["Id"] = doc["Id"]?.DeepClone(), ["Title"] = doc["Subject"]?.DeepClone(), ["Priority"] = doc["Priority"]?.DeepClone() };
                return v1;
            }, destructive: false));
        var toV1 = new MigrationRequest { TargetVersions = new Dictionary<string, int> { [Ticket.TypeName] = 1 } };

        MigrationPlan plan = await migrations.PlanAsync(toV1);
        Assert.Equal([(3, 2, MigrationDirection.Downgrade), (2, 1, MigrationDirection.Downgrade)], plan.Types[0].Steps.Select(s => (s.FromVersion, s.ToVersion, s.Direction)));

        MigrationReport down = await migrations.ApplyAsync(toV1);

        Assert.Equal(5, down.Migrated);
        List<Snapshot> atV1 = await SnapshotAsync(manager.Store);
        Assert.All(atV1, s => Assert.Equal(1, s.SchemaVersion));
        Assert.Contains(atV1, s => s.Content.EndsWith("""{"Id":"t-0004","Title":"subject-4","Priority":"high"}""", StringComparison.Ordinal));

        // And back up again: the current program reads every document as it was.
        MigrationReport up = await migrations.ApplyAsync(new MigrationRequest { AllowDestructive = true });
        Assert.Equal(5, up.Migrated);
        for (int i = 0; i < 5; i++)
        {
            var ticket = new Ticket { Id = Id(i) };
            Assert.True(await manager.LoadAsync(ticket, Scope));
            Assert.Equal(("subject-" + i, i % 3 == 0 ? 1 : 3), (ticket.Subject, ticket.Priority));
        }

        var lossy = new MigrationManager(manager).Register<Ticket>(t => t.Downgrade(3, doc => { doc.Remove("Priority"); return doc; }, destructive: true, "Priority"));
        var toV2 = new MigrationRequest { TargetVersions = new Dictionary<string, int> { [Ticket.TypeName] = 2 } };
        await Assert.ThrowsAsync<StateMigrationConfirmationRequiredException>(() => lossy.ApplyAsync(toV2).AsTask());
        Assert.Equal(5, (await lossy.ApplyAsync(new MigrationRequest { TargetVersions = toV2.TargetVersions, AllowDestructive = true })).Migrated);
    }

    [Fact]
    public async Task Documents_the_program_cannot_read_are_reported_and_left_alone()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        await SeedAsync(manager, v1: 0, v2: 1, v3: 1);
        await manager.Store.WriteAsync(new StateWrite(Scope.Path, "ticket/newer", Ticket.TypeName, 4, Encoding.UTF8.GetBytes("""{"Id":"newer"}""")));
        var migrations = new MigrationManager(manager).Register<Ticket>();

        MigrationPlan plan = await migrations.PlanAsync(new MigrationRequest { TargetVersions = new Dictionary<string, int> { [Ticket.TypeName] = 2 } });
        Assert.Contains(plan.Types[0].Problems, p => p.Contains("version 4", StringComparison.Ordinal));
        Assert.Contains(plan.Types[0].Problems, p => p.Contains("reverse step from version 3", StringComparison.Ordinal));
        Assert.Equal(0, plan.DocumentsToMigrate);

        MigrationReport report = await migrations.ApplyAsync();
        Assert.Equal(1, report.Migrated);
        MigrationSkip skip = Assert.Single(report.Skipped);
        Assert.Equal(("ticket/newer", 4), (skip.Key, skip.Version));
        Assert.Equal(4, (await manager.Store.GetAsync(Scope.Path, "ticket/newer"))!.SchemaVersion);

        await Assert.ThrowsAsync<ArgumentException>(() => migrations.PlanAsync(new MigrationRequest { TargetVersions = new Dictionary<string, int> { [Ticket.TypeName] = 4 } }).AsTask());
        Assert.Throws<ArgumentException>(() => migrations.Register<Ticket>());
    }

    private static string Id(int i) => "t-" + i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);

    private static string Key(int i) => "ticket/" + Id(i);

    /// <summary>Documents 0..v1-1 at version 1, then v2 at version 2, then v3 at version 3; every third has priority "low".</summary>
    private static async Task SeedAsync(StateManager manager, int v1, int v2, int v3, int[]? poisonAt = null)
    {
        for (int i = 0; i < v1 + v2 + v3; i++)
        {
            string priority = poisonAt?.Contains(i) == true ? "poison" : i % 3 == 0 ? "low" : "high";
            (int version, string json) = i < v1 ? (1, Ticket.V1(Id(i), "subject-" + i, priority))
                : i < v1 + v2 ? (2, Ticket.V2(Id(i), "subject-" + i, priority))
                : (3, $$"""{"Id":"{{Id(i)}}","Subject":"subject-{{i}}","Priority":{{(priority == "low" ? 1 : 3)}}}""");
            await manager.Store.WriteAsync(new StateWrite(Scope.Path, Key(i), Ticket.TypeName, version, Encoding.UTF8.GetBytes(json)));
        }
    }

    private static async Task<List<Snapshot>> SnapshotAsync(IStateStore store)
    {
        var all = new List<Snapshot>();
        StateScanPosition? after = null;
        while (true)
        {
            IReadOnlyList<StoredEntry> page = await store.ScanAsync(after, 100);
            all.AddRange(page.Select(e => new Snapshot(e.Key, e.SchemaVersion, e.Version, $"{e.Scope}|{e.Key}|{e.TypeName}|{e.SchemaVersion}|{Backends.Utf8(e.Payload)}")));
            if (page.Count < 100)
            {
                return all;
            }

            after = StateScanPosition.Of(page[^1]);
        }
    }

    private sealed record Snapshot(string Key, int SchemaVersion, long Version, string Content);

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool, too late for assertions).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
