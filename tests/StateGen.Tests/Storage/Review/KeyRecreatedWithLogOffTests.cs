using System;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace StateGen.Tests.Storage.Review;

public sealed class KeyRecreatedWithLogOffTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _out;
    public KeyRecreatedWithLogOffTests(ITestOutputHelper output) => _out = output;
    public void Dispose() => _dir.Dispose();

    private static StateWrite W(string v) => new("agent/a", "k", "Note", 1, Encoding.UTF8.GetBytes(v));

    // The change log on, then off: a key deleted, its history pruned, the key written again (same process), its history read.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Recreated_while_log_off_after_prune(bool reopenBeforeWrite)
    {
        string path = _dir.File($"off{reopenBeforeWrite}.db");
        LiteDbStateStore Open(bool record) => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection, RecordChanges = record });
        await using (var on = Open(true))
        {
            await on.WriteAsync(W("1")); // seq 1
        }

        LiteDbStateStore off = Open(false);
        try
        {
            Assert.True(await off.DeleteAsync("agent/a", "k"));
            Assert.Equal(1, await off.PruneChangesAsync(null, 0)); // seq 1 (no longer a current value's record)
            if (reopenBeforeWrite)
            {
                await off.DisposeAsync();
                off = Open(false);
            }

            await off.WriteAsync(W("2"));
            try { await off.ReadChangesAsync(new StateChangeQuery { Scope = "agent/a", Key = "k" }); _out.WriteLine("first read ok"); }
            catch (StateStoreCorruptedException) { _out.WriteLine("first read: corrupted"); }
        }
        finally
        {
            await off.DisposeAsync();
        }

        await using var again = Open(true);
        Assert.Empty(await again.ReadChangesAsync(new StateChangeQuery { Scope = "agent/a", Key = "k" }));
    }
}
