using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using LiteDB;

namespace StateGen.Benchmarks;

/// <summary>
/// What a change log costs LiteDB 5 itself (<c>-- --changelog-probe</c>): raw LiteDB calls only, no StateGen code. Each
/// commit updates one 11 KB document in place (the write floor) and, depending on the layout, also inserts a change
/// record in the same transaction: the full document (StateGen's layout today), a 200-byte metadata record, or the
/// document Deflate-compressed. Layouts are interleaved over rounds; medians are printed. It answers "how cheap can a
/// change log kept in LiteDB's own B-trees be", the question behind the save target of issue #5.
/// </summary>
internal static class ChangeLogProbe
{
    private const int Commits = 2000;
    private const int Rounds = 5;

    private static readonly string[] Layouts = ["floor (update only)", "+ full-document record", "+ 200 B metadata record", "+ deflated record"];

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
        double floor = Median(times[0]);
        for (int layout = 0; layout < Layouts.Length; layout++)
        {
            double median = Median(times[layout]);
            Console.WriteLine($"{Layouts[layout],-26} {median.ToString("F1", CultureInfo.InvariantCulture),8} us/commit  {(median / floor).ToString("F2", CultureInfo.InvariantCulture)}x the floor");
        }
    }

    private static double Median(double[] values) => values.Order().ElementAt(values.Length / 2);

    private static double Measure(int layout, byte[] payload)
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-changelog-probe-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            using var db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(folder, "probe.db"), Connection = ConnectionType.Direct });
            ILiteCollection<BsonDocument> state = db.GetCollection("state");
            ILiteCollection<BsonDocument> log = db.GetCollection("log");
            state.Upsert(new BsonDocument { ["_id"] = "k", ["p"] = payload, ["v"] = 0L });
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
                }

                db.Commit();
            }

            return stopwatch.Elapsed.TotalMicroseconds / Commits;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
