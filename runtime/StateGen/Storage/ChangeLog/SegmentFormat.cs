using System;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace StateGen.Storage.ChangeLog;

/// <summary>
/// The bytes of a change-log segment (docs/design/change-log-side-file.md). All integers are little-endian.
/// <para>
/// Segment header, <see cref="HeaderSize"/> bytes: magic <c>SGCL</c> | format version (u16) | flags (u16:
/// <see cref="AfterGapFlag"/>, <see cref="AfterSealFlag"/>, or 0) | segment number (i64, the file's name) | first sequence
/// (i64: the sequence its first record has or will have) | XxHash3 of the 24 bytes before it.
/// </para>
/// <para>
/// Seal (<see cref="SealSize"/> bytes, after the last record of a segment that the log went on from; nothing follows it):
/// magic <c>SGCS</c> | flags (u16: <see cref="SealGapFlag"/> or 0) | reserved (u16, 0) | segment number (i64) | its own
/// offset (i64: where the segment's records end) | next sequence (i64: the one after the segment's last record) | the last
/// lost sequence (i64: with <see cref="SealGapFlag"/>, the end of the gap after the segment; else 0) | XxHash3 of the 40
/// bytes before it. Segments written before seals existed have none; they read as before.
/// </para>
/// <para>
/// Record: magic <c>SGCR</c> | length (u32, the whole record with its checksum) | sequence (i64) | kind (u8: 1 write or 2
/// delete, with <see cref="CommitEndFlag"/> on the last record of a commit that marks its end) | schema version (i32) |
/// version (i64) | time (i64, UTC ticks) | previous sequence of the key (i64) | scope | key | type name | correlation id |
/// origin (each u16 byte count + UTF-8; <see cref="NullString"/> for a null correlation id or origin) | payload (i32 byte
/// count + bytes) | XxHash3 of everything before it (u64).
/// </para>
/// <para>
/// The commit-end flag (write behind, docs/design/change-log-side-file.md "Commit-end flag"): a commit is decided once
/// its records are in the log, and a crash can cut a commit of several records between them; the flag on its last
/// record tells a whole commit from a partly written one. A reader that does not know the flag sees an unknown kind and
/// refuses the record (a typed error, never a silent misreading). A tombstone never carries it.
/// </para>
/// <para>
/// Tombstone (a record <see cref="SegmentLog.Remove"/> took out; it keeps the sequences consecutive and the key's chain
/// walkable): magic <c>SGCR</c> | length (u32) | sequence (i64) | kind (u8, <see cref="TombstoneKind"/>) | the removed
/// record's kind (u8, 1 write or 2 delete) | previous sequence of the key (i64) | scope | key (u16 byte count + UTF-8) |
/// XxHash3 of everything before it (u64).
/// </para>
/// Every length has a hard limit, checked before anything is allocated, so hostile bytes cannot cause a huge allocation;
/// XxHash3 is no authentication, so a record whose checksum matches is still parsed defensively.
/// </summary>
internal static class SegmentFormat
{
    /// <summary>The segment header's magic, "SGCL" in file order.</summary>
    public const uint SegmentMagic = 0x4C43_4753;

    /// <summary>A record's magic, "SGCR" in file order.</summary>
    public const uint RecordMagic = 0x5243_4753;

    /// <summary>The format version this code writes and reads.</summary>
    public const ushort FormatVersion = 1;

    /// <summary>The size of a segment's header.</summary>
    public const int HeaderSize = 32;

    /// <summary>
    /// Header flag: the segment starts after a gap. The records between the previous segment's last and this segment's
    /// first were lost (a power cut kept the database's commit but not their bytes) and the log goes on after them.
    /// </summary>
    public const ushort AfterGapFlag = 1;

    /// <summary>
    /// Header flag: the segment before this one was sealed (it ends with a seal, written and flushed after its records
    /// were flushed and before this segment was made). With it, the previous segment must end with a seal that leads to
    /// this segment: a cut of its end, even at a record boundary, is damage.
    /// </summary>
    public const ushort AfterSealFlag = 2;

