using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// Write batching in the LiteDB store: commits that queue while the writer is busy share one LiteDB transaction, each
/// gets its own results, and each keeps its own all-or-nothing (a commit that fails its own checks fails alone; a failure
/// of the shared transaction fails every commit in it, and none of them is applied). Real files and the simulated disk,
/// both change-log layouts, reopened after.
/// </summary>
public sealed class LiteDbGroupCommitTests : IDisposable
{
    private const string Scope = "agent/a1";
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDbStateStore Open(string path, bool segmented, Func<string, StoreFile>? openFile = null)
        => new(new LiteDbStateStoreOptions { Path = path, SegmentChangeLog = segmented, OpenFile = openFile });

    private static StateWrite Write(string key, string text, long? expectedVersion = null, string? correlationId = null)
        => new(Scope, key, "Note", 1, Encoding.UTF8.GetBytes("\"" + text + "\""), expectedVersion) { CorrelationId = correlationId };

    private static async Task<string?> TextAsync(IStateStore store, string key)
        => await store.GetAsync(Scope, key) is { } entry ? Encoding.UTF8.GetString(entry.Payload.Span).Trim('"') : null;

    /// <summary>
    /// Holds the writer's lock on a thread of its own while <paramref name="commits"/> start one by one (each blocks on the
    /// lock on a pool thread once queued), until all of them are queued; then lets go, so that the first to get the lock
    /// takes them all, in the list's order.
    /// </summary>
    private static async Task<Task<IReadOnlyList<StateOperationResult>>[]> QueuedAsync(LiteDbStateStore store, IReadOnlyList<IReadOnlyList<StateOperation>> commits)
    {
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (store.WriterLockForTests)
            {
                held.Set();
                release.Wait();
            }
        });
        holder.Start();
        held.Wait();
        // One at a time, each queued before the next starts: the queue's order is the list's.
        int before = store.PendingCommits;
        var tasks = new Task<IReadOnlyList<StateOperationResult>>[commits.Count];
        var waited = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < commits.Count; i++)
        {
            IReadOnlyList<StateOperation> commit = commits[i];
            tasks[i] = Task.Run(() => store.CommitAsync(commit).AsTask());
            while (store.PendingCommits < before + i + 1)
            {
                Assert.True(waited.Elapsed < Hang, $"only {store.PendingCommits - before} of {commits.Count} commits queued");
                await Task.Delay(2);
            }
        }

        release.Set();
        holder.Join();
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(Hang);
        return tasks;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Queued_commits_share_one_transaction_and_each_gets_its_own_results(bool segmented)
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path, segmented))
        {
            await store.WriteAsync(Write("k0", "seed"));
            var commits = Enumerable.Range(1, 8)
                .Select(i => (IReadOnlyList<StateOperation>)[Write("k" + i, "v" + i, correlationId: "c" + i), Write("shared", "from " + i)])
                .ToArray();
            var tasks = await QueuedAsync(store, commits);

            Assert.Equal(1, store.GroupedTransactions);
            for (int i = 0; i < commits.Length; i++)
            {
                IReadOnlyList<StateOperationResult> results = await tasks[i];
                Assert.Equal(2, results.Count);
                Assert.Equal("k" + (i + 1), results[0].Stored!.Key);
                Assert.Equal(1, results[0].Stored!.Version);

                // In queue order, so "shared" went 1, 2, ... and its change sequences follow each commit's own first one.
                Assert.Equal(results[0].ChangeSequence + 1, results[1].ChangeSequence);
            }

            // The last commit to run wrote "shared" last; its version counts all eight.
            var shared = tasks.Select(t => t.Result[1]).OrderBy(r => r.ChangeSequence).ToArray();
            Assert.Equal(Enumerable.Range(1, 8).Select(v => (long)v), shared.Select(r => r.Stored!.Version));
            Assert.Equal(shared.Select(r => r.ChangeSequence), shared.Select(r => r.ChangeSequence).Order());
        }

        using LiteDbStateStore reopened = Open(path, segmented);
        for (int i = 1; i <= 8; i++)
        {
            Assert.Equal("v" + i, await TextAsync(reopened, "k" + i));
            StateChangeRecord record = Assert.Single(await reopened.ReadChangesAsync(new StateChangeQuery { CorrelationId = "c" + i }));
            Assert.Equal("k" + i, record.Key);
        }

        Assert.Equal(8, (await reopened.GetAsync(Scope, "shared"))!.Version);
        Assert.Equal(1 + 16, (await reopened.ReadChangesAsync(new StateChangeQuery())).Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_commit_that_fails_its_own_check_fails_alone_and_the_others_of_its_group_are_applied(bool segmented)
    {
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path, segmented))
        {
            await store.WriteAsync(Write("a", "a1"));
            IReadOnlyList<StateOperation>[] commits =
            [
                [Write("x", "x1")],
                [Write("a", "stale", expectedVersion: 5), Write("y", "never")], // a version conflict
                [Write("a", "a2", expectedVersion: 1)],
                [Write("a", "a3", expectedVersion: 1)], // a conflict only because the commit before it in the group wrote "a"
                [Write("z", "z1", correlationId: new string('c', 2000))], // refused: too long for the change log
                [Write("w", "w1")],
            ];
            var tasks = await QueuedAsync(store, commits);

            Assert.Equal(0, store.GroupedTransactions); // the shared attempt was rolled back; each ran on its own
            Assert.Equal(1, (await tasks[0])[0].Stored!.Version);
            var conflict = await Assert.ThrowsAsync<StateConcurrencyException>(() => tasks[1]);
            Assert.Equal(5, conflict.ExpectedVersion);
            Assert.Equal(2, (await tasks[2])[0].Stored!.Version);
            var late = await Assert.ThrowsAsync<StateConcurrencyException>(() => tasks[3]);
            Assert.Equal(2, late.StoredVersion);
            await Assert.ThrowsAsync<StateStoreException>(() => tasks[4]);
            Assert.Equal(1, (await tasks[5])[0].Stored!.Version);
        }

        using LiteDbStateStore reopened = Open(path, segmented);
        Assert.Equal("x1", await TextAsync(reopened, "x"));
        Assert.Equal("a2", await TextAsync(reopened, "a"));
        Assert.Null(await TextAsync(reopened, "y"));
        Assert.Null(await TextAsync(reopened, "z"));
        Assert.Equal("w1", await TextAsync(reopened, "w"));
        Assert.Equal(new[] { "a", "x", "a", "w" }, (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Key));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_write_of_the_shared_transaction_fails_every_commit_in_it_and_applies_none(bool segmented)
    {
        var disk = new SimulatedDisk();
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path, segmented, disk.Open))
        {
            await store.WriteAsync(Write("a", "a1"));
            disk.FailAt(write: 1);
            var tasks = await QueuedAsync(store, Enumerable.Range(1, 5).Select(i => (IReadOnlyList<StateOperation>)[Write("k" + i, "v" + i)]).ToArray());
            foreach (var task in tasks)
            {
                await Assert.ThrowsAsync<StateStoreException>(() => task);
            }

            disk.FailAt();

            // The same store goes on (it reopened LiteDB over its files), without any of them.
            for (int i = 1; i <= 5; i++)
            {
                Assert.Null(await TextAsync(store, "k" + i));
            }

            await store.WriteAsync(Write("b", "b1")).AsTask().WaitAsync(Hang);
        }

        using LiteDbStateStore reopened = Open(path, segmented, new SimulatedDisk(disk.Contents()).Open);
        Assert.Equal(new[] { "a", "b" }, (await reopened.ReadChangesAsync(new StateChangeQuery())).Select(r => r.Key));
        Assert.Equal("b1", await TextAsync(reopened, "b"));
    }

    /// <summary>
    /// A burst of writers: each commit is led or found done by a leader, and the turn to lead passes on after every
    /// group, so every writer finishes and each writer's own commits keep their order (each expects the version its last
    /// one stored). Reopened after.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_burst_of_writers_all_finish_and_keep_each_writers_order(bool segmented)
    {
        const int Writers = 32;
        const int PerWriter = 40;
        string path = _dir.NewDatabaseFile();
        using (LiteDbStateStore store = Open(path, segmented))
        {
            using var start = new ManualResetEventSlim();
            Task[] writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                start.Wait();
                long? version = null;
                for (int i = 1; i <= PerWriter; i++)
                {
                    IReadOnlyList<StateOperationResult> results = await store.CommitAsync([Write("w" + w, "v" + i, expectedVersion: version ?? 0)]);
                    version = results[0].Stored!.Version;
                    Assert.Equal(i, version);
                }
            })).ToArray();
            start.Set();
            await Task.WhenAll(writers).WaitAsync(Hang);

            // (Whether commits shared transactions depends on timing: the queued test above shows they do.)
            Assert.Equal(0, store.PendingCommits);

            // The store takes a lone commit at once after the burst (the turn was given back, not left taken).
            await store.WriteAsync(Write("after", "x")).AsTask().WaitAsync(Hang);
        }

        using LiteDbStateStore reopened = Open(path, segmented);
        for (int w = 0; w < Writers; w++)
        {
            StoredEntry entry = (await reopened.GetAsync(Scope, "w" + w))!;
            Assert.Equal(PerWriter, entry.Version);
            Assert.Equal("v" + PerWriter, await TextAsync(reopened, "w" + w));
            Assert.Equal(
                Enumerable.Range(1, PerWriter).Select(v => (long)v),
                (await reopened.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = "w" + w })).Select(r => r.Version));
        }
    }

    /// <summary>
    /// Closed while commits queue: a leader refused by the closed store passes the turn on, and so does each caller after
    /// it, so every queued commit either committed before the close or fails with <see cref="ObjectDisposedException"/>;
    /// none hangs.
    /// </summary>
    [Fact]
    public async Task A_store_closed_while_commits_wait_fails_each_of_them_and_none_hangs()
    {
        string path = _dir.NewDatabaseFile();
        var store = Open(path, segmented: true);
        await store.WriteAsync(Write("seed", "s"));
        Task closing = Task.CompletedTask;
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (store.WriterLockForTests)
            {
                held.Set();
                release.Wait();

                // Closed while the writer's lock is still held here: the close and the leader both wait for it, and
                // whichever gets it first decides whether the queued commits commit (the leader) or are refused.
                closing = Task.Run(store.Dispose);
                Thread.Sleep(100); // time for the close to start waiting (either order is checked below)
            }
        });
        holder.Start();
        held.Wait();
        var tasks = new List<Task<IReadOnlyList<StateOperationResult>>>();
        for (int i = 0; i < 8; i++)
        {
            IReadOnlyList<StateOperation> commit = [Write("k" + i, "v" + i)];
            tasks.Add(Task.Run(() => store.CommitAsync(commit).AsTask()));
            SpinWait.SpinUntil(() => store.PendingCommits == i + 1, Hang);
        }

        release.Set();
        holder.Join();
        await closing.WaitAsync(Hang);
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(Hang);
        int committed = 0;
        foreach (var task in tasks)
        {
            if (task.IsCompletedSuccessfully)
            {
                committed++;
            }
            else
            {
                Assert.IsType<ObjectDisposedException>(task.Exception!.InnerException);
            }
        }

        // Whatever committed is in the file; nothing else is.
        using LiteDbStateStore reopened = Open(path, segmented: true);
        int stored = 0;
        for (int i = 0; i < 8; i++)
        {
            stored += await TextAsync(reopened, "k" + i) is null ? 0 : 1;
        }

        Assert.Equal(committed, stored);
    }
}
