using System;
using System.Diagnostics;
using System.IO;

namespace StateGen.Tests.TestSupport;

/// <summary>Where the kill tests' child process (tests/StateGen.CrashWriter) is built, and the host that runs it.</summary>
internal static class CrashWriterChild
{
    /// <summary>The child's dll, next to this test assembly's output (checked to exist).</summary>
    public static string Path()
    {
        string writer = System.IO.Path.Combine(AppContext.BaseDirectory.Replace(
            System.IO.Path.DirectorySeparatorChar + "StateGen.Tests" + System.IO.Path.DirectorySeparatorChar,
            System.IO.Path.DirectorySeparatorChar + "StateGen.CrashWriter" + System.IO.Path.DirectorySeparatorChar,
            StringComparison.Ordinal), "StateGen.CrashWriter.dll");
        Assert.True(File.Exists(writer), $"the child process is not built: {writer}");
        return writer;
    }

    /// <summary>The <c>dotnet</c> host running these tests (falls back to the one on the PATH).</summary>
    public static string DotnetHost()
        => Environment.ProcessPath is { } host && System.IO.Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

    /// <summary>
    /// The child, not started: the host running <paramref name="writer"/> (from <see cref="Path"/>) with
    /// <paramref name="arguments"/>, its output and errors redirected for the test to read.
    /// </summary>
    public static Process Create(string writer, params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(writer);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new Process { StartInfo = start };
    }
}
