using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit;

namespace StateGen.Tests.Storage;

/// <summary>
/// A damaged LiteDB index whose links loop (issue #6, "nothing hangs"): LiteDB's range, equality and prefix walks go round
/// such a loop forever without returning, so the store reads ranges through <c>IndexWalk</c> instead. Each read here
/// must return intact data or <see cref="StateStoreCorruptedException"/> within the guard; before the fix the kept files
/// and the scan and change-log reads of the made loops never returned.
/// </summary>
public sealed class LiteDbIndexLoopTests : IDisposable
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);
    private const string Scope = "agent/loop";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Key(int i) => "k" + i.ToString("D2", System.Globalization.CultureInfo.InvariantCulture);

    private static byte[] Value(int i) => Encoding.UTF8.GetBytes("\"value " + i + "\"");

    /// <summary>Runs a read under the guard: its result, or null when it was the typed error; anything else fails the test.</summary>
    private static async Task<T?> IntactOrTypedAsync<T>(string what, Func<Task<T>> read)
        where T : class
    {
        Task<T> task = Task.Run(read);
        if (await Task.WhenAny(task, Task.Delay(Guard)) != task)
        {
            Assert.Fail($"{what} did not return within {Guard.TotalSeconds} s: a walk of the damaged index looped");
        }

        try
        {
            return await task;
        }
        catch (StateStoreCorruptedException e)
        {
            Console.WriteLine($"{what}: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// Runs <paramref name="read"/> on a store over a fresh copy of the damaged files (a store that met the damage closes, so
    /// each read gets its own).
    /// </summary>
    private async Task<T?> OnCopyAsync<T>(string path, string what, Func<LiteDbStateStore, Task<T>> read, bool walkIndexOnOpen = true)
        where T : class
    {
        string copy = _dir.NewDatabaseFile();
        File.Copy(path, copy);
        string log = Path.ChangeExtension(path, null) + "-log.db";
        if (File.Exists(log))
        {
            File.Copy(log, Path.ChangeExtension(copy, null) + "-log.db");
        }

        var store = new LiteDbStateStore(new LiteDbStateStoreOptions { Path = copy, ChangeLogLayout = LiteDbChangeLogLayout.Collection, WalkIndexOnOpen = walkIndexOnOpen });
        T? result = await IntactOrTypedAsync(what, () => read(store));

        // Closed only after the read returned: a read that hung holds the store's lock, and the close would wait for it.
        store.Dispose();
        return result;
    }

    [Fact]
    public async Task The_kept_files_whose_change_log_walk_hung_now_read_or_fail_typed()
    {
        // Seed 323 of the byte-flip suite (collection layout, two flips in LiteDB's log): raw LiteDB's walk of the changes
        // index yields six records and then loops inside LiteDB (tests/StateGen.Tests/Storage/Hangs/README.md).
        string archive = Path.Combine(AppContext.BaseDirectory, "Storage", "Hangs", "collection-changes-walk-seed323.tar.gz");
        await using (FileStream file = File.OpenRead(archive))
        await using (var gzip = new GZipStream(file, CompressionMode.Decompress))
        {
            await TarFile.ExtractToDirectoryAsync(gzip, _dir.Path, overwriteFiles: false);
        }

        string path = _dir.File("state.db");
        Assert.True(File.Exists(Path.Combine(_dir.Path, "state-log.db")), "the kept log is extracted beside the data file");

        IReadOnlyList<StateChangeRecord>? whole = await OnCopyAsync(path, "the whole change log", async s => await s.ReadChangesAsync(new StateChangeQuery()));
        IReadOnlyList<StateChangeRecord>? paged = await OnCopyAsync(path, "a page of the change log", async s => await s.ReadChangesAsync(new StateChangeQuery { AfterSequence = 3, Limit = 4 }));
        if (whole is not null)
        {
            Assert.Equal(whole.Select(r => r.Sequence).Order(), whole.Select(r => r.Sequence));
            Assert.Equal(whole.Count, whole.Select(r => r.Sequence).Distinct().Count());
            if (paged is not null)
            {
                Assert.Equal(whole.Where(r => r.Sequence > 3).Take(4).Select(r => r.Sequence), paged.Select(r => r.Sequence));
            }
        }

        foreach (string scope in new[] { "agent/a1", "agent/a2" })
        {
            await OnCopyAsync(path, $"the keys of {scope}", async s => await s.ListKeysAsync(scope));
            await OnCopyAsync(path, $"the change log of {scope}", async s => await s.ReadChangesAsync(new StateChangeQuery { Scope = scope }));
        }

        await OnCopyAsync(path, "a scan", async s => await s.ScanAsync(null, 100));
        await OnCopyAsync(path, "the hook records", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery()));
    }

    [Fact]
    public async Task A_loop_in_the_index_of_current_values_is_the_typed_error_for_scans_and_lists()
    {
        string path = _dir.File("state.db");
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            for (int i = 0; i < 40; i++)
            {
                await store.WriteAsync(new StateWrite(Scope, Key(i), "Note", 1, Value(i)));
            }
        }

        // The level-0 link of k30 now leads back to k25 (the address k24's link holds): a walk through k30 goes round.
        IndexLinks.LoopBack(path, IndexLinks.StringKey(Scope + "\u001F" + Key(30)), IndexLinks.StringKey(Scope + "\u001F" + Key(24)));

        // The default open walks this whole index (LiteDB's guarded walk) and refuses the file.
        Assert.Throws<StateStoreCorruptedException>(() => CollectionLayout.Open(path));

        // Without that walk: values before the loop are point reads that never reach it (one guarded descent each);
        // k31's descent passes k30's link and is the typed error.
        for (int i = 0; i < 40; i++)
        {
            int n = i;
            StoredEntry? entry = await OnCopyAsync(path, $"the value of {Key(n)}", async s => (await s.GetAsync(Scope, Key(n)))!, walkIndexOnOpen: false);
            Assert.True(entry is null ? n > 30 : entry.Payload.Span.SequenceEqual(Value(n)), $"{Key(n)} read back wrong or refused");
        }

        // A scan from the start (the guarded walk) reaches the loop within 40 entries; pages after a position (steps) are
        // intact before it and the typed error through it; the scope's key list walks through it.
        Assert.Null(await OnCopyAsync(path, "a scan of 40", async s => await s.ScanAsync(null, 40), walkIndexOnOpen: false));
        IReadOnlyList<StoredEntry>? early = await OnCopyAsync(path, "a scan page before the loop", async s => await s.ScanAsync(new StateScanPosition(Scope, Key(10)), 5), walkIndexOnOpen: false);
        Assert.Equal([Key(11), Key(12), Key(13), Key(14), Key(15)], early!.Select(e => e.Key));
        Assert.Null(await OnCopyAsync(path, "a scan page through the loop", async s => await s.ScanAsync(new StateScanPosition(Scope, Key(26)), 10), walkIndexOnOpen: false));
        Assert.Null(await OnCopyAsync(path, "the scope's keys", async s => await s.ListKeysAsync(Scope), walkIndexOnOpen: false));
    }

    [Fact]
    public async Task A_loop_in_the_change_log_index_is_the_typed_error_for_its_reads()
    {
        string path = _dir.File("state.db");
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            for (int i = 0; i < 40; i++)
            {
                await store.WriteAsync(new StateWrite(Scope, Key(i % 4), "Note", 1, Value(i)));
            }
        }

        // Sequence 30's level-0 link now leads back to 25.
        IndexLinks.LoopBack(path, IndexLinks.Int64Key(30), IndexLinks.Int64Key(24));

        // Newest first (the guarded walk from the end, over the other links): whole and intact.
        IReadOnlyList<StateChangeRecord>? whole = await OnCopyAsync(path, "the whole change log", async s => await s.ReadChangesAsync(new StateChangeQuery()));
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), whole!.Select(r => r.Sequence));

        // A page read by steps before the loop is intact; through it, the typed error.
        IReadOnlyList<StateChangeRecord>? before = await OnCopyAsync(path, "a page before the loop", async s => await s.ReadChangesAsync(new StateChangeQuery { AfterSequence = 10, Limit = 5 }));
        Assert.Equal([11L, 12, 13, 14, 15], before!.Select(r => r.Sequence));
        Assert.Null(await OnCopyAsync(path, "a page through the loop", async s => await s.ReadChangesAsync(new StateChangeQuery { AfterSequence = 20, Limit = 15 })));

        // A key's history walks its own index: intact.
        IReadOnlyList<StateChangeRecord>? history = await OnCopyAsync(path, "a key's history", async s => await s.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = Key(1) }));
        Assert.Equal(Enumerable.Range(1, 40).Where(i => (i - 1) % 4 == 1).Select(i => (long)i), history!.Select(r => r.Sequence));
    }

    // Found by the review of the fix (helper-39): the reads from the newest end follow the level-0 prev links, and the
    // checks of a walk that stops early looked only at the newest end, which such a walk always reaches.
    private async Task<string> LogWithCutPrevLinkAsync(bool hooks)
    {
        string path = _dir.File("state.db");
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            for (int i = 0; i < 40; i++)
            {
                if (hooks)
                {
                    await store.AppendHookExecutionsAsync([new HookExecutionRecord(0, "hook-1", "BeforeChange", Scope, Key(i % 4), "Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-" + (i % 3), "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty)]);
                }
                else
                {
                    await store.WriteAsync(new StateWrite(Scope, Key(i % 4), "Note", 1, Value(i)));
                }
            }
        }

        // Record 20's level-0 prev link now ends the list (as a damaged page can leave it).
        IndexLinks.CutPrev(path, IndexLinks.Int64Key(20));
        return path;
    }

    [Fact]
    public async Task A_change_log_read_from_the_newest_end_that_stops_early_is_the_typed_error()
    {
        string path = await LogWithCutPrevLinkAsync(hooks: false);

        // Intact or refused: never the log with its oldest records silently left out (whole, or after a position with a
        // time filter, as a point-in-time restore reads it).
        IReadOnlyList<StateChangeRecord>? whole = await OnCopyAsync(path, "the whole change log", async s => await s.ReadChangesAsync(new StateChangeQuery()));
        Assert.True(whole is null || whole.Select(r => r.Sequence).SequenceEqual(Enumerable.Range(1, 40).Select(i => (long)i)), "records left out");
        IReadOnlyList<StateChangeRecord>? after = await OnCopyAsync(path, "the log after 5", async s => await s.ReadChangesAsync(new StateChangeQuery { AfterSequence = 5, Until = DateTimeOffset.MaxValue }));
        Assert.True(after is null || after.Select(r => r.Sequence).SequenceEqual(Enumerable.Range(6, 35).Select(i => (long)i)), "records left out");
        Assert.Null(whole);
        Assert.Null(after);
    }

    [Fact]
    public async Task A_hook_read_from_the_newest_end_that_stops_early_is_the_typed_error()
    {
        string path = await LogWithCutPrevLinkAsync(hooks: true);

        IReadOnlyList<HookExecutionRecord>? all = await OnCopyAsync(path, "every hook record", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery()));
        Assert.True(all is null || all.Select(r => r.Id).SequenceEqual(Enumerable.Range(1, 40).Select(i => (long)i)), "records left out");
        IReadOnlyList<HookExecutionRecord>? page = await OnCopyAsync(path, "the hook records after 5", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { AfterId = 5 }));
        Assert.True(page is null || page.Select(r => r.Id).SequenceEqual(Enumerable.Range(6, 35).Select(i => (long)i)), "records left out");
        Assert.Null(page);

        // By correlation id (the whole history, counted): intact, since this walk goes forward.
        IReadOnlyList<HookExecutionRecord>? correlated = await OnCopyAsync(path, "corr-1's hook records", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" }));
        Assert.Equal(Enumerable.Range(1, 40).Where(i => (i - 1) % 3 == 1).Select(i => (long)i), correlated!.Select(r => r.Id));
    }

    [Fact]
    public async Task A_loop_in_the_hook_historys_correlation_index_is_the_typed_error_for_reads_through_it()
    {
        string path = _dir.File("state.db");
        using (LiteDbStateStore store = CollectionLayout.Open(path))
        {
            await store.AppendHookExecutionsAsync(Enumerable.Range(0, 40).Select(i => new HookExecutionRecord(0, "hook-1", "BeforeChange", Scope, Key(i % 4), "Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-" + (i % 3), "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty)).ToArray());
        }

        // In the "ci" index (slot 2: after "_id" and "c"), corr-1's record 29 now links back to its record 23 (the successor of 20).
        static byte[] Ci(long id) => IndexLinks.StringKey("corr-1\u001E" + id.ToString("D19", System.Globalization.CultureInfo.InvariantCulture));
        IndexLinks.LoopBack(path, Ci(29), Ci(20), slot: 2);

        // corr-1's records by steps: a page before the loop is intact; a read through it is the typed error.
        IReadOnlyList<HookExecutionRecord>? early = await OnCopyAsync(path, "corr-1's first hook records", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1", AfterId = 10, Limit = 3 }));
        Assert.Equal([11L, 14, 17], early!.Select(r => r.Id));
        Assert.Null(await OnCopyAsync(path, "corr-1's hook records", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" })));

        // The other correlation ids: intact (corr-0's keys come before the loop) or the typed error (a descent to corr-2's
        // may pass through it), never wrong.
        IReadOnlyList<HookExecutionRecord>? before = await OnCopyAsync(path, "corr-0's hook records", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-0" }));
        Assert.Equal(Enumerable.Range(1, 40).Where(i => (i - 1) % 3 == 0).Select(i => (long)i), before!.Select(r => r.Id));
        IReadOnlyList<HookExecutionRecord>? after = await OnCopyAsync(path, "corr-2's hook records", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-2" }));
        Assert.True(after is null || after.Select(r => r.Id).SequenceEqual(Enumerable.Range(1, 40).Where(i => (i - 1) % 3 == 2).Select(i => (long)i)), "corr-2's records read back wrong");

        // The whole history (by id) does not use that index: intact.
        IReadOnlyList<HookExecutionRecord>? all = await OnCopyAsync(path, "every hook record", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery()));
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), all!.Select(r => r.Id));
    }

    /// <summary>
    /// Surgery on LiteDB 5 index nodes in a closed data file (test support, from LiteDB's page format): a node is
    /// <c>[slot][levels][data block:5][next node:5]</c>, then per level <c>[prev:5][next:5]</c>, then the key (type byte,
    /// then for a string its UTF-8 length and bytes, for an Int64 its 8 bytes). The primary key's index is slot 0; the
    /// others take the next free slots in the order they were created.
    /// </summary>
    internal static class IndexLinks
    {
        public static byte[] StringKey(string key)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(key);
            return [6, (byte)utf8.Length, .. utf8];
        }

        public static byte[] Int64Key(long key) => [3, .. BitConverter.GetBytes(key)];

        /// <summary>Sets the level-0 prev link of <paramref name="key"/>'s node to the empty address (the end of the list).</summary>
        public static void CutPrev(string path, byte[] key)
        {
            byte[] file = File.ReadAllBytes(path);
            file.AsSpan(Node(file, key) + 12, 5).Fill(0xFF);
            File.WriteAllBytes(path, file);
        }

        /// <summary>Points the level-0 next link of <paramref name="from"/>'s node where <paramref name="predecessor"/>'s points (its successor).</summary>
        public static void LoopBack(string path, byte[] from, byte[] predecessor, byte slot = 0)
        {
            Assert.False(File.Exists(Path.ChangeExtension(path, null) + "-log.db"), "the store's close checkpointed its log into the data file");
            byte[] file = File.ReadAllBytes(path);
            int x = Node(file, from, slot);
            int w = Node(file, predecessor, slot);
            Array.Copy(file, w + 17, file, x + 17, 5);
            File.WriteAllBytes(path, file);
        }

        /// <summary>
        /// Replaces the key of <paramref name="key"/>'s node with <paramref name="replacement"/>, of the same length (one
        /// byte changed, as a damaged page can leave it): the node stays where its links put it, under a wrong key.
        /// </summary>
        public static void ChangeKey(string path, byte[] key, byte[] replacement, byte slot = 0)
        {
            Assert.Equal(key.Length, replacement.Length);
            Assert.False(File.Exists(Path.ChangeExtension(path, null) + "-log.db"), "the store's close checkpointed its log into the data file");
            byte[] file = File.ReadAllBytes(path);
            int x = Node(file, key, slot);
            replacement.CopyTo(file, x + 12 + (10 * file[x + 1]));
            File.WriteAllBytes(path, file);
        }

        /// <summary>
        /// The offset of the node of index <paramref name="slot"/> holding <paramref name="key"/>, found through the index
        /// pages' segment tables (so bytes elsewhere that happen to look like a node cannot match); exactly one must.
        /// </summary>
        private static int Node(byte[] file, byte[] key, byte slot = 0)
        {
            const int page = 8192;
            var found = new List<int>();
            for (int p = 0; p + page <= file.Length; p += page)
            {
                if (file[p + 4] != 3)
                {
                    continue; // not an index page
                }

                for (int item = 0; item <= file[p + 30]; item++)
                {
                    int position = BitConverter.ToUInt16(file, p + page - ((item + 1) * 4) + 2);
                    int length = BitConverter.ToUInt16(file, p + page - ((item + 1) * 4));
                    int node = p + position;
                    if (position == 0 || length == 0 || file[node] != slot)
                    {
                        continue; // a free item, or a node of another index
                    }

                    int keyAt = node + 12 + (10 * file[node + 1]);
                    if (keyAt + key.Length <= p + page && file.AsSpan(keyAt, key.Length).SequenceEqual(key))
                    {
                        found.Add(node);
                    }
                }
            }

            Assert.True(found.Count == 1, $"expected one index node for the key, found {found.Count}");
            return found[0];
        }
    }
}
