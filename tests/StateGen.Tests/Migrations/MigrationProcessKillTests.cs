using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Migrations;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit.Abstractions;

namespace StateGen.Tests.Migrations;

/// <summary>
/// A child process (tests/StateGen.CrashWriter, mode <c>migrate</c>) runs a store-wide migration and kills itself with
/// SIGKILL after a random number of committed batches. After every kill the file opens, every document is either at its
/// old version with its old bytes or fully migrated, the migrated ones are whole batches, and a rerun finishes the job.
/// </summary>
public sealed class MigrationProcessKillTests : IDisposable
{
    private const int Cycles = 8;
    private const int Documents = 400;
    private const int BatchSize = 10; // the child's (StateGen.CrashWriter MigrateMode.BatchSize)
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public MigrationProcessKillTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Sigkill_during_a_migration_leaves_each_document_old_or_new_and_a_rerun_completes()
    {
        string child = CrashWriterChild.Path();
        var random = new Random(11);
        int killedMidway = 0;
        for (int cycle = 0; cycle < Cycles; cycle++)
        {
            string path = _dir.File($"migrating-{cycle}.db");
            string[] originals = await SeedAsync(path);
            int killAfter = random.Next(1, Documents / BatchSize);
            int pauseMs = random.Next(0, 40);
            bool finished = await RunAndKillAsync(child, path, killAfter, pauseMs);
            killedMidway += finished ? 0 : 1;

            await using var manager = new StateManager(new LiteDbStateStore(path));
            int migrated = 0;
            for (int i = 0; i < Documents; i++)
            {
                StoredEntry entry = (await manager.Store.GetAsync("global", Key(i)))!;
                if (entry.SchemaVersion == 3)
                {
                    migrated++;
                    Assert.Equal(Migrated(i), Encoding.UTF8.GetString(entry.Payload.Span));
                }
                else
                {
                    Assert.Equal(originals[i], Encoding.UTF8.GetString(entry.Payload.Span)); // never a half-migrated document
                }
            }

            Assert.True(migrated % BatchSize == 0, $"cycle {cycle}: {migrated} migrated is not a whole number of batches");
            _output.WriteLine($"cycle {cycle}: aimed {pauseMs} ms after batch {killAfter}: {(finished ? "finished first" : "killed")}, {migrated} migrated");
            MigrationReport rerun = await new MigrationManager(manager).Register<Ticket>().ApplyAsync(new MigrationRequest { AllowDestructive = true });
            Assert.Equal((Documents - migrated, (long)migrated), (rerun.Migrated, rerun.Unchanged));
            for (int i = 0; i < Documents; i++)
            {
                Assert.Equal(Migrated(i), Encoding.UTF8.GetString((await manager.Store.GetAsync("global", Key(i)))!.Payload.Span));
            }
        }

        Assert.True(killedMidway >= Cycles / 2, $"only {killedMidway} of {Cycles} runs were killed before they finished");
    }

    /// <summary>
    /// Runs the child, which kills itself (SIGKILL) <paramref name="pauseMs"/> after its <paramref name="killAfterBatches"/>-th
    /// batch report, by its own clock (aimed from here, by when this reads its lines, a loaded machine made the kills late
    /// enough that runs finished first); true if it finished first.
    /// </summary>
    private static async Task<bool> RunAndKillAsync(string child, string path, int killAfterBatches, int pauseMs)
    {
        var errors = new StringBuilder();
        using Process process = CrashWriterChild.Create(
            child, "migrate", path, killAfterBatches.ToString(CultureInfo.InvariantCulture), pauseMs.ToString(CultureInfo.InvariantCulture));
        bool done = false;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "done")
            {
                Volatile.Write(ref done, true);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Task exited = process.WaitForExitAsync();
        try
        {
            // The child pauses 25 ms after each batch: the kill lands in the pause or the next batch.
            await Task.WhenAny(exited, Task.Delay(TimeSpan.FromMinutes(2)));
            Assert.True(exited.IsCompleted, "the child neither finished nor killed itself in 2 minutes: " + errors);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(); // SIGKILL on Linux
            }

            await exited; // also drains the redirected output
        }

        lock (errors)
        {
            Assert.DoesNotContain("Unhandled exception", errors.ToString(), StringComparison.Ordinal);
            bool finished = Volatile.Read(ref done);
            Assert.True(
                finished || (process.ExitCode == 137 && errors.ToString().Contains("kill @", StringComparison.Ordinal)),
                $"the child stopped with {process.ExitCode} before it finished, not killed by itself: {errors}");
            return finished;
        }
    }

    private static async Task<string[]> SeedAsync(string path)
    {
        var originals = new string[Documents];
        await using var store = new LiteDbStateStore(path);
        var writes = new StateOperation[Documents];
        for (int i = 0; i < Documents; i++)
        {
            originals[i] = i % 2 == 0 ? Ticket.V1(Id(i), "subject-" + i, "high") : Ticket.V2(Id(i), "subject-" + i, "low");
            writes[i] = new StateWrite("global", Key(i), Ticket.TypeName, i % 2 == 0 ? 1 : 2, Encoding.UTF8.GetBytes(originals[i]));
        }

        await store.CommitAsync(writes);
        return originals;
    }

    private static string Migrated(int i) => $$"""{"Id":"{{Id(i)}}","Subject":"subject-{{i}}","Priority":{{(i % 2 == 0 ? 3 : 1)}}}""";

    private static string Id(int i) => "t-" + i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);

    private static string Key(int i) => "ticket/" + Id(i);
}

