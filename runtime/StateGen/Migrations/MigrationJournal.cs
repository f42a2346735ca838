using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using StateGen.Storage;

namespace StateGen.Migrations;

/// <summary>
/// The documents a migration run has written, as they were before, so a failure can put them back. Kept in a temporary
/// file (deleted on dispose) rather than in memory: a store-wide run can touch more data than fits in memory. It is not
/// needed after a crash: each document is then either old or new, and running the migration again finishes it.
/// </summary>
internal sealed class MigrationJournal : IDisposable
{
    private readonly FileStream _file;
    private readonly BinaryWriter _writer;

    public MigrationJournal()
    {
        string path = Path.Combine(Path.GetTempPath(), "stategen-migration-" + Guid.NewGuid().ToString("N") + ".journal");
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 64 * 1024, FileOptions.DeleteOnClose);
        _writer = new BinaryWriter(_file, Encoding.UTF8, leaveOpen: true);
    }

    /// <summary>How many documents were recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Records a document as it was before the run wrote version <paramref name="written"/> of it.</summary>
    public void Add(StoredEntry original, long written)
    {
        _writer.Write(original.Scope);
        _writer.Write(original.Key);
        _writer.Write(original.TypeName);
        _writer.Write(original.SchemaVersion);
        _writer.Write(original.Version);
        _writer.Write(original.UpdatedAt.UtcTicks);
        _writer.Write(written);
        _writer.Write(original.Payload.Length);
        _writer.Write(original.Payload.Span);
        Count++;
    }

    /// <summary>Every recorded document, in the order recorded.</summary>
    public IEnumerable<(StoredEntry Original, long Written)> ReadAll()
    {
        _writer.Flush();
        _file.Position = 0;
        using var reader = new BinaryReader(_file, Encoding.UTF8, leaveOpen: true);
        for (long i = 0; i < Count; i++)
        {
            string scope = reader.ReadString();
            string key = reader.ReadString();
            string typeName = reader.ReadString();
            int schemaVersion = reader.ReadInt32();
            long version = reader.ReadInt64();
            var updatedAt = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
            long written = reader.ReadInt64();
            byte[] payload = reader.ReadBytes(reader.ReadInt32());
            yield return (new StoredEntry(scope, key, typeName, schemaVersion, version, updatedAt, payload), written);
        }
    }

    public void Dispose()
    {
        _writer.Dispose();
        _file.Dispose();
    }
}
