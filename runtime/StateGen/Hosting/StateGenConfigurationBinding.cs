using System;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using StateGen.Caching;
using StateGen.Storage.LiteDb;

namespace StateGen.Hosting;

/// <summary>
/// Binds <see cref="StateGenOptions"/> from a configuration section by hand: no reflection (trimming- and AOT-safe), and
/// a value that does not parse or a key that is not a setting becomes a validation error naming its path, reported with
/// every other problem by <see cref="StateGenOptionsValidator"/>.
/// </summary>
internal sealed class StateGenConfigurationBinding(IConfiguration configuration) : IConfigureOptions<StateGenOptions>
{
    private const string Known = "DatabasePath, RecordChanges, ChangeLogLayout, UpgradeChangeLog, WriteBehind, Durability, RelaxedFlushInterval, CheckpointPages, MaxValueBytes, MaxDepth, WriteBackUpgrades, HookTimeout, RecordHookHistory, SlowOperationThreshold, ReadCache, Keys";

    public void Configure(StateGenOptions options)
    {
        foreach (IConfigurationSection child in configuration.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "DATABASEPATH":
                    if (Value(child, options) is { } path)
                    {
                        options.DatabasePath = path;
                    }

                    break;
                case "RECORDCHANGES":
                    options.RecordChanges = Parse(child, options, bool.TryParse, "true or false", options.RecordChanges);
                    break;
                case "CHANGELOGLAYOUT":
                    options.ChangeLogLayout = Parse(child, options, TryLayout, "SegmentFiles or Collection", options.ChangeLogLayout);
                    break;
                case "UPGRADECHANGELOG":
                    options.UpgradeChangeLog = Parse(child, options, bool.TryParse, "true or false", options.UpgradeChangeLog);
                    break;
                case "WRITEBEHIND":
                    options.WriteBehind = Parse(child, options, bool.TryParse, "true or false", options.WriteBehind);
                    break;
                case "DURABILITY":
                    options.Durability = Parse(child, options, TryDurability, "Durable or Relaxed", options.Durability);
                    break;
                case "RELAXEDFLUSHINTERVAL":
                    options.RelaxedFlushInterval = Parse(child, options, TryTimeSpan, "a time span such as 00:00:01", options.RelaxedFlushInterval);
                    break;
                case "CHECKPOINTPAGES":
                    options.CheckpointPages = ParseOptional(child, options, TryInt, "a whole number of pages (or empty for the store's default)", options.CheckpointPages);
                    break;
                case "MAXVALUEBYTES":
                    options.MaxValueBytes = Parse(child, options, TryInt, "a whole number of bytes", options.MaxValueBytes);
                    break;
                case "MAXDEPTH":
                    options.MaxDepth = Parse(child, options, TryInt, "a whole number", options.MaxDepth);
                    break;
                case "WRITEBACKUPGRADES":
                    options.WriteBackUpgrades = Parse(child, options, bool.TryParse, "true or false", options.WriteBackUpgrades);
                    break;
                case "HOOKTIMEOUT":
                    options.HookTimeout = Parse(child, options, TryTimeSpan, "a time span such as 00:00:10", options.HookTimeout);
                    break;
                case "RECORDHOOKHISTORY":
                    options.RecordHookHistory = Parse(child, options, bool.TryParse, "true or false", options.RecordHookHistory);
                    break;
                case "SLOWOPERATIONTHRESHOLD":
                    options.SlowOperationThreshold = ParseOptional(child, options, TryTimeSpan, "a time span such as 00:00:01 (or empty for off)", options.SlowOperationThreshold);
                    break;
                case "READCACHE":
                    BindReadCache(child, options);
                    break;
                case "KEYS":
                    // The encryption keys: read by ConfigurationStateKeyProvider (StateGenBuilder.UseKeysFromConfiguration), never bound into options.
                    break;
                default:
                    options.BindingErrors.Add($"{child.Path} is not a StateGen setting (the settings are {Known}).");
                    break;
            }
        }
    }

    private static void BindReadCache(IConfigurationSection section, StateGenOptions options)
    {
        if (section.Value is { Length: > 0 })
        {
            options.BindingErrors.Add($"{section.Path} must be a section with MaxEntries and/or MaxBytes, not a value.");
            return;
        }

        CachingStateStoreOptions cache = options.ReadCache ??= new CachingStateStoreOptions();
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "MAXENTRIES":
                    cache.MaxEntries = Parse(child, options, TryInt, "a whole number (0: no entry limit)", cache.MaxEntries);
                    break;
                case "MAXBYTES":
                    cache.MaxBytes = Parse(child, options, TryLong, "a whole number of bytes (0: no byte limit)", cache.MaxBytes);
                    break;
                default:
                    options.BindingErrors.Add($"{child.Path} is not a read-cache setting (the settings are MaxEntries, MaxBytes).");
                    break;
            }
        }
    }

    private delegate bool TryParser<T>(string text, out T value);

    private static string? Value(IConfigurationSection section, StateGenOptions options)
    {
        if (section.Value is null && section.GetChildren().GetEnumerator().MoveNext())
        {
            options.BindingErrors.Add($"{section.Path} must be a value, not a section.");
        }

        return section.Value;
    }

    private static T Parse<T>(IConfigurationSection section, StateGenOptions options, TryParser<T> parser, string expected, T current)
    {
        string? text = Value(section, options);
        if (text is null)
        {
            return current;
        }

        if (parser(text.Trim(), out T value))
        {
            return value;
        }

        options.BindingErrors.Add($"{section.Path} must be {expected} (was '{text}').");
        return current;
    }

    /// <summary>Like <see cref="Parse{T}"/>, but an empty value sets the setting back to <see langword="null"/> (its default).</summary>
    private static T? ParseOptional<T>(IConfigurationSection section, StateGenOptions options, TryParser<T> parser, string expected, T? current)
        where T : struct
    {
        if (section.Value is { } text && text.Trim().Length == 0)
        {
            return null;
        }

        return Parse(section, options, TryNullable, expected, current); // a value that does not parse keeps current

        bool TryNullable(string raw, out T? value)
        {
            bool parsed = parser(raw, out T result);
            value = parsed ? result : current;
            return parsed;
        }
    }

    private static bool TryInt(string text, out int value) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);

    private static bool TryLong(string text, out long value) => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);

    private static bool TryTimeSpan(string text, out TimeSpan value) => TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);

    private static bool TryLayout(string text, out LiteDbChangeLogLayout value)
    {
        // Names only, as for the durability.
        switch (text.Trim().ToUpperInvariant())
        {
            case "SEGMENTFILES":
                value = LiteDbChangeLogLayout.SegmentFiles;
                return true;
            case "COLLECTION":
                value = LiteDbChangeLogLayout.Collection;
                return true;
            default:
                value = default;
                return false;
        }
    }

    private static bool TryDurability(string text, out StateDurability value)
    {
        // Names only (no numbers), without reflection: Enum.TryParse<T> is AOT-safe but also takes "0" or "7".
        switch (text.Trim().ToUpperInvariant())
        {
            case "DURABLE":
                value = StateDurability.Durable;
                return true;
            case "RELAXED":
                value = StateDurability.Relaxed;
                return true;
            default:
                value = default;
                return false;
        }
    }
}
