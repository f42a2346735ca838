using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using StateGen.Security;

namespace StateGen.Storage.Encryption;

/// <summary>The re-encryption job after a key rotation, and the key usage count that says when a retired key can go.</summary>
public sealed partial class EncryptedStateStore
{
    private const int MaxKeptFailures = 1000;
    private const int MaxAttemptsPerEntry = 5;

    /// <summary>
    /// Moves every record that is not under the active key to it: first the current entries, then (with
    /// <see cref="EncryptedStateStoreOptions.ReEncryptHistory"/>, on by default, and an inner store that can rewrite its
    /// history in place) the change log's records and the hook history's values. Afterwards a retired key is needed by
    /// no record (<see cref="ReEncryptionResult.CanRemoveRetiredKeys"/>) and can be removed from the ring.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Entries: pages through the inner store's <see cref="IStateStore.ScanAsync"/>, re-encrypts each entry not under the
    /// active key and writes it back through <see cref="IStateStore.CommitAsync"/> with
    /// <see cref="StateOperation.ExpectedVersion"/> set to the version read and <see cref="StateOperation.Origin"/>
    /// <see cref="ReEncryptOrigin"/>. With <see cref="EncryptedStateStoreOptions.AllowPlaintextReads"/>, plaintext entries
    /// are encrypted too. A concurrent write wins: the job reads the entry again and, when the new value is already under
    /// the active key (or the entry was deleted), skips it; nothing written concurrently is lost. Each moved entry gets a
    /// new version and time, and a change record when the inner store keeps a change log.
    /// </para>
    /// <para>
    /// History: each change record's payload and each hook record's values are decrypted with the key they name and
    /// encrypted again with the active key, under the same associated data, and replaced in place: sequences, ids, times,
    /// versions and correlation ids do not change, so timelines, point-in-time reads and hook replay read the same
    /// history. The inner store does it one step at a time (a page of records, or one change-log segment of a segmented
    /// LiteDB file, copied and renamed over the old one), each step atomic and durable; writers wait for a step.
    /// </para>
    /// <para>
    /// A cancellation or an error leaves the store consistent: every step is committed whole or not at all. Run again
    /// from the start (the job is idempotent: what is under the active key is skipped) or from the last
    /// <see cref="ReEncryptionProgress.Checkpoint"/>. A record that does not decrypt is reported in
    /// <see cref="ReEncryptionResult.Failures"/> (by scope, key and, for history, sequence or hook id) and left as it is.
    /// </para>
    /// </remarks>
    /// <param name="progress">Receives the counts after every page of entries and every step of history.</param>
    /// <param name="resumeAfter">Start the entries after this one (a previous run's last <see cref="ReEncryptionProgress.Position"/>); <see langword="null"/> to start at the beginning. The history part runs whole.</param>
    /// <param name="cancellationToken">Stops the job between two commits.</param>
    public ValueTask<ReEncryptionResult> ReEncryptAsync(
        IProgress<ReEncryptionProgress>? progress = null,
        StateScanPosition? resumeAfter = null,
        CancellationToken cancellationToken = default)
        => RunReEncryptionAsync(new ReEncryptionCheckpoint(ReEncryptionPart.Entries, resumeAfter, 0, 0), progress, cancellationToken);

