using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Encryption;
using StateGen.Tests.Security;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage.Review;

/// <summary>
/// Review of the history re-encryption (helper-51, session 15): a rewrite callback's exception is not damage, an
/// oversized old plaintext version is a reported failure, and a relaxed store's job is on the disk before it says a key
/// can go.
/// </summary>
public sealed class HistoryRewriteReviewTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LiteDbStateStoreOptions Options(string path, string layout) => new()
    {
        Path = path,
        ChangeLogLayout = layout == "collection" ? LiteDbChangeLogLayout.Collection : LiteDbChangeLogLayout.SegmentFiles,
        WriteBehind = layout == "segments",
    };

    private static StateWrite Plain(string key, string text) => new("agent/a", key, "Note", 1, Encoding.UTF8.GetBytes(text));

    /// <summary>The contract: the callback's own exception, nothing of the step changed, and the store goes on (it was taken for damage and closed).</summary>
    [Theory]
    [InlineData("collection")]
    [InlineData("segments")]
    [InlineData("segments-direct")]
    public async Task A_callback_exception_propagates_unchanged_and_the_store_stays_usable(string layout)
    {
        await using var store = new LiteDbStateStore(Options(_dir.NewDatabaseFile(), layout));
        await store.WriteAsync(Plain("k1", "\"one\""));
        await store.AppendHookExecutionsAsync(new[] { new HookExecutionRecord(0, "h", "BeforeChange", "agent/a", "k1", "Note", "Continued", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch, null, Encoding.UTF8.GetBytes("\"o\""), ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty) });
        var rewriter = (IStateHistoryRewriter)store;

        var changeError = await Assert.ThrowsAsync<InvalidOperationException>(async () => await rewriter.RewriteChangePayloadsAsync(0, 16, _ => throw new InvalidOperationException("callback bug")));
        var hookError = await Assert.ThrowsAsync<InvalidOperationException>(async () => await rewriter.RewriteHookValuesAsync(0, 16, _ => throw new InvalidOperationException("hook callback bug")));

        Assert.Equal(("callback bug", "hook callback bug"), (changeError.Message, hookError.Message));
        Assert.Equal("\"one\"", Encoding.UTF8.GetString((await store.GetAsync("agent/a", "k1"))!.Payload.Span));
        await store.WriteAsync(Plain("k2", "\"two\""));
        Assert.Equal("\"one\"", Encoding.UTF8.GetString((await store.ReadChangesAsync(new StateChangeQuery { Key = "k1", Scope = "agent/a" })).Single().Payload.Span));
        Assert.Equal("\"o\"", Encoding.UTF8.GetString((await store.ReadHookExecutionsAsync(new HookExecutionQuery())).Single().OldValue.Span));
    }

    /// <summary>
    /// A plaintext store being encrypted (AllowPlaintextReads) whose history holds a value over the encryptor's
    /// MaxPlaintextBytes: that record is reported and kept, the rest moves, and the store is not closed as damaged.
    /// </summary>
    [Theory]
    [InlineData("collection")]
    [InlineData("segments")]
    public async Task An_oversized_old_plaintext_version_is_a_reported_failure_and_the_rest_moves(string layout)
    {
        await using var inner = new LiteDbStateStore(Options(_dir.NewDatabaseFile(), layout));
        await inner.WriteAsync(Plain("k1", "\"" + new string('x', 4000) + "\"")); // an old, large plaintext version
        await inner.WriteAsync(Plain("k1", "\"small\""));                          // the current one is small

        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        var encryptor = new StateEncryptor(ring, new StateEncryptionOptions { MaxPlaintextBytes = 1000 });
        await using var store = new EncryptedStateStore(inner, encryptor, new EncryptedStateStoreOptions { AllowPlaintextReads = true, LeaveInnerStoreOpen = true });

        ReEncryptionResult result = await store.ReEncryptAsync();

        Assert.Equal((0L, 1L, 1L), (result.Failed, result.HistoryFailed, result.ChangeRecordsReEncrypted)); // the small version moved
        ReEncryptionFailure failure = Assert.Single(result.Failures);
        Assert.Equal((ReEncryptionPart.ChangeRecords, 1L), (failure.Part, failure.RecordId));
        Assert.Contains("4002 bytes", failure.Reason, StringComparison.Ordinal);
        Assert.Equal("\"small\"", Encoding.UTF8.GetString((await store.GetAsync("agent/a", "k1"))!.Payload.Span));
    }

    /// <summary>
    /// A relaxed store (flushed on an interval, here an hour): the job's result says the retired key can go, and a power
    /// cut right after it must not take the moved records back under that key.
    /// </summary>
    [Theory]
    [InlineData("collection")]
    [InlineData("segments")]
    [InlineData("segments-direct")]
    public async Task A_relaxed_store_has_the_whole_job_on_the_disk_when_it_says_the_retired_key_can_go(string layout)
    {
        var disk = new SimulatedDisk();
        string path = _dir.NewDatabaseFile();
        LiteDbStateStoreOptions Relaxed(SimulatedDisk on)
        {
            LiteDbStateStoreOptions options = Options(path, layout);
            options.OpenFile = on.Open;
            options.Durability = StateDurability.Relaxed;
            options.RelaxedFlushInterval = TimeSpan.FromHours(1);
            return options;
        }

        using StateKeyRing ring = TestKeys.Ring("k1", 1);
        var inner = new LiteDbStateStore(Relaxed(disk));
        var store = new EncryptedStateStore(inner, new StateEncryptor(ring));
        for (int i = 0; i < 6; i++)
        {
            await store.WriteAsync(At.Write("agent/a", "n" + i, "v" + i));
        }

        await store.AppendHookExecutionsAsync(new[] { new HookExecutionRecord(0, "h", "BeforeChange", "agent/a", "n0", "Note", "Continued", null, TimeSpan.Zero, DateTimeOffset.UnixEpoch, null, Encoding.UTF8.GetBytes("\"o\""), ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty) });
        await inner.FlushAsync();
        ring.Rotate("k2", TestKeys.Key(2));

        ReEncryptionResult result = await store.ReEncryptAsync();
        Assert.True(result.CanRemoveRetiredKeys);
        IReadOnlyDictionary<string, byte[]> survived = disk.Crash();
        try
        {
            await store.DisposeAsync();
        }
        catch (StateStoreException)
        {
            // The disk is gone: the close cannot write.
        }

        using StateKeyRing onlyNew = TestKeys.Ring("k2", 2);
        var after = new SimulatedDisk(survived);
        await using var reopened = new EncryptedStateStore(new LiteDbStateStore(Relaxed(after)), new StateEncryptor(onlyNew));
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(At.Text(At.Document("v" + i)), At.Text((await reopened.GetAsync("agent/a", "n" + i))!.Payload));
        }

        Assert.Equal(12, (await reopened.ReadChangesAsync(new StateChangeQuery())).Count);
        Assert.Equal("\"o\"", Encoding.UTF8.GetString((await reopened.ReadHookExecutionsAsync(new HookExecutionQuery())).Single().OldValue.Span));
    }
}
