using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Text.Json;
using LiteDB;
using StateGen.Serialization;
using StateGen.Storage;
using StateGen.Storage.ChangeLog;

namespace StateGen.Benchmarks;

/// <summary>
/// A probe for a write-behind save path (<c>-- --write-behind-probe</c>; docs/design/change-log-side-file.md, "Write
/// behind"): what a save would cost in the caller if the segment log were the only write in its path (the record
/// appended, the value put in an in-memory overlay) and LiteDB's upserts were applied later in batches, beside the write
/// floor of issue #5 (the generated serializer + one raw LiteDB upsert) in the same rounds. It also measures the batched
/// apply (64 upserts in one LiteDB transaction, per upsert), which such a design pays off the caller's path. Raw calls
/// only (no <see cref="StateManager"/>), so the candidate and the floor differ only in the storage work.
/// </summary>
internal static class WriteBehindProbe
{
    private const int ApplyBatch = 64;

    public static void Run()
    {
        string folder = Path.Combine(Path.GetTempPath(), "stategen-writebehind-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        BenchAgent agent = BenchAgent.CreateSample();
        var buffer = new ArrayBufferWriter<byte>(16384);
        using var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptions);
        using var floorDb = new LiteDatabase(new ConnectionString { Filename = Path.Combine(folder, "floor.db"), Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal) });
        using var applyDb = new LiteDatabase(new ConnectionString { Filename = Path.Combine(folder, "apply.db"), Collation = new Collation(CultureInfo.InvariantCulture.LCID, CompareOptions.Ordinal) });
        ILiteCollection<BsonDocument> floor = floorDb.GetCollection("state");
        ILiteCollection<BsonDocument> apply = applyDb.GetCollection("state");
        SegmentLog log = SegmentLog.Create(Path.Combine(folder, "log"), 1);
        var overlay = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        long version = 0;
        try
        {
            byte[] Serialize()
            {
                buffer.ResetWrittenCount();
                writer.Reset(buffer);
                ((IPersistentState<BenchAgent>)agent).WriteState(writer);
                writer.Flush();
                return buffer.WrittenSpan.ToArray();
            }

            BsonDocument Document(byte[] payload, long v) => new()
            {
                ["_id"] = "agent/researcher-1\u001Fagent",
                ["s"] = "agent/researcher-1",
                ["k"] = "agent",
                ["t"] = "bench-agent",
                ["sv"] = 1,
                ["v"] = v,
                ["u"] = DateTimeOffset.UtcNow.UtcTicks,
                ["p"] = payload,
            };

            var ops = new (string Name, int Batch, Action Op)[]
            {
                ("Save floor: serialize + raw upsert", 100, () => floor.Upsert(Document(Serialize(), ++version))),
                ("Write behind, caller's part: serialize + segment append + overlay", 100, () =>
                {
                    byte[] payload = Serialize();
                    long sequence = log.NextSequence;
                    log.Append(new StateChangeRecord(sequence, "agent/researcher-1", "agent", StateChangeKind.Write, "bench-agent", 1, ++version, DateTimeOffset.UtcNow, payload, sequence - 1, "step-1", null));
                    overlay["agent/researcher-1\u001Fagent"] = payload;
                }),
                ($"Batched apply: {ApplyBatch} upserts in one transaction, x1/{ApplyBatch}", 4, () =>
                {
                    byte[] payload = Serialize();
                    applyDb.BeginTrans();
                    for (int i = 0; i < ApplyBatch; i++)
                    {
                        BsonDocument doc = Document(payload, ++version);
                        doc["_id"] = "agent/researcher-1\u001Fagent-" + i.ToString(CultureInfo.InvariantCulture);
                        apply.Upsert(doc);
                    }

                    applyDb.Commit();
                }),
            };

            // The batched apply does 64 upserts per call: its ratio to the floor is per call, so divide by 64 for one.
            PairedCheck.Measure(ops, [(1, 0), (2, 0)]);
            Console.WriteLine($"(The batched apply's time is per {ApplyBatch} upserts: divide its ratio by {ApplyBatch} for one.)");
        }
        finally
        {
            log.Dispose();
            floorDb.Dispose();
            applyDb.Dispose();
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
