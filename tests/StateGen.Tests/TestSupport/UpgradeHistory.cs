using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace StateGen.Tests.TestSupport;

/// <summary>
/// The history the crash tests of the change-log conversion (<see cref="LiteDbStateStore.UpgradeChangeLogAsync"/>) put in
/// a collection-layout file, and everything a reader can see of a store as text, so a store after a crash compares
/// exactly with the file as it was prepared.
/// </summary>
internal static class UpgradeHistory
{
    public static readonly string[] Scopes = ["up/a", "up/b", "up/c"];

    /// <summary>
    /// Writes a seeded history: <paramref name="keysPerScope"/> keys in each of three scopes, <paramref name="commits"/>
    /// commits of 1-5 operations (values of 1 B to 1.5 KB, some deletes, a key written again after its delete), correlation
    /// ids (and an origin) shared by a few commits each on about 40% of them, two hook records, and a prune keeping
    /// <paramref name="keepPerKey"/> records a key two thirds of the way through (holes in the sequence, and records after them).
    /// </summary>
    public static async Task SeedAsync(LiteDbStateStore store, int keysPerScope, int commits, int keepPerKey, int seed = 2026)
    {
        var random = new Random(seed);
        for (int c = 0; c < commits; c++)
        {
            if (c == commits * 2 / 3)
            {
                Assert.True(await store.PruneChangesAsync(null, keepPerKey) > 0, "the prune removed nothing");
            }

            string? correlation = random.Next(100) < 40 ? "corr-" + (c / 3).ToString(CultureInfo.InvariantCulture) : null;
            var ops = new List<StateOperation>();
            var used = new HashSet<(int, int)>();
            int count = random.Next(100) < 60 ? 1 : random.Next(2, 6);
            while (ops.Count < count)
            {
                (int s, int k) = (random.Next(Scopes.Length), random.Next(keysPerScope));
                if (!used.Add((s, k)))
                {
                    continue;
                }

                string key = "key" + k.ToString(CultureInfo.InvariantCulture);
                if (random.Next(100) < 8)
                {
                    ops.Add(new StateDelete(Scopes[s], key) { CorrelationId = correlation, Origin = correlation is null ? null : "seed" });
                }
                else
                {
                    byte[] payload = new byte[random.Next(100) < 10 ? random.Next(600, 1_500) : random.Next(1, 200)];
                    random.NextBytes(payload);
                    ops.Add(new StateWrite(Scopes[s], key, "Note", 1 + random.Next(2), payload) { CorrelationId = correlation, Origin = correlation is null ? null : "seed" });
                }
            }

            await store.CommitAsync(ops);
        }

        await store.AppendHookExecutionsAsync(
        [
            new HookExecutionRecord(0, "hook-1", "BeforeChange", Scopes[0], "key1", "Note", "Continued", null, TimeSpan.FromMilliseconds(2), DateTimeOffset.UnixEpoch, "corr-1", "1"u8.ToArray(), "2"u8.ToArray(), ReadOnlyMemory<byte>.Empty),
            new HookExecutionRecord(0, "hook-2", "AfterChange", Scopes[1], "key2", null, "Failed", "InvalidOperationException", TimeSpan.FromMilliseconds(5), DateTimeOffset.UnixEpoch.AddDays(1), null, ReadOnlyMemory<byte>.Empty, "3"u8.ToArray(), ReadOnlyMemory<byte>.Empty),
        ]);
    }

