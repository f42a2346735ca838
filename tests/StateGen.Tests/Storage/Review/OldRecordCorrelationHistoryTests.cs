using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Storage;
using StateGen.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage.Review;

public sealed class OldRecordCorrelationHistoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _out;
    public OldRecordCorrelationHistoryTests(ITestOutputHelper output) => _out = output;
    public void Dispose() => _dir.Dispose();

    private static StateWrite W(string key, string? corr, int n) => new("agent/a", key, "Note", 1, Encoding.UTF8.GetBytes(n.ToString(CultureInfo.InvariantCulture))) { CorrelationId = corr };

    private static LiteDbStateStore Open(string path) => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection });

    // New version commits X (seq 1), a StateGen from before the links commits X (seq 2: no pc, cc untouched), new version
    // commits X (seq 3, pc 1) and Y on the same key (seq 4), prunes keepPerKey 1 (removes 3: cc X moves to 2, unlinked),
    // commits X (seq 5, pc 2): read X.
    [Fact]
    public async Task Old_version_record_becomes_newest_after_prune()
    {
        string path = _dir.File("c.db");
        await using (var store = Open(path)) { await store.CommitAsync([W("k1", "X", 1)]); }
        await using (var store = Open(path)) { await store.CommitAsync([W("k2", "X", 2)]); }
        using (LiteDatabase db = LiteDbScopeCountTests.Raw(path))
        {
            var changes = db.GetCollection("changes");
            BsonDocument doc = changes.FindById(2);
            Assert.True(doc.Remove("pc"));
            changes.Update(DocumentIntegrity.Seal(doc));
            var meta = db.GetCollection("meta");
            BsonDocument cc = meta.FindById("cc\u001EX");
            cc["n"] = 1L;
            meta.Update(DocumentIntegrity.Seal(cc));
        }

        await using (var store = Open(path))
        {
            await store.CommitAsync([W("k3", "X", 3)]);
            await store.CommitAsync([W("k3", "Y", 4)]);
            _out.WriteLine("X before prune: " + string.Join(",", (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" })).Select(r => r.Sequence)));
            await store.PruneChangesAsync(null, 1);
            _out.WriteLine("X after prune: " + string.Join(",", (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" })).Select(r => r.Sequence)));
            await store.CommitAsync([W("k4", "X", 5)]);
            Assert.Equal(new long[] { 1, 2, 5 }, (await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = "X" })).Select(r => r.Sequence));
        }
    }
}