    /// <summary>The header flags this code knows.</summary>
    public const ushort KnownFlags = AfterGapFlag | AfterSealFlag;

    /// <summary>A seal's magic, "SGCS" in file order.</summary>
    public const uint SealMagic = 0x5343_4753;

    /// <summary>The size of a seal.</summary>
    public const int SealSize = 48;

    /// <summary>Seal flag: the log goes on after a gap (the next segment carries <see cref="AfterGapFlag"/>).</summary>
    public const ushort SealGapFlag = 1;

    /// <summary>Magic and length: what is read before a record's length is trusted.</summary>
    public const int RecordPrefixSize = 8;

    /// <summary>The kind byte of a tombstone (1 and 2 are <see cref="StateChangeKind"/>'s write and delete).</summary>
    public const byte TombstoneKind = 3;

    /// <summary>
    /// A bit of a record's kind byte (on kinds 1 and 2 only): the record is the last of its commit. Records after the
    /// database's committed sequence are kept by recovery up to the last one with this bit (<see cref="SegmentLog.Open"/>).
    /// </summary>
    public const byte CommitEndFlag = 0x80;

    /// <summary>The string length that stands for a null correlation id or origin.</summary>
    public const ushort NullString = 0xFFFF;

    /// <summary>The most UTF-8 bytes of a scope path.</summary>
    public const int MaxScopeBytes = 8192;

    /// <summary>The most UTF-8 bytes of a key (the store's limit is <see cref="StateKeys.MaxKeyBytes"/>).</summary>
    public const int MaxKeyBytes = 1024;

    /// <summary>The most UTF-8 bytes of a type name, correlation id or origin.</summary>
    public const int MaxNameBytes = 1024;

    // sequence, kind, schema version, version, time, previous sequence
    private const int FixedFieldsSize = 8 + 1 + 4 + 8 + 8 + 8;

    /// <summary>The smallest record: every string and the payload empty.</summary>
    public const int MinRecordSize = RecordPrefixSize + FixedFieldsSize + (5 * 2) + 4 + 8;

    // sequence, kind, removed kind, previous sequence
    private const int TombstoneFixedFieldsSize = 8 + 1 + 1 + 8;

    /// <summary>The smallest tombstone (empty scope and key), and so the smallest length a record prefix may give.</summary>
    public const int MinTombstoneSize = RecordPrefixSize + TombstoneFixedFieldsSize + (2 * 2) + 8;

    /// <summary>The largest record with a payload of at most <paramref name="maxPayloadBytes"/> bytes.</summary>
    public static long MaxRecordSize(int maxPayloadBytes)
        => MinRecordSize + MaxScopeBytes + MaxKeyBytes + (3L * MaxNameBytes) + maxPayloadBytes;

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The file name of segment <paramref name="number"/>: six digits or more, then <c>.seg</c>.</summary>
    public static string FileName(long number) => number.ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + ".seg";

