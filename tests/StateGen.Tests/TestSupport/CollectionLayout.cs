using StateGen.Storage.LiteDb;

namespace StateGen.Tests.TestSupport;

/// <summary>
/// Stores whose new files keep their change log in the <c>changes</c> collection, for tests whose subject is that
/// layout's own structure (where its documents, checksums and indexes are): segment files are the default.
/// </summary>
internal static class CollectionLayout
{
    public static LiteDbStateStore Open(string path)
        => new(new LiteDbStateStoreOptions { Path = path, ChangeLogLayout = LiteDbChangeLogLayout.Collection });
}
