using System;
using Microsoft.Extensions.Logging;
using StateGen.Diagnostics;

namespace StateGen.Secrets;

/// <summary>What a save does with its scan's findings, once the document is written: warn, or refuse the save.</summary>
internal static class SecretScanReport
{
    /// <summary>Logs each finding (redacted), or throws under <see cref="SecretScanPolicy.Throw"/>.</summary>
    /// <param name="policy">The scan's policy.</param>
    /// <param name="findings">The findings with their paths (at most <see cref="SecretScan.Context.MaxFindings"/>).</param>
    /// <param name="count">How many strings held a secret.</param>
    /// <param name="logger">Where warnings go.</param>
    /// <param name="scope">The scope written to.</param>
    /// <param name="key">The key written.</param>
    /// <param name="typeName">The state type's stable name.</param>
    /// <exception cref="StateSecretDetectedException">The policy is <see cref="SecretScanPolicy.Throw"/> and something was found.</exception>
    public static void Apply(SecretScanPolicy policy, SecretFinding[] findings, int count, ILogger logger, string scope, string key, string typeName)
    {
        if (count == 0)
        {
            return;
        }

        if (policy == SecretScanPolicy.Throw)
        {
            throw new StateSecretDetectedException(scope, key, typeName, Array.AsReadOnly(findings), count);
        }

        foreach (SecretFinding finding in findings)
        {
            Log.SecretRedacted(logger, scope, key, typeName, finding.MemberPath, finding.KindName);
        }
    }
}
