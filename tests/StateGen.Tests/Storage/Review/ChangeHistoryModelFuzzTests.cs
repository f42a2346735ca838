using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage.Review;

public sealed class ChangeHistoryModelFuzzTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 4, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _out;
    public ChangeHistoryModelFuzzTests(ITestOutputHelper output) => _out = output;
    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Random_commits_deletes_logoff_prunes()
    {
        string[] corrs = ["A", "B"];
        int failures = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var rnd = new Random(seed);
            var time = new ManualTimeProvider(Start);
            string path = _dir.File($"f{seed}.db");
            var trace = new List<string>();
            bool record = true;
            LiteDbStateStore Open() => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, TimeProvider = time, RecordChanges = record });
            LiteDbStateStore store = Open();
            var existing = new HashSet<string>();
            try
            {
                for (int step = 0; step < 60; step++)
                {
                    time.Advance(TimeSpan.FromMinutes(rnd.Next(5) == 0 ? -rnd.Next(1, 30) : 1));
                    int op = rnd.Next(20);
                    if (op < 12)
                    {
                        var ops = new List<StateOperation>();
                        int n = rnd.Next(1, 4);
                        for (int i = 0; i < n; i++)
                        {
                            string key = "k" + rnd.Next(4);
                            string? corr = rnd.Next(4) == 0 ? null : corrs[rnd.Next(2)];
                            if (rnd.Next(3) == 0)
                            {
                                ops.Add(new StateDelete("agent/a", key) { CorrelationId = corr });
                            }
                            else
                            {
                                ops.Add(new StateWrite("agent/a", key, "Note", 1, Encoding.UTF8.GetBytes(step.ToString(CultureInfo.InvariantCulture))) { CorrelationId = corr });
                            }
                        }

                        await store.CommitAsync(ops);
                        trace.Add("commit " + string.Join(" ", ops.Select(o => (o is StateDelete ? "D" : "W") + o.Key + ":" + o.CorrelationId)));
                    }
                    else if (op < 15)
                    {
                        DateTimeOffset? age = rnd.Next(2) == 0 ? time.GetUtcNow().AddMinutes(-rnd.Next(0, 40)) : null;
                        int? keep = age is null || rnd.Next(2) == 0 ? rnd.Next(0, 3) : null;
                        long removed = await store.PruneChangesAsync(age, keep);
                        trace.Add($"prune age {age:HH:mm} keep {keep}: {removed}");
                    }
                    else if (op < 17)
                    {
                        await store.DisposeAsync();
                        record = rnd.Next(3) != 0;
                        store = Open();
                        trace.Add($"reopen record={record}");
                    }

                    // Reads: every key history and every correlation history; compare with the full log.
                    var all = await store.ReadChangesAsync(new StateChangeQuery());
                    for (int k = 0; k < 4; k++)
                    {
                        IReadOnlyList<StateChangeRecord> h;
                        try { h = await store.ReadChangesAsync(new StateChangeQuery { Scope = "agent/a", Key = "k" + k }); }
                        catch (StateStoreCorruptedException)
                        {
                            var e = await store.GetAsync("agent/a", "k" + k);
                            throw new Exception($"key k{k} (entry v{e?.Version}, record={record}) log: " + string.Join(" ", all.Where(r => r.Key == "k" + k).Select(r => $"{r.Sequence}:{r.Kind}:ps{r.PreviousSequence}")) + "\n  FULL: " + string.Join(" ", all.Select(r => $"{r.Sequence}{r.Kind.ToString()[0]}{r.Key}")));
                        }
                        Assert.Equal(all.Where(r => r.Key == "k" + k).Select(r => r.Sequence), h.Select(r => r.Sequence));
                        var h2 = await store.ReadChangesAsync(new StateChangeQuery { Scope = "agent/a", Key = "k" + k, Limit = 1, AfterSequence = 3 });
                    }

                    foreach (string c in corrs)
                    {
                        var h = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = c });
                        Assert.Equal(all.Where(r => r.CorrelationId == c).Select(r => r.Sequence), h.Select(r => r.Sequence));
                        var h2 = await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = c, Limit = 2, AfterSequence = 5 });
                    }
                }
            }
            catch (Exception ex)
            {
                failures++;
                _out.WriteLine($"seed {seed}: {ex.GetType().Name}: {ex.Message}\n  " + string.Join("\n  ", trace));
            }
            finally
            {
                await store.DisposeAsync();
            }
        }

        Assert.Equal(0, failures);
    }
}
