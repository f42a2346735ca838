using System;
using System.Collections.Generic;
using System.Linq;

namespace StateGen.Migrations;

/// <summary>What a store-wide migration run does (<see cref="MigrationManager"/>).</summary>
public sealed class MigrationRequest
{
    /// <summary>
    /// The schema version to bring each stable type name to. A type not named here goes to its registered type's
    /// version; a version below what is stored downgrades through the declared reverse steps
    /// (<see cref="MigrationTypeOptions.Downgrade"/>).
    /// </summary>
    public IReadOnlyDictionary<string, int>? TargetVersions { get; init; }

    /// <summary>
    /// Confirms that steps that drop data may run. Without it, <see cref="MigrationManager.ApplyAsync"/> refuses a plan
    /// with a destructive step (<see cref="StateMigrationConfirmationRequiredException"/>) before it writes anything.
    /// </summary>
    public bool AllowDestructive { get; init; }

    /// <summary>How many documents are committed together, all or nothing (default 100).</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>
    /// Takes a backup before the first write of <see cref="MigrationManager.ApplyAsync"/> and returns its id (recorded in
    /// the report), for example <c>ct =&gt; backups.CreateAsync(...)</c>. A failure stops the run before anything is written.
    /// </summary>
    public Func<System.Threading.CancellationToken, System.Threading.Tasks.ValueTask<string>>? Backup { get; init; }

    /// <summary>
    /// A <see cref="Backup"/> step that takes a StateGen backup of <paramref name="store"/> (labelled <c>pre-migration</c>)
    /// with <paramref name="backups"/>: <c>new MigrationRequest { Backup = MigrationRequest.BackupWith(backups, manager.Store) }</c>.
    /// </summary>
    public static Func<System.Threading.CancellationToken, System.Threading.Tasks.ValueTask<string>> BackupWith(Backups.BackupManager backups, Storage.IStateStore store)
    {
        ArgumentNullException.ThrowIfNull(backups);
        ArgumentNullException.ThrowIfNull(store);
        return async cancellationToken => (await backups.CreateAsync(store, "pre-migration", null, cancellationToken).ConfigureAwait(false)).Id;
    }

    /// <summary>The correlation id the changes are recorded with; a new one when <see langword="null"/>.</summary>
    public string? CorrelationId { get; init; }

    internal int TargetFor(string typeName, int registered)
        => TargetVersions is not null && TargetVersions.TryGetValue(typeName, out int target) ? target : registered;
}

/// <summary>Whether a step moves a document to a newer or an older schema version.</summary>
public enum MigrationDirection
{
    /// <summary>To the next version, through the generated upgrade chain.</summary>
    Upgrade,

    /// <summary>To the previous version, through a declared reverse step.</summary>
    Downgrade,
}

/// <summary>One step of a type's plan.</summary>
/// <param name="FromVersion">The version the step reads.</param>
/// <param name="ToVersion">The version it writes.</param>
/// <param name="Direction">Up or down.</param>
/// <param name="Available">False when no step is generated or declared for it: documents that need it cannot be migrated.</param>
/// <param name="IsDestructive">Whether the step drops data (a removed member, or a reverse step declared destructive).</param>
/// <param name="DroppedMembers">The stored members the step drops, when known.</param>
public sealed record MigrationStepPlan(int FromVersion, int ToVersion, MigrationDirection Direction, bool Available, bool IsDestructive, IReadOnlyList<string> DroppedMembers);

/// <summary>How many documents of a type are stored at one schema version.</summary>
/// <param name="Version">The stored schema version.</param>
/// <param name="Count">How many documents.</param>
public sealed record MigrationVersionCount(int Version, long Count);

/// <summary>The plan for one stable type name.</summary>
/// <param name="TypeName">The stable type name.</param>
/// <param name="Registered">Whether a type was registered for it; unregistered types are reported and left alone.</param>
/// <param name="CurrentVersion">The registered type's schema version (0 when not registered).</param>
/// <param name="TargetVersion">The version documents are brought to.</param>
/// <param name="StoredVersions">The stored versions and their counts, ascending.</param>
/// <param name="Steps">The steps the stored versions need, in the order they run.</param>
/// <param name="DocumentsToMigrate">Documents not at the target version that the plan can migrate.</param>
/// <param name="Problems">Why some documents cannot be migrated (a missing step, a version newer than the program).</param>
public sealed record MigrationTypePlan(
    string TypeName,
    bool Registered,
    int CurrentVersion,
    int TargetVersion,
    IReadOnlyList<MigrationVersionCount> StoredVersions,
    IReadOnlyList<MigrationStepPlan> Steps,
    long DocumentsToMigrate,
    IReadOnlyList<string> Problems)
{
    /// <summary>Whether a step that drops data will run.</summary>
    public bool IsDestructive => Steps.Any(s => s.IsDestructive && s.Available);
}

