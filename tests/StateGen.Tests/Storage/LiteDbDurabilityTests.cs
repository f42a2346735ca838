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
/// Durability levels of the LiteDB store under simulated power loss (<see cref="SimulatedDisk"/>): what a durable store
/// acknowledged is on the disk, a relaxed store loses at most what was written since its last flush, and concurrent
/// writers share flushes (group commit).
/// </summary>
public sealed class LiteDbDurabilityTests : IDisposable
{
    internal const int Keys = 6;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>One writer's view: what it was told is stored, and the call it had not been answered for at the crash.</summary>
    internal sealed class Writer(string scope, Random random, bool singleWrites = false)
    {
        public bool SingleWrites { get; } = singleWrites;

        public string Scope { get; } = scope;

        public Random Random { get; } = random;

        public Dictionary<string, (long Version, byte[] Payload)?> Acknowledged { get; } = new(StringComparer.Ordinal);

        public List<StateOperation>? InFlight { get; set; }

        public int Calls { get; set; }
    }

    [Fact]
    public async Task Durable_store_loses_no_acknowledged_commit_at_a_power_cut_over_200_seeds()
    {
        var failures = new List<string>();
        int torn = 0;
        int checkpointing = 0;
        int acknowledged = 0;
        for (int seed = 1; seed <= 200; seed++)
        {
            string path = _dir.File($"power-{seed}.db");
            PowerCut cut = await RunToPowerCutAsync(seed, (disk, checkpointPages, _) => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open, CheckpointPages = checkpointPages }));
            torn += cut.Torn ? 1 : 0;
            checkpointing += cut.Checkpoints ? 1 : 0;
            acknowledged += cut.Writers.Sum(w => w.Calls);

