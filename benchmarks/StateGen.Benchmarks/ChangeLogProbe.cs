using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.IO.Hashing;
using System.Linq;
using LiteDB;
using LiteDB.Engine;
using Microsoft.Win32.SafeHandles;
using StateGen.Storage.LiteDb;

namespace StateGen.Benchmarks;

/// <summary>
/// What a change log costs LiteDB 5 itself (<c>-- --changelog-probe</c>): raw LiteDB calls only, no StateGen code. Each
/// commit updates one 11 KB document in place (the write floor) and, depending on the layout, also inserts a change
/// record in the same transaction: the full document (StateGen's layout today), a 200-byte metadata record, or the
/// document Deflate-compressed. Layouts are interleaved over rounds; medians are printed. It answers "how cheap can a
/// change log kept in LiteDB's own B-trees be", the question behind the save target of issue #5.
/// <para>
/// Four more layouts probe the side file of docs/design/change-log-side-file.md: "+ side-file append" is the floor plus,
/// before the commit, one positional write (<see cref="RandomAccess.Write(SafeFileHandle, ReadOnlySpan{byte}, long)"/>)
/// of a record (a 96-byte header, the payload, an XxHash3 of both) at the tail of an append-only file. The two durable
/// layouts open LiteDB over the store's own <see cref="OsStoreFile"/> streams, as <c>LiteDbStateStore</c> does, and after
/// each commit flush what the store's group commit flushes (its <c>SyncFiles</c>: the log, then the data file, each only
/// when written to since its last fsync); the second also appends the record before the commit and fsyncs the side file
/// first. Durable ratios are against the durable floor. "+ side-file + meta update" adds to the side-file append an
/// in-place update of a small document holding the newest sequence, which the wired store needs per commit to know
/// which log records its database committed. "+ side-file, preallocated" is the side-file append into a file whose
/// space was reserved when it was created (<see cref="FileStreamOptions.PreallocationSize"/>).
/// </para>
/// </summary>
internal static class ChangeLogProbe
{
    private const int Commits = 2000;
    private const int Rounds = 5;

    private const int SideFileHeaderBytes = 96; // about what a record's fixed fields, key, type and correlation id take

    private static readonly string[] Layouts =
    [
        "floor (update only)", "+ full-document record", "+ 200 B metadata record", "+ deflated record", "+ side-file append",
        "durable floor (fsync LiteDB)", "durable + side-file, fsync both", "+ side-file + meta update",
        "+ side-file, preallocated",
    ];

    private const int DurableFloor = 5;
    private const int DurableSideFile = 6;

    public static void Run()
    {
        byte[] payload = new byte[11_000];
        var random = new Random(1);
        const string alphabet = "abcdefghij klmnopqrstuvwxyz{}\":,0123456789";
        for (int i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)alphabet[random.Next(alphabet.Length)];
        }

        var times = Layouts.Select(_ => new double[Rounds]).ToArray();
        for (int round = 0; round < Rounds; round++)
        {
            for (int layout = 0; layout < Layouts.Length; layout++)
            {
                times[layout][round] = Measure(layout, payload);
            }
        }

        Console.WriteLine($"LiteDB 5 change-log layouts, {Commits:N0} commits of an 11 KB document, median of {Rounds} interleaved rounds; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        for (int layout = 0; layout < Layouts.Length; layout++)
        {
            bool durable = layout is DurableFloor or DurableSideFile;
            double floor = Median(times[durable ? DurableFloor : 0]);
            double median = Median(times[layout]);
            Console.WriteLine($"{Layouts[layout],-31} {median.ToString("F1", CultureInfo.InvariantCulture),8} us/commit  {(median / floor).ToString("F2", CultureInfo.InvariantCulture)}x the {(durable ? "durable floor" : "floor")}");
        }
    }

    private static double Median(double[] values) => values.Order().ElementAt(values.Length / 2);

