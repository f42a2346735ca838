using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Extensions.Options;

namespace StateGen.Hosting;

/// <summary>Checks <see cref="StateGenOptions"/> and reports every problem at once, each with the setting's name.</summary>
internal sealed class StateGenOptionsValidator : IValidateOptions<StateGenOptions>
{
    public ValidateOptionsResult Validate(string? name, StateGenOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        if (string.IsNullOrWhiteSpace(options.DatabasePath))
        {
            errors.Add("StateGen:DatabasePath must name the LiteDB file (for example \"stategen.db\").");
        }
        else if (options.DatabasePath.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
        {
            errors.Add($"StateGen:DatabasePath '{options.DatabasePath}' contains characters that are not valid in a path.");
        }

        if (options.Durability is not Storage.LiteDb.StateDurability.Durable and not Storage.LiteDb.StateDurability.Relaxed)
        {
            errors.Add($"StateGen:Durability must be Durable or Relaxed (was {(int)options.Durability}).");
        }

        if (options.ChangeLogLayout is not Storage.LiteDb.LiteDbChangeLogLayout.SegmentFiles and not Storage.LiteDb.LiteDbChangeLogLayout.Collection)
        {
            errors.Add($"StateGen:ChangeLogLayout must be SegmentFiles or Collection (was {(int)options.ChangeLogLayout}).");
        }

        if (options.RelaxedFlushInterval <= TimeSpan.Zero)
        {
            errors.Add($"StateGen:RelaxedFlushInterval must be positive (was {options.RelaxedFlushInterval}).");
        }

        if (options.CheckpointPages is < 1 or > Storage.LiteDb.LiteDbStateStore.MaxCheckpointPages)
        {
            errors.Add($"StateGen:CheckpointPages must be from 1 to {Storage.LiteDb.LiteDbStateStore.MaxCheckpointPages} pages (was {options.CheckpointPages}); leave it empty for the store's default ({Storage.LiteDb.LiteDbStateStore.DefaultCheckpointPages}).");
        }

        if (options.MaxValueBytes <= 0)
        {
            errors.Add($"StateGen:MaxValueBytes must be positive (was {options.MaxValueBytes}).");
        }

        if (options.MaxDepth is < 1 or > Serialization.StateJson.MaxDepth)
        {
            errors.Add($"StateGen:MaxDepth must be between 1 and {Serialization.StateJson.MaxDepth} (was {options.MaxDepth}).");
        }

        if (options.HookTimeout <= System.TimeSpan.Zero && options.HookTimeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            errors.Add($"StateGen:HookTimeout must be positive or infinite (was {options.HookTimeout}).");
        }

        if (options.SlowOperationThreshold is { } slow && slow < System.TimeSpan.Zero)
        {
            errors.Add($"StateGen:SlowOperationThreshold must not be negative (was {slow}); leave it empty to turn the warning off.");
        }

        if (options.ReadCache is null)
        {
            errors.Add("StateGen:ReadCache must not be null (set MaxEntries and MaxBytes to 0 to turn the cache off).");
        }
        else
        {
            if (options.ReadCache.MaxEntries < 0)
            {
                errors.Add($"StateGen:ReadCache:MaxEntries must be 0 (no entry limit) or positive (was {options.ReadCache.MaxEntries}).");
            }

            if (options.ReadCache.MaxBytes < 0)
            {
                errors.Add($"StateGen:ReadCache:MaxBytes must be 0 (no byte limit) or positive (was {options.ReadCache.MaxBytes}).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