            string? failure = await VerifyAsync(new SimulatedDisk(cut.Images), path, cut.Writers);
            if (failure is not null)
            {
                failures.Add($"seed {seed} ({(cut.Torn ? "torn" : "clean")} crash): {failure}");
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures.Take(10)));
        Assert.InRange(torn, 1, 199); // both crash models ran
        Assert.InRange(checkpointing, 1, 199);
        Assert.True(acknowledged > 200, $"only {acknowledged} acknowledged calls: the crashes came too early to test much");
    }

    [Fact]
    public async Task Relaxed_store_loses_at_most_what_was_written_since_its_last_flush()
    {
        for (int seed = 1; seed <= 40; seed++)
        {
            var rng = new Random(seed);
            var disk = new SimulatedDisk(rng.Next(2) == 0 ? new Random(seed) : null);
            string path = _dir.File($"relaxed-{seed}.db");
            var store = new LiteDbStateStore(new LiteDbStateStoreOptions
            {
                Path = path,
                OpenFile = disk.Open,
                Durability = StateDurability.Relaxed,
                RelaxedFlushInterval = TimeSpan.FromHours(1),
            });
            var writer = new Writer("w", new Random(rng.Next()));

            // Phase 1: acknowledged and flushed.
            for (int i = rng.Next(1, 20); i > 0; i--)
            {
                await WriteOnceAsync(store, writer);
            }

            await store.FlushAsync();
            var flushed = new Dictionary<string, (long Version, byte[] Payload)?>(writer.Acknowledged, StringComparer.Ordinal);
            long logSyncs = disk.SyncCount(LiteDbStateStore.LogPath(path));

            // Phase 2: acknowledged, not flushed: a relaxed write does not wait for the disk.
            var states = new List<Dictionary<string, (long Version, byte[] Payload)?>> { flushed };
            for (int i = rng.Next(1, 20); i > 0; i--)
            {
                await WriteOnceAsync(store, writer);
                states.Add(new Dictionary<string, (long Version, byte[] Payload)?>(writer.Acknowledged, StringComparer.Ordinal));
            }

            Assert.Equal(logSyncs, disk.SyncCount(LiteDbStateStore.LogPath(path)));
            IReadOnlyDictionary<string, byte[]> images = disk.Crash();
            DisposeAfterCrash(store);

            // What survives is the flushed state or a later acknowledged one, whole: never less, never a torn value.
            using var reopened = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = new SimulatedDisk(images).Open });
            var actual = await ReadAllAsync(reopened, writer.Scope);
            Assert.True(states.Any(s => Same(s, actual)), $"seed {seed}: the reopened file holds a state that was never acknowledged (or lost a flushed one)");
        }
    }

    /// <param name="writeBehind">Written behind, the interval's flush is the change-log segment's (LiteDB is not written yet).</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Relaxed_store_flushes_on_its_interval_and_on_dispose(bool writeBehind)
    {
        var disk = new SimulatedDisk();
        string path = _dir.File("relaxed-interval.db");
        string log = writeBehind
            ? System.IO.Path.Combine(StateGen.Storage.ChangeLog.SegmentLog.FolderFor(path), StateGen.Storage.ChangeLog.SegmentFormat.FileName(1))
            : LiteDbStateStore.LogPath(path);
        var writer = new Writer("w", new Random(3));
        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = path,
            OpenFile = disk.Open,
            Durability = StateDurability.Relaxed,
            RelaxedFlushInterval = TimeSpan.FromMilliseconds(20),
            WriteBehind = writeBehind,
        }))
        {
            long before = disk.SyncCount(log);
            await WriteOnceAsync(store, writer);

            // Liveness, not timing: the interval's flush comes (waits at most 30 s).
            for (int i = 0; i < 3000 && disk.SyncCount(log) == before; i++)
            {
                await Task.Delay(10);
            }

            Assert.True(disk.SyncCount(log) > before, "the relaxed store never flushed on its interval");
            using var copy = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.File("interval-copy.db"), OpenFile = new SimulatedDisk(SimulatedDisk.Rename(disk.Images(), path, _dir.File("interval-copy.db"))).Open });
            Assert.True(Same(writer.Acknowledged, await ReadAllAsync(copy, writer.Scope)));
        }

        var disposed = new SimulatedDisk();
        string path2 = _dir.File("relaxed-dispose.db");
        var writer2 = new Writer("w", new Random(4));
        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path2, OpenFile = disposed.Open, Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.FromHours(1), WriteBehind = writeBehind }))
        {
            for (int i = 0; i < 10; i++)
            {
                await WriteOnceAsync(store, writer2);
            }
        }

        IReadOnlyDictionary<string, byte[]> images = disposed.Crash();
        using var reopened = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path2, OpenFile = new SimulatedDisk(images).Open });
        Assert.True(Same(writer2.Acknowledged, await ReadAllAsync(reopened, writer2.Scope)));
    }

    /// <param name="writeBehind">
    /// Written behind, the one flush is the change-log segment's alone: LiteDB's files are not written (nor flushed)
    /// until the overlay is applied.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_lone_durable_writer_pays_exactly_one_flush_per_commit_and_is_durable_when_it_returns(bool writeBehind)
    {
        var disk = new SimulatedDisk();
        string path = _dir.File("lone.db");
        string log = LiteDbStateStore.LogPath(path);
        string segment = System.IO.Path.Combine(StateGen.Storage.ChangeLog.SegmentLog.FolderFor(path), StateGen.Storage.ChangeLog.SegmentFormat.FileName(1));
        using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open, WriteBehind = writeBehind });
        var writer = new Writer("w", new Random(5), singleWrites: true);
        for (int i = 0; i < 25; i++)
        {
            long logBefore = disk.SyncCount(log);
            long dataBefore = disk.SyncCount(path);
            long segmentBefore = disk.SyncCount(segment);
            await WriteOnceAsync(store, writer);
            Assert.Equal(writeBehind ? logBefore : logBefore + 1, disk.SyncCount(log));
            Assert.Equal(dataBefore, disk.SyncCount(path));
            Assert.Equal(segmentBefore + 1, disk.SyncCount(segment));

            // The flushed image alone (what a power cut would leave) already holds the change.
            string copyPath = _dir.File($"lone-copy-{i}.db");
            using var copy = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = copyPath, OpenFile = new SimulatedDisk(SimulatedDisk.Rename(disk.Images(), path, copyPath)).Open });
            Assert.True(Same(writer.Acknowledged, await ReadAllAsync(copy, writer.Scope)), $"write {i} was acknowledged before it was on the disk");
            Assert.True(writeBehind ? copy.ReplayedAtOpen > 0 : copy.ReplayedAtOpen == 0, $"{copy.ReplayedAtOpen} records past meta.S");
        }
    }

    /// <param name="writeBehind">Written behind, the shared flushes are the change-log segment's (LiteDB is not written yet).</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Thirty_two_concurrent_durable_writers_share_flushes_and_each_is_durable_when_it_returns(bool writeBehind)
    {
        const int WriterCount = 32;
        const int Rounds = 5;
        var disk = new SimulatedDisk();
        string path = _dir.File("group.db");
        string log = writeBehind
            ? System.IO.Path.Combine(StateGen.Storage.ChangeLog.SegmentLog.FolderFor(path), StateGen.Storage.ChangeLog.SegmentFormat.FileName(1))
            : LiteDbStateStore.LogPath(path);

        // No checkpoint during the rounds: a checkpoint flushes the log first (write-ahead) and would wait behind the
        // held flush below, which waits for commits that cannot happen meanwhile.
        using var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open, CheckpointPages = 100_000, WriteBehind = writeBehind }); // (LiteDB multiplies it by 8192 in an int)
        var committed = 0;
        var durableOnReturn = 0;

        for (int round = 0; round < Rounds; round++)
        {
            // A slow disk: the first flush of the round waits until every writer has committed, so the ones behind it
            // must be covered by one more flush, not 31.
            long roundStart = store.CommitCount;
            int held = 0;
            disk.BeforeSync = _ =>
            {
                if (Interlocked.Exchange(ref held, 1) == 0)
                {
                    SpinWait.SpinUntil(() => store.CommitCount - roundStart >= WriterCount, TimeSpan.FromSeconds(30));
                }
            };

            long syncsBefore = disk.SyncCount(log);
            using var start = new ManualResetEventSlim();
            Task[] tasks = Enumerable.Range(0, WriterCount).Select(w => Task.Run(async () =>
            {
                start.Wait();
                byte[] payload = Encoding.UTF8.GetBytes($"{{\"w\":{w},\"r\":{round}}}");
                StoredEntry stored = await store.WriteAsync(new StateWrite("g", $"k{w}", "T", 1, payload));
                Interlocked.Increment(ref committed);

                // On return the flushed image holds this write.
                string copyPath = _dir.File($"group-copy-{round}-{w}.db");
                var images = SimulatedDisk.Rename(disk.Images(), path, copyPath);
                using var copy = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = copyPath, OpenFile = new SimulatedDisk(images).Open });
                StoredEntry? onDisk = await copy.GetAsync("g", $"k{w}");
                if (onDisk is not null && onDisk.Version >= stored.Version)
                {
                    Interlocked.Increment(ref durableOnReturn);
                }
            })).ToArray();
            start.Set();
            await Task.WhenAll(tasks);
            disk.BeforeSync = null;

            long syncs = disk.SyncCount(log) - syncsBefore;
            Assert.InRange(syncs, 1, 3); // 32 commits, a handful of flushes
        }

        Assert.Equal(WriterCount * Rounds, committed);
        Assert.Equal(WriterCount * Rounds, durableOnReturn);
    }

    [Fact]
    public async Task Free_running_concurrent_durable_writers_are_all_on_disk_after_a_power_cut()
    {
        var disk = new SimulatedDisk();
        string path = _dir.File("free.db");
        var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open });
        Writer[] writers = Enumerable.Range(0, 32).Select(i => new Writer($"w{i}", new Random(i))).ToArray();
        await Task.WhenAll(writers.Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < 10; i++)
            {
                await WriteOnceAsync(store, w);
            }
        })));

        IReadOnlyDictionary<string, byte[]> images = disk.Crash();
        DisposeAfterCrash(store);
        using var reopened = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = new SimulatedDisk(images).Open });
        foreach (Writer w in writers)
        {
            Assert.True(Same(w.Acknowledged, await ReadAllAsync(reopened, w.Scope)), $"writer {w.Scope} lost an acknowledged write");
        }
    }

    [Fact]
    public async Task Durable_is_the_default_and_real_files_reopen_after_writes()
    {
        Assert.Equal(StateDurability.Durable, new LiteDbStateStoreOptions().Durability);
        string path = _dir.File("real.db");
        var writer = new Writer("w", new Random(9));
        using (var store = new LiteDbStateStore(path))
        {
            Assert.Equal(StateDurability.Durable, store.Durability);
            for (int i = 0; i < 20; i++)
            {
                await WriteOnceAsync(store, writer);
            }
        }

        using (var reopened = new LiteDbStateStore(path))
        {
            Assert.True(Same(writer.Acknowledged, await ReadAllAsync(reopened, writer.Scope)));
        }

        Assert.False(System.IO.File.Exists(LiteDbStateStore.LogPath(path)), "an empty log is removed on close, as LiteDB does");
    }

    [Fact]
    public void Invalid_durability_options_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.File("a.db"), Durability = (StateDurability)7 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.File("a.db"), Durability = StateDurability.Relaxed, RelaxedFlushInterval = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.File("a.db"), CheckpointPages = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _dir.File("a.db"), CheckpointPages = LiteDbStateStore.MaxCheckpointPages + 1 }));
        using var store = new LiteDbStateStore(_dir.File("a.db")); // the rejected options left the file free
    }

    [Fact]
    public void The_checkpoint_threshold_is_the_option_or_the_stores_default_at_every_open()
    {
        string path = _dir.File("checkpoints.db");
        using (var store = new LiteDbStateStore(path))
        {
            Assert.Equal(LiteDbStateStore.DefaultCheckpointPages, store.CheckpointThreshold);
        }

        using (var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, CheckpointPages = 64 }))
        {
            Assert.Equal(64, store.CheckpointThreshold);
        }

        // LiteDB keeps the pragma in the file: a later open without the option goes back to the default.
        using var reopened = new LiteDbStateStore(path);
        Assert.Equal(LiteDbStateStore.DefaultCheckpointPages, reopened.CheckpointThreshold);
    }

    /// <summary>What a power cut left: the crash model, whether the store checkpointed often, the writers, the files.</summary>
    internal sealed record PowerCut(bool Torn, bool Checkpoints, Writer[] Writers, IReadOnlyDictionary<string, byte[]> Images);

    /// <summary>
    /// One seed of the power-cut sweep: a clean or torn crash model, LiteDB checkpoints every few commits in half the seeds
    /// (so cuts also land in checkpoints and log truncations), 1-4 concurrent writers, and the power cut after 1-399 page
    /// writes. <paramref name="open"/> makes the store on the disk with the checkpoint threshold (and may draw from the
    /// seed's <see cref="Random"/>).
    /// </summary>
    internal static async Task<PowerCut> RunToPowerCutAsync(int seed, Func<SimulatedDisk, int?, Random, LiteDbStateStore> open)
    {
        var rng = new Random(seed);
        bool torn = rng.Next(2) == 0;
        var disk = new SimulatedDisk(torn ? new Random(seed * 7919) : null);
        bool checkpoints = rng.Next(2) == 0;
        LiteDbStateStore store = open(disk, checkpoints ? rng.Next(4, 40) : null, rng);
        Writer[] writers = Enumerable.Range(0, rng.Next(1, 5)).Select(i => new Writer($"w{i}", new Random(rng.Next()))).ToArray();
        disk.CrashAfterWrites = rng.Next(1, 400);

        await Task.WhenAll(writers.Select(w => Task.Run(() => RunWriterAsync(store, w))));
        IReadOnlyDictionary<string, byte[]> images = disk.Crash();
        DisposeAfterCrash(store);
        return new PowerCut(torn, checkpoints, writers, images);
    }

    private static void DisposeAfterCrash(LiteDbStateStore store)
    {
        try
        {
            store.Dispose();
        }
        catch (StateGenException)
        {
            // With the power gone the final flush fails; the file is released anyway.
        }
    }

    private static async Task RunWriterAsync(LiteDbStateStore store, Writer writer)
    {
        for (int i = 0; i < 5000; i++)
        {
            try
            {
                await WriteOnceAsync(store, writer);
            }
            catch (StateGenException)
            {
                return; // the power went: this call was not acknowledged
            }
        }

        throw new InvalidOperationException("the simulated crash never came");
    }

    /// <summary>One random call (write, delete or batch); the model changes only once the call returns.</summary>
    private static async Task WriteOnceAsync(IStateStore store, Writer writer)
    {
        Random r = writer.Random;
        int kind = writer.SingleWrites ? 0 : r.Next(100);
        var ops = new List<StateOperation>();
        string[] keys = Enumerable.Range(0, Keys).Select(k => $"k{k}").OrderBy(_ => r.Next()).Take(kind < 70 ? 1 : r.Next(2, 5)).ToArray();
        foreach (string key in keys)
        {
            if (!writer.SingleWrites && r.Next(100) < 15)
            {
                ops.Add(new StateDelete(writer.Scope, key));
            }
            else
            {
                // Mostly small values, some spanning several pages.
                byte[] payload = new byte[r.Next(100) < 10 ? r.Next(9_000, 40_000) : r.Next(1, 600)];
                r.NextBytes(payload);
                ops.Add(new StateWrite(writer.Scope, key, "T", 1, payload));
            }
        }

        writer.InFlight = ops;
        if (ops.Count == 1 && ops[0] is StateWrite single)
        {
            StoredEntry stored = await store.WriteAsync(single);
            Assert.Equal(Expected(writer.Acknowledged, single.Key) + 1, stored.Version);
        }
        else if (ops.Count == 1)
        {
            await store.DeleteAsync(ops[0].Scope, ops[0].Key);
        }
        else
        {
            await store.CommitAsync(ops);
        }

        Apply(writer.Acknowledged, ops);
        writer.InFlight = null;
        writer.Calls++;
    }

    private static long Expected(Dictionary<string, (long Version, byte[] Payload)?> state, string key)
        => state.TryGetValue(key, out var entry) && entry is { } e ? e.Version : 0;

    private static void Apply(Dictionary<string, (long Version, byte[] Payload)?> state, IEnumerable<StateOperation> ops)
    {
        foreach (StateOperation op in ops)
        {
            state[op.Key] = op is StateWrite w ? (Expected(state, op.Key) + 1, w.Payload.ToArray()) : null;
        }
    }

    private static async Task<string?> VerifyAsync(SimulatedDisk disk, string path, Writer[] writers)
    {
        LiteDbStateStore reopened;
        try
        {
            reopened = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = path, OpenFile = disk.Open });
        }
        catch (StateGenException ex)
        {
            return $"the file did not open: {ex.GetType().Name}: {ex.Message} {ex.InnerException}";
        }

        using (reopened)
        {
            return await VerifyReopenedAsync(reopened, writers);
        }
    }

    /// <summary>
    /// Each writer's keys hold its acknowledged state, or that plus its unanswered call, and the store still takes writes:
    /// why not, or <see langword="null"/>.
    /// </summary>
    internal static async Task<string?> VerifyReopenedAsync(LiteDbStateStore reopened, Writer[] writers)
    {
        foreach (Writer w in writers)
        {
            var actual = await ReadAllAsync(reopened, w.Scope);
            bool acknowledged = Same(w.Acknowledged, actual);
            bool inFlightLanded = false;
            if (w.InFlight is not null)
            {
                var after = new Dictionary<string, (long Version, byte[] Payload)?>(w.Acknowledged, StringComparer.Ordinal);
                Apply(after, w.InFlight);
                inFlightLanded = Same(after, actual);
            }

            if (!acknowledged && !inFlightLanded)
            {
                static string Show(Dictionary<string, (long Version, byte[] Payload)?> state)
                    => string.Join(",", Enumerable.Range(0, Keys).Select(k => state.TryGetValue($"k{k}", out var e) && e is { } v ? $"k{k}=v{v.Version}/{v.Payload.Length}B" : $"k{k}=-"));
                string inFlight = w.InFlight is null ? "none" : string.Join(" ", w.InFlight.Select(o => $"{(o is StateWrite ? "write" : "delete")} {o.Key}"));
                return $"writer {w.Scope} ({w.Calls} acknowledged calls): the file holds neither its acknowledged state nor that plus its unanswered call; acknowledged {Show(w.Acknowledged)}; unanswered {inFlight}; file {Show(actual)}";
            }
        }

        // Still a working file.
        await reopened.WriteAsync(new StateWrite("after", "crash", "T", 1, new byte[] { 1, 2, 3 }));
        if ((await reopened.GetAsync("after", "crash"))?.Payload.Length != 3)
        {
            return "the reopened file does not take writes";
        }

        return null;
    }

    private static async Task<Dictionary<string, (long Version, byte[] Payload)?>> ReadAllAsync(IStateStore store, string scope)
    {
        var state = new Dictionary<string, (long Version, byte[] Payload)?>(StringComparer.Ordinal);
        for (int k = 0; k < Keys; k++)
        {
            StoredEntry? entry = await store.GetAsync(scope, $"k{k}");
            state[$"k{k}"] = entry is null ? null : (entry.Version, entry.Payload.ToArray());
        }

        return state;
    }

    /// <summary>The same entries; a key the model never saw is absent.</summary>
    private static bool Same(Dictionary<string, (long Version, byte[] Payload)?> expected, Dictionary<string, (long Version, byte[] Payload)?> actual)
    {
        for (int k = 0; k < Keys; k++)
        {
            string key = $"k{k}";
            var e = expected.TryGetValue(key, out var x) ? x : null;
            var a = actual.TryGetValue(key, out var y) ? y : null;
            if (e is null != a is null)
            {
                return false;
            }

            if (e is { } ev && a is { } av && (ev.Version != av.Version || !ev.Payload.AsSpan().SequenceEqual(av.Payload)))
            {
                return false;
            }
        }

        return true;
    }
}
