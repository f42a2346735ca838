using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Diagnostics;

namespace StateGen.Backups;

public sealed partial class BackupManager
{
    private static readonly TimeSpan StaleTemporary = TimeSpan.FromHours(1);

    /// <summary>
    /// Deletes the backups that <paramref name="policy"/> does not keep. Never deletes the newest valid backup (verified
    /// newest first until one passes), so the only valid backup is never deleted either. With
    /// <paramref name="dryRun"/>, deletes nothing and says what it would delete. Also removes temporary folders of
    /// backups that never finished (older than an hour).
    /// </summary>
    /// <param name="policy">Which backups to keep.</param>
    /// <param name="dryRun">Only report.</param>
    /// <param name="cancellationToken">Cancels the cleanup (backups already deleted stay deleted).</param>
    public async Task<BackupCleanupResult> CleanupAsync(BackupRetentionPolicy policy, bool dryRun = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.KeepLast < 0 || policy.KeepDaily < 0 || policy.KeepWeekly < 0 || policy.MaxTotalBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(policy), "Retention counts and the size cap cannot be negative.");
        }

        IReadOnlyList<BackupInfo> all = await ListAsync(cancellationToken).ConfigureAwait(false);
        BackupInfo[] newestFirst = all.Reverse().ToArray();
        BackupInfo? newestValid = null;
        foreach (BackupInfo backup in newestFirst)
        {
            if ((await VerifyAsync(backup.Id, null, null, cancellationToken).ConfigureAwait(false)).IsValid)
            {
                newestValid = backup;
                break;
            }
        }

        HashSet<string> keep = Retained(newestFirst, policy, _time.GetUtcNow(), newestValid?.Id);
        BackupInfo[] kept = newestFirst.Where(b => keep.Contains(b.Id)).ToArray();
        BackupInfo[] deleted = newestFirst.Where(b => !keep.Contains(b.Id)).ToArray();
        Log.BackupCleanup(_logger, dryRun, kept.Length, deleted.Length);
        if (!dryRun)
        {
            foreach (BackupInfo backup in deleted)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await DeleteAsync(backup.Id, cancellationToken).ConfigureAwait(false);
            }

            RemoveStaleTemporaries();
        }

        return new BackupCleanupResult(kept, deleted, dryRun);
    }

    /// <summary>The ids a policy keeps, from backups listed newest first (see <see cref="BackupRetentionPolicy"/>).</summary>
    internal static HashSet<string> Retained(IReadOnlyList<BackupInfo> newestFirst, BackupRetentionPolicy policy, DateTimeOffset now, string? newestValidId)
    {
        var keep = new HashSet<string>(StringComparer.Ordinal);
        if (policy.KeepLast == 0 && policy.KeepDaily == 0 && policy.KeepWeekly == 0)
        {
            keep.UnionWith(newestFirst.Select(b => b.Id));
        }

        keep.UnionWith(newestFirst.Take(policy.KeepLast).Select(b => b.Id));
        DateTime today = now.UtcDateTime.Date;
        KeepNewestPerPeriod(newestFirst, keep, today, TimeSpan.FromDays(1), policy.KeepDaily);
        DateTime monday = today.AddDays(-(((int)today.DayOfWeek + 6) % 7));
        KeepNewestPerPeriod(newestFirst, keep, monday, TimeSpan.FromDays(7), policy.KeepWeekly);
        if (newestValidId is not null)
        {
            keep.Add(newestValidId);
        }

        if (policy.MaxTotalBytes is long cap)
        {
            long total = newestFirst.Where(b => keep.Contains(b.Id)).Sum(b => b.SizeBytes);
            foreach (BackupInfo oldest in newestFirst.Reverse())
            {
                if (total <= cap)
                {
                    break;
                }

                if (oldest.Id != newestValidId && keep.Remove(oldest.Id))
                {
                    total -= oldest.SizeBytes;
                }
            }
        }

        return keep;
    }

    /// <summary>Keeps the newest backup of each of <paramref name="periods"/> periods, the first starting at <paramref name="currentStart"/>, going back.</summary>
    private static void KeepNewestPerPeriod(IReadOnlyList<BackupInfo> newestFirst, HashSet<string> keep, DateTime currentStart, TimeSpan length, int periods)
    {
        for (int i = 0; i < periods; i++)
        {
            var start = new DateTimeOffset(currentStart - (length * i), TimeSpan.Zero);
            DateTimeOffset end = start + length;
            if (newestFirst.FirstOrDefault(b => b.CreatedAt >= start && b.CreatedAt < end) is { } newest)
            {
                keep.Add(newest.Id);
            }
        }
    }

    private void RemoveStaleTemporaries()
    {
        DateTime limit = DateTime.UtcNow - StaleTemporary;
        foreach (string folder in System.IO.Directory.EnumerateDirectories(Directory))
        {
            string name = Path.GetFileName(folder);
            if ((name.StartsWith(TempPrefix, StringComparison.Ordinal) || name.StartsWith(DeletingPrefix, StringComparison.Ordinal)
                 || name.StartsWith(VerifyPrefix, StringComparison.Ordinal))
                && System.IO.Directory.GetLastWriteTimeUtc(folder) < limit)
            {
                DeleteQuietly(folder);
            }
        }
    }
}
