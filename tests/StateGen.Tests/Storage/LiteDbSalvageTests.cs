using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// <see cref="LiteDbStateStore.Salvage(string)"/>: a damaged file is opened read-only, every intact value is read out
/// exactly, what failed is reported (with the newest intact older version from the change log), and the file is not
/// changed: no write, no checkpoint, no rebuild, no log file created.
/// </summary>
public sealed class LiteDbSalvageTests : IDisposable
{
    private const int Keys = 20;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Text(int key, int version) => $"\"value-{key:D2}-v{version}-{new string((char)('a' + key), 300)}\"";

    private async Task<string> CreateAsync()
    {
        string path = _dir.File();
        await using var store = CollectionLayout.Open(path);
        for (int version = 1; version <= 2; version++)
        {
            for (int k = 0; k < Keys; k++)
            {
                await store.WriteAsync(new StateWrite("agent/a1", $"key-{k:D2}", "Note", 1, Encoding.UTF8.GetBytes(Text(k, version))));
            }
        }

        return path;
    }

    [Fact]
    public async Task Salvage_reads_every_intact_value_reports_the_damaged_one_with_its_older_version_and_changes_nothing()
    {
        string path = await CreateAsync();
        byte[] bytes = await File.ReadAllBytesAsync(path);
        int at = bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Text(7, 2)));
        Assert.True(at > 0);
        bytes[at + 40] ^= 0x20;
        await File.WriteAllBytesAsync(path, bytes);

        // A normal open refuses the damaged value, typed.
        await using (var store = CollectionLayout.Open(path))
        {
            await Assert.ThrowsAsync<StateStoreCorruptedException>(async () => await store.GetAsync("agent/a1", "key-07"));
        }

        bytes = await File.ReadAllBytesAsync(path);
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.True(result.Verified);
        Assert.Equal(Keys - 1, result.Entries.Count);
        foreach (StoredEntry entry in result.Entries)
        {
            int k = int.Parse(entry.Key[4..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(Text(k, 2), Encoding.UTF8.GetString(entry.Payload.Span));
            Assert.Equal(2, entry.Version);
        }

        // The value's current document points at a change record that fails its checksum; the log walk meets it too.
        Assert.Equal(2, result.Failures.Count);
        Assert.Contains(result.Failures, f => f.Contains("'key-07'", StringComparison.Ordinal) && f.Contains("checksum", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures, f => f.Contains("value-", StringComparison.Ordinal));
        StoredEntry older = Assert.Single(result.Recovered);
        Assert.Equal((1L, Text(7, 1)), (older.Version, Encoding.UTF8.GetString(older.Payload.Span)));

        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public async Task Salvage_of_an_intact_file_reads_everything_and_reports_nothing()
    {
        string path = await CreateAsync();
        LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);

        Assert.Equal(Keys, result.Entries.Count);
        Assert.Empty(result.Failures);
        Assert.Empty(result.Recovered);
    }

    [Fact]
    public async Task Salvage_of_a_file_with_scribbled_pages_never_throws_anything_but_the_typed_error_and_leaves_it_unchanged()
    {
        string path = await CreateAsync();
        byte[] bytes = await File.ReadAllBytesAsync(path);
        var rng = new Random(5);
        for (int i = 0; i < 40; i++)
        {
            bytes[rng.Next(8192, bytes.Length)] ^= (byte)rng.Next(1, 256);
        }

        await File.WriteAllBytesAsync(path, bytes);
        try
        {
            LiteDbSalvageResult result = LiteDbStateStore.Salvage(path);
            foreach (StoredEntry entry in result.Entries.Concat(result.Recovered))
            {
                int k = int.Parse(entry.Key[4..], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(Text(k, (int)entry.Version), Encoding.UTF8.GetString(entry.Payload.Span));
            }
        }
        catch (StateStoreCorruptedException)
        {
            // Nothing could be read at all: typed.
        }

        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Salvage_of_a_foreign_file_gives_the_typed_error()
    {
        string path = _dir.File();
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat("not a database\n", 2000)));

        Assert.Throws<StateStoreCorruptedException>(() => LiteDbStateStore.Salvage(path));
    }
}