    private static double Measure(int layout, byte[] payload)
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-changelog-probe-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        OsStoreFile? dataFile = null;
        OsStoreFile? logFile = null;
        SafeFileHandle? side = null;
        FileStream? sideStream = null;
        byte[] record = ArrayPool<byte>.Shared.Rent(SideFileHeaderBytes + payload.Length + 8);
        try
        {
            string path = Path.Combine(folder, "probe.db");
            LiteDatabase db;
            bool durable = layout is DurableFloor or DurableSideFile;
            if (durable)
            {
                // The store's own streams, so the fsyncs are the ones LiteDbStateStore issues.
                dataFile = new OsStoreFile(path);
                logFile = new OsStoreFile(Path.Combine(folder, "probe-log.db"));
                dataFile.WriteAheadLog = logFile;
                db = new LiteDatabase(new LiteEngine(new EngineSettings { DataStream = dataFile, LogStream = logFile }));
            }
            else
            {
                db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
            }

            if (layout is 4 or DurableSideFile or 7)
            {
                side = File.OpenHandle(Path.Combine(folder, "000001.seg"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
            }
            else if (layout == 8)
            {
                // Space reserved up front (fallocate on Linux), so an append does not allocate blocks as the file grows.
                sideStream = new FileStream(Path.Combine(folder, "000001.seg"), new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.Read,
                    BufferSize = 0,
                    PreallocationSize = (long)Commits * (SideFileHeaderBytes + payload.Length + 8),
                });
                side = sideStream.SafeFileHandle;
            }

            using var dispose = db;
            long tail = 0;
            ILiteCollection<BsonDocument> state = db.GetCollection("state");
            ILiteCollection<BsonDocument> log = db.GetCollection("log");
            ILiteCollection<BsonDocument> meta = db.GetCollection("meta");
            state.Upsert(new BsonDocument { ["_id"] = "k", ["p"] = payload, ["v"] = 0L });
            if (layout == 7)
            {
                meta.Upsert(new BsonDocument { ["_id"] = "sequence", ["v"] = 0L });
            }

            long sequence = 0;
            var stopwatch = Stopwatch.StartNew();
            for (int i = 0; i < Commits; i++)
            {
                payload[i % 1000] ^= 1;
                db.BeginTrans();
                state.Upsert(new BsonDocument { ["_id"] = "k", ["p"] = payload, ["v"] = (long)i });
                switch (layout)
                {
                    case 1:
                        log.Insert(new BsonDocument { ["_id"] = ++sequence, ["k"] = "k", ["v"] = (long)i, ["p"] = payload });
                        break;
                    case 2:
                        log.Insert(new BsonDocument { ["_id"] = ++sequence, ["k"] = "k", ["v"] = (long)i, ["d"] = new byte[200] });
                        break;
                    case 3:
                        var compressed = new MemoryStream();
                        using (var deflate = new DeflateStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                        {
                            deflate.Write(payload);
                        }

                        log.Insert(new BsonDocument { ["_id"] = ++sequence, ["k"] = "k", ["v"] = (long)i, ["z"] = compressed.ToArray() });
                        break;
                    case 4 or DurableSideFile or 8:
                        tail += AppendRecord(side!, tail, record, ++sequence, payload);
                        break;
                    case 7:
                        // The newest committed sequence kept in the database per commit (a batch of deletes leaves no
                        // other trace of its sequence there): an in-place update of one small document.
                        tail += AppendRecord(side!, tail, record, ++sequence, payload);
                        meta.Update(new BsonDocument { ["_id"] = "sequence", ["v"] = sequence });
                        break;
                }

                db.Commit();
                if (durable)
                {
                    if (side is not null)
                    {
                        RandomAccess.FlushToDisk(side); // the side file first: no LiteDB commit is durable without its record
                    }

                    logFile!.SyncIfDirty();
                    dataFile!.SyncIfDirty();
                }
            }

            return stopwatch.Elapsed.TotalMicroseconds / Commits;
        }
        finally
        {
            side?.Dispose();
            sideStream?.Dispose();
            dataFile?.Release();
            logFile?.Release();
            ArrayPool<byte>.Shared.Return(record);
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>One side-file record at <paramref name="offset"/>: header, payload, XxHash3 of both, in one write.</summary>
    private static int AppendRecord(SafeFileHandle file, long offset, byte[] buffer, long sequence, byte[] payload)
    {
        Span<byte> header = buffer.AsSpan(0, SideFileHeaderBytes);
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0x5347_4352);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], SideFileHeaderBytes + payload.Length + 8);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], DateTime.UtcNow.Ticks);
        payload.CopyTo(buffer.AsSpan(SideFileHeaderBytes));
        int length = SideFileHeaderBytes + payload.Length;
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(length), XxHash3.HashToUInt64(buffer.AsSpan(0, length)));
        length += 8;
        RandomAccess.Write(file, buffer.AsSpan(0, length), offset);
        return length;
    }
}
