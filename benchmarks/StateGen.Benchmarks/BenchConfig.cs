using System;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace StateGen.Benchmarks;

/// <summary>
/// A ShortRun-like job (ShortRun is 1 launch, 3 warmup, 3 measured iterations) with more measured iterations: one
/// launch, 3 warmup and 10 measured iterations, plus a Median column because the machine this runs on is small (2
/// cores) and shared, so the mean is pulled around by outliers. The whole suite takes about three minutes; error bars
/// are still wide.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class BenchConfigAttribute : Attribute, IConfigSource
{
    public BenchConfigAttribute()
    {
        Config = ManualConfig.CreateEmpty()
            .AddJob(Job.Default
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(10)
                .WithId("Short-3w10i"))
            .AddColumn(StatisticColumn.Median);
    }

    public IConfig Config { get; }
}
