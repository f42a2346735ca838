using System;
using System.IO;

namespace StateGen.Tests.TestSupport;

/// <summary>A unique folder under <c>{temp}/stategen-tests/</c>, deleted with everything in it on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "stategen-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>A path for a new file in this folder (the file is not created).</summary>
    public string File(string name = "state.db") => System.IO.Path.Combine(Path, name);

    /// <summary>A path for a new, uniquely named database file in this folder.</summary>
    public string NewDatabaseFile() => File(Guid.NewGuid().ToString("N") + ".db");

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
