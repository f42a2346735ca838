using System;
using System.IO;

namespace StateGen.EndToEnd.Tests;

/// <summary>A test class whose database files live in a fresh temporary folder, deleted after each test.</summary>
public abstract class TempFolderTest : IDisposable
{
    /// <summary>The folder, under the system temp folder; created by the first database opened in it.</summary>
    protected string Folder { get; } = Path.Combine(Path.GetTempPath(), "stategen-e2e", Guid.NewGuid().ToString("N"));

    /// <summary>Deletes the folder and everything in it.</summary>
    public void Dispose()
    {
        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }

        GC.SuppressFinalize(this);
    }
}
