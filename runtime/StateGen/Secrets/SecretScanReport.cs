using System;
using Microsoft.Extensions.Logging;
using StateGen.Diagnostics;

namespace StateGen.Secrets;

/// <summary>What a save does with its scan's findings, once the document is written: warn, or refuse the save.</summary>
internal static class SecretScanReport
{
    /// <summary>Logs each finding (redacted), or throws under <see cref="SecretScanPolicy.Throw"/>.</summary>
    /// <exception cref="StateSecretDetectedException">The policy is <see cref="SecretScanPolicy.Throw"/> and something was found.</exception>
    public static void Apply(in SecretScanScope scan, ILogger logger, string scope, string key, string typeName)
    {
        if (scan.Count == 0)
        {
            return;
        }

        if (scan.Policy == SecretScanPolicy.Throw)
        {
            SecretFinding[] findings = new SecretFinding[scan.Findings.Count];
            for (int i = 0; i < findings.Length; i++)
            {
                findings[i] = scan.Findings[i];
            }

            throw new StateSecretDetectedException(scope, key, typeName, Array.AsReadOnly(findings), scan.Count);
        }

        foreach (SecretFinding finding in scan.Findings)
        {
            Log.SecretRedacted(logger, scope, key, typeName, finding.MemberPath, finding.KindName);
        }
    }
}