    /// <summary>The segment number in a file name written by <see cref="FileName"/>; false for any other name.</summary>
    public static bool TryParseFileName(string fileName, out long number)
    {
        number = 0;
        if (!fileName.EndsWith(".seg", StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> digits = fileName.AsSpan(0, fileName.Length - 4);
        if (digits.Length is < 6 or > 18)
        {
            return false;
        }

        foreach (char c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        number = long.Parse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
        return number > 0;
    }

    /// <summary>Writes a segment header.</summary>
    public static void WriteHeader(Span<byte> header, long number, long firstSequence, ushort flags = 0)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, SegmentMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], flags);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], number);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], firstSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(header[24..], XxHash3.HashToUInt64(header[..24]));
    }

    /// <summary>Reads a segment header; <see langword="null"/> and why when it is not one this code wrote.</summary>
    public static string? ReadHeader(ReadOnlySpan<byte> header, out long number, out long firstSequence, out ushort flags)
    {
        number = 0;
        firstSequence = 0;
        flags = 0;
        if (header.Length < HeaderSize)
        {
            return "its header is cut short";
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != SegmentMagic)
        {
            return "it is not a change-log segment (wrong magic)";
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(header[24..]) != XxHash3.HashToUInt64(header[..24]))
        {
            return "its header failed its checksum";
        }

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        flags = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        if (version != FormatVersion || (flags & ~KnownFlags) != 0)
        {
            return $"its format version {version} (flags {flags:x4}) is not known to this program";
        }

        number = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        firstSequence = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        return firstSequence < 1 ? "its header names no valid first sequence" : null;
    }

    /// <summary>
    /// Writes the seal of segment <paramref name="number"/>, placed at <paramref name="offset"/> (the end of its records):
    /// the log goes on at <paramref name="nextSequence"/>, or, when <paramref name="gapTo"/> is not 0, after the records
    /// <paramref name="nextSequence"/> to <paramref name="gapTo"/> it lost.
    /// </summary>
    public static void WriteSeal(Span<byte> seal, long number, long offset, long nextSequence, long gapTo)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(seal, SealMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(seal[4..], gapTo != 0 ? SealGapFlag : (ushort)0);
        BinaryPrimitives.WriteUInt16LittleEndian(seal[6..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(seal[8..], number);
        BinaryPrimitives.WriteInt64LittleEndian(seal[16..], offset);
        BinaryPrimitives.WriteInt64LittleEndian(seal[24..], nextSequence);
        BinaryPrimitives.WriteInt64LittleEndian(seal[32..], gapTo);
        BinaryPrimitives.WriteUInt64LittleEndian(seal[40..], XxHash3.HashToUInt64(seal[..40]));
    }

    /// <summary>
    /// Reads a seal. <see langword="false"/> when <paramref name="seal"/> is not a whole one (wrong magic or checksum: no
    /// seal, or one a crash cut short). <see langword="true"/> when it is; then <paramref name="failure"/> says why its
    /// fields are not ones this code writes, or is <see langword="null"/>.
    /// </summary>
    public static bool TryReadSeal(ReadOnlySpan<byte> seal, out long number, out long offset, out long nextSequence, out long gapTo, out string? failure)
    {
        number = offset = nextSequence = gapTo = 0;
        failure = null;
        if (seal.Length < SealSize
            || BinaryPrimitives.ReadUInt32LittleEndian(seal) != SealMagic
            || BinaryPrimitives.ReadUInt64LittleEndian(seal[40..]) != XxHash3.HashToUInt64(seal[..40]))
        {
            return false;
        }

        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(seal[4..]);
        number = BinaryPrimitives.ReadInt64LittleEndian(seal[8..]);
        offset = BinaryPrimitives.ReadInt64LittleEndian(seal[16..]);
        nextSequence = BinaryPrimitives.ReadInt64LittleEndian(seal[24..]);
        gapTo = BinaryPrimitives.ReadInt64LittleEndian(seal[32..]);
        if ((flags & ~SealGapFlag) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(seal[6..]) != 0)
        {
            failure = $"its seal's flags {flags:x4} are not known to this program";
        }
        else if (nextSequence < 1 || ((flags & SealGapFlag) != 0 ? gapTo < nextSequence : gapTo != 0))
        {
            failure = "its seal names no valid next sequence or gap";
        }

        return true;
    }

    /// <summary>
    /// The encoded size of <paramref name="record"/>.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A field is over its limit, a string is not valid UTF-16, the kind is unknown, or the sequences are out of range.
    /// </exception>
    public static int Measure(StateChangeRecord record, int maxPayloadBytes)
    {
        if (record.Kind is not StateChangeKind.Write and not StateChangeKind.Delete)
        {
            throw new ArgumentException($"Unknown change kind {(int)record.Kind}.", nameof(record));
        }

        if (record.Sequence < 1 || record.PreviousSequence < 0 || record.PreviousSequence >= record.Sequence)
        {
            throw new ArgumentException($"Change {record.Sequence} has previous sequence {record.PreviousSequence}: sequences start at 1 and a key's previous change comes before it.", nameof(record));
        }

        if (record.Payload.Length > maxPayloadBytes)
        {
            throw new ArgumentException($"The payload of change {record.Sequence} is {record.Payload.Length} bytes, more than the change log's limit of {maxPayloadBytes}.", nameof(record));
        }

        long size = MinRecordSize
            + StringSize(record.Scope, MaxScopeBytes, "scope")
            + StringSize(record.Key, MaxKeyBytes, "key")
            + StringSize(record.TypeName, MaxNameBytes, "type name")
            + StringSize(record.CorrelationId, MaxNameBytes, "correlation id")
            + StringSize(record.Origin, MaxNameBytes, "origin")
            + record.Payload.Length;
        return checked((int)size);
    }

    private static int StringSize(string? value, int max, string what)
    {
        if (value is null)
        {
            return 0;
        }

        int bytes;
        try
        {
            bytes = Strict.GetByteCount(value);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException($"The {what} of a change record is not valid UTF-16.", ex);
        }

        return bytes <= max ? bytes : throw new ArgumentException($"The {what} of a change record is {bytes} UTF-8 bytes, more than the change log's limit of {max}.");
    }

    /// <summary>
    /// Encodes <paramref name="record"/> into exactly <see cref="Measure"/> bytes of <paramref name="destination"/>; with
    /// <paramref name="endsCommit"/>, its kind byte carries <see cref="CommitEndFlag"/>.
    /// </summary>
    public static void Encode(StateChangeRecord record, Span<byte> destination, bool endsCommit = false)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, RecordMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)destination.Length);
        int at = RecordPrefixSize;
        BinaryPrimitives.WriteInt64LittleEndian(destination[at..], record.Sequence);
        destination[at + 8] = (byte)((byte)record.Kind | (endsCommit ? CommitEndFlag : 0));
        BinaryPrimitives.WriteInt32LittleEndian(destination[(at + 9)..], record.SchemaVersion);
        BinaryPrimitives.WriteInt64LittleEndian(destination[(at + 13)..], record.Version);
        BinaryPrimitives.WriteInt64LittleEndian(destination[(at + 21)..], record.Timestamp.UtcTicks);
        BinaryPrimitives.WriteInt64LittleEndian(destination[(at + 29)..], record.PreviousSequence);
        at += FixedFieldsSize;
        at = WriteString(destination, at, record.Scope);
        at = WriteString(destination, at, record.Key);
        at = WriteString(destination, at, record.TypeName);
        at = WriteString(destination, at, record.CorrelationId);
        at = WriteString(destination, at, record.Origin);
        BinaryPrimitives.WriteInt32LittleEndian(destination[at..], record.Payload.Length);
        at += 4;
        record.Payload.Span.CopyTo(destination[at..]);
        at += record.Payload.Length;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], XxHash3.HashToUInt64(destination[..at]));
    }

    private static int WriteString(Span<byte> destination, int at, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(destination[at..], NullString);
            return at + 2;
        }

        int written = Strict.GetBytes(value, destination[(at + 2)..]);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[at..], (ushort)written);
        return at + 2 + written;
    }

    /// <summary>
    /// The encoded size of a tombstone of <paramref name="scope"/> and <paramref name="key"/> given by a caller (not read
    /// back): both checked against the limits a decode applies.
    /// </summary>
    /// <exception cref="ArgumentException">The scope or key is over its limit, or not valid UTF-16.</exception>
    public static int MeasureTombstone(string scope, string key)
        => MinTombstoneSize + StringSize(scope, MaxScopeBytes, "scope") + StringSize(key, MaxKeyBytes, "key");

    /// <summary>The encoded size of the tombstone of a record of <paramref name="scope"/> and <paramref name="key"/> (both valid, as decoded).</summary>
    public static int TombstoneSize(string scope, string key)
        => MinTombstoneSize + Strict.GetByteCount(scope) + Strict.GetByteCount(key);

    /// <summary>
    /// Encodes the tombstone of record <paramref name="sequence"/> into exactly <see cref="TombstoneSize"/> bytes of
    /// <paramref name="destination"/>.
    /// </summary>
    public static void EncodeTombstone(long sequence, StateChangeKind removedKind, long previousSequence, string scope, string key, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, RecordMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)destination.Length);
        int at = RecordPrefixSize;
        BinaryPrimitives.WriteInt64LittleEndian(destination[at..], sequence);
        destination[at + 8] = TombstoneKind;
        destination[at + 9] = (byte)removedKind;
        BinaryPrimitives.WriteInt64LittleEndian(destination[(at + 10)..], previousSequence);
        at += TombstoneFixedFieldsSize;
        at = WriteString(destination, at, scope);
        at = WriteString(destination, at, key);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], XxHash3.HashToUInt64(destination[..at]));
    }

    /// <summary>
    /// Checks a record's magic and length (the first <see cref="RecordPrefixSize"/> bytes) before anything is allocated:
    /// its length must be at least <see cref="MinTombstoneSize"/>, at most <paramref name="maxRecordSize"/> and at most
    /// <paramref name="available"/> (the bytes left in the file). Returns the length, or 0 and why.
    /// </summary>
    public static int CheckPrefix(ReadOnlySpan<byte> prefix, long maxRecordSize, long available, out string? failure)
    {
        failure = null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(prefix) != RecordMagic)
        {
            failure = "it does not start with a record's magic";
            return 0;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]);
        if (length < MinTombstoneSize || length > maxRecordSize)
        {
            failure = $"its length {length} is outside the limits";
            return 0;
        }

        if (length > available)
        {
            failure = $"its length {length} runs past the end of the file";
            return 0;
        }

        return (int)length;
    }

    /// <summary>
    /// Checks and parses a whole record or tombstone (as <see cref="CheckPrefix"/> sized it). Returns
    /// <see langword="null"/> on success, else why it is not a valid record. Strings are decoded; the payload stays in
    /// <paramref name="record"/>.
    /// </summary>
    public static string? TryDecode(ReadOnlySpan<byte> record, out DecodedRecord decoded)
    {
        decoded = default;
        int hashed = record.Length - 8;
        if (record.Length < MinTombstoneSize || BinaryPrimitives.ReadUInt64LittleEndian(record[hashed..]) != XxHash3.HashToUInt64(record[..hashed]))
        {
            return "it failed its checksum";
        }

        int at = RecordPrefixSize;
        if (record[at + 8] == TombstoneKind)
        {
            return TryDecodeTombstone(record[..hashed], out decoded);
        }

        // The commit-end flag only on a write or delete: on a tombstone, or with any other bit, the kind is unknown (checked
        // before the length, so such a record is refused for its kind whatever its size).
        byte kind = record[at + 8];
        bool endsCommit = (kind & CommitEndFlag) != 0;
        kind = endsCommit ? (byte)(kind & ~CommitEndFlag) : kind;
        if (kind is not (byte)StateChangeKind.Write and not (byte)StateChangeKind.Delete)
        {
            return $"its kind {record[at + 8]} is unknown";
        }

        if (record.Length < MinRecordSize)
        {
            return "it is shorter than the smallest record";
        }

        long sequence = BinaryPrimitives.ReadInt64LittleEndian(record[at..]);
        int schemaVersion = BinaryPrimitives.ReadInt32LittleEndian(record[(at + 9)..]);
        long version = BinaryPrimitives.ReadInt64LittleEndian(record[(at + 13)..]);
        long ticks = BinaryPrimitives.ReadInt64LittleEndian(record[(at + 21)..]);
        long previous = BinaryPrimitives.ReadInt64LittleEndian(record[(at + 29)..]);
        at += FixedFieldsSize;
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return "its time is out of range";
        }

        if (sequence < 1 || previous < 0 || previous >= sequence)
        {
            return "its sequence or previous sequence is out of range";
        }

        ReadOnlySpan<byte> body = record[..hashed];
        if (!TryReadString(body, ref at, MaxScopeBytes, nullable: false, out string? scope)
            || !TryReadString(body, ref at, MaxKeyBytes, nullable: false, out string? key)
            || !TryReadString(body, ref at, MaxNameBytes, nullable: false, out string? typeName)
            || !TryReadString(body, ref at, MaxNameBytes, nullable: true, out string? correlation)
            || !TryReadString(body, ref at, MaxNameBytes, nullable: true, out string? origin))
        {
            return "a string in it has a bad length or is not UTF-8";
        }

        if (body.Length - at < 4)
        {
            return "its payload length is missing";
        }

        int payloadLength = BinaryPrimitives.ReadInt32LittleEndian(body[at..]);
        at += 4;
        if (payloadLength < 0 || payloadLength != body.Length - at)
        {
            return "its payload length does not match the record's length";
        }

        decoded = new DecodedRecord(sequence, (StateChangeKind)kind, schemaVersion, version, ticks, previous, scope!, key!, typeName!, correlation, origin, at, payloadLength, IsTombstone: false, EndsCommit: endsCommit);
        return null;
    }

    private static string? TryDecodeTombstone(ReadOnlySpan<byte> body, out DecodedRecord decoded)
    {
        decoded = default;
        int at = RecordPrefixSize;
        long sequence = BinaryPrimitives.ReadInt64LittleEndian(body[at..]);
        byte removedKind = body[at + 9];
        long previous = BinaryPrimitives.ReadInt64LittleEndian(body[(at + 10)..]);
        at += TombstoneFixedFieldsSize;
        if (removedKind is not (byte)StateChangeKind.Write and not (byte)StateChangeKind.Delete)
        {
            return $"its removed record's kind {removedKind} is unknown";
        }

        if (sequence < 1 || previous < 0 || previous >= sequence)
        {
            return "its sequence or previous sequence is out of range";
        }

        if (!TryReadString(body, ref at, MaxScopeBytes, nullable: false, out string? scope)
            || !TryReadString(body, ref at, MaxKeyBytes, nullable: false, out string? key))
        {
            return "a string in it has a bad length or is not UTF-8";
        }

        if (at != body.Length)
        {
            return "its length does not match its fields";
        }

        decoded = new DecodedRecord(sequence, (StateChangeKind)removedKind, 0, 0, long.MinValue, previous, scope!, key!, string.Empty, null, null, at, 0, IsTombstone: true);
        return null;
    }

    private static bool TryReadString(ReadOnlySpan<byte> body, ref int at, int max, bool nullable, out string? value)
    {
        value = null;
        if (body.Length - at < 2)
        {
            return false;
        }

        ushort length = BinaryPrimitives.ReadUInt16LittleEndian(body[at..]);
        at += 2;
        if (length == NullString)
        {
            return nullable;
        }

        if (length > max || length > body.Length - at)
        {
            return false;
        }

        try
        {
            value = Strict.GetString(body.Slice(at, length));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        at += length;
        return true;
    }
}

