using System;
using System.IO;

namespace StateGen.Benchmarks;

/// <summary>The temporary folder a benchmark class keeps its database files in.</summary>
internal static class BenchFolder
{
    /// <summary>Creates a new, uniquely named folder under the temp path.</summary>
    public static string Create()
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>Deletes the folder; one left behind (a file still open) is harmless.</summary>
    public static void Delete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }
}
