using System;
using LiteDB;

namespace StateGen.Storage.LiteDb;

/// <summary>
/// The checksummed <c>meta</c> records that point from a name to one sequence or id: a correlation id's newest hook
/// record (<c>hc</c>) or change record (<c>cc</c>), a deleted key's delete record (<c>kd</c>). Each is
/// <c>{ _id: prefix + name, &lt;name field&gt;: name, n: value }</c>: <c>_id</c> is outside the checksum, so the name field
/// repeats the name inside it.
/// </summary>
public sealed partial class LiteDbStateStore
{
    /// <summary>The value stored for <paramref name="name"/> under <paramref name="prefix"/>; null when there is no record.</summary>
    /// <exception cref="StateStoreCorruptedException">The record failed its checks (<paramref name="failure"/>).</exception>
    private long? StoredPointer(string prefix, string name, string nameField, string failure)
    {
        if (_meta.FindById(prefix + name) is not { } doc)
        {
            return null;
        }

        if (!DocumentIntegrity.Verify(doc, required: true) || !doc[nameField].IsString || !string.Equals(doc[nameField].AsString, name, StringComparison.Ordinal)
            || !doc["n"].IsInt64 || doc["n"].AsInt64 < 1)
        {
            throw new StateStoreCorruptedException(FilePath, failure);
        }

        return doc["n"].AsInt64;
    }

    /// <summary>Inside a transaction: <paramref name="name"/>'s record under <paramref name="prefix"/> now holds <paramref name="value"/> (0: removed).</summary>
    private void WritePointer(string prefix, string name, string nameField, long value)
    {
        if (value == 0)
        {
            _meta.Delete(prefix + name);
            return;
        }

        _meta.Upsert(DocumentIntegrity.Seal(new BsonDocument { ["_id"] = prefix + name, [nameField] = name, ["n"] = value }));
    }
}
