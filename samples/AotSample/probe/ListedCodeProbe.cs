// Self-test only (check-aot.sh --self-test): compiled only with -p:AotSampleProbe=ListedCodeProbe.
// A trim warning with a code that LiteDB also produces (IL2057), so the native compiler reports it as a warning:
// check-aot.sh must still fail because it does not come from LiteDB.
#pragma warning disable CA2255 // ModuleInitializer in an app: it keeps the probe reachable without touching Program.cs.
namespace AotSample.Probe;

internal static class ListedCodeProbe
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Run() => _ = System.Type.GetType(System.Environment.GetEnvironmentVariable("AOT_PROBE_TYPE") ?? "None");
}
