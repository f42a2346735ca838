using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Diagnostics;
using StateGen.Hooks;
using StateGen.Storage;

namespace StateGen.Migrations;

/// <summary>
/// Store-wide schema migrations: <see cref="PlanAsync"/> what is stored and what would run, <see cref="DryRunAsync"/>
/// every step in memory, and <see cref="ApplyAsync"/> in atomic batches, with a backup first and a roll-back of
/// everything the run wrote when any document fails.
/// </summary>
/// <remarks>
/// <para>
/// Loads upgrade older documents one at a time already; a store-wide run brings every stored document of the registered
/// types to one version at once: before a release drops an old reader, to downgrade ahead of a rollback of the program
/// (through declared reverse steps), or to find the documents an upgrade chain cannot read before users do.
/// </para>
/// <para>
/// Types are registered explicitly (<see cref="Register{T}"/>): the manager uses the generated members, never
/// reflection. Documents of other types are counted in the plan and left alone.
/// </para>
/// <para>
/// Each batch is written through the manager's batch path: the keys' locks, the
/// <see cref="StateHookPoint.BeforeMigration"/>/<see cref="StateHookPoint.AfterMigration"/> hooks, one atomic commit,
/// change events and hook history, all with the run's correlation id and origin <c>migration</c>. A document is always
/// either at its old version or at the new one, so a run stopped by a crash or by cancellation is finished by running
/// it again.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// var migrations = new MigrationManager(manager).Register&lt;ResearchAgent&gt;();
/// MigrationPlan plan = await migrations.PlanAsync();
/// MigrationReport dryRun = await migrations.DryRunAsync();
/// if (dryRun.Succeeded) await migrations.ApplyAsync(new MigrationRequest { Backup = ct => backups.CreateIdAsync(ct) });
/// </code>
/// </example>
public sealed class MigrationManager
{
    private const int PageSize = 256;
    private const int MaxConflictRetries = 8;
    private const int RollbackBatchSize = 100;

    private readonly StateManager _manager;
    private readonly Dictionary<string, MigrationTarget> _targets = new(StringComparer.Ordinal);

    /// <summary>Creates a migration manager that reads and writes through <paramref name="manager"/>.</summary>
    public MigrationManager(StateManager manager)
    {
        _manager = manager ?? throw new ArgumentNullException(nameof(manager));
    }

    /// <summary>Registers a persistent type: its stored documents will be planned and migrated.</summary>
    /// <param name="configure">Declares reverse steps for downgrades, when wanted.</param>
    /// <returns>This manager, for chaining.</returns>
    /// <exception cref="ArgumentException">Another type with the same stable type name is registered.</exception>
    public MigrationManager Register<T>(Action<MigrationTypeOptions>? configure = null)
        where T : IPersistentState<T>
    {
        var options = new MigrationTypeOptions();
        configure?.Invoke(options);
        var target = new MigrationTarget<T>(options);
        lock (_targets)
        {
            if (!_targets.TryAdd(target.Info.TypeName, target))
            {
                throw new ArgumentException($"A type with the stable name '{target.Info.TypeName}' is already registered.", nameof(T));
            }
        }

        return this;
    }

    /// <summary>Scans the store: per stable type name, the stored versions and counts, the target, the steps, which drop data.</summary>
    /// <exception cref="ArgumentException">A requested target version is below 1 or above a type's current version.</exception>
    public async ValueTask<MigrationPlan> PlanAsync(MigrationRequest? request = null, CancellationToken cancellationToken = default)
    {
        request ??= new MigrationRequest();
        Validate(request);
        var counts = new Dictionary<string, SortedDictionary<int, long>>(StringComparer.Ordinal);
        long scanned = 0;
        await foreach (StoredEntry entry in ScanAsync(cancellationToken).ConfigureAwait(false))
        {
            scanned++;
            if (!counts.TryGetValue(entry.TypeName, out SortedDictionary<int, long>? versions))
            {
                counts[entry.TypeName] = versions = [];
            }

            versions[entry.SchemaVersion] = versions.GetValueOrDefault(entry.SchemaVersion) + 1;
        }

        var types = new List<MigrationTypePlan>(counts.Count);
        foreach ((string typeName, SortedDictionary<int, long> versions) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            types.Add(PlanType(typeName, versions, request));
        }

        return new MigrationPlan(types, scanned);
    }

