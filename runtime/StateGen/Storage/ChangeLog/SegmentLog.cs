using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using StateGen.Storage.LiteDb;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// The change log as append-only segment files beside the database (<c>&lt;db&gt;.changes/000001.seg</c>, ...), the
/// design of docs/design/change-log-side-file.md. <see cref="LiteDbStateStore"/> keeps a segmented file's change log here.
/// </summary>
/// <remarks>
/// <para>
/// Sequences are consecutive: record <c>n + 1</c> follows record <c>n</c>, across segments (each segment's header names
/// the sequence of its first record), so a missing record is always detectable. Retention removes whole segments from the
/// oldest end only, so the kept records stay one consecutive range; <see cref="Remove"/> takes chosen records out by
/// replacing them with tombstones, which keep their sequences.
/// </para>
/// <para>
/// Order and durability are the caller's: append a batch's records (one positional write each, into the OS cache), then
/// commit the database; in durable mode <see cref="Flush"/> the log before the database's files. On open,
/// <see cref="Open"/> is told the newest sequence the database committed and cuts everything after it, except whole
/// commits whose last record carries the commit-end flag (<see cref="Append"/>'s <c>endsCommit</c>: write behind, where
/// the log decides a commit and the database is brought up to date after it).
/// </para>
/// <para>
/// Threads: <see cref="Append"/>, <see cref="DiscardAfter"/>, <see cref="RemoveSegments"/>, <see cref="Remove"/>, <see cref="RewritePayloads"/> and
/// <see cref="Dispose"/> come from one writer at a time (the store's write path). Reads may run on any thread,
/// concurrently with them and with <see cref="Flush"/> (the group commit's flusher): a record becomes visible to readers
/// only once it is wholly written.
/// </para>
/// </remarks>
internal sealed partial class SegmentLog : IDisposable
{
    private readonly string _folder;
    private readonly SegmentFileSystem _files;
    private readonly SegmentLogOptions _options;
    private readonly long _maxRecordSize;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly object _flushLock = new(); // taken before _lock when both are needed
    private readonly List<Segment> _segments = []; // oldest first; the last one takes appends
    private readonly Dictionary<(string Scope, string Key), Head> _heads = [];
    private readonly CorrelationIndex _correlations;
    private long _nextSequence;
    private long _written; // completed appends and cuts
    private long _synced;  // the value of _written the last finished flush covered
    private readonly List<SegmentLogGap> _gaps = []; // oldest first
    private volatile bool _failed;
    private volatile bool _disposed;

    /// <summary>A key's newest record in the log; <paramref name="IsRemoved"/> when <see cref="Remove"/> replaced it by a tombstone.</summary>
    private readonly record struct Head(long Sequence, bool IsDelete, bool IsRemoved);

    /// <summary>
    /// The suffix of a segment's copy while <see cref="Remove"/> or <see cref="RewritePayloads"/> writes it; <see cref="Open"/>
    /// deletes leftovers.
    /// </summary>
    private const string TempSuffix = ".tmp";

    /// <summary>
    /// The infix of the file that keeps the bytes a lost-tail recovery cut off a segment (<c>000003.seg.lost-120</c>: the
    /// tail of segment 3 from where record 120 should have been), for inspection; the log never reads it.
    /// </summary>
    public const string LostTailInfix = ".lost-";

    private SegmentLog(string folder, SegmentLogOptions options, SegmentFileSystem files)
    {
        _folder = folder;
        _files = files;
        _options = options;
        _maxRecordSize = SegmentFormat.MaxRecordSize(options.MaxPayloadBytes);
        _correlations = new CorrelationIndex(options.CorrelationHash);
    }

    /// <summary>The folder of the change log of the database at <paramref name="databasePath"/>.</summary>
    public static string FolderFor(string databasePath) => databasePath + ".changes";

    /// <summary>
    /// Whether <paramref name="folder"/> holds a segment file with anything after its header: a change log with records
    /// (of another database, when a new database file would be created beside it).
    /// </summary>
    public static bool HoldsRecords(string folder, SegmentFileSystem? files = null)
    {
        files ??= SegmentFileSystem.Os;
        if (!files.DirectoryExists(folder))
        {
            return false;
        }

        foreach (string path in files.EnumerateFiles(folder))
        {
            if (!SegmentFormat.TryParseFileName(Path.GetFileName(path), out _))
            {
                continue;
            }

            StoreFile file = files.OpenExisting(path);
            try
            {
                if (file.Length > SegmentFormat.HeaderSize)
                {
                    return true;
                }
            }
            finally
            {
                file.Release();
            }
        }

        return false;
    }

    /// <summary>The log's folder.</summary>
    public string Folder => _folder;

