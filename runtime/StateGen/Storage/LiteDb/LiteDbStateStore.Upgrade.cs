using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage.ChangeLog;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The conversion of a file that keeps its change log in the <c>changes</c> collection (files made before segment files
/// were the default) to segment files (docs/design/change-log-side-file.md, "The upgrade of existing files").
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <summary>Current values whose payload one transaction of the conversion moves into their document.</summary>
    private const int UpgradeBatch = 256;

    /// <summary>The start of the suffix of a conversion's segment folder (<c>&lt;db&gt;.changes-upgrade-…</c>).</summary>
    internal const string UpgradeFolderInfix = "-upgrade-";

    /// <summary>
    /// Converts this file's change log from the <c>changes</c> collection inside it to segment files beside it, the
    /// layout new files get (a save then costs about a third, a load about half; see docs/storage.md). Every value, every
    /// change record (sequence, key, kind, version, time, payload, previous sequence, correlation id, origin) and the hook
    /// history stay as they were, and new changes continue the same sequence. A file in the segment layout already is left
    /// alone (<see cref="ChangeLogUpgradeResult.Upgraded"/> is <see langword="false"/>).
    /// </summary>
    /// <remarks>
    /// The store is unavailable to other callers while it runs (it holds the store's lock), and a backup copying the
    /// file finishes first. Safe to interrupt at any point (a crash, a failure, <paramref name="cancellationToken"/>):
    /// until the one switch at the end the file stays in its old layout and works as before, and a new call starts over
    /// (removing the folder an interrupted one left); after it, the file opens in the segment layout. The switch is not
    /// reversible, and a program built on a StateGen from before the segment layout cannot open the file after it. Files
    /// created before document checksums (an unchecked format) are refused: the segment layout requires a checksum on
    /// every document. See also <see cref="LiteDbStateStoreOptions.UpgradeChangeLog"/>.
    /// </remarks>
    /// <exception cref="StateStoreCorruptedException">A value or change record is damaged; nothing was switched.</exception>
    /// <exception cref="StateStoreException">
    /// The file's format cannot be converted, a record does not fit the segment format, or the segment files could not be
    /// written; nothing was switched.
    /// </exception>
    /// <exception cref="OperationCanceledException">Canceled before the switch; nothing was switched.</exception>
    public ValueTask<ChangeLogUpgradeResult> UpgradeChangeLogAsync(IProgress<ChangeLogUpgradeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Run(() => UpgradeChangeLogCore(progress, cancellationToken)));
    }

    /// <summary>
    /// Why the conversion that <see cref="LiteDbStateStoreOptions.UpgradeChangeLog"/> asked for at open was not made
    /// (a change record over the segment format's limits, a log too sparse to convert), or <see langword="null"/>. The
    /// file then works in its own layout; a damaged file fails the open instead.
    /// </summary>
    public StateStoreException? UpgradeChangeLogFailure { get; private set; }

    /// <summary>Test hook: called with the name of each step of a conversion as it is reached; may throw to stop it there.</summary>
    internal Action<string>? UpgradeFault { get; set; }

    private ChangeLogUpgradeResult UpgradeChangeLogCore(IProgress<ChangeLogUpgradeProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();

        // A backup copying the data file reads it outside the lock (checkpoints held off): it finishes first, and none
        // starts while this holds the lock. The wait releases the lock, so the checks below come after it (another
        // conversion may have run meanwhile: a second one would take the first one's folder for a leftover).
        while (_fileCopies > 0)
        {
            Monitor.Wait(_gate, TimeSpan.FromMilliseconds(200));
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_faulted)
            {
                throw new StateStoreCorruptedException(FilePath, "an earlier operation found the file damaged; the store was closed");
            }
        }

        if (_segmented)
        {
            return new ChangeLogUpgradeResult(false, 0, 0, 0, _log?.FirstSequence ?? 0, _sequence, _logFolder, clock.Elapsed);
        }

        if (!_checksumsRequired)
        {
            throw new StateStoreException($"The state database '{FilePath}' was created before document checksums: its change log cannot be converted to segment files, which require a checksum on every document. It keeps working in its own layout; a logical backup restored into a new file, which is then converted, moves it.");
        }

        (long? oldest, long? newest, long count) = CheckConvertible();
        RemoveUpgradeLeftovers();

        // 1. Each current value gets its payload into its own document (the segment layout's form; the collection layout
        //    reads either form, so the file works as before if the conversion stops here).
        long moved = MovePayloadsInline(progress, cancellationToken);
        UpgradeFault?.Invoke("values-moved");

        // 2. The change records into a new segment folder, in sequence order, with tombstones for the sequences the
        //    collection no longer holds. The folder is on the disk (records, headers, directory entries) before the switch.
        string suffix = NewLogFolderSuffix(UpgradeFolderInfix, _time.GetUtcNow());
        string folder = SegmentLog.FolderFor(FilePath) + suffix;
        (long first, long copied, long tombstones) = WriteSegmentCopy(folder, oldest, dense: oldest is null || count == newest - oldest + 1, progress, cancellationToken);
        UpgradeFault?.Invoke("segments-written");

        // 3. The switch. The file names the folder and the newest sequence (harmless in the collection layout, which never
        //    reads them), flushed; then its format marker changes, so the marker is never on the disk without them. That
        //    marker write is the one commit point.
        progress?.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.Switching, 0, 1));
        cancellationToken.ThrowIfCancellationRequested();
        long last = _sequence;
        InTransaction(() =>
        {
            _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = LogFolderId, ["v"] = suffix }));
            _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = SequenceId, ["v"] = last }));
        });
        // On the disk before the marker is even written: a power cut may reorder LiteDB's unflushed log pages.
        SyncFiles();
        UpgradeFault?.Invoke("folder-named");

        // From here the file is segmented: should anything below fail, the next operation reopens it as one (this
        // instance's collection-layout state no longer matches it).
        _reopenPending = true;
        _db.UserVersion = DocumentIntegrity.SegmentedFormat;
        SyncFiles();
        UpgradeFault?.Invoke("switched");

        // 4. Opened again as the segmented file it now is: the open drops the old collection (as every open of a
        //    segmented file that still has one, should a crash come first) and opens the log at the newest sequence.
        Reopen();
        SyncFiles();
        progress?.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.Switching, 1, 1));
        return new ChangeLogUpgradeResult(true, moved, copied, tombstones, first, last, folder, clock.Elapsed);
    }

    /// <summary>
    /// The most tombstones a conversion writes: a log with more missing sequences than this between its oldest kept
    /// record and the newest sequence (a file restored from a logical backup holds one record per value, spread over the
    /// original's whole history) is not converted, since every later open would read them all.
    /// </summary>
    internal long MaxUpgradeTombstones { get; set; } = 4_000_000;

    /// <summary>
    /// Refuses, before anything is changed, a log with more missing sequences than <see cref="MaxUpgradeTombstones"/>
    /// (a record over the segment format's field limits is refused when the copy meets it, before the switch).
    /// </summary>
    /// <returns>The oldest and newest record's sequence (none when the log is empty) and how many records it holds.</returns>
    private (long? Oldest, long? Newest, long Count) CheckConvertible()
    {
        long? Sequence(BsonDocument? doc) => doc is not null && doc["_id"].IsInt64 ? doc["_id"].AsInt64 : null;
        long? oldest = Sequence(_changes.Find(Query.All("_id", Query.Ascending), limit: 1).FirstOrDefault());
        long? newest = Sequence(_changes.Find(Query.All("_id", Query.Descending), limit: 1).FirstOrDefault());
        long count = _changes.LongCount();
        if (oldest is long first)
        {
            long span = _sequence - first + 1;
            if (span - count > MaxUpgradeTombstones)
            {
                throw new StateStoreException($"The change log of '{FilePath}' holds {count} records spread over {span} sequences: segment files would need a tombstone for each of the {span - count} missing ones (more than {MaxUpgradeTombstones}), so it was not converted. It keeps working in its own layout.");
            }
        }

        return (oldest, newest, count);
    }

    /// <summary>Moves every current value's payload from its change record into its document, a batch per transaction.</summary>
    private long MovePayloadsInline(IProgress<ChangeLogUpgradeProgress>? progress, CancellationToken cancellationToken)
    {
        var pending = new List<BsonValue>();
        foreach (BsonDocument doc in _state.FindAll())
        {
            if (!doc.ContainsKey("p"))
            {
                pending.Add(doc["_id"]);
            }
        }

        long moved = 0;
        progress?.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.MovingValues, 0, pending.Count));
        foreach (BsonValue[] batch in pending.Chunk(UpgradeBatch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            InTransaction(() =>
            {
                foreach (BsonValue id in batch)
                {
                    BsonDocument? doc = CheckedEntry(_state.FindById(id));
                    if (doc is null || doc.ContainsKey("p"))
                    {
                        continue;
                    }

                    // ToEntry checks the change record against the document (key, version, payload) as every read does.
                    doc["p"] = ToEntry(doc)!.Payload.ToArray();
                    _state.Update(DocumentIntegrity.Seal(doc));
                }
            });
            moved += batch.Length;
            progress?.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.MovingValues, moved, pending.Count));
        }

        return moved;
    }

    /// <summary>
    /// Writes the <c>changes</c> collection into a new segment log in <paramref name="folder"/>, flushed; returns its
    /// first sequence and how many records and tombstones it holds. The folder is removed again if this fails.
    /// </summary>
    private (long First, long Records, long Tombstones) WriteSegmentCopy(string folder, long? oldest, bool dense, IProgress<ChangeLogUpgradeProgress>? progress, CancellationToken cancellationToken)
    {
        long last = _sequence;

        // First pass: where the log starts, and which missing sequences a kept record names as its key's previous one
        // (a tombstone of that key keeps the key's chain walkable through the hole to its older kept records). Read
        // without checks: the second pass checks every record before it is written.
        // Without holes between the oldest and the newest record (`dense`: nothing pruned but, perhaps, a prefix, the common
        // case), only the first sequence is needed, and the pass is skipped (it reads every record once more).
        long first = 0;
        var lastOfKey = new Dictionary<(string Scope, string Key), long>();
        var holes = new Dictionary<long, (string Scope, string Key, long Previous)>();
        foreach (BsonDocument doc in dense ? [] : _changes.Find(Query.All("_id", Query.Ascending)))
        {
            if (!doc["_id"].IsInt64 || !doc["s"].IsString || !doc["k"].IsString || !doc["ps"].IsInt64)
            {
                continue;
            }

            long sequence = doc["_id"].AsInt64;
            first = first == 0 ? sequence : first;
            var id = (doc["s"].AsString, doc["k"].AsString);
            long older = lastOfKey.GetValueOrDefault(id);
            long previous = doc["ps"].AsInt64;
            if (previous > older && previous >= first && previous < sequence)
            {
                holes.TryAdd(previous, (id.Item1, id.Item2, older));
            }

            lastOfKey[id] = sequence;
        }

        lastOfKey.Clear();
        if (dense && oldest is long start)
        {
            first = start;
        }

        first = first == 0 ? last + 1 : first;
        long total = last - first + 1;
        long records = 0, tombstones = 0, expected = first;
        SegmentFileSystem files = _dataFile.FileSystem ?? SegmentFileSystem.Os;
        SegmentLog log;
        try
        {
            log = SegmentLog.Create(folder, first, _segmentLogOptions, files);
        }
        catch
        {
            DeleteFolderQuietly(folder);
            throw;
        }

        bool done = false;
        try
        {
            void Hole(long sequence)
            {
                if (holes.TryGetValue(sequence, out var owner))
                {
                    log.AppendTombstone(sequence, StateChangeKind.Write, owner.Previous, owner.Scope, owner.Key);
                }
                else
                {
                    // Of no key anyone reads; as a delete, the empty key's head is no "write without a value".
                    log.AppendTombstone(sequence, StateChangeKind.Delete, 0, string.Empty, string.Empty);
                }

                if ((++tombstones & 1023) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }

            void Report()
            {
                if (progress is not null && (expected - first) % 4096 == 0)
                {
                    progress.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.CopyingRecords, expected - first, total));
                }
            }

            progress?.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.CopyingRecords, 0, total));
            foreach (BsonDocument doc in _changes.Find(Query.All("_id", Query.Ascending)))
            {
                StateChangeRecord record = CheckedChange(doc);
                if (record.Sequence < expected || record.Sequence > last)
                {
                    throw new StateStoreCorruptedException(FilePath, $"change record {record.Sequence} is out of the change log's order");
                }

                while (expected < record.Sequence)
                {
                    Hole(expected++);
                    Report();
                }

                if ((expected - first) % 1024 == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }

                try
                {
                    log.Append(record);
                }
                catch (ArgumentException ex)
                {
                    throw new StateStoreException($"Change record {record.Sequence} does not fit a segment file, so the change log of '{FilePath}' was not converted (it keeps working in its own layout): {ex.Message}", ex);
                }

                records++;
                expected++;
                Report();
            }

            while (expected <= last)
            {
                Hole(expected++);
                Report();
            }

            log.Flush();
            done = true;
            progress?.Report(new ChangeLogUpgradeProgress(ChangeLogUpgradeStage.CopyingRecords, total, total));
            return (first, records, tombstones);
        }
        finally
        {
            log.Dispose();
            if (!done)
            {
                DeleteFolderQuietly(folder);
            }
        }
    }

    /// <summary>
    /// Removes the segment folders an interrupted conversion of this file left (<c>&lt;db&gt;.changes-upgrade-…</c>). Called
    /// while the file is in the collection layout, which uses no folder; other folders are never touched.
    /// </summary>
    private void RemoveUpgradeLeftovers()
    {
        if (_dataFile.FileSystem is not null)
        {
            return; // a test file system: its folders are its own
        }

        string prefix = Path.GetFileName(SegmentLog.FolderFor(FilePath)) + UpgradeFolderInfix;
        string parent = Path.GetDirectoryName(FilePath) ?? ".";
        foreach (string entry in Directory.EnumerateDirectories(parent))
        {
            string name = Path.GetFileName(entry);
            if (name.StartsWith(prefix, StringComparison.Ordinal) && IsLogFolderSuffix(name[(prefix.Length - UpgradeFolderInfix.Length)..]))
            {
                DeleteFolderQuietly(entry);
            }
        }
    }

    private void DeleteFolderQuietly(string folder)
    {
        if (_dataFile.FileSystem is not null)
        {
            return;
        }

        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the next conversion, which removes it first.
        }
    }

    /// <summary>
    /// At the open of a segmented file: drops the <c>changes</c> collection a conversion left (it switched the file, then a
    /// crash came before the drop). Its records are all in the segments by then.
    /// </summary>
    private void DropConvertedCollection()
    {
        if (_db.CollectionExists(ChangesCollectionName))
        {
            _db.DropCollection(ChangesCollectionName);
        }
    }
}