    /// <summary>
    /// Runs every needed step on every document in memory and checks that each result reads into the current type;
    /// writes nothing. The report lists each document that would fail, with its key and the reason.
    /// </summary>
    public async ValueTask<MigrationReport> DryRunAsync(MigrationRequest? request = null, IProgress<MigrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        request ??= new MigrationRequest();
        var stopwatch = Stopwatch.StartNew();
        MigrationPlan plan = await PlanAsync(request, cancellationToken).ConfigureAwait(false);
        var run = new Run(request, plan, progress);
        await foreach (StoredEntry entry in ScanAsync(cancellationToken).ConfigureAwait(false))
        {
            run.Scanned++;
            if (Classify(entry, request, run) is { } work)
            {
                try
                {
                    _ = work.Target.Migrate(_manager, entry, work.ToVersion);
                    run.Migrated++;
                }
                catch (Exception ex) when (ex is StateGenException or System.Text.Json.JsonException)
                {
                    run.Failures.Add(FailureOf(entry, ex));
                }
            }

            if (run.Scanned % PageSize == 0)
            {
                run.Report();
            }
        }

        run.Report();
        return run.ToReport(MigrationMode.DryRun, StateCorrelation.NewId(), null, stopwatch.Elapsed);
    }

    /// <summary>
    /// Migrates every document that needs it, in atomic batches: plan, refuse destructive steps unless confirmed, take
    /// the backup (<see cref="MigrationRequest.Backup"/>), then migrate and validate each document. On the first failure
    /// every document the run wrote is put back as it was and <see cref="StateMigrationFailedException"/> is thrown.
    /// </summary>
    /// <remarks>
    /// Cancellation stops between batches and keeps what was committed (each document is old or new; run again to
    /// finish). A document someone else changes during the run is re-read and migrated from its new value.
    /// </remarks>
    /// <exception cref="StateMigrationConfirmationRequiredException">The plan drops data and <see cref="MigrationRequest.AllowDestructive"/> is not set; nothing was written.</exception>
    /// <exception cref="StateMigrationFailedException">A document failed; the run's writes were rolled back (see its report).</exception>
    public async ValueTask<MigrationReport> ApplyAsync(MigrationRequest? request = null, IProgress<MigrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        request ??= new MigrationRequest();
        var stopwatch = Stopwatch.StartNew();
        string correlationId = request.CorrelationId ?? StateCorrelation.NewId();
        using StateCorrelation.Scope correlation = StateCorrelation.Begin(correlationId);
        MigrationPlan plan = await PlanAsync(request, cancellationToken).ConfigureAwait(false);
        if (plan.IsDestructive && !request.AllowDestructive)
        {
            throw new StateMigrationConfirmationRequiredException(plan);
        }

        var run = new Run(request, plan, progress);
        if (!plan.HasWork)
        {
            CountUnchanged(run);
            return run.ToReport(MigrationMode.Apply, correlationId, null, stopwatch.Elapsed);
        }

        string? backupId = request.Backup is null ? null : await request.Backup(cancellationToken).ConfigureAwait(false);
        Log.MigrationStarted(_manager.Logger, plan.DocumentsToMigrate, plan.Types.Count(t => t.DocumentsToMigrate > 0), correlationId, backupId ?? "none");
        using var journal = new MigrationJournal();
        var pending = new List<Pending>(request.BatchSize);
        try
        {
            await foreach (StoredEntry entry in ScanAsync(cancellationToken).ConfigureAwait(false))
            {
                run.Scanned++;
                if (Classify(entry, request, run) is { } work)
                {
                    pending.Add(new Pending(entry, work.Target, work.ToVersion, Prepare(entry, work)));
                    if (pending.Count >= request.BatchSize)
                    {
                        await CommitAsync(pending, request, run, journal, cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            await CommitAsync(pending, request, run, journal, cancellationToken).ConfigureAwait(false);
        }
        catch (MigrationStop stop)
        {
            run.Failures.Add(stop.Failure);
            Log.MigrationFailed(_manager.Logger, stop.Failure.Scope, stop.Failure.Key, stop.Failure.TypeName, stop.Failure.Reason, journal.Count);
            await RollBackAsync(journal, run, correlationId).ConfigureAwait(false);
            MigrationReport failed = run.ToReport(MigrationMode.Apply, correlationId, backupId, stopwatch.Elapsed);
            throw new StateMigrationFailedException(failed);
        }

        run.Report();
        Log.MigrationCompleted(_manager.Logger, run.Migrated, stopwatch.ElapsedMilliseconds, correlationId);
        return run.ToReport(MigrationMode.Apply, correlationId, backupId, stopwatch.Elapsed);
    }

    private static void Validate(MigrationRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(request.BatchSize, 1, nameof(request.BatchSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.BatchSize, 10_000, nameof(request.BatchSize));
    }

    private MigrationTypePlan PlanType(string typeName, SortedDictionary<int, long> versions, MigrationRequest request)
    {
        var stored = versions.Select(v => new MigrationVersionCount(v.Key, v.Value)).ToArray();
        MigrationTarget? target = Find(typeName);
        if (target is null)
        {
            return new MigrationTypePlan(typeName, false, 0, 0, stored, [], 0, [$"No type is registered for '{typeName}'; its documents are left as they are."]);
        }

        int current = target.Info.SchemaVersion;
        int to = request.TargetFor(typeName, current);
        if (to < 1 || to > current)
        {
            throw new ArgumentException($"The target version {to} of '{typeName}' is outside 1..{current} (the registered type's version).", nameof(request));
        }

        var steps = new SortedDictionary<(int, int), MigrationStepPlan>();
        var problems = new List<string>();
        long toMigrate = 0;
        foreach ((int version, long count) in versions)
        {
            if (version == to)
            {
                continue;
            }

            if (version > current || version < 1)
            {
                problems.Add($"{count} document(s) at version {version}, which this program (version {current}) cannot read, are left as they are.");
                continue;
            }

            bool available = true;
            int step = version < to ? 1 : -1;
            for (int from = version; from != to; from += step)
            {
                MigrationStepPlan plan = target.PlanStep(from, from + step);
                steps[(step > 0 ? from : -from, step)] = plan;
                if (!plan.Available)
                {
                    available = false;
                    problems.Add($"{count} document(s) at version {version} need a {(step > 0 ? "step" : "reverse step")} from version {from}, which is not {(step > 0 ? "generated" : "declared")}.");
                    break;
                }
            }

            if (available)
            {
                toMigrate += count;
            }
        }

        return new MigrationTypePlan(typeName, true, current, to, stored, steps.Values.ToArray(), toMigrate, problems);
    }

    private MigrationTarget? Find(string typeName)
    {
        lock (_targets)
        {
            return _targets.GetValueOrDefault(typeName);
        }
    }

    /// <summary>What to do with a scanned entry: null when it is left alone (counted in the run).</summary>
    private Work? Classify(StoredEntry entry, MigrationRequest request, Run run)
    {
        if (Find(entry.TypeName) is not { } target)
        {
            return null;
        }

        int to = request.TargetFor(entry.TypeName, target.Info.SchemaVersion);
        if (entry.SchemaVersion == to)
        {
            run.Unchanged++;
            return null;
        }

        if (entry.SchemaVersion > target.Info.SchemaVersion || entry.SchemaVersion < 1)
        {
            run.Skipped.Add(new MigrationSkip(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion, $"written at version {entry.SchemaVersion}, which this program (version {target.Info.SchemaVersion}) cannot read"));
            return null;
        }

        return new Work(target, to);
    }

    /// <summary>Migrates one document in memory; a failure stops the run.</summary>
    private byte[] Prepare(StoredEntry entry, Work work)
    {
        try
        {
            return work.Target.Migrate(_manager, entry, work.ToVersion);
        }
        catch (Exception ex) when (ex is StateGenException or System.Text.Json.JsonException)
        {
            throw new MigrationStop(FailureOf(entry, ex));
        }
    }

    private async ValueTask CommitAsync(List<Pending> pending, MigrationRequest request, Run run, MigrationJournal journal, CancellationToken cancellationToken)
    {
        for (int attempt = 0; pending.Count > 0; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var items = pending.Select(p => new StateManager.BatchItem(
                new StateWrite(p.Entry.Scope, p.Entry.Key, p.Entry.TypeName, p.ToVersion, p.Document, p.Entry.Version),
                p.ToVersion == p.Target.Info.SchemaVersion ? p.Target.Validator : null,
                null)).ToArray();
            StateBatchResult result;
            try
            {
                result = await _manager.CommitBatchAsync(items, "migration", cancellationToken, StateHookPoint.BeforeMigration).ConfigureAwait(false);
            }
            catch (StateConcurrencyException) when (attempt < MaxConflictRetries)
            {
                // Someone wrote one of these meanwhile: nothing of the batch was applied. Migrate the current values.
                await RefreshAsync(pending, request, run, cancellationToken).ConfigureAwait(false);
                continue;
            }
            catch (StateConcurrencyException) when (pending.Count > 1)
            {
                // Keys this busy keep spoiling the whole batch: commit its documents one at a time instead.
                foreach (Pending single in pending.ToArray())
                {
                    await CommitAsync([single], request, run, journal, cancellationToken).ConfigureAwait(false);
                }

                pending.Clear();
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                throw new MigrationStop(FailureOf(pending[0].Entry, ex, batch: pending.Count));
            }

            if (result.IsCanceled)
            {
                throw new MigrationStop(new MigrationFailure(pending[0].Entry.Scope, pending[0].Entry.Key, pending[0].Entry.TypeName, pending[0].Entry.SchemaVersion, $"hook '{result.CanceledBy}' canceled the batch of {pending.Count} document(s)", null));
            }

            for (int i = 0; i < pending.Count; i++)
            {
                journal.Add(pending[i].Entry, result.Results[i].Version);
            }

            run.Migrated += pending.Count;
            pending.Clear();
            run.Report();
        }
    }

    /// <summary>After a conflict: re-reads each pending document and prepares its current value again (or drops it).</summary>
    private async ValueTask RefreshAsync(List<Pending> pending, MigrationRequest request, Run run, CancellationToken cancellationToken)
    {
        var refreshed = new List<Pending>(pending.Count);
        foreach (Pending p in pending)
        {
            StoredEntry? now = await _manager.Store.GetAsync(p.Entry.Scope, p.Entry.Key, cancellationToken).ConfigureAwait(false);
            if (now is null)
            {
                continue; // deleted meanwhile: nothing to migrate
            }

            if (now.Version == p.Entry.Version)
            {
                refreshed.Add(p);
            }
            else if (Classify(now, request, run) is { } work)
            {
                refreshed.Add(new Pending(now, work.Target, work.ToVersion, Prepare(now, work)));
            }
        }

        pending.Clear();
        pending.AddRange(refreshed);
    }

    /// <summary>Puts back every document the run wrote, unless someone changed it after the run did.</summary>
    private async ValueTask RollBackAsync(MigrationJournal journal, Run run, string correlationId)
    {
        var batch = new List<(StoredEntry Original, long Written)>(RollbackBatchSize);
        foreach ((StoredEntry original, long written) in journal.ReadAll())
        {
            batch.Add((original, written));
            if (batch.Count == RollbackBatchSize)
            {
                await RestoreAsync(batch, run, correlationId).ConfigureAwait(false);
            }
        }

        await RestoreAsync(batch, run, correlationId).ConfigureAwait(false);
        Log.MigrationRolledBack(_manager.Logger, run.RolledBack, run.NotRolledBack.Count, correlationId);
    }

    private async ValueTask RestoreAsync(List<(StoredEntry Original, long Written)> batch, Run run, string correlationId)
    {
        if (batch.Count == 0)
        {
            return;
        }

        StateOperation Restore((StoredEntry Original, long Written) item)
            => new StateWrite(item.Original.Scope, item.Original.Key, item.Original.TypeName, item.Original.SchemaVersion, item.Original.Payload, item.Written)
            {
                CorrelationId = correlationId,
                Origin = "migration-rollback",
            };

        try
        {
            IReadOnlyList<StateOperationResult> results = await _manager.Store.CommitAsync(batch.Select(Restore).ToArray(), CancellationToken.None).ConfigureAwait(false);
            PublishRestored(batch, results, correlationId);
            run.RolledBack += batch.Count;
        }
        catch (StateConcurrencyException)
        {
            // One of them changed after the run wrote it: put back the others one by one, keep that writer's value.
            foreach ((StoredEntry Original, long Written) item in batch)
            {
                try
                {
                    IReadOnlyList<StateOperationResult> one = await _manager.Store.CommitAsync([Restore(item)], CancellationToken.None).ConfigureAwait(false);
                    PublishRestored([item], one, correlationId);
                    run.RolledBack++;
                }
                catch (StateConcurrencyException)
                {
                    run.NotRolledBack.Add(new MigrationFailure(item.Original.Scope, item.Original.Key, item.Original.TypeName, item.Original.SchemaVersion, "changed by another writer after the migration wrote it; that value is kept", nameof(StateConcurrencyException)));
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    run.NotRolledBack.Add(new MigrationFailure(item.Original.Scope, item.Original.Key, item.Original.TypeName, item.Original.SchemaVersion, $"putting it back failed ({ex.GetType().Name}); restore it from the backup", ex.GetType().Name));
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            foreach ((StoredEntry original, long _) in batch)
            {
                run.NotRolledBack.Add(new MigrationFailure(original.Scope, original.Key, original.TypeName, original.SchemaVersion, $"putting it back failed ({ex.GetType().Name}); restore it from the backup", ex.GetType().Name));
            }
        }

        batch.Clear();
    }

    private void PublishRestored(List<(StoredEntry Original, long Written)> batch, IReadOnlyList<StateOperationResult> results, string correlationId)
    {
        if (!_manager.Events.HasSubscribers)
        {
            return;
        }

        for (int i = 0; i < batch.Count; i++)
        {
            StoredEntry original = batch[i].Original;
            StoredEntry stored = results[i].Stored!;
            _manager.Events.Publish(new Events.StateChangeEvent(StateChangeKind.Write, original.Scope, original.Key, original.TypeName, original.SchemaVersion, stored.Version, batch[i].Written, results[i].ChangeSequence, stored.UpdatedAt, correlationId, "migration-rollback", original.Payload, ReadOnlyMemory<byte>.Empty));
        }
    }

    private static void CountUnchanged(Run run)
    {
        foreach (MigrationTypePlan type in run.Plan.Types.Where(t => t.Registered))
        {
            run.Unchanged += type.StoredVersions.Where(v => v.Version == type.TargetVersion).Sum(v => v.Count);
        }
    }

    private async IAsyncEnumerable<StoredEntry> ScanAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        StateScanPosition? after = null;
        while (true)
        {
            IReadOnlyList<StoredEntry> page = await _manager.Store.ScanAsync(after, PageSize, cancellationToken).ConfigureAwait(false);
            foreach (StoredEntry entry in page)
            {
                yield return entry;
            }

            if (page.Count < PageSize)
            {
                yield break;
            }

            after = StateScanPosition.Of(page[^1]);
        }
    }

    private static MigrationFailure FailureOf(StoredEntry entry, Exception ex, int batch = 1)
    {
        // Library exceptions never quote stored values; a JsonException from the reader can, so only its type is kept.
        string reason = ex switch
        {
            StateGenException => ex.Message,
            System.Text.Json.JsonException => "the document is not valid JSON for the type",
            _ => $"the store failed ({ex.GetType().Name})",
        };
        if (batch > 1)
        {
            reason = $"the batch of {batch} document(s) starting here failed: {reason}";
        }

        return new MigrationFailure(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion, reason, ex.GetType().Name);
    }

    private sealed record Work(MigrationTarget Target, int ToVersion);

    private sealed record Pending(StoredEntry Entry, MigrationTarget Target, int ToVersion, byte[] Document);

    /// <summary>Stops an apply at its first failure (caught there; never escapes).</summary>
    private sealed class MigrationStop(MigrationFailure failure) : Exception(failure.Reason)
    {
        public MigrationFailure Failure { get; } = failure;
    }

    /// <summary>The counters of one run.</summary>
    private sealed class Run(MigrationRequest request, MigrationPlan plan, IProgress<MigrationProgress>? progress)
    {
        public MigrationRequest Request { get; } = request;

        public MigrationPlan Plan { get; } = plan;

        public long Scanned { get; set; }

        public long Migrated { get; set; }

        public long Unchanged { get; set; }

        public long RolledBack { get; set; }

        public List<MigrationFailure> Failures { get; } = [];

        public List<MigrationSkip> Skipped { get; } = [];

        public List<MigrationFailure> NotRolledBack { get; } = [];

        public void Report() => progress?.Report(new MigrationProgress(Scanned, Plan.DocumentsScanned, Migrated, Failures.Count));

        public MigrationReport ToReport(MigrationMode mode, string correlationId, string? backupId, TimeSpan duration)
            => new(mode, correlationId, Plan, Migrated, Unchanged, Failures.ToArray(), Skipped.ToArray(), backupId, RolledBack, NotRolledBack.ToArray(), duration);
    }
}
