using System.Linq;
using StateGen.Migrations;

namespace StateGen;

/// <summary>
/// A store-wide migration would run a step that drops data, and the request did not confirm it
/// (<see cref="MigrationRequest.AllowDestructive"/>). Nothing was written.
/// </summary>
public sealed class StateMigrationConfirmationRequiredException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateMigrationConfirmationRequiredException(MigrationPlan plan)
        : base(Describe(plan))
    {
        Plan = plan;
    }

    /// <summary>The plan, with the destructive steps marked.</summary>
    public MigrationPlan Plan { get; }

    private static string Describe(MigrationPlan plan)
    {
        string steps = string.Join("; ", plan.Types
            .Where(t => t.DocumentsToMigrate > 0)
            .SelectMany(t => t.Steps.Where(s => s.IsDestructive && s.Available).Select(s =>
                $"'{t.TypeName}' {s.FromVersion}->{s.ToVersion}" + (s.DroppedMembers.Count > 0 ? $" drops {string.Join(", ", s.DroppedMembers)}" : " drops data"))));
        return $"The migration would drop data ({steps}). Nothing was written. Take a backup and set MigrationRequest.AllowDestructive to confirm.";
    }
}

/// <summary>
/// A store-wide migration failed at a document. Every document the run had written was put back as it was (see
/// <see cref="MigrationReport.RolledBack"/> and <see cref="MigrationReport.NotRolledBack"/>); the backup taken before
/// the run, if any, is named in the report.
/// </summary>
public sealed class StateMigrationFailedException : StateGenException
{
    /// <summary>Creates the exception.</summary>
    public StateMigrationFailedException(MigrationReport report)
        : base(Describe(report))
    {
        Report = report;
    }

    /// <summary>What the run did, the failure, and what was rolled back.</summary>
    public MigrationReport Report { get; }

    private static string Describe(MigrationReport report)
    {
        MigrationFailure? first = report.Failures.Count > 0 ? report.Failures[0] : null;
        string where = first is null ? "a document" : $"state '{first.Scope}' key '{first.Key}' ({first.TypeName} v{first.FromVersion}): {first.Reason}";
        string rest = report.NotRolledBack.Count == 0
            ? $"All {report.RolledBack} document(s) it had written were put back."
            : $"{report.RolledBack} document(s) were put back; {report.NotRolledBack.Count} could not be (see the report).";
        string backup = report.BackupId is null ? string.Empty : $" Backup taken before the run: {report.BackupId}.";
        return $"The migration failed at {where}. {rest}{backup}";
    }
}
