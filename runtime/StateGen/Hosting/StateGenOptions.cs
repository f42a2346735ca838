using System;
using System.Collections.Generic;
using StateGen.Caching;
using StateGen.Storage.LiteDb;

namespace StateGen.Hosting;

/// <summary>
/// The settings of the <see cref="StateManager"/> that <c>services.AddStateGen(...)</c> registers; bound from a
/// configuration section (for example <c>"StateGen"</c> in <c>appsettings.json</c>) and/or set in code.
/// </summary>
/// <remarks>Checked when the manager is first resolved, and at host start (<c>ValidateOnStart</c>).</remarks>
public sealed class StateGenOptions
{
    private static readonly StateManagerOptions Defaults = new();

    /// <summary>
    /// The LiteDB database file (created with its folder when missing), relative to the current directory.
    /// <see cref="LiteDbStateStoreOptions.DefaultFileName"/> (<c>stategen.db</c>) by default. Not used when a store is
    /// supplied (<see cref="StateGenBuilder.UseStore"/> or an <see cref="Storage.IStateStore"/> registration).
    /// </summary>
    public string DatabasePath { get; set; } = LiteDbStateStoreOptions.DefaultFileName;

    /// <summary>Whether the LiteDB store keeps its change log (<see cref="LiteDbStateStoreOptions.RecordChanges"/>). On by default.</summary>
    public bool RecordChanges { get; set; } = true;

    /// <summary>
    /// When a change to the LiteDB store returns (<see cref="LiteDbStateStoreOptions.Durability"/>):
    /// <see cref="StateDurability.Durable"/> (flushed to the disk) by default, or <see cref="StateDurability.Relaxed"/>.
    /// </summary>
    public StateDurability Durability { get; set; } = StateDurability.Durable;

    /// <summary>
    /// Where a database file this creates keeps its change log (<see cref="LiteDbStateStoreOptions.ChangeLogLayout"/>):
    /// <see cref="LiteDbChangeLogLayout.SegmentFiles"/> by default; an existing file keeps its own.
    /// </summary>
    public LiteDbChangeLogLayout ChangeLogLayout { get; set; } = LiteDbChangeLogLayout.SegmentFiles;

    /// <summary>
    /// Whether an existing database file whose change log is in its <c>changes</c> collection is converted to segment files
    /// when the store opens it (<see cref="LiteDbStateStoreOptions.UpgradeChangeLog"/>); off by default.
    /// </summary>
    public bool UpgradeChangeLog { get; set; }

    /// <summary>
    /// Whether a LiteDB file with its change log in segment files is written behind (<see cref="LiteDbStateStoreOptions.WriteBehind"/>);
    /// on by default.
    /// </summary>
    public bool WriteBehind { get; set; } = true;

    /// <summary>How often a relaxed LiteDB store flushes (<see cref="LiteDbStateStoreOptions.RelaxedFlushInterval"/>); 1 second by default.</summary>
    public TimeSpan RelaxedFlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many 8 KB log pages the LiteDB store lets build up before a commit checkpoints them into the data file
    /// (<see cref="LiteDbStateStoreOptions.CheckpointPages"/>), from 1 to <see cref="LiteDbStateStore.MaxCheckpointPages"/>;
    /// <see langword="null"/> (the default) means <see cref="LiteDbStateStore.DefaultCheckpointPages"/> (4,000).
    /// </summary>
    public int? CheckpointPages { get; set; }

    /// <inheritdoc cref="StateManagerOptions.MaxValueBytes"/>
    public int MaxValueBytes { get; set; } = Defaults.MaxValueBytes;

    /// <inheritdoc cref="StateManagerOptions.MaxDepth"/>
    public int MaxDepth { get; set; } = Defaults.MaxDepth;

    /// <inheritdoc cref="StateManagerOptions.WriteBackUpgrades"/>
    public bool WriteBackUpgrades { get; set; } = Defaults.WriteBackUpgrades;

    /// <inheritdoc cref="StateManagerOptions.HookTimeout"/>
    public TimeSpan HookTimeout { get; set; } = Defaults.HookTimeout;

    /// <inheritdoc cref="StateManagerOptions.RecordHookHistory"/>
    public bool RecordHookHistory { get; set; } = Defaults.RecordHookHistory;

    /// <inheritdoc cref="StateManagerOptions.SlowOperationThreshold"/>
    public TimeSpan? SlowOperationThreshold { get; set; } = Defaults.SlowOperationThreshold;

    /// <summary>
    /// The in-memory read cache in front of the store (<see cref="CachingStateStore"/>). Off by default: it is on when
    /// <see cref="CachingStateStoreOptions.MaxEntries"/> or <see cref="CachingStateStoreOptions.MaxBytes"/> is above 0.
    /// </summary>
    public CachingStateStoreOptions ReadCache { get; set; } = new();

    /// <summary>Errors found while binding configuration (reported by validation, with the configuration path).</summary>
    internal List<string> BindingErrors { get; } = new();

    /// <summary>The <see cref="StateManagerOptions"/> these settings describe.</summary>
    public StateManagerOptions ToManagerOptions() => new()
    {
        MaxValueBytes = MaxValueBytes,
        MaxDepth = MaxDepth,
        WriteBackUpgrades = WriteBackUpgrades,
        HookTimeout = HookTimeout,
        RecordHookHistory = RecordHookHistory,
        SlowOperationThreshold = SlowOperationThreshold,
    };
}
