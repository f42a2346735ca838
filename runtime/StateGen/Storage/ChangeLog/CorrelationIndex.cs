using System;
using System.Collections.Generic;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// The segment log's in-memory index of records by correlation id, small enough to hold for every record: keyed by a
/// 64-bit hash of the id, not the id itself, and a hash with one record (the usual case: a fresh id per step) holds its
/// sequence inline, with no list. About 30 bytes a record, where a string and a list per id cost about 200.
/// </summary>
/// <remarks>
/// Two ids can share a hash, so <see cref="Candidates"/> may list records of another id: the caller compares each
/// record's own id (the store does, as it filters every query). The hash is half the process's randomized string hash,
/// so ids chosen to collide cannot be prepared in advance, and half FNV-1a. Not thread-safe: the log's lock guards it.
/// Sequences of one hash are kept in increasing order (records are indexed in sequence order).
/// </remarks>
internal sealed class CorrelationIndex
{
    private readonly Dictionary<long, long> _single = [];
    private readonly Dictionary<long, List<long>> _multiple = [];
    private readonly Func<string, long> _hash;

    /// <summary>An empty index; <paramref name="hash"/> replaces the hash (tests force collisions with it).</summary>
    public CorrelationIndex(Func<string, long>? hash = null) => _hash = hash ?? DefaultHash;

    /// <summary>How many records are indexed.</summary>
    public long Count { get; private set; }

    private long Hash(string correlationId) => _hash(correlationId);

    private static long DefaultHash(string correlationId)
    {
        uint fnv = 2166136261;
        foreach (char c in correlationId)
        {
            fnv = (fnv ^ c) * 16777619;
        }

        return ((long)StringComparer.Ordinal.GetHashCode(correlationId) << 32) | fnv;
    }

    /// <summary>Indexes record <paramref name="sequence"/>, newer than every record of the id indexed so far.</summary>
    public void Add(string correlationId, long sequence)
    {
        long hash = Hash(correlationId);
        Count++;
        if (_multiple.TryGetValue(hash, out List<long>? sequences))
        {
            sequences.Add(sequence);
        }
        else if (_single.Remove(hash, out long first))
        {
            _multiple[hash] = [first, sequence];
        }
        else
        {
            _single[hash] = sequence;
        }
    }

    /// <summary>The sequences indexed under <paramref name="correlationId"/>'s hash, in order (a copy).</summary>
    public long[] Candidates(string correlationId)
    {
        long hash = Hash(correlationId);
        return _single.TryGetValue(hash, out long one) ? [one]
            : _multiple.TryGetValue(hash, out List<long>? sequences) ? sequences.ToArray()
            : [];
    }

    /// <summary>Removes record <paramref name="sequence"/> of <paramref name="correlationId"/>, if indexed.</summary>
    public void Remove(string correlationId, long sequence) => RemoveWhere(correlationId, s => s == sequence);

    /// <summary>Removes the records of <paramref name="correlationId"/> that <paramref name="gone"/> holds.</summary>
    public void RemoveAll(string correlationId, IReadOnlySet<long> gone) => RemoveWhere(correlationId, gone.Contains);

    /// <summary>Removes every record before <paramref name="first"/> (retention dropped the segments holding them).</summary>
    public void RemoveBefore(long first)
    {
        var emptied = new List<long>();
        foreach (var (hash, sequence) in _single)
        {
            if (sequence < first)
            {
                emptied.Add(hash);
            }
        }

        foreach (long hash in emptied)
        {
            _single.Remove(hash);
            Count--;
        }

        emptied.Clear();
        var narrowed = new List<(long Hash, long Sequence)>();
        foreach (var (hash, sequences) in _multiple)
        {
            Count -= sequences.RemoveAll(s => s < first);
            if (sequences.Count < 2)
            {
                emptied.Add(hash);
                if (sequences.Count == 1)
                {
                    narrowed.Add((hash, sequences[0]));
                }
            }
        }

        foreach (long hash in emptied)
        {
            _multiple.Remove(hash);
        }

        foreach (var (hash, sequence) in narrowed)
        {
            _single[hash] = sequence;
        }
    }

    private void RemoveWhere(string correlationId, Predicate<long> match)
    {
        long hash = Hash(correlationId);
        if (_single.TryGetValue(hash, out long one))
        {
            if (match(one))
            {
                _single.Remove(hash);
                Count--;
            }
        }
        else if (_multiple.TryGetValue(hash, out List<long>? sequences))
        {
            Count -= sequences.RemoveAll(match);
            if (sequences.Count < 2)
            {
                _multiple.Remove(hash);
                if (sequences.Count == 1)
                {
                    _single[hash] = sequences[0];
                }
            }
        }
    }
}
