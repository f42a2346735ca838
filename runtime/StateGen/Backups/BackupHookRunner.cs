using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using StateGen.Diagnostics;
using StateGen.Hooks;

namespace StateGen.Backups;

/// <summary>
/// Runs the backup and restore hook points. A hook sees scope <see cref="BackupManager.HookScope"/>, the backup id as
/// key, the change-log position as <see cref="StateHookContext.CurrentVersion"/> and no documents. A before hook may
/// cancel (the operation throws <see cref="StateBackupException"/> with the hook's reason); a failure or timeout
/// follows the hook's <see cref="HookFailurePolicy"/>.
/// </summary>
internal sealed class BackupHookRunner(StateHooks? hooks, TimeSpan defaultTimeout, ILogger logger)
{
    public async ValueTask RunAsync(StateHookPoint point, string backupId, long position, string origin, string correlationId, CancellationToken cancellationToken)
    {
        if (hooks is null)
        {
            return;
        }

        IReadOnlyList<StateHookRegistration> registered = hooks.At(point);
        if (registered.Count == 0)
        {
            return;
        }

        var context = new StateHookContext(point, BackupManager.HookScope, backupId, null, 0, position, default, default, correlationId, origin, StateCorrelation.CurrentMetadata);
        foreach (StateHookRegistration hook in registered)
        {
            if (!hook.Matches(context.Scope, context.Key))
            {
                continue;
            }

            StateHookResult result;
            try
            {
                TimeSpan timeout = hook.Options.Timeout ?? defaultTimeout;
                result = await hook.Handler(context, cancellationToken).AsTask().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                bool timedOut = ex is TimeoutException;
                if (hook.Options.FailurePolicy == HookFailurePolicy.LogAndContinue)
                {
                    Log.BackupHookFailedContinuing(logger, hook.Id, point.ToString(), timedOut ? "TimedOut" : "Failed", backupId, ex.GetType().Name);
                    continue;
                }

                throw new StateHookException(hook.Id, point, context.Scope, context.Key, timedOut, timedOut ? null : ex);
            }

            if (result.Decision == StateHookDecision.Cancel && point is StateHookPoint.BeforeBackup or StateHookPoint.BeforeRestore)
            {
                Log.HookCanceled(logger, hook.Id, point.ToString(), context.Scope, backupId);
                throw new StateBackupException($"Hook '{hook.Id}' at {point} canceled the operation on backup '{backupId}': {result.Reason}") { BackupId = backupId };
            }
        }
    }
}
