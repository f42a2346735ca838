using System;
using System.Collections.Generic;
using System.IO;
using StateGen.Storage.LiteDb;

namespace StateGen.Storage.ChangeLog;

/// <summary>Replacing the payloads of kept records in place (<see cref="RewritePayloads"/>): a key rotation's re-encryption of history.</summary>
internal sealed partial class SegmentLog
{
    /// <summary>
    /// Rewrites the payloads of one segment: the first segment holding a record after <paramref name="afterSequence"/>.
    /// Each of its records with a sequence after <paramref name="afterSequence"/> and at most
    /// <paramref name="throughSequence"/> that is not a tombstone is passed to <paramref name="rewrite"/>; a payload it
    /// returns replaces the record's, and every other field (the commit-end flag included) stays as it was. Records
    /// outside the range, tombstones and records for which it returns <see langword="null"/> are copied byte for byte.
    /// </summary>
    /// <remarks>
    /// <para>
    /// One segment a call, so that a caller going through the whole log (calling again with the returned sequence until it
    /// stops growing or reaches <paramref name="throughSequence"/>) never holds more than one segment's copy in flight.
    /// Sequences, keys, heads and the correlation index do not change; a record may grow or shrink, so the segment's
    /// offsets are rebuilt and its seal (if it is sealed) is written again after its records. The open (last) segment may
    /// be rewritten too; appends go on after its new end.
    /// </para>
    /// <para>
    /// The segment is rewritten as <see cref="Remove"/> compacts one: its header, its records (the replaced ones encoded
    /// again) and its seal go to <c>NNNNNN.seg.tmp</c>, which is flushed to the disk and renamed over the segment (the
    /// directory is flushed after); a crash leaves the segment whole, old or new, and <see cref="Open"/> deletes a leftover
    /// copy. When no payload was replaced, no file is written (the copy is deleted). Readers and <see cref="Flush"/> may
    /// run meanwhile and see the old segment until the new one is swapped in; the caller must hold the writer's role (no
    /// <see cref="Append"/>, <see cref="DiscardAfter"/>, <see cref="RemoveSegments"/> or <see cref="Remove"/> at the same
    /// time). An exception thrown by <paramref name="rewrite"/> propagates as it is, and the segment is left as it was.
    /// </para>
    /// </remarks>
    /// <param name="afterSequence">The records after this one are rewritten (0: from the oldest kept record on).</param>
    /// <param name="throughSequence">The last record to rewrite.</param>
    /// <param name="rewrite">
    /// Given each record in the range (its payload materialized), returns its new payload, or <see langword="null"/> to keep
    /// it. Called on the calling thread, in sequence order, before anything of the segment is replaced. (A
    /// <see langword="null"/> <c>byte[]</c> returned as the result converts to an empty payload, not to
    /// <see langword="null"/>: return a <c>ReadOnlyMemory&lt;byte&gt;?</c> to keep one.)
    /// </param>
    /// <param name="rewritten">How many payloads were replaced.</param>
    /// <returns>
    /// The last sequence handled: the segment's last record or <paramref name="throughSequence"/>, whichever comes first;
    /// <paramref name="afterSequence"/> itself when the log holds no record after it and at most
    /// <paramref name="throughSequence"/>.
    /// </returns>
    /// <exception cref="StateStoreCorruptedException">A record of the segment is damaged on the disk; the segment is left as it was.</exception>
    /// <exception cref="StateStoreException">
    /// A new payload makes its record exceed the log's limits (the message names the segment and the sequence), or the
    /// segment could not be read, written or renamed. The segment is left as it was and no copy stays behind.
    /// </exception>
    public long RewritePayloads(long afterSequence, long throughSequence, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite, out int rewritten)
    {
        ArgumentNullException.ThrowIfNull(rewrite);
        ThrowIfUnusable();
        rewritten = 0;

        // Only the writer's path changes the segments: no lock to find one.
        for (int index = 0; index < _segments.Count; index++)
        {
            Segment segment = _segments[index];
            if (segment.Offsets.Count == 0 || segment.LastSequence <= afterSequence)
            {
                continue;
            }

            long from = Math.Max(afterSequence + 1, segment.FirstSequence);
            long through = Math.Min(segment.LastSequence, throughSequence);
            if (from > through)
            {
                return afterSequence; // the next record after afterSequence is past throughSequence
            }

            rewritten = RewriteSegment(index, from, through, rewrite);
            return through;
        }

        return afterSequence;
    }

