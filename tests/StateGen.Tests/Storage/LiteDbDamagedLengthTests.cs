using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Storage;

/// <summary>
/// A damaged length inside a stored document (issue #6): LiteDB 5.0.21's <c>BufferReader</c> allocates by the length of a
/// string or binary element before it checks it against the document, so a length of 2 GB is a request for 2 GB. Over
/// <see cref="Array.MaxLength"/> (0x7FFFFFF0 here) that is always <see cref="OutOfMemoryException"/>, and before the
/// store checked the file after one (<c>LiteDbStateStore.Lengths.cs</c>) it escaped every read. Smaller huge lengths are
/// granted on a machine with the memory (LiteDB's own check then fails) and were <see cref="OutOfMemoryException"/> too
/// under a 512 MB heap limit (<c>DOTNET_GCHeapHardLimit=0x20000000</c>, run by hand). Every read must now be the intact
/// value or <see cref="StateStoreCorruptedException"/>; an <see cref="OutOfMemoryException"/> over an intact file must
/// stay what it is.
/// </summary>
public sealed class LiteDbDamagedLengthTests : IDisposable
{
    private const string Scope = "agent/len";
    private const int Damaged = 30; // past the 16 values every open reads
    private const int OverMaxLength = 0x7FFFFFF0;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Key(int i) => "k" + i.ToString("D2", CultureInfo.InvariantCulture);

    private static byte[] Value(int i) => Encoding.UTF8.GetBytes("\"value " + i + "\"");

    private static string Id(int i) => Scope + "\u001F" + Key(i);

