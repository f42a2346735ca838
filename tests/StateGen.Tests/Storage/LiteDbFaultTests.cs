using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// I/O errors and a full disk under the LiteDB store (issue #6, suite items 3 and 4), injected at the store's own file
/// layer (<see cref="SimulatedDisk.FailAt"/>, <see cref="SimulatedDisk.Capacity"/>): the k-th page write or flush fails,
/// for every k, during a save, a checkpoint and a re-encryption. Each gives a <see cref="StateStoreException"/> (nothing
/// else), nothing hangs, and the files reopen with every change wholly there or wholly absent.
/// </summary>
public sealed class LiteDbFaultTests
{
    // One file name per test: a store left open by a failed assertion must not block the next test.
    private readonly string _path = $"/faults/{Guid.NewGuid():N}.db";
    internal const string Scope = "agent/a1";

    /// <summary>Long enough that only a hang (a deadlock, a lost wake-up) reaches it.</summary>
    internal static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);

    private LiteDbStateStore Open(SimulatedDisk disk, int? checkpointPages = null, bool writeBehind = false)
        => new(new LiteDbStateStoreOptions { Path = _path, OpenFile = disk.Open, CheckpointPages = checkpointPages, WriteBehind = writeBehind });

    private static byte[] Value(string text, int size = 1500) => Encoding.UTF8.GetBytes("\"" + text + new string('.', size) + "\"");

    internal static StateWrite Write(string key, string text, int size = 1500) => new(Scope, key, "Note", 1, Value(text, size));

    internal static async Task<string?> TextAsync(IStateStore store, string key)
        => await store.GetAsync(Scope, key).AsTask().WaitAsync(Hang) is { } e ? Encoding.UTF8.GetString(e.Payload.Span).TrimStart('"').Split('.')[0] : null;

    /// <summary>Runs <paramref name="action"/>; true if it worked, false if it threw a <see cref="StateStoreException"/>.</summary>
    internal static async Task<bool> SucceedsAsync(Func<Task> action)
    {
        try
        {
            await action().WaitAsync(Hang);
            return true;
        }
        catch (StateStoreException)
        {
            return false;
        }
    }

    private async Task<LiteDbStateStore> SeededAsync(SimulatedDisk disk, int? checkpointPages = null)
    {
        LiteDbStateStore store = Open(disk, checkpointPages);
        await store.CommitAsync([Write("a", "old"), Write("b", "old"), Write("c", "old")]);
        return store;
    }

    /// <summary>
    /// Saves <see cref="Batch"/> on <paramref name="store"/> (seeded "old,old,old") with its k-th write or flush failing:
    /// whether it committed, and what the same store then holds, which must be the batch wholly or not at all.
    /// </summary>
    internal static async Task<(bool Committed, string Seen)> SaveBatchFailingAtAsync(SimulatedDisk disk, IStateStore store, long k, bool failFlush)
    {
        disk.FailAt(write: failFlush ? null : k, sync: failFlush ? k : null);
        bool committed = await SucceedsAsync(async () => await store.CommitAsync(Batch()));
        disk.FailAt();
        string seen = await StateOfAsync(store);
        Assert.True(seen is "old,old,old" or "new,new,gone", $"k={k}: {seen}");
        Assert.True(!committed || seen == "new,new,gone", $"k={k}: committed, but {seen}");
        return (committed, seen);
    }

    internal static async Task<string> StateOfAsync(IStateStore store)
        => string.Join(",", await TextAsync(store, "a"), await TextAsync(store, "b"), await TextAsync(store, "c") ?? "gone");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Failing_the_kth_write_or_flush_of_a_batch_save_gives_a_typed_error_and_the_batch_is_all_or_nothing(bool failFlush)
    {
        // How many writes and flushes one batch takes, so k covers every one of them (and one past the end).
        var probe = new SimulatedDisk();
        LiteDbStateStore seeded = await SeededAsync(probe);
        probe.FailAt();
        await seeded.CommitAsync(Batch());
        (long writes, long syncs) = probe.FaultCounts;
        seeded.Dispose();
        long last = (failFlush ? syncs : writes) + 1;
        Assert.True(writes > 2 && syncs >= 1, $"a batch save took {writes} writes and {syncs} flushes");
        int failed = 0;
        for (long k = 1; k <= last; k++)
        {
            var disk = new SimulatedDisk();
            LiteDbStateStore store = await SeededAsync(disk);
            (bool committed, string seen) = await SaveBatchFailingAtAsync(disk, store, k, failFlush);
            failed += committed ? 0 : 1;

            if (failFlush && !committed)
            {
                // After a failed fsync nothing later can be vouched for: the store takes no more changes.
                Assert.False(await SucceedsAsync(async () => await store.WriteAsync(Write("d", "later"))), $"k={k}: a write after a failed flush");
            }
            else
            {
                // A transient write error: the store writes again.
                await store.WriteAsync(Write("d", "later")).AsTask().WaitAsync(Hang);
            }

            DisposeQuietly(store);

            // Reopened (the power stayed on: what was written, flushed or not): all or nothing again, and writable.
            using LiteDbStateStore reopened = Open(new SimulatedDisk(disk.Contents()));
            string after = await StateOfAsync(reopened);
            Assert.True(after is "old,old,old" or "new,new,gone", $"k={k} reopened: {after}");
            Assert.True(after == seen || (failFlush && !committed), $"k={k}: reopened {after}, saw {seen}");
            await reopened.WriteAsync(Write("e", "fine")).AsTask().WaitAsync(Hang);
        }

        Assert.True(failed == last - 1, $"{failed} of {last - 1} injected faults surfaced");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Failing_the_kth_write_or_flush_of_a_checkpoint_loses_no_acknowledged_save(bool failFlush, bool writeBehind)
    {
        // Saves with LiteDB's checkpoint every 4 log pages, then the checkpoint on close: a fault at every k of the run.
        // Writing behind (the default), LiteDB's writes and checkpoints happen when the overlay is applied (here at the close).
        var probe = new SimulatedDisk();
        await RunSavesAsync(probe, failAt: null, failFlush, writeBehind);
        long last = (failFlush ? probe.FaultCounts.Syncs : probe.FaultCounts.Writes) + 1;
        Assert.True(last > 10, $"the run took {probe.FaultCounts}");
        for (long k = 1; k <= last; k++)
        {
            var disk = new SimulatedDisk();
            Dictionary<string, HashSet<string>> allowed = await RunSavesAsync(disk, k, failFlush, writeBehind);

            using LiteDbStateStore reopened = Open(new SimulatedDisk(disk.Contents()), writeBehind: writeBehind);
            foreach (var (key, values) in allowed)
            {
                string actual = await TextAsync(reopened, key) ?? "missing";
                Assert.True(values.Contains(actual), $"k={k}: {key} is {actual}; allowed: {string.Join(" ", values)}");
            }
        }
    }

    /// <summary>
    /// Ten saves to five keys and a close, with the k-th write or flush failing; returns what each key may hold after a
    /// reopen: its last acknowledged value, or a later save that failed (its commit may have been written before the
    /// flush or the checkpoint after it failed), never anything else.
    /// </summary>
    private async Task<Dictionary<string, HashSet<string>>> RunSavesAsync(SimulatedDisk disk, long? failAt, bool failFlush, bool writeBehind)
    {
        var allowed = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        LiteDbStateStore store = Open(disk, checkpointPages: 4, writeBehind: writeBehind);
        disk.FailAt(write: failFlush ? null : failAt, sync: failFlush ? failAt : null);
        for (int i = 0; i < 10; i++)
        {
            string key = "k" + (i % 5);
            string text = "v" + i;
            if (await SucceedsAsync(async () => await store.WriteAsync(Write(key, text, 3000))))
            {
                allowed[key] = [text];
            }
            else
            {
                allowed.TryAdd(key, ["missing"]);
                allowed[key].Add(text);
            }
        }

        DisposeQuietly(store);
        return allowed;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Failing_the_kth_write_or_flush_of_a_re_encryption_gives_a_typed_error_and_a_rerun_finishes_with_every_value_intact(bool failFlush, bool writeBehind)
    {
        (_, var counts) = await ReEncryptRunAsync(new SimulatedDisk(), null, failFlush, writeBehind);
        long last = (failFlush ? counts.Syncs : counts.Writes) + 1;
        Assert.True(last > 3, $"re-encryption took {counts}");
        int failed = 0;
        for (long k = 1; k <= last; k++)
        {
            failed += (await ReEncryptRunAsync(new SimulatedDisk(), k, failFlush, writeBehind)).Finished ? 0 : 1;
        }

        if (failFlush)
        {
            Assert.Equal(last - 1, failed);
        }
    }

    /// <summary>
    /// Eight values under k1, rotation to k2, the job with the k-th write or flush failing (a typed error, or entries
    /// reported failed), and if it did not finish, the job again: on the same store after a write error, after a reopen
    /// after a flush error (the store refuses changes then). Returns whether the first run finished cleanly, and the
    /// writes and flushes it made.
    /// </summary>
    private async Task<(bool Finished, (long Writes, long Syncs) Counts)> ReEncryptRunAsync(SimulatedDisk disk, long? failAt, bool failFlush, bool writeBehind)
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        var store = new EncryptedStateStore(Open(disk, writeBehind: writeBehind), new StateEncryptor(ring), new EncryptedStateStoreOptions { PageSize = 3 });
        for (int i = 0; i < 8; i++)
        {
            await store.WriteAsync(Write("n" + i, "plain" + i, 300));
        }

        ring.Rotate("k2", TestKeys.Key(2));
        disk.FailAt(write: failFlush ? null : failAt, sync: failFlush ? failAt : null);
        // The job retries a failed batch entry by entry, so a transient write error may be absorbed; a failed flush makes
        // the store refuse changes, and the job reports those entries as failed.
        ReEncryptionResult? result = null;
        bool finished = await SucceedsAsync(async () => result = await store.ReEncryptAsync()) && result!.Failed == 0;
        var counts = disk.FaultCounts;
        disk.FailAt();
        if (!finished && failFlush)
        {
            DisposeQuietly(store);
            disk = new SimulatedDisk(disk.Contents());
            store = new EncryptedStateStore(Open(disk, writeBehind: writeBehind), new StateEncryptor(ring), new EncryptedStateStoreOptions { PageSize = 3 });
        }

        if (!finished)
        {
            await store.ReEncryptAsync().AsTask().WaitAsync(Hang);
        }

        DisposeQuietly(store);
        using var reopened = new EncryptedStateStore(Open(new SimulatedDisk(disk.Contents()), writeBehind: writeBehind), new StateEncryptor(ring));
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal("plain" + i, await TextAsync(reopened, "n" + i));
            Assert.Equal("k2", StateEncryptor.TryGetKeyId((await reopened.Inner.GetAsync(Scope, "n" + i))!.Payload.Span, out string? id) ? id : null);
        }

        // The history part moved the change records too, each whole: the eight first records read as written, and no
        // record is left under k1.
        IReadOnlyList<StateChangeRecord> written = await reopened.ReadChangesAsync(new StateChangeQuery { Limit = 8 });
        Assert.Equal(Enumerable.Range(0, 8).Select(i => Convert.ToBase64String(Write("n" + i, "plain" + i, 300).Payload.Span)), written.Select(r => Convert.ToBase64String(r.Payload.Span)));
        Assert.Equal(0, await reopened.CountRecordsUsingKeyAsync("k1"));
        return (finished, counts);
    }

    /// <param name="writeBehind">
    /// Writing behind: the store that failed reopens its files without writing (the values written behind go back into
    /// its overlay), so reads work while the disk is still full.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Full_disk_fails_writes_with_a_typed_error_and_once_space_is_freed_the_same_store_writes_again(bool writeBehind)
    {
        var disk = new SimulatedDisk();
        using LiteDbStateStore store = Open(disk, writeBehind: writeBehind);
        var acknowledged = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < 5; i++)
        {
            await store.WriteAsync(Write("k" + i, "first" + i));
            acknowledged["k" + i] = "first" + i;
        }

        disk.Capacity = disk.UsedBytes + (3 * 8192);
        StateStoreException? full = null;
        for (int i = 0; i < 200 && full is null; i++)
        {
            try
            {
                await store.WriteAsync(Write("k" + (i % 5), "fill" + i, 4000)).AsTask().WaitAsync(Hang);
                acknowledged["k" + (i % 5)] = "fill" + i;
            }
            catch (StateStoreException ex)
            {
                full = ex;
            }
        }

        Assert.NotNull(full);
        Assert.IsType<IOException>(full.InnerException);
        Assert.IsNotType<StateStoreCorruptedException>(full);

        // Still full: reads work and show the acknowledged values; writes keep failing cleanly.
        foreach (var (key, text) in acknowledged)
        {
            Assert.Equal(text, await TextAsync(store, key));
        }

        Assert.False(await SucceedsAsync(async () => await store.WriteAsync(Write("k0", "still-full", 4000))));

        // Space freed: the same store writes again, and everything survives a close and reopen.
        disk.Capacity = null;
        await store.WriteAsync(Write("k0", "after", 4000)).AsTask().WaitAsync(Hang);
        acknowledged["k0"] = "after";
        store.Dispose();

        using LiteDbStateStore reopened = Open(new SimulatedDisk(disk.Contents()));
        foreach (var (key, text) in acknowledged)
        {
            Assert.Equal(text, await TextAsync(reopened, key));
        }
    }

    [Fact]
    public async Task Full_disk_during_the_closing_checkpoint_gives_a_typed_error_and_the_file_reopens_with_every_save()
    {
        var disk = new SimulatedDisk();
        LiteDbStateStore store = Open(disk);
        var acknowledged = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < 12; i++)
        {
            await store.WriteAsync(Write("k" + i, "v" + i, 6000));
            acknowledged["k" + i] = "v" + i;
        }

        // The log holds the saves; the checkpoint on close must grow the data file, and cannot. LiteDB gives up on the
        // checkpoint (the close may report it, typed); the log is kept whole.
        disk.Capacity = disk.UsedBytes;
        await SucceedsAsync(() =>
        {
            store.Dispose();
            return Task.CompletedTask;
        });
        Assert.True(disk.Contents()[LiteDbStateStore.LogPath(_path)].Length > 0, "the log was emptied without its checkpoint");

        disk.Capacity = null;
        using LiteDbStateStore reopened = Open(new SimulatedDisk(disk.Contents()));
        foreach (var (key, text) in acknowledged)
        {
            Assert.Equal(text, await TextAsync(reopened, key));
        }

        await reopened.WriteAsync(Write("k0", "again"));
        Assert.Equal("again", await TextAsync(reopened, "k0"));
    }

    internal static IReadOnlyList<StateOperation> Batch() => [Write("a", "new"), Write("b", "new"), new StateDelete(Scope, "c")];

    /// <summary>
    /// The first write into the store's <c>meta</c> collection (a delete with the change log off marks the log as no
    /// longer telling which keys exist; a prune records the sequence floor): the k-th page write fails, for every k, with
    /// checkpoints every 4 pages. The file must reopen, with the change wholly there or wholly absent. A collection that
    /// LiteDB creates inside a failing transaction once left a file that reopened with "page type must be collection
    /// page" (the per-scope counts; helper-21, session 6): <c>meta</c> is created with the file for that reason.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Failing_the_kth_write_of_the_first_meta_record_leaves_a_file_that_reopens_all_or_nothing(bool prune)
    {
        var probe = new SimulatedDisk();
        LiteDbStateStore seeded = await MetaSeededAsync(probe, prune);
        probe.FailAt();
        await FirstMetaWriteAsync(seeded, prune);
        long last = probe.FaultCounts.Writes + 1;
        seeded.Dispose();
        Assert.True(last > 2, $"the first meta write took {last - 1} page writes");
        for (long k = 1; k <= last; k++)
        {
            var disk = new SimulatedDisk();
            LiteDbStateStore store = await MetaSeededAsync(disk, prune);
            disk.FailAt(write: k);
            bool done = await SucceedsAsync(() => FirstMetaWriteAsync(store, prune));
            disk.FailAt();
            DisposeQuietly(store);

            using LiteDbStateStore reopened = new(new LiteDbStateStoreOptions { Path = _path, OpenFile = new SimulatedDisk(disk.Contents()).Open, RecordChanges = prune, CheckpointPages = 4 });
            string after = await StateOfAsync(reopened);
            Assert.True(after is "old,old,old" or "old,old,gone", $"k={k}: {after}");
            Assert.True(!done || after == "old,old,gone" || prune, $"k={k}: the delete was acknowledged, then lost ({after})");
            await reopened.WriteAsync(Write("e", "fine")).AsTask().WaitAsync(Hang);
            Assert.Equal("fine", await TextAsync(reopened, "e"));
        }
    }

    private async Task<LiteDbStateStore> MetaSeededAsync(SimulatedDisk disk, bool prune)
    {
        var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = _path, OpenFile = disk.Open, RecordChanges = prune, CheckpointPages = 4 });
        await store.CommitAsync([Write("a", "old"), Write("b", "old"), Write("c", "old")]);
        if (prune)
        {
            // History to prune: the current values' own records stay, the older ones go.
            await store.CommitAsync([Write("a", "older"), Write("b", "older")]);
            await store.CommitAsync([Write("a", "old"), Write("b", "old")]);
        }

        return store;
    }

    private static async Task FirstMetaWriteAsync(LiteDbStateStore store, bool prune)
    {
        if (prune)
        {
            Assert.True(await store.PruneChangesAsync(null, 1).AsTask().WaitAsync(Hang) > 0);
        }
        else
        {
            await store.CommitAsync([new StateDelete(Scope, "c")]).AsTask().WaitAsync(Hang);
        }
    }

    internal static void DisposeQuietly(IDisposable store)
    {
        try
        {
            store.Dispose();
        }
        catch (StateStoreException)
        {
            // A close after an I/O error may fail its checkpoint; the log keeps every commit.
        }
    }
}
