using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.History;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Encryption;

/// <summary>
/// The re-encryption job's history part (issue #6): after a rotation, change records and hook values move to the active
/// key in place, so the retired key can be removed with the whole history kept and readable, in every layout.
/// </summary>
public sealed class HistoryReEncryptionTests : IDisposable
{
    private const string Memory = "memory";
    private const string Collection = "collection";
    private const string Segments = "segments";            // the default: segment files, written behind
    private const string SegmentsDirect = "segments-direct"; // segment files, each commit into LiteDB directly

    private readonly TempDirectory _dir = new();
    private readonly MemoryStateStore _memory = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Layouts => new() { Memory, Collection, Segments, SegmentsDirect };

    public static TheoryData<string> FileLayouts => new() { Collection, Segments, SegmentsDirect };

    private static string Key(int i) => "Note/" + i.ToString("D3", CultureInfo.InvariantCulture);

    private static string Scope(int i) => "agent/" + (i % 3).ToString(CultureInfo.InvariantCulture);

    private static byte[] Value(string text) => Encoding.UTF8.GetBytes("\"" + text + "\"");

    private IStateStore Inner(string layout, string path, int segmentBytes = 0) => layout switch
    {
        Memory => _memory,
        _ => new LiteDbStateStore(new LiteDbStateStoreOptions
        {
            Path = path,
            ChangeLogLayout = layout == Collection ? LiteDbChangeLogLayout.Collection : LiteDbChangeLogLayout.SegmentFiles,
            WriteBehind = layout == Segments,
        }),
    };

    private EncryptedStateStore Open(string layout, string path, StateKeyRing ring, int pageSize = 16, bool history = true, long? reservation = null)
    {
        var options = new EncryptedStateStoreOptions { PageSize = pageSize, ReEncryptHistory = history, LeaveInnerStoreOpen = layout == Memory };
        if (reservation is long block)
        {
            options.KeyUsageReservation = block;
        }

        return new EncryptedStateStore(Inner(layout, path), new StateEncryptor(ring), options);
    }