    private static LiteDbStateStore Open(string path, LiteDbChangeLogLayout layout, bool walk = true, Func<string, StoreFile>? openFile = null)
        => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = layout, WalkIndexOnOpen = walk, OpenFile = openFile });

    /// <summary>40 values (one write each) and 3 hook records, closed (the log checkpointed into the data file).</summary>
    private async Task<string> BuildAsync(LiteDbChangeLogLayout layout)
    {
        string path = _dir.File("state.db");
        await using (LiteDbStateStore store = Open(path, layout))
        {
            for (int i = 0; i < 40; i++)
            {
                await store.WriteAsync(new StateWrite(Scope, Key(i), "Note", 1, Value(i)));
            }

            for (int i = 0; i < 3; i++)
            {
                await store.AppendHookExecutionsAsync([new HookExecutionRecord(0, "hook-1", "BeforeChange", Scope, Key(i), "Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-" + i, "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty)]);
            }
        }

        Assert.False(File.Exists(Path.ChangeExtension(path, null) + "-log.db"), "the store's close checkpointed its log into the data file");
        return path;
    }

    /// <summary>Sets the 4-byte length of <paramref name="field"/> in the stored document <paramref name="match"/> picks.</summary>
    private static void Damage(string path, Func<IReadOnlyDictionary<string, object?>, bool> match, string field, int length)
    {
        byte[] file = File.ReadAllBytes(path);
        BitConverter.GetBytes(length).CopyTo(file, StoredDocuments.LengthOf(file, match, field));
        File.WriteAllBytes(path, file);
    }

    private static bool ValueOf(IReadOnlyDictionary<string, object?> doc, int i) => Id(i).Equals(doc["_id"]);

    private static bool ChangeOf(IReadOnlyDictionary<string, object?> doc, long sequence) => doc.ContainsKey("ski") && sequence.Equals(doc["_id"]);

    private static bool HookOf(IReadOnlyDictionary<string, object?> doc, long id) => doc.ContainsKey("h") && id.Equals(doc["_id"]);

    /// <summary>A read on a store opened over the damaged file must be the typed error (LiteDB's files are left as they were).</summary>
    private static async Task TypedAsync(string path, LiteDbChangeLogLayout layout, string what, Func<LiteDbStateStore, Task> read)
    {
        try
        {
            await using LiteDbStateStore store = Open(path, layout, walk: false);
            await read(store);
        }
        catch (StateStoreCorruptedException e)
        {
            Assert.DoesNotContain("\"value", e.Message, StringComparison.Ordinal);
            return;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name} ({e.Message}), not the typed error");
        }

        Assert.Fail($"{what} read the damaged document without an error");
    }

    [Theory]
    [InlineData("p", OverMaxLength)]
    [InlineData("_id", OverMaxLength)]
    [InlineData("p", 0x7FFFFF00)]
    [InlineData("k", 0x40000000)]
    public async Task A_huge_length_in_a_current_value_is_the_typed_error_for_every_read_of_it(string field, int length)
    {
        string path = await BuildAsync(LiteDbChangeLogLayout.SegmentFiles);
        Damage(path, d => ValueOf(d, Damaged), field, length);

        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "the damaged key's value", async s => await s.GetAsync(Scope, Key(Damaged)));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "a scan", async s => await s.ScanAsync(null, 100));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "a scan page over it", async s => await s.ScanAsync(new StateScanPosition(Scope, Key(25)), 10));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "the scope's keys", async s => await s.ListKeysAsync(Scope));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "a snapshot", s => Task.FromResult(((IStateSnapshotSource)s).ReadSnapshot((_, docs) => docs.Count())));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "a backup's copy of the data file", s =>
        {
            using var data = new MemoryStream();
            using var log = new MemoryStream();
            s.CopyDataFile(data, log, null, default);
            return Task.CompletedTask;
        });

        // Other values are intact, and the store that read them goes on.
        await using (LiteDbStateStore store = Open(path, LiteDbChangeLogLayout.SegmentFiles, walk: false))
        {
            Assert.Equal(Value(5), (await store.GetAsync(Scope, Key(5)))!.Payload.ToArray());
            Assert.Equal(Value(31), (await store.GetAsync(Scope, Key(31)))!.Payload.ToArray());
        }

        // Salvage reads around it.
        LiteDbSalvageResult salvaged = LiteDbStateStore.Salvage(path);
        Assert.NotEmpty(salvaged.Failures);
        Assert.DoesNotContain(salvaged.Entries, e => e.Key == Key(Damaged));
        Assert.Equal(Enumerable.Range(0, 40).Where(i => i != Damaged).Select(Key), salvaged.Entries.Select(e => e.Key));
        Assert.All(salvaged.Entries, e => Assert.Equal(Value(int.Parse(e.Key[1..], CultureInfo.InvariantCulture)), e.Payload.ToArray()));
    }

    [Theory]
    [InlineData("k", 3)] // string to embedded document: LiteDB reads the string's bytes as its elements
    [InlineData("p", 4)] // binary to array
    public async Task A_value_element_whose_type_became_a_document_or_array_is_the_typed_error(string field, byte type)
    {
        // The length check skips embedded documents and arrays whole; this is what one bit of a type byte gives in the
        // store's documents (a string's text, a binary's subtype byte 0, are read as the embedded elements).
        string path = await BuildAsync(LiteDbChangeLogLayout.SegmentFiles);
        byte[] file = File.ReadAllBytes(path);
        int typeAt = StoredDocuments.LengthOf(file, d => ValueOf(d, Damaged), field) - Encoding.UTF8.GetByteCount(field) - 2;
        Assert.Equal(type ^ 1, file[typeAt]);
        file[typeAt] = type;
        File.WriteAllBytes(path, file);

        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "the damaged key's value", async s => await s.GetAsync(Scope, Key(Damaged)));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "a scan", async s => await s.ScanAsync(null, 100));
    }

    [Fact]
    public async Task A_huge_length_in_a_change_record_is_the_typed_error_for_its_reads()
    {
        string path = await BuildAsync(LiteDbChangeLogLayout.Collection);
        Damage(path, d => ChangeOf(d, Damaged + 1), "p", OverMaxLength);

        // In this layout a value's payload is read from its change record.
        await TypedAsync(path, LiteDbChangeLogLayout.Collection, "the damaged key's value", async s => await s.GetAsync(Scope, Key(Damaged)));
        await TypedAsync(path, LiteDbChangeLogLayout.Collection, "the change log", async s => await s.ReadChangesAsync(new StateChangeQuery()));
        await TypedAsync(path, LiteDbChangeLogLayout.Collection, "the key's history", async s => await s.ReadChangesAsync(new StateChangeQuery { Scope = Scope, Key = Key(Damaged) }));
        await TypedAsync(path, LiteDbChangeLogLayout.Collection, "the change record", async s => await s.ReadChangeAsync(Damaged + 1));

        await using LiteDbStateStore store = Open(path, LiteDbChangeLogLayout.Collection, walk: false);
        Assert.Equal(Value(29), (await store.GetAsync(Scope, Key(29)))!.Payload.ToArray());
    }

    [Fact]
    public async Task A_huge_length_in_a_hook_record_is_the_typed_error_for_the_hook_history()
    {
        string path = await BuildAsync(LiteDbChangeLogLayout.SegmentFiles);
        Damage(path, d => HookOf(d, 2), "nv", OverMaxLength);

        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "the hook history", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery()));
        await TypedAsync(path, LiteDbChangeLogLayout.SegmentFiles, "the hook records of its correlation id", async s => await s.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" }));
    }

    [Fact]
    public async Task Running_out_of_memory_over_an_intact_file_stays_OutOfMemoryException_and_the_store_goes_on()
    {
        string path = await BuildAsync(LiteDbChangeLogLayout.SegmentFiles);
        var starve = new Starve(path);
        await using LiteDbStateStore store = Open(path, LiteDbChangeLogLayout.SegmentFiles, walk: false, openFile: starve.Open);

        // The next page LiteDB reads from the file fails as memory that ran out; pages already cached are read without it.
        starve.Armed = true;
        int oom = 0;
        for (int i = 39; i >= 0 && starve.Armed; i--)
        {
            try
            {
                Assert.Equal(Value(i), (await store.GetAsync(Scope, Key(i)))!.Payload.ToArray());
            }
            catch (OutOfMemoryException)
            {
                oom++;
            }
        }

        Assert.Equal(1, oom);

        // Nothing was reported damaged and the store was not closed: every value reads back.
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(Value(i), (await store.GetAsync(Scope, Key(i)))!.Payload.ToArray());
        }
    }

    [Fact]
    public async Task Running_out_of_memory_while_opening_releases_the_file()
    {
        string path = await BuildAsync(LiteDbChangeLogLayout.SegmentFiles);
        var starve = new Starve(path) { Armed = true, After = 2 };
        Assert.Throws<OutOfMemoryException>(() => Open(path, LiteDbChangeLogLayout.SegmentFiles, openFile: starve.Open));
        Assert.False(starve.Armed, "the open read the file");

        // Before, the path stayed registered as open ("already open in this process") with its files held.
        await using LiteDbStateStore store = Open(path, LiteDbChangeLogLayout.SegmentFiles);
        Assert.Equal(Value(7), (await store.GetAsync(Scope, Key(7)))!.Payload.ToArray());
    }

    /// <summary>Opens the real files; once armed, the data file's read after <see cref="After"/> more fails with <see cref="OutOfMemoryException"/>, once.</summary>
    private sealed class Starve(string dataPath)
    {
        public volatile bool Armed;

        public int After { get; set; }

        public StoreFile Open(string path) => new StarvedFile(this, new OsStoreFile(path), path == dataPath);

        private sealed class StarvedFile(Starve starve, StoreFile inner, bool data) : StoreFile
        {
            public override string Path => inner.Path;

            public override long Length => inner.Length;

            public override void Release() => inner.Release();

            protected override int ReadAt(long offset, Span<byte> buffer)
            {
                if (data && starve.Armed && starve.After-- <= 0)
                {
                    starve.Armed = false;
                    throw new OutOfMemoryException();
                }

                return inner.ReadAtOffset(offset, buffer);
            }

            protected override void WriteAt(long offset, ReadOnlySpan<byte> buffer) => inner.WriteAtOffset(offset, buffer);

            protected override void SetLengthCore(long length) => inner.SetLength(length);

            protected override void SyncCore() => inner.Sync();
        }
    }
}

