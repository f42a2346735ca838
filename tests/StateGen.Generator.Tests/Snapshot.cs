using System;
using System.IO;
using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace StateGen.Generator.Tests;

/// <summary>
/// Golden files for generated code, under <c>Baselines/{Test}/{HintName}.txt</c>. A missing or different baseline
/// fails the test and writes <c>*.received.txt</c> beside it; set <c>UPDATE_SNAPSHOTS=1</c> to accept new output.
/// </summary>
internal static class Snapshot
{
    public static void Match(string test, string name, string actual)
    {
        string folder = Path.Combine(ProjectFolder(), "Baselines", test);
        string verified = Path.Combine(folder, name + ".txt");
        string received = Path.Combine(folder, name + ".received.txt");
        actual = actual.Replace("\r\n", "\n");

        if (Environment.GetEnvironmentVariable("UPDATE_SNAPSHOTS") == "1")
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(verified, actual, new UTF8Encoding(false));
            File.Delete(received);
            return;
        }

        if (!File.Exists(verified))
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(received, actual, new UTF8Encoding(false));
            Assert.Fail($"No baseline at {verified}. Review {received}, then run the tests with UPDATE_SNAPSHOTS=1 to accept it.");
        }

        string expected = File.ReadAllText(verified).Replace("\r\n", "\n");
        if (expected == actual)
        {
            File.Delete(received);
            return;
        }

        File.WriteAllText(received, actual, new UTF8Encoding(false));
        Assert.Fail($"Generated code differs from {verified} (received: {received}; accept with UPDATE_SNAPSHOTS=1):{Environment.NewLine}{Diff(expected, actual)}");
    }

    /// <summary>
    /// This test project's source folder, found from the test binaries (not [CallerFilePath]: CI builds map source paths
    /// to <c>/_/</c> for deterministic output).
    /// </summary>
    private static string ProjectFolder()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "tests", "StateGen.Generator.Tests");
            if (File.Exists(Path.Combine(directory.FullName, "StateGen.sln")) && Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"Cannot find the repository (StateGen.sln) above {AppContext.BaseDirectory}.");
    }

    private static string Diff(string expected, string actual)
    {
        DiffPaneModel diff = InlineDiffBuilder.Diff(expected, actual);
        var builder = new StringBuilder();
        int shown = 0;
        foreach (DiffPiece line in diff.Lines)
        {
            if (line.Type == ChangeType.Unchanged || shown++ > 60)
            {
                continue;
            }

            builder.Append(line.Type == ChangeType.Inserted ? "+ " : "- ").AppendLine(line.Text);
        }

        return builder.ToString();
    }
}
