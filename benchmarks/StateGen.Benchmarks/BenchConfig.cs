using System;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace StateGen.Benchmarks;

/// <summary>
/// A ShortRun-like job (ShortRun is 1 launch, 3 warmup, 3 measured iterations) with more measured iterations: one
/// launch, 3 warmup and 10 measured iterations, plus a Median column because the machine this runs on is small (2
/// cores) and shared, so the mean is pulled around by outliers. The whole suite takes about three minutes; error bars
/// are still wide. Suites that must report several launches (the issue asks for at least 3 for the upgrade benchmark)
/// pass <c>launchCount</c>: each launch is a separate process, so process-level effects (JIT tiering decisions, code
/// and heap layout) are sampled too, and BenchmarkDotNet's statistics cover all launches' iterations.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class BenchConfigAttribute : Attribute, IConfigSource
{
    public BenchConfigAttribute()
        : this(1)
    {
    }

    /// <param name="launchCount">Separate processes per benchmark; the job id names it when it is more than one.</param>
    public BenchConfigAttribute(int launchCount)
    {
        Config = ManualConfig.CreateEmpty()
            .AddJob(Job.Default
                .WithLaunchCount(launchCount)
                .WithWarmupCount(3)
                .WithIterationCount(10)
                .WithId(launchCount == 1 ? "Short-3w10i" : $"{launchCount}L-3w10i"))
            .AddColumn(StatisticColumn.Median)
            .WithBuildTimeout(TimeSpan.FromMinutes(10)); // the machine is small and shared: a 2-minute build can time out
    }

    public IConfig Config { get; }
}
