using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Manager;

/// <summary>
/// A damaged database file surfaces as <see cref="StateStoreException"/> (usually <see cref="StateStoreCorruptedException"/>),
/// never as a raw LiteDB, IndexOutOfRange or NotImplemented exception, and the file is not changed (the exception says
/// so, and the file is the user's only copy to recover from).
/// </summary>
public sealed class LiteDbCorruptionTests : IDisposable
{
    private const int PageSize = 8192;
    private const int Entries = 300;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task File_of_random_bytes_gives_StateStoreCorruptedException_naming_the_file()
    {
        string path = await WriteRandomFileAsync(8 * PageSize);

        var ex = Assert.Throws<StateStoreCorruptedException>(() => StateManager.OpenLiteDb(path));

        Assert.Equal(Path.GetFullPath(path), ex.FilePath);
        Assert.Contains(Path.GetFullPath(path), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task File_of_random_bytes_is_left_unchanged_by_a_failed_open()
    {
        string path = await WriteRandomFileAsync(8 * PageSize);
        byte[] before = await File.ReadAllBytesAsync(path);

        Assert.ThrowsAny<StateStoreException>(() => StateManager.OpenLiteDb(path));

        await AssertFileIsAsync(before, path);
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public async Task Text_file_that_is_not_a_database_gives_StateStoreCorruptedException()
    {
        string path = await WriteTextFileAsync();

        Assert.Throws<StateStoreCorruptedException>(() => new LiteDbStateStore(path));
    }

    [Fact]
    public async Task Text_file_that_is_not_a_database_is_left_unchanged_by_a_failed_open()
    {
        // 17,600 bytes: not a whole number of LiteDB pages.
        string path = await WriteTextFileAsync();
        byte[] before = await File.ReadAllBytesAsync(path);

        Assert.ThrowsAny<StateStoreException>(() => new LiteDbStateStore(path));

        await AssertFileIsAsync(before, path);
    }

    [Fact]
    public async Task Failed_open_does_not_leave_the_file_marked_as_open()
    {
        string path = await WriteRandomFileAsync(4 * PageSize);

        Assert.Throws<StateStoreCorruptedException>(() => StateManager.OpenLiteDb(path));
        Assert.Throws<StateStoreCorruptedException>(() => StateManager.OpenLiteDb(path));

        File.Delete(path);
        await using StateManager manager = StateManager.OpenLiteDb(path);
        Assert.Empty(await manager.ListKeysAsync(StateScope.Global));
    }

    [Fact]
    public async Task Truncated_database_gives_StateStoreException_on_open_or_read()
    {
        string path = await CreateDatabaseWithDataAsync();
        await TruncateToHalfAsync(path);

        Exception? failure = await OpenAndReadEverythingAsync(path);

        Assert.NotNull(failure);
        Assert.Equal(path, Assert.IsType<StateStoreCorruptedException>(failure).FilePath);
    }

    [Fact]
    public async Task Truncated_database_is_left_unchanged()
    {
        string path = await CreateDatabaseWithDataAsync();
        byte[] half = await TruncateToHalfAsync(path);

        await OpenAndReadEverythingAsync(path);

        await AssertFileIsAsync(half, path);
    }

    [Fact]
    public async Task Database_with_damaged_data_pages_gives_StateStoreException_on_open_or_read()
    {
        string path = await CreateDatabaseWithDataAsync();
        await ScribbleOverDataPagesAsync(path);

        Exception? failure = await OpenAndReadEverythingAsync(path);

        Assert.NotNull(failure);
        Assert.Equal(path, Assert.IsType<StateStoreCorruptedException>(failure).FilePath);
    }

    [Fact]
    public async Task Database_with_damaged_data_pages_is_left_unchanged()
    {
        string path = await CreateDatabaseWithDataAsync();
        byte[] damaged = await ScribbleOverDataPagesAsync(path);

        await OpenAndReadEverythingAsync(path);

        await AssertFileIsAsync(damaged, path);
    }

    [Fact]
    public async Task Store_keeps_reporting_StateStoreException_after_it_met_a_damaged_page()
    {
        string path = await CreateDatabaseWithDataAsync();
        await ScribbleOverDataPagesAsync(path);

        Exception? first = await OpenAndReadEverythingAsync(path, keepOpen: manager => Assert.ThrowsAnyAsync<StateStoreException>(async () => await manager.GetJsonAsync(StateScope.Agent("agent-0"), "key-0000")));

        Assert.Equal(path, Assert.IsType<StateStoreCorruptedException>(first).FilePath);
    }

    /// <summary>Fails with the file length and the first changed offset, which name the culprit (e.g. a header flag).</summary>
    private static async Task AssertFileIsAsync(byte[] expected, string path)
    {
        byte[] actual = await File.ReadAllBytesAsync(path);
        int common = Math.Min(expected.Length, actual.Length);
        int first = expected.AsSpan(0, common).CommonPrefixLength(actual.AsSpan(0, common));
        string change = first < common
            ? $"first changed byte at offset {first}: {expected[first]} -> {actual[first]}"
            : expected.Length == actual.Length ? "no change" : "no byte changed before the length change";
        Assert.True(
            expected.Length == actual.Length && first == common,
            $"The file was changed: length {expected.Length} -> {actual.Length}; {change}.");
    }

    private async Task<string> WriteRandomFileAsync(int length)
    {
        string path = _dir.File();
        byte[] garbage = new byte[length];
        new Random(20250101).NextBytes(garbage);
        await File.WriteAllBytesAsync(path, garbage);
        return path;
    }

    private async Task<string> WriteTextFileAsync()
    {
        string path = _dir.File();
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat("this is a text file, not a LiteDB database.\n", 400)), new UTF8Encoding(false));
        return path;
    }

    private static async Task<byte[]> TruncateToHalfAsync(string path)
    {
        byte[] full = await File.ReadAllBytesAsync(path);
        byte[] half = full.AsSpan(0, full.Length / 2).ToArray();
        await File.WriteAllBytesAsync(path, half);
        return half;
    }

    /// <summary>Keeps the header page and overwrites every later page with random bytes; returns the new content.</summary>
    private static async Task<byte[]> ScribbleOverDataPagesAsync(string path)
    {
        byte[] bytes = await File.ReadAllBytesAsync(path);
        byte[] scribble = new byte[bytes.Length - PageSize];
        new Random(99).NextBytes(scribble);
        scribble.CopyTo(bytes, PageSize);
        await File.WriteAllBytesAsync(path, bytes);
        return bytes;
    }

    private async Task<string> CreateDatabaseWithDataAsync()
    {
        string path = _dir.File();
        await using (StateManager manager = StateManager.OpenLiteDb(path))
        {
            for (int i = 0; i < Entries; i++)
            {
                await manager.SetJsonAsync(StateScope.Agent($"agent-{i % 5}"), $"key-{i:D4}", Backends.JsonString(new string((char)('a' + (i % 26)), 1000)));
            }
        }

        Assert.Equal(new[] { path }, Directory.GetFiles(_dir.Path)); // closed cleanly: everything is in the data file
        return path;
    }

    /// <summary>
    /// Opens the file and reads every entry; returns the first exception, or null when all worked. A missing entry
    /// counts as a failure too: a damaged file must not silently lose values.
    /// </summary>
    private static async Task<Exception?> OpenAndReadEverythingAsync(string path, Func<StateManager, Task>? keepOpen = null)
    {
        StateManager? manager = null;
        try
        {
            manager = StateManager.OpenLiteDb(path);
            for (int a = 0; a < 5; a++)
            {
                await manager.ListKeysAsync(StateScope.Agent($"agent-{a}"));
            }

            for (int i = 0; i < Entries; i++)
            {
                if (await manager.GetJsonAsync(StateScope.Agent($"agent-{i % 5}"), $"key-{i:D4}") is null)
                {
                    return new InvalidOperationException($"Entry {i} silently disappeared from the damaged file.");
                }
            }

            return null;
        }
        catch (Exception ex)
        {
            if (manager is not null && keepOpen is not null)
            {
                await keepOpen(manager);
            }

            return ex;
        }
        finally
        {
            if (manager is not null)
            {
                await manager.DisposeAsync();
            }
        }
    }
}