/// <summary>
/// A record's fields as <see cref="SegmentFormat.TryDecode"/> read them; the payload is a range of the record. For a
/// tombstone (<paramref name="IsTombstone"/>) only the sequence, the removed record's kind, the previous sequence, scope
/// and key are real: the other fields are empty and <paramref name="Ticks"/> is <see cref="long.MinValue"/>.
/// <paramref name="EndsCommit"/>: the record carried <see cref="SegmentFormat.CommitEndFlag"/> (never a tombstone);
/// <paramref name="Kind"/> is without it.
/// </summary>
internal readonly record struct DecodedRecord(
    long Sequence,
    StateChangeKind Kind,
    int SchemaVersion,
    long Version,
    long Ticks,
    long PreviousSequence,
    string Scope,
    string Key,
    string TypeName,
    string? CorrelationId,
    string? Origin,
    int PayloadOffset,
    int PayloadLength,
    bool IsTombstone,
    bool EndsCommit = false)
{
    /// <summary>The public record, with a copy of the payload taken from <paramref name="record"/>.</summary>
    public StateChangeRecord ToRecord(ReadOnlySpan<byte> record)
        => new(
            Sequence,
            Scope,
            Key,
            Kind,
            TypeName,
            SchemaVersion,
            Version,
            new DateTimeOffset(Ticks, TimeSpan.Zero),
            PayloadLength == 0 ? ReadOnlyMemory<byte>.Empty : record.Slice(PayloadOffset, PayloadLength).ToArray(),
            PreviousSequence,
            CorrelationId,
            Origin);
}
