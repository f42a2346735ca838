using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Backups;
using StateGen.Storage;

namespace StateGen.Tests.Backups;

internal static class BackupTestSupport
{
    /// <summary>Every entry of a store, as comparable text: type, schema version, version, time and payload.</summary>
    public static async Task<SortedDictionary<string, string>> ReadAllAsync(IStateStore store)
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        StateScanPosition? after = null;
        while (true)
        {
            IReadOnlyList<StoredEntry> page = await store.ScanAsync(after, 500);
            foreach (StoredEntry e in page)
            {
                all[e.Scope + "|" + e.Key] = Describe(e);
            }

            if (page.Count < 500)
            {
                return all;
            }

            after = StateScanPosition.Of(page[^1]);
        }
    }

    public static string Describe(StoredEntry e)
        => string.Join("|", e.TypeName, e.SchemaVersion.ToString(CultureInfo.InvariantCulture), e.Version.ToString(CultureInfo.InvariantCulture), e.UpdatedAt.UtcTicks.ToString(CultureInfo.InvariantCulture), Convert.ToBase64String(e.Payload.Span));

    /// <summary>The state at a change-log position, rebuilt from a complete change log.</summary>
    public static SortedDictionary<string, string> StateAt(IEnumerable<StateChangeRecord> log, long position)
    {
        var state = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (StateChangeRecord r in log.Where(r => r.Sequence <= position).OrderBy(r => r.Sequence))
        {
            string id = r.Scope + "|" + r.Key;
            if (r.Kind == StateChangeKind.Delete)
            {
                state.Remove(id);
            }
            else
            {
                state[id] = Describe(new StoredEntry(r.Scope, r.Key, r.TypeName, r.SchemaVersion, r.Version, r.Timestamp, r.Payload));
            }
        }

        return state;
    }

    public static byte[] Json(string key, long n, int padding = 0)
        => Encoding.UTF8.GetBytes($"{{\"key\":\"{key}\",\"n\":{n.ToString(CultureInfo.InvariantCulture)},\"pad\":\"{new string('x', padding)}\"}}");

    public static StateWrite Write(string scope, string key, long n, int padding = 0, string type = "Note", int schemaVersion = 1)
        => new(scope, key, type, schemaVersion, Json(key, n, padding));

    /// <summary>The bytes of a database file and whether its log exists, to prove a store was not touched.</summary>
    public static (byte[] Data, bool LogExists) Fingerprint(string path)
        => (File.ReadAllBytes(path), File.Exists(StateGen.Storage.LiteDb.LiteDbStateStore.LogPath(path)));

    /// <summary>The backup's one data file: <c>data.sgb</c> (entries, memory store) or <c>database.sgdb</c> (LiteDB store).</summary>
    public static string DataFile(BackupInfo backup)
        => Directory.EnumerateFiles(backup.Path).Single(f => Path.GetFileName(f) is "data.sgb" or "database.sgdb");

    public static string ManifestFile(BackupInfo backup) => Path.Combine(backup.Path, "manifest.json");
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
