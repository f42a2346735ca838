using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading.Tasks;
using LiteDB;
using StateGen.Security;
using StateGen.Storage;
using StateGen.Storage.Encryption;
using StateGen.Storage.LiteDb;
using StateGen.Tests.Encryption;
using StateGen.Tests.Security;
using StateGen.Tests.Storage;
using StateGen.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage.Review;

public sealed class OldDeleteAndSharedRingTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 4, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _out;
    public OldDeleteAndSharedRingTests(ITestOutputHelper output) => _out = output;
    public void Dispose() => _dir.Dispose();

    private static StateWrite W(string key, string? corr, int n) => new("agent/a", key, "Note", 1, Encoding.UTF8.GetBytes(n.ToString(CultureInfo.InvariantCulture))) { CorrelationId = corr };

    private static LiteDbStateStore Open(string path, TimeProvider time)
        => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, TimeProvider = time });

    // A key deleted by a StateGen from before the deleted-key records (simulated: its kd record removed), with the clock set
    // back between its write and its delete; a prune by age removes the delete and keeps the write.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Old_delete_pruned_before_older_write(bool dropKd)
    {
        var time = new ManualTimeProvider(Start);
        string path = _dir.File($"kd{dropKd}.db");
        await using (LiteDbStateStore store = Open(path, time))
        {
            await store.CommitAsync([W("k", null, 1)]);          // seq 1 at Start
            time.Advance(TimeSpan.FromHours(-1));
            await store.CommitAsync([new StateDelete("agent/a", "k")]); // seq 2 at Start - 1h
            time.Advance(TimeSpan.FromHours(1));
        }

        if (dropKd)
        {
            using LiteDatabase db = LiteDbScopeCountTests.Raw(path);
            var meta = db.GetCollection("meta");
            _out.WriteLine("meta ids: " + string.Join(" ", meta.FindAll().Select(d => d["_id"].AsString.Replace("\u001E", "|").Replace("\u001F", "/"))));
            Assert.True(meta.Delete("kd\u001Eagent/a\u001Fk"));
            Assert.True(meta.Delete("key-deletes-from")); // a file from before the delete records has neither
        }

        await using (LiteDbStateStore store = Open(path, time))
        {
            long pruned = await store.PruneChangesAsync(Start.AddMinutes(-30), null);
            _out.WriteLine($"pruned {pruned}");
            var read = await store.ReadChangesAsync(new StateChangeQuery { Scope = "agent/a", Key = "k" });
            Assert.Equal(new long[] { 1 }, read.Select(r => r.Sequence));
        }
    }

    // One ring, two encrypted LiteDB stores over two files; store A met damage (closed as damaged). Writes to intact B.
    [Fact]
    public async Task Shared_ring_store_A_faulted_then_writes_to_B()
    {
        using StateKeyRing ring = TestKeys.Ring();
        var encryptor = new StateEncryptor(ring);
        var options = new EncryptedStateStoreOptions { KeyUsageReservation = 4 };
        await using var a = new EncryptedStateStore(new LiteDbStateStore(_dir.File("a.db")), encryptor, options);
        await using var b = new EncryptedStateStore(new LiteDbStateStore(_dir.File("b.db")), encryptor, options);
        await a.WriteAsync(At.Write("agent/a1", "x", "v"));
        await b.WriteAsync(At.Write("agent/a1", "y", "v"));

        // What an operation on A that met damage in A's file does (Run's catch): A is closed as damaged.
        var inner = (LiteDbStateStore)a.Inner;
        typeof(LiteDbStateStore).GetMethod("CloseDamaged", BindingFlags.NonPublic | BindingFlags.Instance)!.Invoke(inner, null);
        await Assert.ThrowsAsync<StateStoreCorruptedException>(() => a.GetAsync("agent/a1", "x").AsTask());

        int ok = 0;
        Exception? failure = null;
        for (int i = 0; i < 10 && failure is null; i++)
        {
            try
            {
                await b.WriteAsync(At.Write("agent/a1", "n" + i, "v"));
                ok++;
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        }

        _out.WriteLine($"B writes ok: {ok}; failure: {failure?.GetType().Name}: {failure?.Message}");
        Assert.Null(failure);
    }
}