    /// <summary>
    /// Rewrites segment <paramref name="index"/> with the payloads <paramref name="rewrite"/> gives for its records
    /// <paramref name="from"/> to <paramref name="through"/> and swaps it in; returns how many payloads were replaced
    /// (none: nothing was written).
    /// </summary>
    private int RewriteSegment(int index, long from, long through, Func<StateChangeRecord, ReadOnlyMemory<byte>?> rewrite)
    {
        Segment old = _segments[index];
        string temporary = old.Path + TempSuffix;
        var offsets = new List<long>(old.Offsets.Count);
        int replaced = 0;
        StoreFile file;
        try
        {
            file = _files.Create(temporary);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StateStoreException($"The change-log segment '{old.Path}' could not be rewritten: {ex.GetType().Name}.", ex);
        }

        long length;
        bool inRewrite = false; // the caller's function is running: what it throws is its own, passed on as it is
        try
        {
            using (var writer = new CopyWriter(file))
            {
                SegmentFormat.WriteHeader(writer.Reserve(SegmentFormat.HeaderSize), old.Number, old.FirstSequence, old.HeaderFlags);
                writer.Commit(SegmentFormat.HeaderSize);
                for (int position = 0; position < old.Offsets.Count; position++)
                {
                    long sequence = old.FirstSequence + position;
                    long offset = old.Offsets[position];
                    int size = (int)((position + 1 < old.Offsets.Count ? old.Offsets[position + 1] : old.Length) - offset);
                    Span<byte> bytes = writer.Reserve(size);
                    DecodedRecord entry = ReadForCopy(old, position, bytes);
                    offsets.Add(writer.Position);
                    if (sequence < from || sequence > through || entry.IsTombstone)
                    {
                        writer.Commit(size);
                        continue;
                    }

                    StateChangeRecord record = entry.ToRecord(bytes); // a copy: the buffer may move below
                    inRewrite = true;
                    ReadOnlyMemory<byte>? payload = rewrite(record);
                    inRewrite = false;
                    if (payload is not { } replacement)
                    {
                        writer.Commit(size);
                        continue;
                    }

                    // Encoded again in the place of the old bytes (not committed: the reservation is taken again).
                    StateChangeRecord changed = record with { Payload = replacement };
                    int changedSize = MeasureRewritten(old, changed);
                    SegmentFormat.Encode(changed, writer.Reserve(changedSize), entry.EndsCommit);
                    writer.Commit(changedSize);
                    replaced++;
                }

                length = writer.Position;
                if (old.Seal is { } seal)
                {
                    // The copy keeps the seal, after its (longer or shorter) records.
                    SegmentFormat.WriteSeal(writer.Reserve(SegmentFormat.SealSize), old.Number, length, seal.NextSequence, seal.GapTo);
                    writer.Commit(SegmentFormat.SealSize);
                }

                if (replaced > 0)
                {
                    writer.Flush();
                }
            }

            if (replaced == 0)
            {
                file.Release();
                DeleteCopy(temporary);
                return 0; // every payload kept: the segment stays as it is
            }

            file.Sync();
            _files.MoveOver(temporary, old.Path); // atomic: the segment is old or new, whatever happens
        }
        catch (Exception ex)
        {
            file.Release();
            DeleteCopy(temporary);
            if (!inRewrite && ex is IOException or UnauthorizedAccessException)
            {
                throw new StateStoreException($"The change-log segment '{old.Path}' could not be rewritten: {ex.GetType().Name}.", ex);
            }

            throw;
        }

        // The new file has the segment's name now, and this handle is open on it. Its records keep their times.
        _files.SyncDirectory(old.Path);
        Segment rewritten = AttachCopy(old, file, offsets, length, old.NewestTicks);
        lock (_flushLock) // a flush in progress finishes with the old handle before it is closed
        {
            _lock.EnterWriteLock();
            try
            {
                _segments[index] = rewritten;
            }
            finally
            {
                _lock.ExitWriteLock();
            }

            old.Dispose();
        }

        return replaced;
    }

    /// <summary>The encoded size of <paramref name="changed"/>, a record of <paramref name="segment"/> with its new payload.</summary>
    /// <exception cref="StateStoreException">The record is over the log's limits (the message names no payload byte).</exception>
    private int MeasureRewritten(Segment segment, StateChangeRecord changed)
    {
        int size;
        try
        {
            size = SegmentFormat.Measure(changed, _options.MaxPayloadBytes);
        }
        catch (ArgumentException ex)
        {
            throw OverLimit(segment, changed, ex);
        }

        return size <= _maxRecordSize ? size : throw OverLimit(segment, changed, null);
    }

    private StateStoreException OverLimit(Segment segment, StateChangeRecord changed, Exception? inner)
        => new($"The change-log record {changed.Sequence} in segment '{segment.Path}' cannot take its new payload of {changed.Payload.Length} bytes: the record would be over the change log's limits (payloads up to {_options.MaxPayloadBytes} bytes); the segment was left as it was.", inner);
}