    /// <summary>
    /// Every value (all fields, payload bytes); every change record (all fields, payload bytes); each key's history, each
    /// scope's and each correlation id's records; a read by sequence of every sequence from 1 to one past the newest; and
    /// the hook records.
    /// </summary>
    public static async Task<List<string>> SnapshotAsync(LiteDbStateStore store)
    {
        var lines = new List<string>();
        StateChangeRecord[] all = (await store.ReadChangesAsync(new StateChangeQuery())).ToArray();
        lines.Add($"records {all.Length}");
        lines.AddRange(all.Select(r => "record " + Describe(r)));
        var keys = new SortedSet<(string Scope, string Key)>(all.Select(r => (r.Scope, r.Key)));
        foreach (string scope in Scopes)
        {
            IReadOnlyCollection<string> listed = await store.ListKeysAsync(scope);
            foreach (string key in listed.Order(StringComparer.Ordinal))
            {
                keys.Add((scope, key));
                StoredEntry e = (await store.GetAsync(scope, key))!;
                lines.Add($"value {scope}/{key} v{e.Version} {e.TypeName}/{e.SchemaVersion} {e.UpdatedAt.UtcTicks} {Convert.ToBase64String(e.Payload.Span)}");
            }

            lines.Add($"scope {scope}: " + Sequences(await store.ReadChangesAsync(new StateChangeQuery { Scope = scope })));
        }

        foreach ((string scope, string key) in keys)
        {
            lines.Add($"key {scope}/{key}: " + Sequences(await store.ReadChangesAsync(new StateChangeQuery { Scope = scope, Key = key })));
        }

        foreach (string correlation in all.Select(r => r.CorrelationId).OfType<string>().Distinct().Order(StringComparer.Ordinal))
        {
            lines.Add($"correlation {correlation}: " + Sequences(await store.ReadChangesAsync(new StateChangeQuery { CorrelationId = correlation })));
        }

        long newest = all.Length > 0 ? all[^1].Sequence : 0;
        lines.Add($"after {newest / 2}: " + Sequences(await store.ReadChangesAsync(new StateChangeQuery { AfterSequence = newest / 2, Limit = 50 })));
        for (long s = 1; s <= newest + 1; s++)
        {
            StateChangeRecord? r = await store.ReadChangeAsync(s);
            lines.Add($"read {s}: " + (r is null ? "none" : Describe(r)));
        }

        lines.AddRange((await store.ReadHookExecutionsAsync(new HookExecutionQuery())).Select(h =>
            $"hook {h.Id} {h.HookId} {h.Point} {h.Scope}/{h.Key} {h.TypeName} {h.Outcome} {h.Error} {h.Duration.Ticks} {h.Timestamp.UtcTicks} {h.CorrelationId} "
            + $"{Convert.ToBase64String(h.OldValue.Span)} {Convert.ToBase64String(h.NewValue.Span)} {Convert.ToBase64String(h.ResultValue.Span)}"));
        lines.AddRange((await store.ReadHookExecutionsAsync(new HookExecutionQuery { CorrelationId = "corr-1" })).Select(h => $"hook by correlation {h.Id}"));
        return lines;
    }

    /// <summary>Where two snapshots first differ, or <see langword="null"/> when they are the same.</summary>
    public static string? Difference(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            if (!string.Equals(expected[i], actual[i], StringComparison.Ordinal))
            {
                return $"line {i} of {expected.Count}: expected '{Cut(expected[i])}', found '{Cut(actual[i])}'";
            }
        }

        return expected.Count == actual.Count ? null : $"{expected.Count} lines expected, {actual.Count} found";
    }

    /// <summary>The number of change records and of values a snapshot holds.</summary>
    public static (int Records, int Values) Size(IReadOnlyList<string> snapshot)
        => (snapshot.Count(l => l.StartsWith("record ", StringComparison.Ordinal)), snapshot.Count(l => l.StartsWith("value ", StringComparison.Ordinal)));

    private static string Sequences(IReadOnlyList<StateChangeRecord> records)
        => string.Join(",", records.Select(r => r.Sequence.ToString(CultureInfo.InvariantCulture)));

    private static string Describe(StateChangeRecord r)
        => $"{r.Sequence}:{r.Scope}/{r.Key}:{r.Kind}:v{r.Version}:{r.TypeName}/{r.SchemaVersion}:{r.Timestamp.UtcTicks}:{Convert.ToBase64String(r.Payload.Span)}:ps{r.PreviousSequence}:{r.CorrelationId}:{r.Origin}";

    private static string Cut(string line) => line.Length > 200 ? line[..200] + "…" : line;
}
