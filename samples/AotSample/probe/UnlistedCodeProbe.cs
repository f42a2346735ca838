// Self-test only (check-aot.sh --self-test): compiled only with -p:AotSampleProbe=UnlistedCodeProbe.
// A trim warning with a code LiteDB does not produce (IL2026), so the native compiler's warnings-as-errors must fail
// the publish itself.
#pragma warning disable CA2255 // ModuleInitializer in an app: it keeps the probe reachable without touching Program.cs.
namespace AotSample.Probe;

internal static class UnlistedCodeProbe
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Run()
    {
        if (System.Environment.GetEnvironmentVariable("AOT_PROBE_JSON") is { } value)
        {
            _ = System.Text.Json.JsonSerializer.Serialize<object>(value);
        }
    }
}