/// <summary>Finds elements of the documents stored in a closed LiteDB file (in data pages, documents wholly in their first block).</summary>
internal static class StoredDocuments
{
    private const int Page = 8192;

    /// <summary>
    /// The offset of the 4-byte length of the string or binary element <paramref name="field"/> of the one stored document
    /// <paramref name="match"/> picks (given its string, whole-number and null elements by name).
    /// </summary>
    public static int LengthOf(byte[] file, Func<IReadOnlyDictionary<string, object?>, bool> match, string field)
    {
        var found = new List<int>();
        foreach (int doc in FirstBlocks(file))
        {
            Dictionary<string, (byte Type, int ValueAt)> elements = Elements(file, doc);
            var values = elements.ToDictionary(e => e.Key, e => Read(file, e.Value.Type, e.Value.ValueAt), StringComparer.Ordinal);
            if (match(values) && elements.TryGetValue(field, out var element))
            {
                Assert.True(element.Type is 2 or 5, $"{field} is a string or binary element");
                found.Add(element.ValueAt);
            }
        }

        Assert.True(found.Count == 1, $"expected one document, found {found.Count}");
        return found[0];
    }

    private static object? Read(byte[] file, byte type, int at) => type switch
    {
        2 => Encoding.UTF8.GetString(file, at + 4, BitConverter.ToInt32(file, at) - 1),
        0x10 => (long)BitConverter.ToInt32(file, at),
        0x12 => BitConverter.ToInt64(file, at),
        _ => null,
    };