/// <summary>The plan of a store-wide migration: per stable type name, what is stored and what would run.</summary>
/// <param name="Types">One entry per stable type name found in the store, ordinal order.</param>
/// <param name="DocumentsScanned">How many documents the store held when planned.</param>
public sealed record MigrationPlan(IReadOnlyList<MigrationTypePlan> Types, long DocumentsScanned)
{
    /// <summary>Documents that would be migrated.</summary>
    public long DocumentsToMigrate => Types.Sum(t => t.DocumentsToMigrate);

    /// <summary>Whether any destructive step would run (needs <see cref="MigrationRequest.AllowDestructive"/>).</summary>
    public bool IsDestructive => Types.Any(t => t.IsDestructive && t.DocumentsToMigrate > 0);

    /// <summary>Whether there is anything to migrate.</summary>
    public bool HasWork => DocumentsToMigrate > 0;
}

/// <summary>Whether a run wrote anything.</summary>
public enum MigrationMode
{
    /// <summary>Every step ran in memory; nothing was written.</summary>
    DryRun,

    /// <summary>Migrated documents were committed to the store.</summary>
    Apply,
}

/// <summary>A document a run could not migrate.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The key.</param>
/// <param name="TypeName">The stable type name.</param>
/// <param name="FromVersion">The stored schema version.</param>
/// <param name="Reason">What failed. Never quotes a stored value.</param>
/// <param name="ErrorType">The exception type behind it, when there was one.</param>
public sealed record MigrationFailure(string Scope, string Key, string TypeName, int FromVersion, string Reason, string? ErrorType);

/// <summary>A document a run left alone on purpose.</summary>
/// <param name="Scope">The scope path.</param>
/// <param name="Key">The key.</param>
/// <param name="TypeName">The stable type name.</param>
/// <param name="Version">The stored schema version.</param>
/// <param name="Reason">Why (for example: written by a newer program).</param>
public sealed record MigrationSkip(string Scope, string Key, string TypeName, int Version, string Reason);

/// <summary>What a dry run or an apply did.</summary>
/// <param name="Mode">Dry run or apply.</param>
/// <param name="CorrelationId">The correlation id of the run's changes, events and hook history.</param>
/// <param name="Plan">The plan the run followed.</param>
/// <param name="Migrated">Documents migrated (dry run: that would be).</param>
/// <param name="Unchanged">Documents of registered types already at their target version.</param>
/// <param name="Failures">Documents that could not be migrated.</param>
/// <param name="Skipped">Documents left alone on purpose (newer than the program, unregistered type counts are in the plan).</param>
/// <param name="BackupId">The backup taken before applying, when one was.</param>
/// <param name="RolledBack">Documents put back to what they were after a failure.</param>
/// <param name="NotRolledBack">Documents changed by someone else after the migration wrote them, so left as they are.</param>
/// <param name="Duration">How long the run took.</param>
public sealed record MigrationReport(
    MigrationMode Mode,
    string CorrelationId,
    MigrationPlan Plan,
    long Migrated,
    long Unchanged,
    IReadOnlyList<MigrationFailure> Failures,
    IReadOnlyList<MigrationSkip> Skipped,
    string? BackupId,
    long RolledBack,
    IReadOnlyList<MigrationFailure> NotRolledBack,
    TimeSpan Duration)
{
    /// <summary>Whether every document that needed it was (or would be) migrated.</summary>
    public bool Succeeded => Failures.Count == 0;
}

/// <summary>Progress of a run, reported once per batch.</summary>
/// <param name="Scanned">Documents read so far.</param>
/// <param name="Total">Documents in the store when planned.</param>
/// <param name="Migrated">Documents migrated so far.</param>
/// <param name="Failed">Documents that failed so far.</param>
public readonly record struct MigrationProgress(long Scanned, long Total, long Migrated, long Failed);
