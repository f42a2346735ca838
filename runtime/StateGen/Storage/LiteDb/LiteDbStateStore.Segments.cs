using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LiteDB;
using StateGen.Storage.ChangeLog;
using StateGen.Storage.Memory;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The change log of a <see cref="DocumentIntegrity.SegmentedFormat"/> file: its reads and retention go to the segment
/// files beside it (<see cref="SegmentLog"/>) instead of the <c>changes</c> collection. Called under the store's lock.
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <summary>The records matching <paramref name="query"/>, in sequence order, from the segment log.</summary>
    private StateChangeRecord[] ReadSegmentChanges(StateChangeQuery query)
    {
        SegmentLog log = _log!;
        IEnumerable<StateChangeRecord> candidates;
        if (query.Scope is not null && query.Key is not null)
        {
            // The key's chain, newest first: it can stop at the first record not after the query's position.
            var chain = new List<StateChangeRecord>();
            foreach (StateChangeRecord record in log.ReadHistory(query.Scope, query.Key))
            {
                if (record.Sequence <= query.AfterSequence)
                {
                    break;
                }

                chain.Add(record);
            }

            chain.Reverse();
            candidates = chain;
        }
        else if (query.CorrelationId is not null)
        {
            candidates = log.SequencesOf(query.CorrelationId)
                .Where(sequence => sequence > query.AfterSequence)
                .Select(log.Read)
                .OfType<StateChangeRecord>();
        }
        else
        {
            // A scope without a key has no index of its own: the log is read in order from the query's position.
            candidates = log.ReadFrom(query.AfterSequence);
        }

        return candidates.Where(r => MemoryStateStore.Matches(r, query)).Take(query.Limit).ToArray();
    }

    /// <summary>
    /// Retention in the segment log: the records older than <paramref name="olderThan"/> and all but the newest
    /// <paramref name="keepPerKey"/> of each key, except each current value's record, become tombstones.
    /// </summary>
    private long PruneSegmentChanges(DateTimeOffset? olderThan, int? keepPerKey, CancellationToken cancellationToken)
    {
        if (olderThan is null && keepPerKey is null)
        {
            return 0;
        }

        // A backup copying the segments reads them by their lengths at its start: compaction and removal wait for it.
        SegmentLog log = WaitForFileCopies(cancellationToken);

        // The wait released the lock: commits written behind meanwhile go into LiteDB before the checks below read it
        // (and the records after meta.S, which the next open needs whole with their commit-end flags, are never removed).
        ApplyPending();

        var remove = new HashSet<long>();
        var kept = new HashSet<long>();
        var perKey = keepPerKey is null ? null : new Dictionary<(string Scope, string Key), List<long>>();
        foreach (StateChangeRecord record in log.ReadFrom(0))
        {
            if (log.LastChangeOf(record.Scope, record.Key) == (record.Sequence, false))
            {
                // A key's newest record that is a write is kept even with no current value (a delete made with the log
                // off): the log refuses to remove it. It still counts as the key's newest.
                kept.Add(record.Sequence);
            }

            if (olderThan is DateTimeOffset limit && record.Timestamp < limit)
            {
                remove.Add(record.Sequence);
            }

            if (perKey is not null)
            {
                if (!perKey.TryGetValue((record.Scope, record.Key), out List<long>? sequences))
                {
                    perKey[(record.Scope, record.Key)] = sequences = [];
                }

                sequences.Add(record.Sequence);
            }
        }

        if (perKey is not null)
        {
            int keep = Math.Max(0, keepPerKey!.Value);
            foreach (List<long> sequences in perKey.Values)
            {
                // Read in sequence order: the newest are at the end.
                remove.UnionWith(sequences.Take(Math.Max(0, sequences.Count - keep)));
            }
        }

        // A current value's record is always kept.
        remove.ExceptWith(_state.FindAll().Select(d => SequenceOf(CheckedEntry(d)!)));
        remove.ExceptWith(kept);
        remove.RemoveWhere(sequence => sequence > _appliedSequence);
        if (remove.Count == 0)
        {
            return 0;
        }

        // The values written behind (applied by Run before this) reach the disk before the records they came from can go:
        // a crash must not leave LiteDB's older values with the log's records of the newer ones removed.
        SyncFiles();
        long removed = log.Remove(remove);

        // Leading segments left holding only tombstones go too (tombstones carry no time: the limit is irrelevant there).
        // A gap whose segment before it goes is forgotten by the log: values whose records it lost are recorded first
        // (before any file goes), so their reads are not taken for deleted segments.
        if (log.Gaps.Count > 0 && log.Gaps.Max(g => g.ToSequence) is long lostTo && lostTo > _lostBefore)
        {
            InTransaction(() => _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = LostBeforeId, ["v"] = lostTo })));
            _lostBefore = lostTo;
        }

        log.RemoveSegments(DateTimeOffset.MinValue);
        return removed;
    }

    /// <summary>The snapshot form of a current value whose change record is in the segment log.</summary>
    private SnapshotDocument ToSegmentSnapshotDocument(BsonDocument doc)
    {
        Checked(doc, CollectionName);
        long sequence = SequenceOf(doc);
        StateChangeRecord? change = sequence == 0 ? null : _log?.Read(sequence);
        StoredEntry entry = EntryOf(doc, doc.TryGetValue("p", out BsonValue payload) && payload.IsBinary ? payload.AsBinary : throw new StateStoreCorruptedException(FilePath, "a current value has no payload"));
        return change is null
            ? new SnapshotDocument(entry, 0, 0, null, null)
            : new SnapshotDocument(entry, change.Sequence, change.PreviousSequence, change.CorrelationId, change.Origin);
    }

    /// <summary>Test hook: how many times a prune waited for a backup's copy to end.</summary>
    internal int PruneWaits { get; private set; }

    /// <summary>The <c>meta</c> record giving a segmented file's log folder a suffix (a restore's file).</summary>
    private const string LogFolderId = "logFolder";

    /// <summary>
    /// The folder of a segmented file's change log: the option's override (a restore or verification), else
    /// <c>&lt;db&gt;.changes</c> followed by the suffix the file records in <c>meta</c>, if any. A restore gives the file
    /// it builds a new folder (<c>&lt;db&gt;.changes-&lt;time&gt;-&lt;random&gt;</c>) and records its suffix, so that the
    /// rename of the data file alone switches values and history together. Only a suffix is recorded: the folder always
    /// follows the name the file is opened under, so a copy under another name never opens (and cuts) the original's
    /// log, and a name that differs only in case on a disk that ignores case finds the same folder.
    /// </summary>
    private string ResolveLogFolder()
    {
        if (_segmentLogFolder is not null)
        {
            return _segmentLogFolder;
        }

        if (_meta.FindById(LogFolderId) is not { } named)
        {
            _logFolderSuffix = string.Empty;
            return SegmentLog.FolderFor(FilePath);
        }

        BsonValue value = Checked(named, MetaCollectionName)["v"];
        if (!value.IsString || !IsLogFolderSuffix(value.AsString))
        {
            throw new StateStoreCorruptedException(FilePath, "the suffix of its change log's folder name is not one a restore writes");
        }

        _logFolderSuffix = value.AsString;
        return SegmentLog.FolderFor(FilePath) + value.AsString;
    }

    /// <summary>
    /// Whether <paramref name="suffix"/> is a log folder suffix a restore writes: a hyphen, then up to 64 ASCII letters,
    /// digits and hyphens (nothing that could leave the folder or name another).
    /// </summary>
    internal static bool IsLogFolderSuffix(string suffix)
        => suffix.Length is > 1 and <= 65 && suffix[0] == '-' && suffix.AsSpan(1).IndexOfAnyExcept(LogFolderSuffixChars) < 0;

    /// <summary>
    /// A new log folder suffix (<see cref="IsLogFolderSuffix"/>): <paramref name="infix"/> (a hyphen, or a hyphen-delimited
    /// word), the time to the millisecond and 8 random hex digits, so no two restores or conversions share a folder.
    /// </summary>
    internal static string NewLogFolderSuffix(string infix, DateTimeOffset now)
        => infix + now.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture)
           + "-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();

    private static readonly System.Buffers.SearchValues<char> LogFolderSuffixChars
        = System.Buffers.SearchValues.Create("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private string? _logFolderSuffix;

    /// <summary>
    /// The suffix after <c>&lt;db&gt;.changes</c> of the log folder this file records (empty: none), or
    /// <see langword="null"/> in the collection layout or when opened with another folder.
    /// </summary>
    internal string? ChangeLogFolderSuffix => _segmented ? _logFolderSuffix : null;

    /// <summary>The first sequence the segment change log holds, or <see langword="null"/> in the collection layout.</summary>
    internal long? ChangeLogFirstSequence => Run(() => _log?.FirstSequence);

    /// <summary>The folder of the segment change log, or <see langword="null"/> in the collection layout.</summary>
    internal string? ChangeLogFolder => _segmented ? _logFolder : null;

    /// <summary>
    /// A restore: records <paramref name="suffix"/> (see <see cref="IsLogFolderSuffix"/>) as the file's log folder
    /// suffix, for the next open: the folder is then <c>&lt;db&gt;.changes&lt;suffix&gt;</c> of the name the file is
    /// opened under. This store keeps the folder it opened.
    /// </summary>
    internal void NameLogFolder(string suffix)
    {
        if (!_segmented || !IsLogFolderSuffix(suffix))
        {
            throw new ArgumentException("Only a segmented file names a log folder suffix, and only one a restore writes.", nameof(suffix));
        }

        Run(() =>
        {
            InTransaction(() => _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = LogFolderId, ["v"] = suffix })));
            return 0;
        });
    }
}