    /// <summary>Writes <paramref name="keys"/> keys three times each (so each has old records), deletes one, and appends hook records.</summary>
    private static async Task FillAsync(EncryptedStateStore store, int keys, int hooks)
    {
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < keys; i++)
            {
                await store.CommitAsync(new StateOperation[] { At.Write(Scope(i), Key(i), "r" + round.ToString(CultureInfo.InvariantCulture) + "-" + i.ToString(CultureInfo.InvariantCulture)) with { CorrelationId = "run-" + round.ToString(CultureInfo.InvariantCulture) } });
            }
        }

        await store.DeleteAsync(Scope(0), Key(0));
        var records = new List<HookExecutionRecord>();
        for (int h = 0; h < hooks; h++)
        {
            records.Add(new HookExecutionRecord(
                0, "audit", "BeforeChange", Scope(h), Key(h), "Note", "Modified", null, TimeSpan.FromMilliseconds(1), DateTimeOffset.UnixEpoch.AddMinutes(h), "run-" + (h % 3).ToString(CultureInfo.InvariantCulture),
                Value("old" + h.ToString(CultureInfo.InvariantCulture)), h % 4 == 0 ? ReadOnlyMemory<byte>.Empty : Value("new" + h.ToString(CultureInfo.InvariantCulture)), Value("result" + h.ToString(CultureInfo.InvariantCulture))));
        }

        await store.AppendHookExecutionsAsync(records);
    }

    /// <summary>Everything the history holds, decrypted, in a comparable form.</summary>
    private static async Task<(List<string> Changes, List<string> Hooks)> HistoryAsync(EncryptedStateStore store)
    {
        var changes = (await store.ReadChangesAsync(new StateChangeQuery { Limit = int.MaxValue }))
            .Select(r => $"{r.Sequence}|{r.Scope}|{r.Key}|{r.Kind}|{r.Version}|{r.Timestamp.UtcTicks}|{r.PreviousSequence}|{r.CorrelationId}|{r.Origin}|{At.Text(r.Payload)}")
            .ToList();
        var hooks = (await store.ReadHookExecutionsAsync(new HookExecutionQuery { Limit = int.MaxValue }))
            .Select(r => $"{r.Id}|{r.Scope}|{r.Key}|{r.CorrelationId}|{r.Timestamp.UtcTicks}|{At.Text(r.OldValue)}|{At.Text(r.NewValue)}|{At.Text(r.ResultValue)}")
            .ToList();
        return (changes, hooks);
    }

    private static async Task<(HashSet<string?> Changes, HashSet<string?> Hooks)> RawKeyIdsAsync(EncryptedStateStore store)
    {
        var history = (IStateHistoryStore)store.Inner;
        var changes = (await history.ReadChangesAsync(new StateChangeQuery { Limit = int.MaxValue }))
            .Where(r => !r.Payload.IsEmpty).Select(r => At.KeyIdOf(r.Payload.Span)).ToHashSet();
        var hooks = (await history.ReadHookExecutionsAsync(new HookExecutionQuery { Limit = int.MaxValue }))
            .SelectMany(r => new[] { r.OldValue, r.NewValue, r.ResultValue }).Where(v => !v.IsEmpty).Select(v => At.KeyIdOf(v.Span)).ToHashSet();
        return (changes, hooks);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task After_the_job_the_retired_key_can_go_and_the_whole_history_reads_the_same_with_the_active_key_alone(string layout)
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        (List<string> Changes, List<string> Hooks) before;
        await using (EncryptedStateStore store = Open(layout, path, ring, pageSize: 7))
        {
            await FillAsync(store, keys: 20, hooks: 30);
            before = await HistoryAsync(store);
            ring.Rotate("k2", TestKeys.Key(2));

            var reports = new List<ReEncryptionProgress>();
            ReEncryptionResult result = await store.ReEncryptAsync(new InlineProgress<ReEncryptionProgress>(reports.Add));

            Assert.True(result.HistoryReEncrypted);
            Assert.True(result.Failures.Count == 0, string.Join("; ", result.Failures.Select(f => $"{f.Part} {f.RecordId} {f.Key}: {f.Reason}")));
            Assert.Equal((0L, 0L), (result.Failed, result.HistoryFailed));
            Assert.Equal(0, result.HistoryRecordsUnderOldKeys);
            Assert.Equal(0, result.RemainingUnderOldKeys);
            Assert.True(result.CanRemoveRetiredKeys);
            Assert.Equal(30, result.HookRecordsReEncrypted);

            // 60 writes and 1 delete before the rotation; the entry part then wrote 19 records under k2 itself.
            Assert.Equal(60, result.ChangeRecordsReEncrypted);
            Assert.Equal(new HashSet<string?> { "k2" }, (await RawKeyIdsAsync(store)).Changes);
            Assert.Equal(new HashSet<string?> { "k2" }, (await RawKeyIdsAsync(store)).Hooks);
            Assert.Equal(0, await store.CountRecordsUsingKeyAsync("k1"));

            // The progress went through the three parts in order, each checkpoint at or after the one before.
            Assert.Equal(new[] { ReEncryptionPart.Entries, ReEncryptionPart.ChangeRecords, ReEncryptionPart.HookValues }, reports.Select(r => r.Part).Distinct());
            Assert.Equal(60, reports.Last(r => r.Part == ReEncryptionPart.ChangeRecords).ChangeRecordsReEncrypted);
            Assert.Equal(30, reports[^1].HookRecordsReEncrypted);

            // The history holds what it held, plus the entry part's own records; nothing else changed in a record.
            (List<string> Changes, List<string> Hooks) after = await HistoryAsync(store);
            Assert.Equal(before.Changes, after.Changes.Take(before.Changes.Count));
            Assert.Equal(19, after.Changes.Count - before.Changes.Count);
            Assert.Equal(before.Hooks, after.Hooks);

            Assert.True(ring.RemoveRetiredKey("k1", noRecordUsesKey: result.CanRemoveRetiredKeys));
            (List<string> Changes, List<string> Hooks) withoutOldKey = await HistoryAsync(store);
            Assert.Equal(after.Changes, withoutOldKey.Changes);
            Assert.Equal(after.Hooks, withoutOldKey.Hooks);
        }

        if (layout == Memory)
        {
            return;
        }

        // A restart with the active key alone reads every record, the history included.
        using StateKeyRing onlyNew = TestKeys.Ring("k2", 2);
        await using EncryptedStateStore reopened = Open(layout, path, onlyNew);
        (List<string> Changes, List<string> Hooks) again = await HistoryAsync(reopened);
        Assert.Equal(before.Changes, again.Changes.Take(before.Changes.Count));
        Assert.Equal(before.Hooks, again.Hooks);
        Assert.Equal(19, (await At.ScanAllAsync(reopened)).Count);
    }

    [Theory]
    [MemberData(nameof(FileLayouts))]
    public async Task Timeline_and_point_in_time_reads_of_a_state_manager_work_with_the_retired_key_removed(string layout)
    {
        string path = _dir.NewDatabaseFile();
        StateScope scope = StateScope.Agent("a1");
        using (StateKeyRing ring = TestKeys.Ring("k1", 1))
        {
            await using (var manager = new StateManager(Open(layout, path, ring)))
            {
                for (int v = 1; v <= 4; v++)
                {
                    await manager.SetJsonAsync(scope, "notes", Backends.Json("{\"v\":" + v.ToString(CultureInfo.InvariantCulture) + "}"));
                }
            }

            ring.Rotate("k2", TestKeys.Key(2));
            await using (EncryptedStateStore store = Open(layout, path, ring))
            {
                ReEncryptionResult result = await store.ReEncryptAsync();
                Assert.True(result.CanRemoveRetiredKeys);
                Assert.Equal(4, result.ChangeRecordsReEncrypted);
            }
        }

        using StateKeyRing onlyNew = TestKeys.Ring("k2", 2);
        await using var reopened = new StateManager(Open(layout, path, onlyNew));
        IReadOnlyList<StateChangeEvent> timeline = await reopened.GetTimelineAsync(new StateTimelineQuery { Scope = scope });
        Assert.Equal(new[] { "{\"v\":1}", "{\"v\":2}", "{\"v\":3}", "{\"v\":4}", "{\"v\":4}" }, timeline.Select(e => e.NewValue!.Value.GetRawText()));
        Assert.Equal(EncryptedStateStore.ReEncryptOrigin, timeline[^1].Origin);
        JsonElement? second = await reopened.GetJsonAsOfAsync(scope, "notes", timeline[1].Timestamp);
        Assert.Equal("{\"v\":2}", second!.Value.GetRawText());
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task With_history_re_encryption_off_the_history_keeps_its_key_and_the_result_says_so(string layout)
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = Open(layout, _dir.NewDatabaseFile(), ring, history: false);
        await FillAsync(store, keys: 5, hooks: 4);
        ring.Rotate("k2", TestKeys.Key(2));

        ReEncryptionResult result = await store.ReEncryptAsync();

        Assert.False(result.HistoryReEncrypted);
        Assert.Equal((0L, 0L), (result.ChangeRecordsReEncrypted, result.HookRecordsReEncrypted));
        Assert.Equal(0, result.RemainingUnderOldKeys);
        Assert.Equal(15 + 4 * 3 - 1, result.HistoryRecordsUnderOldKeys); // 15 writes; 4 hooks with 3, 3, 3 and 2 values
        Assert.Equal(new[] { "k1" }, result.RetiredKeysInUse);
        Assert.Contains("k1", (await RawKeyIdsAsync(store)).Changes);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task A_history_record_that_does_not_decrypt_is_reported_by_sequence_and_the_rest_is_moved(string layout)
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        using StateKeyRing stranger = TestKeys.Ring("k1", 9); // the same key id, another key: its records fail to decrypt
        string path = _dir.NewDatabaseFile();
        await using EncryptedStateStore store = Open(layout, path, ring);
        await FillAsync(store, keys: 4, hooks: 2);

        // One change record and one hook record written under a key the ring does not have.
        await using (var foreign = new EncryptedStateStore(store.Inner, new StateEncryptor(stranger), new EncryptedStateStoreOptions { LeaveInnerStoreOpen = true }))
        {
            await foreign.WriteAsync(At.Write("agent/x", "Foreign", "f"));
            await foreign.AppendHookExecutionsAsync(new[] { new HookExecutionRecord(0, "audit", "AfterChange", "agent/x", "Foreign", "Note", "Continued", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch, null, Value("o"), ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty) });
        }

        long foreignSequence = (await ((IStateHistoryStore)store.Inner).ReadChangesAsync(new StateChangeQuery { Key = "Foreign", Scope = "agent/x" })).Single().Sequence;
        ring.Rotate("k2", TestKeys.Key(2));

        ReEncryptionResult result = await store.ReEncryptAsync();

        Assert.Equal((1L, 2L), (result.Failed, result.HistoryFailed)); // the entry, its change record, the hook record
        Assert.Equal(12, result.ChangeRecordsReEncrypted);
        Assert.Equal(2, result.HookRecordsReEncrypted);
        ReEncryptionFailure change = Assert.Single(result.Failures, f => f.Part == ReEncryptionPart.ChangeRecords);
        Assert.Equal(("agent/x", "Foreign", foreignSequence), (change.Scope, change.Key, change.RecordId));
        Assert.Contains("key id 'k1'", change.Reason, StringComparison.Ordinal);
        ReEncryptionFailure hook = Assert.Single(result.Failures, f => f.Part == ReEncryptionPart.HookValues);
        Assert.Equal(3, hook.RecordId);
        Assert.Single(result.Failures, f => f.Part == ReEncryptionPart.Entries);
        Assert.False(result.CanRemoveRetiredKeys);
        Assert.Equal((1L, 2L), (result.RemainingUnderOldKeys, result.HistoryRecordsUnderOldKeys)); // the entry; its record and the hook value
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task A_job_canceled_in_the_history_part_resumes_from_its_checkpoint_and_finishes(string layout)
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = Open(layout, _dir.NewDatabaseFile(), ring, pageSize: 5);
        await FillAsync(store, keys: 30, hooks: 40);
        (List<string> Changes, List<string> Hooks) before = await HistoryAsync(store);
        ring.Rotate("k2", TestKeys.Key(2));

        using var cts = new CancellationTokenSource();
        ReEncryptionProgress? last = null;
        var progress = new InlineProgress<ReEncryptionProgress>(p =>
        {
            last = p;
            if (p.Part == ReEncryptionPart.HookValues && p.HookRecordsReEncrypted >= 10)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.ReEncryptAsync(progress, cancellationToken: cts.Token));

        Assert.NotNull(last);
        Assert.Equal(ReEncryptionPart.HookValues, last.Checkpoint.Part);
        Assert.Equal(90, last.ChangeRecordsReEncrypted);
        long hooksDone = last.Checkpoint.HooksAfter;
        Assert.InRange(hooksDone, 10, 39);

        // Everything reads meanwhile: moved and not yet moved records alike.
        (List<string> Changes, List<string> Hooks) meanwhile = await HistoryAsync(store);
        Assert.Equal(before.Hooks, meanwhile.Hooks);

        var resumedReports = new List<ReEncryptionProgress>();
        ReEncryptionResult resumed = await store.ReEncryptAsync(last.Checkpoint, new InlineProgress<ReEncryptionProgress>(resumedReports.Add));
        Assert.Equal((0L, 0L), (resumed.Scanned, resumed.ChangeRecordsReEncrypted)); // the entries and change records were done
        Assert.Equal(40 - hooksDone, resumed.HookRecordsReEncrypted);
        Assert.All(resumedReports, r => Assert.Equal(ReEncryptionPart.HookValues, r.Part));
        Assert.True(resumed.CanRemoveRetiredKeys);
        Assert.Equal(before.Hooks, (await HistoryAsync(store)).Hooks);
    }

    [Fact]
    public async Task A_checkpoint_that_is_null_names_no_part_or_a_negative_position_is_refused_before_anything_runs()
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = Open(Memory, string.Empty, ring);
        await FillAsync(store, keys: 2, hooks: 1);
        ring.Rotate("k2", TestKeys.Key(2));

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.ReEncryptAsync((ReEncryptionCheckpoint)null!));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReEncryptAsync(ReEncryptionCheckpoint.Start with { Part = (ReEncryptionPart)7 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReEncryptAsync(new ReEncryptionCheckpoint(ReEncryptionPart.ChangeRecords, null, -1, 0)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReEncryptAsync(new ReEncryptionCheckpoint(ReEncryptionPart.HookValues, null, 0, -5)));

        Assert.Equal(1 + 6 + 2, await store.CountRecordsUsingKeyAsync("k1")); // nothing moved: an entry, six records, two hook values
        Assert.True((await store.ReEncryptAsync(ReEncryptionCheckpoint.Start)).CanRemoveRetiredKeys);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task Writes_and_hook_appends_during_the_job_are_kept_and_end_under_the_active_key(string layout)
    {
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = Open(layout, _dir.NewDatabaseFile(), ring, pageSize: 4);
        await FillAsync(store, keys: 40, hooks: 40);
        ring.Rotate("k2", TestKeys.Key(2));

        var expected = new Dictionary<string, string>();
        Task writer = Task.Run(async () =>
        {
            for (int n = 0; n < 200; n++)
            {
                int i = 1 + (n % 39);
                string value = "w" + n.ToString(CultureInfo.InvariantCulture);
                await store.WriteAsync(At.Write(Scope(i), Key(i), value));
                expected[Scope(i) + "|" + Key(i)] = At.Text(At.Document(value));
                if (n % 10 == 0)
                {
                    await store.AppendHookExecutionsAsync(new[] { new HookExecutionRecord(0, "audit", "AfterChange", Scope(i), Key(i), "Note", "Continued", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch, null, Value("during" + n.ToString(CultureInfo.InvariantCulture)), ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty) });
                }
            }
        });
        ReEncryptionResult result = await store.ReEncryptAsync();
        await writer;

        Assert.Equal((0L, 0L), (result.Failed, result.HistoryFailed));
        foreach ((string id, string value) in expected)
        {
            string[] parts = id.Split('|');
            Assert.Equal(value, At.Text((await store.GetAsync(parts[0], parts[1]))!.Payload));
        }

        Assert.Equal(60, (await store.ReadHookExecutionsAsync(new HookExecutionQuery { Limit = int.MaxValue })).Count);
        Assert.Equal(120 + 1 + 200, (await store.ReadChangesAsync(new StateChangeQuery { Limit = int.MaxValue })).Count(r => r.Origin != EncryptedStateStore.ReEncryptOrigin));
        ReEncryptionResult again = await store.ReEncryptAsync();
        Assert.True(again.CanRemoveRetiredKeys);
    }

    [Theory]
    [MemberData(nameof(FileLayouts))]
    public async Task Key_usage_reservations_written_during_a_history_step_do_not_block_it(string layout)
    {
        // A reservation block of 3: the history steps' encryptions cross many blocks, each a durable write to the same
        // file from inside the step's callback.
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        await using EncryptedStateStore store = Open(layout, path, ring, reservation: 3);
        await FillAsync(store, keys: 10, hooks: 10);
        ring.Rotate("k2", TestKeys.Key(2));
        long reservationsBefore = store.KeyUsageReservations;

        ReEncryptionResult result = await store.ReEncryptAsync().AsTask().WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(result.CanRemoveRetiredKeys);
        Assert.True(store.KeyUsageReservations - reservationsBefore >= (9 + 30 + 10 * 3 - 3) / 3, $"{store.KeyUsageReservations - reservationsBefore} reservations");
    }

    [Fact]
    public async Task In_segment_files_no_old_envelope_is_left_in_any_segment_after_the_job()
    {
        string path = _dir.NewDatabaseFile();
        using StateKeyRing ring = TestKeys.Ring("old-key-7f3a", 1);
        await using EncryptedStateStore store = Open(Segments, path, ring);
        await FillAsync(store, keys: 10, hooks: 0);
        string folder = path + ".changes";
        Assert.Contains(Directory.GetFiles(folder), f => At.Contains(File.ReadAllBytes(f), "old-key-7f3a"));
        ring.Rotate("new-key-19c2", TestKeys.Key(2));

        ReEncryptionResult result = await store.ReEncryptAsync();

        Assert.Equal(30, result.ChangeRecordsReEncrypted);
        Assert.All(Directory.GetFiles(folder), f => Assert.False(At.Contains(File.ReadAllBytes(f), "old-key-7f3a"), f));
    }
}