    /// <summary>The offsets of the documents that start in a data page's block (extend flag 0) and end within it.</summary>
    private static IEnumerable<int> FirstBlocks(byte[] file)
    {
        for (int p = 0; p + Page <= file.Length; p += Page)
        {
            if (file[p + 4] != 4)
            {
                continue; // not a data page
            }

            for (int item = 0; item <= file[p + 30]; item++)
            {
                int position = BitConverter.ToUInt16(file, p + Page - ((item + 1) * 4) + 2);
                int length = BitConverter.ToUInt16(file, p + Page - ((item + 1) * 4));
                if (position == 0 || length == 0 || file[p + position] != 0)
                {
                    continue; // a free item, or a block that continues a document
                }

                int doc = p + position + 6; // after the extend flag and the next block's address
                if (BitConverter.ToInt32(file, doc) <= length - 6)
                {
                    yield return doc;
                }
            }
        }
    }

    /// <summary>The top-level elements of the document at <paramref name="doc"/>: type and offset of the value.</summary>
    private static Dictionary<string, (byte Type, int ValueAt)> Elements(byte[] file, int doc)
    {
        var elements = new Dictionary<string, (byte, int)>(StringComparer.Ordinal);
        int end = doc + BitConverter.ToInt32(file, doc) - 1;
        int at = doc + 4;
        while (at < end)
        {
            byte type = file[at];
            int name = at + 1;
            int nameEnd = Array.IndexOf(file, (byte)0, name);
            int value = nameEnd + 1;
            elements[Encoding.UTF8.GetString(file, name, nameEnd - name)] = (type, value);
            at = type switch
            {
                2 => value + 4 + BitConverter.ToInt32(file, value),
                5 => value + 5 + BitConverter.ToInt32(file, value),
                0x10 => value + 4,
                0x12 => value + 8,
                0x0A => value,
                _ => throw new InvalidDataException($"element type {type} is not one the store writes"),
            };
        }

        return elements;
    }
}