    /// <summary>
    /// Goes on with a re-encryption job from a <see cref="ReEncryptionProgress.Checkpoint"/> of an earlier run (or
    /// <see cref="ReEncryptionCheckpoint.Start"/>); otherwise the same as
    /// <see cref="ReEncryptAsync(IProgress{ReEncryptionProgress}?, StateScanPosition?, CancellationToken)"/>.
    /// </summary>
    /// <param name="resumeFrom">Where the earlier run stopped.</param>
    /// <param name="progress">Receives the counts after every page of entries and every step of history.</param>
    /// <param name="cancellationToken">Stops the job between two commits.</param>
    /// <exception cref="ArgumentNullException"><paramref name="resumeFrom"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The checkpoint names no <see cref="ReEncryptionPart"/>, or a negative position.</exception>
    public ValueTask<ReEncryptionResult> ReEncryptAsync(
        ReEncryptionCheckpoint resumeFrom,
        IProgress<ReEncryptionProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resumeFrom);
        if (!Enum.IsDefined(resumeFrom.Part) || resumeFrom.ChangesAfter < 0 || resumeFrom.HooksAfter < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(resumeFrom), "The checkpoint names no part of the job, or a negative position.");
        }

        return RunReEncryptionAsync(resumeFrom, progress, cancellationToken);
    }

    private async ValueTask<ReEncryptionResult> RunReEncryptionAsync(ReEncryptionCheckpoint at, IProgress<ReEncryptionProgress>? progress, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var run = new ReEncryptionRun();
        if (at.Part == ReEncryptionPart.Entries)
        {
            at = await ReEncryptEntriesAsync(at, run, progress, cancellationToken).ConfigureAwait(false);
        }

        IStateHistoryRewriter? inner = InnerAs<IStateHistoryRewriter>(_inner);
        IStateHistoryRewriter? rewriter = _options.ReEncryptHistory ? inner : null;
        if (rewriter is not null)
        {
            if (at.Part != ReEncryptionPart.HookValues)
            {
                at = at with { Part = ReEncryptionPart.ChangeRecords };
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    HistoryRewriteStep step = await rewriter.RewriteChangePayloadsAsync(at.ChangesAfter, _options.PageSize, r => ResealChange(r, run), cancellationToken).ConfigureAwait(false);
                    run.ChangeRecordsReEncrypted += step.Rewritten;
                    at = at with { ChangesAfter = step.Last };
                    progress?.Report(run.Progress(at));
                    if (step.Done)
                    {
                        break;
                    }
                }
            }

            at = at with { Part = ReEncryptionPart.HookValues };
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                HistoryRewriteStep step = await rewriter.RewriteHookValuesAsync(at.HooksAfter, _options.PageSize, r => ResealHook(r, run), cancellationToken).ConfigureAwait(false);
                run.HookRecordsReEncrypted += step.Rewritten;
                at = at with { HooksAfter = step.Last };
                progress?.Report(run.Progress(at));
                if (step.Done)
                {
                    break;
                }
            }
        }

        if (inner is not null)
        {
            // A relaxed store's steps and the entries' commits reach the disk before the result says a key can go.
            await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        string activeKeyId = _encryptor.KeyRing.ActiveKeyId;
        StateKeyUsage usage = await GetKeyUsageAsync(cancellationToken).ConfigureAwait(false);
        return new ReEncryptionResult(run.Scanned, run.ReEncrypted, run.Skipped, run.Failures, run.Failed, activeKeyId, usage)
        {
            ChangeRecordsReEncrypted = run.ChangeRecordsReEncrypted,
            HookRecordsReEncrypted = run.HookRecordsReEncrypted,
            HistoryFailed = run.HistoryFailed,
            HistoryReEncrypted = rewriter is not null,
        };
    }

    /// <summary>The entries part, from <paramref name="at"/>: returns the checkpoint after the last page.</summary>
    private async ValueTask<ReEncryptionCheckpoint> ReEncryptEntriesAsync(ReEncryptionCheckpoint at, ReEncryptionRun run, IProgress<ReEncryptionProgress>? progress, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            IReadOnlyList<StoredEntry> page = await _inner.ScanAsync(at.EntriesAfter, _options.PageSize, cancellationToken).ConfigureAwait(false);
            var pending = new List<(StoredEntry Entry, StateWrite Write)>(page.Count);
            foreach (StoredEntry entry in page)
            {
                run.Scanned++;
                if (IsUnderActiveKey(entry.Payload.Span))
                {
                    run.Skipped++;
                }
                else if (TryReseal(entry, run) is StateWrite write)
                {
                    pending.Add((entry, write));
                }
            }

            if (pending.Count > 0)
            {
                await CommitResealedAsync(pending, run, cancellationToken).ConfigureAwait(false);
            }

            if (page.Count > 0)
            {
                at = at with { EntriesAfter = StateScanPosition.Of(page[^1]) };
                progress?.Report(run.Progress(at));
            }

            if (page.Count < _options.PageSize)
            {
                return at;
            }
        }
    }

    /// <summary>A change record's payload under the active key, or <see langword="null"/> to keep it (under the active key already, or a failure, recorded).</summary>
    private ReadOnlyMemory<byte>? ResealChange(StateChangeRecord record, ReEncryptionRun run)
    {
        if ((record.Kind == StateChangeKind.Delete && record.Payload.IsEmpty) || IsUnderActiveKey(record.Payload.Span))
        {
            return null;
        }

        try
        {
            return Reseal(record.Payload, StateAssociatedData.ForDocument(record.Scope, record.Key, record.TypeName, record.SchemaVersion), record.Scope, record.Key);
        }
        catch (Exception ex) when (ex is StateDecryptionException or ArgumentOutOfRangeException)
        {
            // A value that does not decrypt, or one over the encryptor's MaxPlaintextBytes (an old plaintext version
            // being encrypted): reported and kept. The messages name sizes, keys and key ids, never a value.
            run.FailHistory(ReEncryptionPart.ChangeRecords, record.Scope, record.Key, record.Sequence, ex.Message);
            return null;
        }
    }

    /// <summary>A hook record's values under the active key, or <see langword="null"/> to keep them (all under it already, or one failed: recorded).</summary>
    private HookValues? ResealHook(HookExecutionRecord record, ReEncryptionRun run)
    {
        ReadOnlyMemory<byte> Move(ReadOnlyMemory<byte> value, string field)
            => value.IsEmpty || IsUnderActiveKey(value.Span) ? value : Reseal(value, StateAssociatedData.ForHookValue(record.Scope, record.Key, field), record.Scope, record.Key);

        if ((record.OldValue.IsEmpty || IsUnderActiveKey(record.OldValue.Span))
            && (record.NewValue.IsEmpty || IsUnderActiveKey(record.NewValue.Span))
            && (record.ResultValue.IsEmpty || IsUnderActiveKey(record.ResultValue.Span)))
        {
            return null;
        }

        try
        {
            return new HookValues(Move(record.OldValue, OldValueField), Move(record.NewValue, NewValueField), Move(record.ResultValue, ResultValueField));
        }
        catch (Exception ex) when (ex is StateDecryptionException or ArgumentOutOfRangeException)
        {
            run.FailHistory(ReEncryptionPart.HookValues, record.Scope, record.Key, record.Id, ex.Message);
            return null;
        }
    }

    /// <summary>Decrypts a stored value (plaintext only with <see cref="EncryptedStateStoreOptions.AllowPlaintextReads"/>) and encrypts it with the active key.</summary>
    private byte[] Reseal(ReadOnlyMemory<byte> stored, byte[] associatedData, string scope, string key)
    {
        ReadOnlyMemory<byte> plaintext = Open(stored, associatedData, scope, key);
        try
        {
            return _encryptor.Encrypt(plaintext.Span, associatedData);
        }
        finally
        {
            Zero(plaintext, stored);
        }
    }

    /// <summary>
    /// Counts which key ids the entries, the change log and the hook history use, from the envelope headers (nothing
    /// is decrypted). Reads the whole store a page at a time, and the hook history in one read.
    /// </summary>
    /// <param name="cancellationToken">Cancels the count.</param>
    public async ValueTask<StateKeyUsage> GetKeyUsageAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var entries = new Dictionary<string, long>(StringComparer.Ordinal);
        var changes = new Dictionary<string, long>(StringComparer.Ordinal);
        var hooks = new Dictionary<string, long>(StringComparer.Ordinal);
        long plaintextEntries = 0;
        long plaintextHistory = 0;

        StateScanPosition? after = null;
        while (true)
        {
            IReadOnlyList<StoredEntry> page = await _inner.ScanAsync(after, _options.PageSize, cancellationToken).ConfigureAwait(false);
            foreach (StoredEntry entry in page)
            {
                Count(entries, entry.Payload.Span, ref plaintextEntries);
            }

            if (page.Count < _options.PageSize)
            {
                break;
            }

            after = StateScanPosition.Of(page[^1]);
        }

        if (_history is not null)
        {
            long afterSequence = 0;
            while (true)
            {
                IReadOnlyList<StateChangeRecord> records = await _history.ReadChangesAsync(new StateChangeQuery { AfterSequence = afterSequence, Limit = _options.PageSize }, cancellationToken).ConfigureAwait(false);
                foreach (StateChangeRecord record in records)
                {
                    if (!(record.Kind == StateChangeKind.Delete && record.Payload.IsEmpty))
                    {
                        Count(changes, record.Payload.Span, ref plaintextHistory);
                    }
                }

                if (records.Count < _options.PageSize)
                {
                    break;
                }

                afterSequence = records[^1].Sequence;
            }

            foreach (HookExecutionRecord record in await _history.ReadHookExecutionsAsync(new HookExecutionQuery(), cancellationToken).ConfigureAwait(false))
            {
                foreach (ReadOnlyMemory<byte> value in new[] { record.OldValue, record.NewValue, record.ResultValue })
                {
                    if (!value.IsEmpty)
                    {
                        Count(hooks, value.Span, ref plaintextHistory);
                    }
                }
            }
        }

        return new StateKeyUsage(entries, changes, hooks, plaintextEntries, plaintextHistory);
    }

    /// <summary>How many records (entries, change records, hook values) are encrypted with <paramref name="keyId"/>: 0 means the key can be removed.</summary>
    /// <param name="keyId">The key id.</param>
    /// <param name="cancellationToken">Cancels the count.</param>
    public async ValueTask<long> CountRecordsUsingKeyAsync(string keyId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        return (await GetKeyUsageAsync(cancellationToken).ConfigureAwait(false)).CountUsing(keyId);
    }

    private static void Count(Dictionary<string, long> counts, ReadOnlySpan<byte> stored, ref long plaintext)
    {
        if (StateEncryptor.TryGetKeyId(stored, out string? keyId))
        {
            counts[keyId] = counts.TryGetValue(keyId, out long n) ? n + 1 : 1;
        }
        else if (Classify(stored) == StoredForm.Plaintext)
        {
            plaintext++;
        }
    }

    private bool IsUnderActiveKey(ReadOnlySpan<byte> stored)
        => StateEncryptor.TryGetKeyId(stored, out _) && !_encryptor.NeedsReEncryption(stored);

    /// <summary>The write that moves an entry to the active key, or <see langword="null"/> (a failure is recorded) when it cannot be read.</summary>
    private StateWrite? TryReseal(StoredEntry entry, ReEncryptionRun run)
    {
        try
        {
            byte[] envelope = Reseal(entry.Payload, StateAssociatedData.ForDocument(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion), entry.Scope, entry.Key);
            return new StateWrite(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion, envelope, entry.Version) { Origin = ReEncryptOrigin };
        }
        catch (Exception ex) when (ex is StateDecryptionException or ArgumentOutOfRangeException)
        {
            run.Fail(entry, ex.Message);
            return null;
        }
    }

    private async ValueTask CommitResealedAsync(List<(StoredEntry Entry, StateWrite Write)> pending, ReEncryptionRun run, CancellationToken cancellationToken)
    {
        var batch = new StateOperation[pending.Count];
        for (int i = 0; i < pending.Count; i++)
        {
            batch[i] = pending[i].Write;
        }

        try
        {
            await _inner.CommitAsync(batch, cancellationToken).ConfigureAwait(false);
            run.ReEncrypted += pending.Count;
            return;
        }
        catch (StateGenException)
        {
            // One entry changed meanwhile (or one failed): the batch applied nothing, so go one entry at a time.
        }

        foreach ((StoredEntry entry, StateWrite write) in pending)
        {
            await CommitOneAsync(entry, write, run, cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask CommitOneAsync(StoredEntry entry, StateWrite write, ReEncryptionRun run, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await _inner.CommitAsync(new StateOperation[] { write }, cancellationToken).ConfigureAwait(false);
                run.ReEncrypted++;
                return;
            }
            catch (StateConcurrencyException) when (attempt < MaxAttemptsPerEntry)
            {
                // A concurrent write won. Read what it left: done when it is under the active key or gone.
                StoredEntry? current = await _inner.GetAsync(entry.Scope, entry.Key, cancellationToken).ConfigureAwait(false);
                if (current is null || IsUnderActiveKey(current.Payload.Span))
                {
                    run.Skipped++;
                    return;
                }

                if (TryReseal(current, run) is not StateWrite next)
                {
                    return;
                }

                entry = current;
                write = next;
            }
            catch (StateGenException ex)
            {
                run.Fail(entry, ex.Message);
                return;
            }
        }
    }

    private sealed class ReEncryptionRun
    {
        public List<ReEncryptionFailure> Failures { get; } = new();

        public long Scanned { get; set; }

        public long ReEncrypted { get; set; }

        public long Skipped { get; set; }

        public long Failed { get; set; }

        public long ChangeRecordsReEncrypted { get; set; }

        public long HookRecordsReEncrypted { get; set; }

        public long HistoryFailed { get; set; }

        public void Fail(StoredEntry entry, string reason)
        {
            Failed++;
            if (Failures.Count < MaxKeptFailures)
            {
                Failures.Add(new ReEncryptionFailure(entry.Scope, entry.Key, reason));
            }
        }

        public void FailHistory(ReEncryptionPart part, string scope, string key, long recordId, string reason)
        {
            HistoryFailed++;
            if (Failures.Count < MaxKeptFailures)
            {
                Failures.Add(new ReEncryptionFailure(scope, key, reason) { Part = part, RecordId = recordId });
            }
        }

        public ReEncryptionProgress Progress(ReEncryptionCheckpoint at)
            => new(Scanned, ReEncrypted, Skipped, Failed, at.EntriesAfter)
            {
                Part = at.Part,
                ChangeRecordsReEncrypted = ChangeRecordsReEncrypted,
                HookRecordsReEncrypted = HookRecordsReEncrypted,
                HistoryFailed = HistoryFailed,
                Checkpoint = at,
            };
    }
}
