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
    /// Moves every entry that is not under the active key to it: pages through the inner store's
    /// <see cref="IStateStore.ScanAsync"/>, re-encrypts each such entry and writes it back through the inner store's
    /// <see cref="IStateStore.CommitAsync"/> with <see cref="StateOperation.ExpectedVersion"/> set to the version read
    /// and <see cref="StateOperation.Origin"/> <see cref="ReEncryptOrigin"/>. With
    /// <see cref="EncryptedStateStoreOptions.AllowPlaintextReads"/>, plaintext entries are encrypted too.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A concurrent write wins: the job reads the entry again and, when the new value is already under the active key
    /// (or the entry was deleted), skips it; nothing written concurrently is lost. Every write is one atomic commit, so
    /// a cancellation leaves the store consistent; run again (from the start, since the job is idempotent, or after
    /// the last <see cref="ReEncryptionProgress.Position"/>) to finish. Each moved entry gets a new version and time,
    /// and a change record when the inner store keeps a change log.
    /// </para>
    /// <para>
    /// The change log and the hook history are append-only and keep the key they were written with. The result's
    /// <see cref="ReEncryptionResult.KeyUsage"/> (counted after the job) says whether they still need a retired key:
    /// keep the key in the ring, or prune that history, before removing it.
    /// </para>
    /// </remarks>
    /// <param name="progress">Receives the counts after every page.</param>
    /// <param name="resumeAfter">Start after this entry (a previous run's last <see cref="ReEncryptionProgress.Position"/>); <see langword="null"/> to start at the beginning.</param>
    /// <param name="cancellationToken">Stops the job between two commits.</param>
    public async ValueTask<ReEncryptionResult> ReEncryptAsync(
        IProgress<ReEncryptionProgress>? progress = null,
        StateScanPosition? resumeAfter = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var run = new ReEncryptionRun();
        StateScanPosition? after = resumeAfter;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            IReadOnlyList<StoredEntry> page = await _inner.ScanAsync(after, _options.PageSize, cancellationToken).ConfigureAwait(false);
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
                after = StateScanPosition.Of(page[^1]);
                progress?.Report(new ReEncryptionProgress(run.Scanned, run.ReEncrypted, run.Skipped, run.Failed, after));
            }

            if (page.Count < _options.PageSize)
            {
                break;
            }
        }

        string activeKeyId = _encryptor.KeyRing.ActiveKeyId;
        StateKeyUsage usage = await GetKeyUsageAsync(cancellationToken).ConfigureAwait(false);
        return new ReEncryptionResult(run.Scanned, run.ReEncrypted, run.Skipped, run.Failures, run.Failed, activeKeyId, usage);
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
            byte[] aad = StateAssociatedData.ForDocument(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion);
            ReadOnlyMemory<byte> plaintext = Open(entry.Payload, aad, entry.Scope, entry.Key);
            byte[] envelope;
            try
            {
                envelope = _encryptor.Encrypt(plaintext.Span, aad);
            }
            finally
            {
                Zero(plaintext, entry.Payload);
            }

            return new StateWrite(entry.Scope, entry.Key, entry.TypeName, entry.SchemaVersion, envelope, entry.Version) { Origin = ReEncryptOrigin };
        }
        catch (StateDecryptionException ex)
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

        public void Fail(StoredEntry entry, string reason)
        {
            Failed++;
            if (Failures.Count < MaxKeptFailures)
            {
                Failures.Add(new ReEncryptionFailure(entry.Scope, entry.Key, reason));
            }
        }
    }
}