    /// <summary>
    /// Opens (or creates) the log in <paramref name="folder"/> and recovers it against the database: a record cut short
    /// by a crash and every record after <paramref name="committedSequence"/> (appended, but their database commit never
    /// happened) are cut off and the cut flushed to the disk; the in-memory index is built from one read of every segment.
    /// Records after <paramref name="committedSequence"/> up to and including the last one that carries the commit-end
    /// flag (<see cref="SegmentFormat.CommitEndFlag"/>) are kept instead: their commits were decided by the log. Only
    /// what follows that record is cut (a commit a crash cut short: its records without the flag, a torn record and
    /// everything after it), even back into an earlier segment when that commit spans a roll.
    /// </summary>
    /// <param name="folder">The log's folder (<see cref="FolderFor"/>).</param>
    /// <param name="committedSequence">The newest sequence the database committed; 0 when it committed none.</param>
    /// <param name="options">Settings; the defaults when <see langword="null"/>.</param>
    /// <param name="keepLostTail">
    /// What a record at or before <paramref name="committedSequence"/> that is missing or damaged at the end of the
    /// <em>last</em> segment means. <see langword="false"/>: damage (the typed error below, nothing cut). <see langword="true"/>:
    /// a power cut kept the database's commit but not the log's unflushed tail (the only bytes not yet flushed are in the
    /// last segment: a segment is flushed before the next one is made). The tail from that record on is copied aside
    /// (<see cref="LostTailInfix"/>) and cut, and a new segment flagged <see cref="SegmentFormat.AfterGapFlag"/> starts at
    /// <c><paramref name="committedSequence"/> + 1</c>: the records in between are lost history, reported by
    /// <see cref="Gaps"/> and <see cref="RecoveredGap"/>; the cut segment is sealed for the gap before that segment is made.
    /// Damage anywhere before the last segment is always the typed error, and so is a sealed last segment with records
    /// missing after it (the log went on after it: the segment after it is missing), unless it was sealed for this very gap.
    /// </param>
    /// <param name="files">Where the folder and its segments are; the real file system when <see langword="null"/>.</param>
    /// <exception cref="StateStoreCorruptedException">
    /// A record at or before <paramref name="committedSequence"/> is damaged or missing (outside the lost tail that
    /// <paramref name="keepLostTail"/> allows), a segment is missing or is not one, or the log starts after
    /// <paramref name="committedSequence"/> (it belongs to another database). Also a record after it that is damaged in a
    /// sealed segment or one followed by another (not a torn write) while the log holds a record after it with the
    /// commit-end flag: cutting there would drop decided commits. Nothing was cut in these cases.
    /// </exception>
    /// <exception cref="StateStoreException">The folder or a segment could not be read or written.</exception>
    public static SegmentLog Open(string folder, long committedSequence, SegmentLogOptions? options = null, bool keepLostTail = false, SegmentFileSystem? files = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentOutOfRangeException.ThrowIfNegative(committedSequence);
        options ??= new SegmentLogOptions();
        options.Validate();
        var log = new SegmentLog(folder, options, files ?? SegmentFileSystem.Os);
        try
        {
            log.Recover(committedSequence, keepLostTail);
            return log;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Dispose();
            throw new StateStoreException($"The change log '{folder}' could not be opened: {ex.GetType().Name}.", ex);
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a new, empty log in <paramref name="folder"/>, which must not exist, whose first record will be
    /// <paramref name="firstSequence"/> (a log converted from a database whose older records were pruned starts at its
    /// oldest kept one). The folder and the first segment's header are on the disk when this returns.
    /// </summary>
    /// <exception cref="InvalidOperationException">The folder exists.</exception>
    /// <exception cref="StateStoreException">The folder or its first segment could not be made.</exception>
    public static SegmentLog Create(string folder, long firstSequence, SegmentLogOptions? options = null, SegmentFileSystem? files = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(firstSequence, 1);
        options ??= new SegmentLogOptions();
        options.Validate();
        files ??= SegmentFileSystem.Os;
        if (files.DirectoryExists(folder))
        {
            throw new InvalidOperationException($"The change log folder '{folder}' exists already.");
        }

        var log = new SegmentLog(folder, options, files);
        try
        {
            files.CreateDirectory(folder);
            files.SyncDirectory(folder); // the folder's entry in its parent
            log._segments.Add(Segment.Create(files, folder, 1, firstSequence));
            log._nextSequence = firstSequence;
            return log;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Dispose();
            throw new StateStoreException($"The change log '{folder}' could not be created: {ex.GetType().Name}.", ex);
        }
    }

    /// <summary>The sequence the next appended record must have.</summary>
    public long NextSequence
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _nextSequence;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>The oldest record kept (equal to <see cref="NextSequence"/> when the log holds none).</summary>
    public long FirstSequence
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _segments[0].FirstSequence;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>How many segment files the log has.</summary>
    public int SegmentCount
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _segments.Count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Whether an append or cut is not yet covered by a finished <see cref="Flush"/>.</summary>
    public bool IsDirty => Interlocked.Read(ref _written) != Interlocked.Read(ref _synced);

    /// <summary>
    /// The ranges of history the log lost and went on after (<see cref="SegmentFormat.AfterGapFlag"/>), oldest first, as
    /// its segment headers record them. A gap whose segment before it was deleted by retention is no longer listed (it is
    /// before the oldest kept record).
    /// </summary>
    public IReadOnlyList<SegmentLogGap> Gaps
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _gaps.ToArray();
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>The gap this open made (a lost tail kept, see <see cref="Open"/>), or <see langword="null"/>.</summary>
    public SegmentLogGap? RecoveredGap { get; private set; }

    /// <summary>Whether <paramref name="sequence"/> is in a gap: a record the log lost (not one retention removed).</summary>
    public bool IsLost(long sequence)
    {
        _lock.EnterReadLock();
        try
        {
            foreach (SegmentLogGap gap in _gaps)
            {
                if (sequence >= gap.FromSequence && sequence <= gap.ToSequence)
                {
                    return true;
                }
            }

            return false;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Whether the log lost records after <paramref name="sequence"/> (a gap starts after it).</summary>
    public bool HasGapAfter(long sequence)
    {
        _lock.EnterReadLock();
        try
        {
            return _gaps.Count > 0 && _gaps[^1].ToSequence > sequence;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private void Recover(long committed, bool keepLostTail)
    {
        if (!_files.DirectoryExists(_folder))
        {
            if (committed > 0)
            {
                // Not made here: a database file copied or moved without its log would leave an empty folder behind.
                throw Corrupt(_folder, $"the change log's folder is missing, but the database committed changes up to sequence {committed}");
            }

            _files.CreateDirectory(_folder);
            _files.SyncDirectory(_folder); // the folder's entry in its parent
        }

        var files = new List<(long Number, string Path)>();
        bool leftovers = false;
        foreach (string path in _files.EnumerateFiles(_folder))
        {
            string name = Path.GetFileName(path);
            if (SegmentFormat.TryParseFileName(name, out long number))
            {
                files.Add((number, path));
            }
            else if (name.EndsWith(TempSuffix, StringComparison.Ordinal) && SegmentFormat.TryParseFileName(name[..^TempSuffix.Length], out _))
            {
                // A compaction's copy that a crash left before (or without) its rename over the segment: the segment
                // itself is whole, old or new.
                _files.Delete(path);
                leftovers = true;
            }
        }

        if (leftovers)
        {
            _files.SyncDirectory(Path.Combine(_folder, SegmentFormat.FileName(1)));
        }

        files.Sort((a, b) => a.Number.CompareTo(b.Number));
        for (int i = 1; i < files.Count; i++)
        {
            if (files[i].Number != files[i - 1].Number + 1)
            {
                throw Corrupt(Path.Combine(_folder, SegmentFormat.FileName(files[i - 1].Number + 1)), "the change-log segment is missing");
            }
        }

        if (files.Count == 0)
        {
            if (committed > 0)
            {
                throw Corrupt(_folder, $"the change log has no segment, but the database committed changes up to sequence {committed}");
            }

            _segments.Add(Segment.Create(_files, _folder, 1, 1));
            _nextSequence = 1;
            return;
        }

        long expected = 0;
        string? lostTail = null;
        int cutFrom = files.Count; // files from here on are deleted
        Segment? cutSegment = null; // cut at cutAt once the later files are deleted
        long cutAt = 0;

        // Records after `committed` are held here, not indexed, until a record with the commit-end flag ends their commit
        // (write behind: the log decides a commit); whatever is held when the log ends, or a record fails, is a commit cut
        // short by a crash, cut from its first record on. Without any flagged record this cuts every record after
        // `committed`, as before the flag.
        var pending = new List<PendingRecord>();
        bool keptAfterCommitted = false; // a flagged record after `committed` was kept
        Span<byte> header = stackalloc byte[SegmentFormat.HeaderSize];
        Span<byte> sealBytes = stackalloc byte[SegmentFormat.SealSize];
        for (int i = 0; i < files.Count && cutFrom == files.Count; i++)
        {
            (long number, string path) = files[i];
            StoreFile file = _files.OpenExisting(path);
            long fileLength;
            string? failure;
            long first;
            ushort flags;
            bool torn;
            SegmentSeal? seal = null;
            long recordsEnd;
            try
            {
                fileLength = file.Length;
                int read = file.ReadAtOffset(0, header);
                failure = SegmentFormat.ReadHeader(header[..read], out long headerNumber, out first, out flags);
                if (failure is null && headerNumber != number)
                {
                    failure = $"its header names segment {headerNumber}";
                }

                torn = failure is not null && IsTornHeader(header[..read]);

                // A seal at the end of the file: the log went on after this segment, and every record before the seal was
                // on the disk before it was written.
                recordsEnd = fileLength;
                if (failure is null && fileLength >= SegmentFormat.HeaderSize + SegmentFormat.SealSize
                    && file.ReadAtOffset(fileLength - SegmentFormat.SealSize, sealBytes) == SegmentFormat.SealSize
                    && SegmentFormat.TryReadSeal(sealBytes, out long sealNumber, out long sealOffset, out long sealNext, out long gapTo, out string? sealFailure))
                {
                    failure = sealFailure
                        ?? (sealNumber != number || sealOffset != fileLength - SegmentFormat.SealSize ? $"its seal names segment {sealNumber} at offset {sealOffset}" : null)
                        ?? (sealNext < first ? $"its seal says the log goes on at sequence {sealNext}, before its first sequence {first}" : null)
                        ?? (gapTo != 0 && gapTo > committed ? $"its seal records a gap up to sequence {gapTo}, but the database committed changes only up to {committed}: it belongs to another database or a newer copy" : null);
                    seal = new SegmentSeal(sealNext, gapTo);
                    recordsEnd = sealOffset;
                }
            }
            catch
            {
                file.Release();
                throw;
            }

            if (failure is not null)
            {
                file.Release();
                bool uncommitted = i > 0 ? expected > committed : committed == 0 && files.Count == 1;

                // With keepLostTail, a torn last segment (after another) holds nothing either, whatever `committed` says:
                // its header is flushed before any record goes in. It is what a crash leaves while the segment after a
                // gap is made; the gap below makes it again.
                bool tornLast = keepLostTail && i > 0 && i == files.Count - 1;
                if (torn && (uncommitted || tornLast) && i < files.Count - 1 && HoldsCommitEndAfter(Math.Max(committed, expected - 1)))
                {
                    // A crash leaves no segment after one whose header it cut short (a header is flushed before the next
                    // segment is made): cutting here would drop the commits the log decided in the segments after it.
                    throw Corrupt(path, $"change-log segment: {failure}, but segments after it hold commits after the database's sequence {committed}");
                }

                if (torn && (uncommitted || tornLast))
                {
                    // Its creation was cut short by a crash (a header is written and flushed before any record goes in).
                    cutFrom = i;
                    expected = i > 0 ? expected : 1;
                    if (pending.Count > 0)
                    {
                        // A roll inside an unfinished commit: its start, in the segments before, goes too.
                        CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
                    }

                    break;
                }

                if (CutsInstead(pending, keptAfterCommitted, committed))
                {
                    CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
                    break;
                }

                throw Corrupt(path, $"change-log segment: {failure}");
            }

            if (i == 0 && first > committed + 1)
            {
                file.Release();
                throw Corrupt(path, $"the change log starts at sequence {first}, after the database's newest committed sequence {committed}: it belongs to another database or a newer copy");
            }

            bool afterGap = (flags & SegmentFormat.AfterGapFlag) != 0;
            bool afterSeal = (flags & SegmentFormat.AfterSealFlag) != 0;
            if (i > 0 && (afterGap ? first < expected : first != expected))
            {
                file.Release();
                if (CutsInstead(pending, keptAfterCommitted, committed))
                {
                    CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
                    break;
                }

                throw Corrupt(path, $"change-log segment: its header says it starts at sequence {first}, but the segment before it ends at {expected - 1}");
            }

            if (i > 0 && SealFailure(_segments[^1].Seal, afterSeal, afterGap, first) is { } sealMismatch)
            {
                file.Release();
                if (CutsInstead(pending, keptAfterCommitted, committed))
                {
                    CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
                    break;
                }

                throw Corrupt(path, $"change-log segment: {sealMismatch}");
            }

            if (i > 0 && first > expected)
            {
                string kept = LostTailPath(files[i - 1].Path, expected);
                _gaps.Add(new SegmentLogGap(expected, first - 1, FileExists(kept) ? kept : null));
            }

            expected = first;
            var segment = Segment.Attach(path, number, first, afterGap, file, afterSeal);
            segment.Seal = seal;
            _segments.Add(segment);
            long offset = SegmentFormat.HeaderSize;
            while (offset < recordsEnd)
            {
                failure = ReadRecordAt(segment, offset, recordsEnd - offset, expected, exactLength: false, out DecodedRecord record, out int length, out _);
                if (failure is null && expected > committed)
                {
                    // Decided only by a commit-end flag: held until one ends the commit, then indexed with it.
                    pending.Add(new PendingRecord(segment, offset, length, record));
                    if (record.EndsCommit)
                    {
                        foreach (PendingRecord held in pending)
                        {
                            DecodedRecord r = held.Record;
                            Index(held.Segment, held.Offset, held.Length, r.Sequence, r.Scope, r.Key, r.Kind, r.IsTombstone, r.CorrelationId, r.Ticks);
                        }

                        pending.Clear();
                        keptAfterCommitted = true;
                    }

                    expected++;
                    offset += length;
                    continue;
                }

                if (failure is not null)
                {
                    if (seal is null && i == files.Count - 1 && HoldsCommitEndAfter(Math.Max(committed, expected - 1)))
                    {
                        // A crash leaves the end of the last segment short, never a hole with whole records after it (the
                        // flushes cover a prefix): this is damage, and a cut (or a lost tail) here would drop the commits
                        // after it that the log decided, whose values LiteDB does not hold yet.
                        throw Corrupt(path, $"change-log record {expected} at offset {offset} is damaged: {failure}; whole commits after the database's sequence {committed} follow it, which cutting it would drop");
                    }

                    if (expected <= committed)
                    {
                        if (!keepLostTail || i != files.Count - 1 || seal is not null)
                        {
                            // (A sealed segment's records were all on the disk before its seal: none is a lost tail.)
                            throw Corrupt(path, $"change-log record {expected} at offset {offset}, committed by the database, is damaged: {failure}");
                        }

                        // The unflushed tail a power cut took (see Open): kept aside, then cut like a torn record. But what is
                        // left of the seal an earlier open wrote for this very gap after its cut (a crash cut that write
                        // short) is not copied over the tail that open kept.
                        if (!IsTornGapSeal(segment, offset, fileLength, expected, committed) || !FileExists(LostTailPath(path, expected)))
                        {
                            lostTail = PreserveTail(segment, offset, fileLength, expected);
                        }
                    }
                    else if ((seal is not null || i != files.Count - 1) && (keptAfterCommitted || HoldsCommitEndAfter(committed)))
                    {
                        // Not a torn write: a sealed segment's records were on the disk before its seal, and a segment the log
                        // went on from was flushed before the next one was made. Cutting here would drop commits the log
                        // decided (flagged records after `committed`) with the damage.
                        throw Corrupt(path, $"change-log record {expected} at offset {offset} is damaged: {failure}; it is not at the end of the log (its segment was sealed or followed by another), and the log holds commits after the database's sequence {committed} that cutting it would drop");
                    }

                    // A torn record, or records whose database commit never happened: cut here (its seal with them), and
                    // every later segment; with an unfinished commit before it, from that commit's first record on.
                    cutSegment = segment;
                    cutAt = offset;
                    cutFrom = i + 1;
                    CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
                    break;
                }

                Index(segment, offset, length, record.Sequence, record.Scope, record.Key, record.Kind, record.IsTombstone, record.CorrelationId, record.Ticks);
                expected++;
                offset += length;
            }

            if (cutSegment is null && seal is { } whole && whole.NextSequence != expected)
            {
                if (CutsInstead(pending, keptAfterCommitted, committed))
                {
                    CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
                    break;
                }

                throw Corrupt(path, $"change-log segment: its seal says the log goes on at sequence {whole.NextSequence}, but its records end at {expected - 1}");
            }
        }

        if (cutSegment is null && cutFrom == files.Count && pending.Count > 0)
        {
            // The log ends inside a commit (no record ends it with the flag): it never finished.
            CutPending(pending, ref cutSegment, ref cutAt, ref cutFrom, ref expected);
        }

        bool lost = expected <= committed;
        bool lastReached = _segments.Count == files.Count || (cutFrom == files.Count - 1 && _segments.Count == files.Count - 1);
        SegmentSeal? lastSeal = _segments.Count > 0 && _segments[^1] != cutSegment ? _segments[^1].Seal : null;
        if (lost && lastSeal is { } sealedLast && (!sealedLast.IsGap || sealedLast.GapTo != committed))
        {
            // The log went on after this segment (a roll, or a lost-tail recovery up to another sequence) and the records up
            // to `committed` were in the segments after it: they are missing, not a tail a power cut took.
            throw Corrupt(_segments[^1].Path, $"the change log ends at sequence {expected - 1} with a sealed segment, but the database committed changes up to {committed}: the segment after it is missing");
        }

        if (lost && !(keepLostTail && lastReached))
        {
            throw Corrupt(files[^1].Path, $"the change log ends at sequence {expected - 1}, but the database committed changes up to {committed}: records are missing");
        }

        if (cutFrom < files.Count)
        {
            for (int i = cutFrom; i < files.Count; i++)
            {
                _files.Delete(files[i].Path);
            }

            _files.SyncDirectory(files[0].Path);
        }

        // After the deletions are on the disk: a crash between the two never leaves a later segment after a cut one.
        cutSegment?.Truncate(cutAt); // flushed to the disk

        if (_segments.Count == 0)
        {
            // The only segment was torn at its creation: make it again.
            _segments.Add(Segment.Create(_files, _folder, files[0].Number, expected));
        }

        if (lost)
        {
            // The history from `expected` to `committed` is gone: the log goes on after it. The last segment is sealed
            // with the gap (after its cut, flushed), then the segment after the gap is made with a header that says so
            // (flushed before anything is appended). A crash in between only makes the next open do the rest again; a
            // segment sealed for this very gap is finished, not refused.
            // (A tail kept aside by an earlier open that a crash cut short is reported too.)
            lostTail ??= FileExists(LostTailPath(_segments[^1].Path, expected)) ? LostTailPath(_segments[^1].Path, expected) : null;
            var gap = new SegmentLogGap(expected, committed, lostTail);
            if (_segments[^1].Seal is null)
            {
                _segments[^1].Sync(); // its records on the disk before the seal that vouches for them
                _segments[^1].WriteSeal(committed);
                _segments[^1].Sync();
            }

            _segments.Add(Segment.Create(_files, _folder, _segments[^1].Number + 1, committed + 1, afterGap: true, afterSeal: true));
            _gaps.Add(gap);
            RecoveredGap = gap;
            expected = committed + 1;
        }

        _nextSequence = expected;

        // The last segment may hold records written before this open that no flush covered (a process that goes on
        // after an I/O error reopens its log): the first flush syncs it whatever this log appended.
        _written = 1;
    }

    /// <summary>A whole record after the committed sequence that recovery holds until a commit-end flag decides it.</summary>
    private readonly record struct PendingRecord(Segment Segment, long Offset, int Length, DecodedRecord Record);

    /// <summary>
    /// Moves the recovery's cut back to the first of the <paramref name="pending"/> records (a commit a crash cut short),
    /// when there are any: that segment is cut at its offset and every segment after it goes. Those already attached are
    /// closed and taken off the list here (no handle or index entry of a cut record stays), with any gap recorded before
    /// them; their files are deleted with the later ones (<paramref name="cutFrom"/>).
    /// </summary>
    private void CutPending(List<PendingRecord> pending, ref Segment? cutSegment, ref long cutAt, ref int cutFrom, ref long expected)
    {
        if (pending.Count == 0)
        {
            return;
        }

        PendingRecord first = pending[0];
        int index = _segments.IndexOf(first.Segment);
        for (int i = _segments.Count - 1; i > index; i--)
        {
            _segments[i].Dispose();
            _segments.RemoveAt(i);
        }

        // Only a segment after a gap records one, and the cut segment's own gap (before its first record) stays.
        _gaps.RemoveAll(g => g.ToSequence >= first.Record.Sequence);
        cutSegment = first.Segment;
        cutAt = first.Offset;
        cutFrom = index + 1;
        expected = first.Record.Sequence;
        pending.Clear();
    }

    /// <summary>
    /// Whether a damaged or misplaced segment that recovery reached after <paramref name="pending"/> records (after
    /// <paramref name="committed"/>, none of them decided by a flag) is cut with them instead of being a typed error: when
    /// no record after <paramref name="committed"/> carries the commit-end flag, as before the flag, when recovery cut at
    /// the first record after <paramref name="committed"/> and never read what follows it.
    /// </summary>
    private bool CutsInstead(List<PendingRecord> pending, bool keptAfterCommitted, long committed)
        => pending.Count > 0 && !keptAfterCommitted && !HoldsCommitEndAfter(committed);

    /// <summary>
    /// Whether the log's segments hold an intact record after <paramref name="committed"/> with the commit-end flag,
    /// wherever it is (read past damage the way salvage does, <see cref="SegmentLogReader"/>; reads only). Asked only when
    /// recovery meets damage that a cut would otherwise silently take with the records after it, so its cost (a read of
    /// the whole log) is paid only then.
    /// </summary>
    private bool HoldsCommitEndAfter(long committed)
    {
        bool found = false;
        SegmentLogReader.Read(_folder, entry => found |= entry.EndsCommit && entry.Sequence > committed, _files);
        return found;
    }

    /// <summary>
    /// Why segment <c>i</c> (flags <paramref name="afterSeal"/>, <paramref name="afterGap"/>, first sequence
    /// <paramref name="first"/>) does not follow <paramref name="previousSeal"/>, the seal of the whole segment before it;
    /// <see langword="null"/> when it does. A segment made after a seal says so in its header, so a sealed segment whose
    /// end was cut (its seal with it, even at a record boundary) is told from one written before seals existed.
    /// </summary>
    private static string? SealFailure(SegmentSeal? previousSeal, bool afterSeal, bool afterGap, long first)
    {
        if (previousSeal is not { } seal)
        {
            return afterSeal ? "its header says the segment before it was sealed, but that segment has no seal: its end was cut" : null;
        }

        if (!afterSeal)
        {
            return "the segment before it is sealed, but its header does not say it follows a seal";
        }

        if (seal.IsGap != afterGap)
        {
            return seal.IsGap ? "the segment before it was sealed for a gap, but its header names none" : "its header names a gap, but the segment before it was sealed without one";
        }

        return seal.IsGap && seal.GapTo != first - 1
            ? $"the segment before it was sealed for a gap up to sequence {seal.GapTo}, but its header says it starts at {first}"
            : null;
    }

    /// <summary>Where a lost-tail recovery keeps the tail of <paramref name="segmentPath"/> cut from record <paramref name="from"/> on.</summary>
    private static string LostTailPath(string segmentPath, long from)
        => segmentPath + LostTailInfix + from.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Copies the bytes of <paramref name="segment"/> from <paramref name="offset"/> to <paramref name="length"/> into
    /// <c>segment + LostTailInfix + expected</c>, flushed to the disk with its directory entry, before a lost-tail cut.
    /// </summary>
    private string PreserveTail(Segment segment, long offset, long length, long expected)
    {
        string path = LostTailPath(segment.Path, expected);
        StoreFile copy = _files.Create(path);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            copy.SetLength(0);
            for (long position = offset; position < length;)
            {
                int read = segment.ReadAt(position, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - position)));
                if (read == 0)
                {
                    break;
                }

                copy.WriteAtOffset(position - offset, buffer.AsSpan(0, read));
                position += read;
            }

            copy.Sync();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            copy.Release();
        }

        _files.SyncDirectory(path);
        return path;
    }

    /// <summary>
    /// Whether the bytes of <paramref name="segment"/> from <paramref name="offset"/> to <paramref name="length"/> are a part
    /// of the seal a lost-tail recovery writes there for the gap <paramref name="from"/> to <paramref name="to"/>: at most
    /// a seal's size, each byte that seal's or zero.
    /// </summary>
    private static bool IsTornGapSeal(Segment segment, long offset, long length, long from, long to)
    {
        if (length - offset is <= 0 or > SegmentFormat.SealSize)
        {
            return false;
        }

        Span<byte> seal = stackalloc byte[SegmentFormat.SealSize];
        SegmentFormat.WriteSeal(seal, segment.Number, offset, from, to);
        Span<byte> left = stackalloc byte[(int)(length - offset)];
        if (segment.ReadAt(offset, left) < left.Length)
        {
            return false;
        }

        for (int i = 0; i < left.Length; i++)
        {
            if (left[i] != 0 && left[i] != seal[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the log's folder holds <paramref name="path"/>.</summary>
    private bool FileExists(string path)
        => _files.EnumerateFiles(_folder).Any(f => string.Equals(f, path, StringComparison.Ordinal));

    /// <summary>A header that a crash cut short while the segment was created: empty, all zeros, or a prefix of the magic.</summary>
    private static bool IsTornHeader(ReadOnlySpan<byte> header)
    {
        if (!header.ContainsAnyExcept((byte)0))
        {
            return true;
        }

        Span<byte> magic = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(magic, SegmentFormat.SegmentMagic);
        return header.Length < SegmentFormat.HeaderSize && magic.StartsWith(header[..Math.Min(4, header.Length)]);
    }

    /// <summary>
    /// Reads the record at <paramref name="offset"/>, which must carry <paramref name="expected"/>. Returns why it is not
    /// valid, or <see langword="null"/>. With <paramref name="materialize"/>, the public record is made too (not for a
    /// tombstone: <paramref name="materialized"/> stays <see langword="null"/>).
    /// </summary>
    private string? ReadRecordAt(Segment segment, long offset, long available, long expected, bool exactLength, out DecodedRecord record, out int length, out StateChangeRecord? materialized, bool materialize = false)
    {
        record = default;
        length = 0;
        materialized = null;
        if (available < SegmentFormat.RecordPrefixSize)
        {
            return "the file ends inside its length";
        }

        Span<byte> prefix = stackalloc byte[SegmentFormat.RecordPrefixSize];
        if (segment.ReadAt(offset, prefix) < prefix.Length)
        {
            return "the file ends inside its length";
        }

        length = SegmentFormat.CheckPrefix(prefix, _maxRecordSize, available, out string? failure);
        if (failure is not null)
        {
            return failure;
        }

        if (exactLength && length != available)
        {
            return $"its length {length} is not the {available} bytes the index holds for it";
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> bytes = buffer.AsSpan(0, length);
            if (segment.ReadAt(offset, bytes) < length)
            {
                return "the file ends inside it";
            }

            failure = SegmentFormat.TryDecode(bytes, out record);
            if (failure is null && record.Sequence != expected)
            {
                failure = $"it carries sequence {record.Sequence}";
            }

            if (failure is null && materialize && !record.IsTombstone)
            {
                materialized = record.ToRecord(bytes);
            }

            return failure;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Adds a record or tombstone to the index (a tombstone's <paramref name="kind"/> is the removed record's). Called
    /// holding the write lock, or during open.
    /// </summary>
    private void Index(Segment segment, long offset, int length, long sequence, string scope, string key, StateChangeKind kind, bool tombstone, string? correlationId, long ticks)
    {
        segment.Offsets.Add(offset);
        segment.Length = offset + length;
        _heads[(scope, key)] = new Head(sequence, kind == StateChangeKind.Delete, tombstone);
        if (tombstone)
        {
            return; // no time (retention needs none for it) and no correlation id
        }

        segment.NewestTicks = Math.Max(segment.NewestTicks, ticks);
        if (correlationId is not null)
        {
            _correlations.Add(correlationId, sequence);
        }
    }

    /// <summary>
    /// Appends <paramref name="record"/> with one positional write at the tail of the active segment (rolling to a new
    /// segment first when the active one would pass <see cref="SegmentLogOptions.RollBytes"/>). The record is in the OS
    /// cache when this returns; <see cref="Flush"/> puts it on the disk.
    /// </summary>
    /// <param name="record">The record; its sequence must be <see cref="NextSequence"/>.</param>
    /// <param name="endsCommit">
    /// Whether it is the last record of its commit (write behind: the log decides the commit). It is written with
    /// <see cref="SegmentFormat.CommitEndFlag"/>, and <see cref="Open"/> keeps the records after the database's committed
    /// sequence up to the last such record; a commit's records without it after that sequence are cut as unfinished.
    /// </param>
    /// <exception cref="ArgumentException">
    /// Its sequence is not <see cref="NextSequence"/>, or a field is over its limit (<see cref="SegmentFormat.Measure"/>).
    /// </exception>
    /// <exception cref="StateStoreException">A flush failed earlier: the log takes no more records until reopened.</exception>
    public void Append(StateChangeRecord record, bool endsCommit = false)
    {
        ArgumentNullException.ThrowIfNull(record);
        ThrowIfUnusable();
        if (record.Sequence != _nextSequence)
        {
            throw new ArgumentException($"Change {record.Sequence} cannot be appended: the log's next sequence is {_nextSequence}.", nameof(record));
        }

        int size = SegmentFormat.Measure(record, _options.MaxPayloadBytes);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            SegmentFormat.Encode(record, buffer.AsSpan(0, size), endsCommit);
            (Segment active, long offset) = WriteAtTail(record.Sequence, buffer.AsSpan(0, size));
            _lock.EnterWriteLock();
            try
            {
                Index(active, offset, size, record.Sequence, record.Scope, record.Key, record.Kind, tombstone: false, record.CorrelationId, record.Timestamp.UtcTicks);
                _nextSequence++;
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Appends a tombstone as <paramref name="sequence"/>, for a record removed before the log held it: a conversion
    /// from the <c>changes</c> collection writes one for each sequence its pruning left out, so the sequences stay
    /// consecutive. A tombstone of a key (one a later record of the key names as its previous) keeps the key's chain
    /// walkable through it to <paramref name="previousSequence"/>; one of an unknown record has an empty scope and key
    /// and ends no chain.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// Its sequence is not <see cref="NextSequence"/>, or the scope or key is over its limit or not valid UTF-16.
    /// </exception>
    public void AppendTombstone(long sequence, StateChangeKind removedKind, long previousSequence, string scope, string key)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(key);
        ThrowIfUnusable();
        if (sequence != _nextSequence)
        {
            throw new ArgumentException($"Change {sequence} cannot be appended: the log's next sequence is {_nextSequence}.", nameof(sequence));
        }

        if (previousSequence < 0 || previousSequence >= sequence)
        {
            throw new ArgumentOutOfRangeException(nameof(previousSequence), previousSequence, "A previous sequence is before the record's own.");
        }

        int size = SegmentFormat.MeasureTombstone(scope, key); // the limits a decode applies: a longer one would not read back

        byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            SegmentFormat.EncodeTombstone(sequence, removedKind, previousSequence, scope, key, buffer.AsSpan(0, size));
            (Segment active, long offset) = WriteAtTail(sequence, buffer.AsSpan(0, size));
            _lock.EnterWriteLock();
            try
            {
                Index(active, offset, size, sequence, scope, key, removedKind, tombstone: true, correlationId: null, ticks: 0);
                _nextSequence++;
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes an encoded record (or tombstone) <paramref name="sequence"/> at the tail of the active segment, rolling first
    /// when it would pass <see cref="SegmentLogOptions.RollBytes"/>; returns the segment and offset it went to. A failed
    /// write is cut off again (or, if that fails too, the log takes no more records).
    /// </summary>
    private (Segment Active, long Offset) WriteAtTail(long sequence, ReadOnlySpan<byte> bytes)
    {
        Segment active = _segments[^1]; // only this (the writer's) path changes the list
        if (active.Seal is not null || (active.Offsets.Count > 0 && active.Length + bytes.Length > _options.RollBytes))
        {
            active = Roll(sequence);
        }

        long offset = active.Length;
        try
        {
            active.WriteAt(offset, bytes);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A part of the record may be in the file: cut it, or a later append could leave its tail behind.
            try
            {
                active.Truncate(offset);
            }
            catch (Exception cut) when (cut is IOException or UnauthorizedAccessException)
            {
                _failed = true;
            }

            throw;
        }

        Interlocked.Increment(ref _written);
        return (active, offset);
    }

    /// <summary>
    /// Seals the active segment and starts the next one, whose first record is <paramref name="first"/>: the segment's
    /// records are flushed, then its seal is written and flushed, then the next segment is made (its header says it follows
    /// a seal). So a next segment on the disk means a whole sealed one before it. A segment sealed already (the log was
    /// opened or cut back to it) is not sealed again.
    /// </summary>
    private Segment Roll(long first)
    {
        Segment sealedSegment = _segments[^1];
        if (sealedSegment.Seal is null)
        {
            lock (_flushLock)
            {
                SyncOrFail(sealedSegment); // its records on the disk before the seal that vouches for them
                try
                {
                    sealedSegment.WriteSeal(gapTo: 0);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // A part of the seal may be in the file: cut it, as after a failed append (the segment stays the last).
                    try
                    {
                        sealedSegment.Truncate(sealedSegment.Length);
                    }
                    catch (Exception cut) when (cut is IOException or UnauthorizedAccessException)
                    {
                        _failed = true;
                    }

                    throw;
                }

                SyncOrFail(sealedSegment);
            }
        }

        Segment next;
        try
        {
            next = Segment.Create(_files, _folder, sealedSegment.Number + 1, first, afterSeal: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Segment.Create deleted the new file if it could (one left with a whole header would make the next open
            // refuse the log); the log takes no more records until reopened.
            _failed = true;
            throw;
        }

        _lock.EnterWriteLock();
        try
        {
            _segments.Add(next);
        }
        finally
        {
            _lock.ExitWriteLock();
        }

        return next;
    }

    /// <summary>
    /// Flushes every appended record to the disk (fsync of the active segment; a sealed segment was flushed when it was
    /// sealed). For the store's group commit, before it flushes the database's files. Safe beside appends and reads.
    /// </summary>
    /// <exception cref="StateStoreException">The flush failed (now or before): the log takes no more records.</exception>
    public void Flush()
    {
        lock (_flushLock)
        {
            ThrowIfUnusable();
            long written = Interlocked.Read(ref _written);
            if (written == Interlocked.Read(ref _synced))
            {
                return;
            }

            Segment active;
            _lock.EnterReadLock();
            try
            {
                active = _segments[^1];
            }
            finally
            {
                _lock.ExitReadLock();
            }

            SyncOrFail(active);
            Interlocked.Exchange(ref _synced, written);
        }
    }

    private void SyncOrFail(Segment segment)
    {
        try
        {
            segment.Sync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // After a failed fsync the OS may have dropped the unflushed pages: nothing since the last good one is sure.
            _failed = true;
            throw new StateStoreException($"The change log '{_folder}' could not be flushed to the disk; it takes no further records until it is reopened.", ex);
        }
    }

    /// <summary>
    /// Cuts every record after <paramref name="lastKept"/> (their database commit failed) and flushes the cut to the disk;
    /// the index goes back to what it was before they were appended.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lastKept"/> is before the oldest kept record.</exception>
    /// <exception cref="StateStoreCorruptedException">A record to cut could not be read back to undo its index entries.</exception>
    public void DiscardAfter(long lastKept)
    {
        ThrowIfDisposed();
        lock (_flushLock)
        {
            _lock.EnterWriteLock();
            try
            {
                if (lastKept >= _nextSequence - 1)
                {
                    return;
                }

                if (lastKept < _segments[0].FirstSequence - 1)
                {
                    throw new ArgumentOutOfRangeException(nameof(lastKept), lastKept, $"The oldest kept record is {_segments[0].FirstSequence}.");
                }

                Segment holder = _segments[SegmentIndexOf(lastKept + 1)];
                if (lastKept + 1 - holder.FirstSequence >= holder.Offsets.Count && holder != _segments[^1])
                {
                    throw new ArgumentOutOfRangeException(nameof(lastKept), lastKept, "The log lost the records after it (a gap): it cannot end there.");
                }

                // Undo the index, newest first: a key's head goes back to its previous record (or tombstone). A tombstone
                // has no correlation id: Remove took its record out of that index already.
                for (long sequence = _nextSequence - 1; sequence > lastKept; sequence--)
                {
                    if (!ReadEntryLocked(sequence, out DecodedRecord record, out _, materialize: false))
                    {
                        continue; // in a gap
                    }

                    var id = (record.Scope, record.Key);
                    if (_heads.TryGetValue(id, out Head head) && head.Sequence == sequence)
                    {
                        DecodedRecord previous = default;
                        bool held = record.PreviousSequence >= _segments[0].FirstSequence && ReadEntryLocked(record.PreviousSequence, out previous, out _, materialize: false);
                        if (held && previous.Scope == record.Scope && previous.Key == record.Key)
                        {
                            _heads[id] = new Head(previous.Sequence, previous.Kind == StateChangeKind.Delete, previous.IsTombstone);
                        }
                        else
                        {
                            _heads.Remove(id);
                        }
                    }

                    if (record.CorrelationId is not null)
                    {
                        _correlations.Remove(record.CorrelationId, sequence);
                    }
                }

                int index = SegmentIndexOf(lastKept + 1);
                int position = (int)(lastKept + 1 - _segments[index].FirstSequence);
                // A segment left empty goes too, unless it carries a gap (the records after it need its first sequence). The
                // segment before a deleted one keeps its seal: the next append starts a new segment after it.
                int keep = position == 0 && index > 0 && !_segments[index].AfterGap ? index : index + 1;
                for (int i = _segments.Count - 1; i >= keep; i--)
                {
                    _segments[i].Dispose();
                    _files.Delete(_segments[i].Path);
                    _segments.RemoveAt(i);
                }

                // The deletions reach the disk before the cut: a crash between them never leaves a segment after a cut one
                // (whose first sequence, or the seal it needs, the cut took away).
                _files.SyncDirectory(_segments[0].Path);
                if (keep > index)
                {
                    Segment segment = _segments[index];

                    // Its newest time may now be later than its records: retention then keeps it longer, never shorter.
                    // A sealed segment loses its seal with the cut and takes the next appends.
                    segment.Truncate(segment.Offsets[position]);
                    segment.Offsets.RemoveRange(position, segment.Offsets.Count - position);
                }

                _nextSequence = lastKept + 1;
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
    }

    /// <summary>
    /// Retention: deletes whole sealed segments from the oldest end while every record in them is older than
    /// <paramref name="olderThan"/> and none is the newest record of a key whose newest record is a write (a current
    /// value's record). It stops at the first segment that must stay, so the kept records remain consecutive: a key
    /// written once and never again keeps its segment, and every later one. A key whose newest record is a delete, or
    /// was taken out by <see cref="Remove"/>, does not hold its segment back; it leaves the index with it. A segment that
    /// holds only tombstones has no time, so it goes whatever <paramref name="olderThan"/> is (while the segments before
    /// it go too; the active segment always stays).
    /// </summary>
    /// <returns>How many segments were deleted.</returns>
    public int RemoveSegments(DateTimeOffset olderThan)
    {
        ThrowIfUnusable();
        lock (_flushLock)
        {
            _lock.EnterWriteLock();
            try
            {
                long oldestWriteHead = long.MaxValue;
                foreach (Head head in _heads.Values)
                {
                    if (!head.IsDelete && !head.IsRemoved)
                    {
                        oldestWriteHead = Math.Min(oldestWriteHead, head.Sequence);
                    }
                }

                int removed = 0;
                while (_segments.Count > 1)
                {
                    Segment oldest = _segments[0];
                    if (oldest.NewestTicks >= olderThan.UtcTicks || oldest.LastSequence >= oldestWriteHead)
                    {
                        break;
                    }

                    oldest.Dispose();
                    _files.Delete(oldest.Path);
                    _segments.RemoveAt(0);
                    removed++;
                }

                if (removed > 0)
                {
                    long first = _segments[0].FirstSequence;
                    var gone = new List<(string, string)>();
                    foreach (var (id, head) in _heads)
                    {
                        if (head.Sequence < first)
                        {
                            gone.Add(id);
                        }
                    }

                    foreach (var id in gone)
                    {
                        _heads.Remove(id);
                    }

                    _correlations.RemoveBefore(first);

                    _gaps.RemoveAll(gap => gap.ToSequence < first); // now before the oldest kept record

                    _files.SyncDirectory(_segments[0].Path);
                }

                return removed;
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
    }

    /// <summary>
    /// Replaces each listed record with a tombstone, compacting the segments that hold them; returns how many records were
    /// removed (sequences already removed, or not in the log, are ignored and not counted).
    /// </summary>
    /// <remarks>
    /// <para>
    /// A tombstone keeps the record's sequence, its kind, its key and the key's previous sequence, so sequences stay
    /// consecutive (a lost record is still detected at open) and the key's chain stays walkable: <see cref="Read"/> gives
    /// <see langword="null"/> for it, <see cref="ReadFrom"/> and <see cref="ReadHistory"/> skip it,
    /// <see cref="SequencesOf"/> no longer lists it; <see cref="HeadOf"/> and <see cref="LastChangeOf"/> still report a
    /// removed delete that is a key's newest record.
    /// </para>
    /// <para>
    /// Each segment holding a listed record is rewritten: its header, the other records byte for byte and the tombstones go
    /// to <c>NNNNNN.seg.tmp</c>, which is flushed to the disk and renamed over the segment (the directory is flushed
    /// after); a crash leaves each segment whole, old or new, and <see cref="Open"/> deletes a leftover copy. Segments are
    /// done one at a time, oldest first: if one fails, the ones before it stay compacted (a second call with the same
    /// sequences finishes the work). Readers and <see cref="Flush"/> may run meanwhile; the caller must hold the writer's
    /// role (no <see cref="Append"/>, <see cref="DiscardAfter"/> or <see cref="RemoveSegments"/> at the same time).
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// A listed record is the newest record of its key and a write (a current value's record). Nothing was changed.
    /// </exception>
    /// <exception cref="StateStoreCorruptedException">A record of a segment to rewrite is damaged on the disk; that segment is left as it was.</exception>
    /// <exception cref="StateStoreException">A segment could not be read, written or renamed; that segment is left as it was.</exception>
    public long Remove(IReadOnlyCollection<long> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ThrowIfUnusable();
        long first = _segments[0].FirstSequence; // only the writer's path changes the segments
        long next = _nextSequence;
        var listed = new List<long>(sequences.Count);
        foreach (long sequence in sequences)
        {
            if (sequence >= first && sequence < next)
            {
                listed.Add(sequence);
            }
        }

        if (listed.Count == 0)
        {
            return 0;
        }

        listed.Sort();
        int distinct = 0;
        for (int i = 0; i < listed.Count; i++)
        {
            if (distinct == 0 || listed[distinct - 1] != listed[i])
            {
                listed[distinct++] = listed[i];
            }
        }

        long[] sorted = listed.GetRange(0, distinct).ToArray();
        foreach (var (id, head) in _heads)
        {
            if (!head.IsDelete && !head.IsRemoved && Array.BinarySearch(sorted, head.Sequence) >= 0)
            {
                throw new ArgumentException($"Change {head.Sequence} is the newest record of key '{id.Key}' in scope '{id.Scope}' and a write (a current value's record): it cannot be removed.", nameof(sequences));
            }
        }

        long removed = 0;
        int from = 0;
        for (int index = 0; index < _segments.Count && from < sorted.Length; index++)
        {
            Segment segment = _segments[index];
            int to = from;
            while (to < sorted.Length && sorted[to] <= segment.LastSequence)
            {
                to++;
            }

            if (to > from)
            {
                removed += Compact(index, sorted.AsSpan(from, to - from));
                from = to;
            }
        }

        return removed;
    }

    /// <summary>
    /// Rewrites segment <paramref name="index"/> with tombstones for <paramref name="sequences"/> (sorted, all in it) and
    /// swaps it in; returns how many records became tombstones.
    /// </summary>
    private long Compact(int index, ReadOnlySpan<long> sequences)
    {
        Segment old = _segments[index];
        string temporary = old.Path + TempSuffix;
        var offsets = new List<long>(old.Offsets.Count);
        var removed = new List<DecodedRecord>();
        long newestTicks = long.MinValue;
        StoreFile file;
        try
        {
            file = _files.Create(temporary);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StateStoreException($"The change-log segment '{old.Path}' could not be compacted: {ex.GetType().Name}.", ex);
        }

        long length;
        try
        {
            using (var writer = new CopyWriter(file))
            {
                SegmentFormat.WriteHeader(writer.Reserve(SegmentFormat.HeaderSize), old.Number, old.FirstSequence, old.HeaderFlags);
                writer.Commit(SegmentFormat.HeaderSize);
                int listed = 0;
                for (int position = 0; position < old.Offsets.Count; position++)
                {
                    long sequence = old.FirstSequence + position;
                    long offset = old.Offsets[position];
                    int size = (int)((position + 1 < old.Offsets.Count ? old.Offsets[position + 1] : old.Length) - offset);
                    Span<byte> bytes = writer.Reserve(size);
                    DecodedRecord entry = ReadForCopy(old, position, bytes);
                    offsets.Add(writer.Position);
                    bool remove = listed < sequences.Length && sequences[listed] == sequence;
                    listed += remove ? 1 : 0;
                    if (remove && !entry.IsTombstone)
                    {
                        // A tombstone is shorter than its record (same scope and key, fewer fields): it goes in its place.
                        int tombstone = SegmentFormat.TombstoneSize(entry.Scope, entry.Key);
                        SegmentFormat.EncodeTombstone(sequence, entry.Kind, entry.PreviousSequence, entry.Scope, entry.Key, bytes[..tombstone]);
                        writer.Commit(tombstone);
                        removed.Add(entry);
                    }
                    else
                    {
                        writer.Commit(size);
                        if (!entry.IsTombstone)
                        {
                            newestTicks = Math.Max(newestTicks, entry.Ticks);
                        }
                    }
                }

                length = writer.Position;
                if (old.Seal is { } seal)
                {
                    // The copy keeps the seal, after its (shorter) records.
                    SegmentFormat.WriteSeal(writer.Reserve(SegmentFormat.SealSize), old.Number, length, seal.NextSequence, seal.GapTo);
                    writer.Commit(SegmentFormat.SealSize);
                }

                writer.Flush();
            }

            if (removed.Count == 0)
            {
                file.Release();
                _files.Delete(temporary);
                return 0; // every listed record was a tombstone already: the segment stays as it is
            }

            file.Sync();
            _files.MoveOver(temporary, old.Path); // atomic: the segment is old or new, whatever happens
        }
        catch (Exception ex)
        {
            file.Release();
            DeleteCopy(temporary);
            if (ex is IOException or UnauthorizedAccessException)
            {
                throw new StateStoreException($"The change-log segment '{old.Path}' could not be compacted: {ex.GetType().Name}.", ex);
            }

            throw;
        }

        // The new file has the segment's name now, and this handle is open on it.
        _files.SyncDirectory(old.Path);
        Segment compacted = AttachCopy(old, file, offsets, length, newestTicks);
        lock (_flushLock) // a flush in progress finishes with the old handle before it is closed
        {
            _lock.EnterWriteLock();
            try
            {
                _segments[index] = compacted;
                var uncorrelated = new Dictionary<string, HashSet<long>>(StringComparer.Ordinal);
                foreach (DecodedRecord entry in removed)
                {
                    var id = (entry.Scope, entry.Key);
                    if (_heads.TryGetValue(id, out Head head) && head.Sequence == entry.Sequence)
                    {
                        _heads[id] = head with { IsRemoved = true };
                    }

                    if (entry.CorrelationId is not null)
                    {
                        if (!uncorrelated.TryGetValue(entry.CorrelationId, out HashSet<long>? gone))
                        {
                            uncorrelated[entry.CorrelationId] = gone = [];
                        }

                        gone.Add(entry.Sequence);
                    }
                }

                foreach (var (correlationId, gone) in uncorrelated)
                {
                    _correlations.RemoveAll(correlationId, gone);
                }
            }
            finally
            {
                _lock.ExitWriteLock();
            }

            old.Dispose();
        }

        return removed.Count;
    }

    /// <summary>
    /// Deletes a segment's copy (<see cref="TempSuffix"/>) after its rewrite failed; if that fails too, the next
    /// <see cref="Open"/> deletes it.
    /// </summary>
    private void DeleteCopy(string temporary)
    {
        try
        {
            _files.Delete(temporary);
        }
        catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
        {
            // The next open deletes it.
        }
    }

    /// <summary>
    /// The segment that replaces <paramref name="old"/> once its copy, open as <paramref name="file"/>, was renamed over it:
    /// the same number, first sequence, header flags and seal, with the copy's record offsets, length and newest time.
    /// </summary>
    private static Segment AttachCopy(Segment old, StoreFile file, List<long> offsets, long length, long newestTicks)
    {
        var copy = Segment.Attach(old.Path, old.Number, old.FirstSequence, old.AfterGap, file, old.AfterSeal);
        copy.Seal = old.Seal;
        copy.Offsets.AddRange(offsets);
        copy.Length = length;
        copy.NewestTicks = newestTicks;
        return copy;
    }

    /// <summary>
    /// Reads record <paramref name="position"/> of <paramref name="segment"/> into <paramref name="bytes"/> (exactly the size
    /// the index holds for it) for a copy of the segment, and decodes it.
    /// </summary>
    /// <exception cref="StateStoreCorruptedException">The record is damaged, shorter or longer than indexed, or carries another sequence.</exception>
    private DecodedRecord ReadForCopy(Segment segment, int position, Span<byte> bytes)
    {
        long sequence = segment.FirstSequence + position;
        long offset = segment.Offsets[position];
        int size = bytes.Length;
        string? failure = segment.ReadAt(offset, bytes) < size ? "the file ends inside it" : null;
        if (failure is null && SegmentFormat.CheckPrefix(bytes, _maxRecordSize, size, out failure) != size)
        {
            failure ??= $"its length is not the {size} bytes the index holds for it";
        }

        DecodedRecord entry = default;
        failure ??= SegmentFormat.TryDecode(bytes, out entry);
        if (failure is null && entry.Sequence != sequence)
        {
            failure = $"it carries sequence {entry.Sequence}";
        }

        return failure is null
            ? entry
            : throw Corrupt(segment.Path, $"change-log record {sequence} at offset {offset} is damaged: {failure}");
    }

    /// <summary>Writes a segment's compacted copy sequentially through one pooled buffer, which grows for a large record.</summary>
    private sealed class CopyWriter(StoreFile file) : IDisposable
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        private int _used;
        private long _flushed;

        /// <summary>The file offset of the next byte.</summary>
        public long Position => _flushed + _used;

        /// <summary>Room for <paramref name="size"/> bytes at <see cref="Position"/>; <see cref="Commit"/> keeps some of them.</summary>
        public Span<byte> Reserve(int size)
        {
            if (_buffer.Length - _used < size)
            {
                Flush();
                if (_buffer.Length < size)
                {
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = ArrayPool<byte>.Shared.Rent(size);
                }
            }

            return _buffer.AsSpan(_used, size);
        }

        /// <summary>Keeps the first <paramref name="size"/> bytes of the last <see cref="Reserve"/>.</summary>
        public void Commit(int size) => _used += size;

        /// <summary>Writes the buffered bytes to the file.</summary>
        public void Flush()
        {
            if (_used > 0)
            {
                file.WriteAtOffset(_flushed, _buffer.AsSpan(0, _used));
                _flushed += _used;
                _used = 0;
            }
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
    }

    /// <summary>The record with <paramref name="sequence"/>, or <see langword="null"/> when the log does not (or no longer) hold it.</summary>
    /// <exception cref="StateStoreCorruptedException">The record is damaged on the disk.</exception>
    public StateChangeRecord? Read(long sequence)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            return ReadLocked(sequence);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Reads a record holding a lock (read or write); <see langword="null"/> for a tombstone too.</summary>
    private StateChangeRecord? ReadLocked(long sequence)
        => ReadEntryLocked(sequence, out _, out StateChangeRecord? record, materialize: true) ? record : null;

    /// <summary>
    /// Reads the record or tombstone <paramref name="sequence"/> holding a lock (read or write); <see langword="false"/>
    /// when the log does not hold the sequence. With <paramref name="materialize"/>, <paramref name="record"/> is the
    /// public record (<see langword="null"/> for a tombstone).
    /// </summary>
    private bool ReadEntryLocked(long sequence, out DecodedRecord entry, out StateChangeRecord? record, bool materialize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        entry = default;
        record = null;
        if (sequence < _segments[0].FirstSequence || sequence >= _nextSequence)
        {
            return false;
        }

        Segment segment = _segments[SegmentIndexOf(sequence)];
        int position = (int)(sequence - segment.FirstSequence);
        if (position >= segment.Offsets.Count)
        {
            return false; // in a gap (lost history) before the next segment
        }

        long offset = segment.Offsets[position];
        long end = position + 1 < segment.Offsets.Count ? segment.Offsets[position + 1] : segment.Length;
        string? failure = ReadRecordAt(segment, offset, end - offset, sequence, exactLength: true, out entry, out _, out record, materialize);
        return failure is null
            ? true
            : throw Corrupt(segment.Path, $"change-log record {sequence} at offset {offset} is damaged: {failure}");
    }

    /// <summary>The index of the segment holding <paramref name="sequence"/> (which the log holds).</summary>
    private int SegmentIndexOf(long sequence)
    {
        int low = 0;
        int high = _segments.Count - 1;
        while (low < high)
        {
            int middle = (low + high + 1) / 2;
            if (_segments[middle].FirstSequence <= sequence)
            {
                low = middle;
            }
            else
            {
                high = middle - 1;
            }
        }

        return low;
    }

    /// <summary>
    /// The records after <paramref name="afterSequence"/>, in sequence order, up to the newest one when each is read (so
    /// records appended during the iteration are included). Records removed by retention or <see cref="Remove"/>
    /// (tombstones) are skipped.
    /// </summary>
    public IEnumerable<StateChangeRecord> ReadFrom(long afterSequence)
    {
        long sequence = afterSequence + 1;
        while (true)
        {
            ThrowIfDisposed();
            StateChangeRecord? record;
            _lock.EnterReadLock();
            try
            {
                sequence = Math.Max(sequence, _segments[0].FirstSequence);
                while (!ReadEntryLocked(sequence, out _, out record, materialize: true))
                {
                    // Past a gap, the next segment's first record; else the end of the log.
                    int next = sequence < _nextSequence ? SegmentIndexOf(sequence) + 1 : _segments.Count;
                    if (next >= _segments.Count)
                    {
                        yield break;
                    }

                    sequence = _segments[next].FirstSequence;
                }
            }
            finally
            {
                _lock.ExitReadLock();
            }

            if (record is not null)
            {
                yield return record;
            }

            sequence++;
        }
    }

    /// <summary>
    /// The sequence of the newest record of a key, or 0 when the log holds none. A newest record taken out by
    /// <see cref="Remove"/> is still the head (new records chain from it) until retention deletes its segment.
    /// </summary>
    public long HeadOf(string scope, string key)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            return _heads.TryGetValue((scope, key), out Head head) ? head.Sequence : 0;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// The newest record of a key: its sequence and whether it is a delete; (0, false) when the log holds none. As
    /// <see cref="HeadOf"/>, a removed newest record still counts, with the kind it had.
    /// </summary>
    public (long Sequence, bool IsDelete) LastChangeOf(string scope, string key)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            return _heads.TryGetValue((scope, key), out Head head) ? (head.Sequence, head.IsDelete) : (0, false);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// A key's records, newest first, following each record's previous sequence while the log holds it; tombstones are
    /// passed through (by their own previous sequence) and not returned.
    /// </summary>
    public IEnumerable<StateChangeRecord> ReadHistory(string scope, string key)
    {
        long sequence = HeadOf(scope, key);
        while (sequence > 0)
        {
            ThrowIfDisposed();
            DecodedRecord entry;
            StateChangeRecord? record;
            _lock.EnterReadLock();
            try
            {
                if (!ReadEntryLocked(sequence, out entry, out record, materialize: true))
                {
                    yield break;
                }
            }
            finally
            {
                _lock.ExitReadLock();
            }

            if (record is not null)
            {
                yield return record;
            }

            sequence = entry.PreviousSequence;
        }
    }

    /// <summary>
    /// The sequences of the records with <paramref name="correlationId"/>, in order (a copy); removed records are not
    /// listed. The index keys ids by a hash (<see cref="CorrelationIndex"/>): records of another id that shares it may be
    /// listed too, so a reader compares each record's own id.
    /// </summary>
    public IReadOnlyList<long> SequencesOf(string correlationId)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            return _correlations.Candidates(correlationId);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Each segment file's path and the length of its header, complete records and seal (if sealed), oldest first: with
    /// no append, cut or removal running meanwhile (the caller's to ensure), exactly the log's bytes up to
    /// <see cref="NextSequence"/> - 1.
    /// A physical backup copies these lengths while appends go on past them.
    /// </summary>
    public IReadOnlyList<(string Path, long Length)> Extent()
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            // A sealed segment's file ends with its seal, which a copy needs (the next segment's header says it is there).
            return _segments.Select(s => (s.Path, s.Length + (s.Seal is null ? 0 : SegmentFormat.SealSize))).ToArray();
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private void ThrowIfUnusable()
    {
        ThrowIfDisposed();
        if (_failed)
        {
            throw new StateStoreException($"The change log '{_folder}' failed to flush, cut or start a segment; it takes no further records until it is reopened.");
        }
    }

    private static StateStoreCorruptedException Corrupt(string path, string failure) => new(path, failure);

    /// <summary>Closes the segment files. Does not flush: the store's close flushes first.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        lock (_flushLock)
        {
            _lock.EnterWriteLock();
            try
            {
                _disposed = true;
                foreach (Segment segment in _segments)
                {
                    segment.Dispose();
                }

                _segments.Clear();
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
    }
}
