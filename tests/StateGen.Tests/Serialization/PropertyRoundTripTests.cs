using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using CsCheck;
using StateGen.Storage.Memory;

namespace StateGen.Tests.Serialization;

public enum Phase
{
    Plan,
    Act,
    Reflect,
}

public sealed record Step
{
    public required string Name { get; init; }
    public double Score { get; init; }
    public Phase Phase { get; init; }
}

[PersistentState("property-state")]
public partial class PropertyState
{
    public string Id { get; set; } = "";
    public string? Text { get; set; }
    public long Count { get; set; }
    public double Ratio { get; set; }
    public float Weight { get; set; }
    public decimal Money { get; set; }
    public char Letter { get; set; }
    public DateTime When { get; set; }
    public DateTimeOffset At { get; set; }
    public TimeSpan Took { get; set; }
    public Guid Trace { get; set; }
    public Phase Phase { get; set; }
    public int? Maybe { get; set; }
    public byte[]? Blob { get; set; }
    public List<string?> Tags { get; set; } = new();
    public Dictionary<string, int> Counts { get; set; } = new();
    public List<Step> Steps { get; set; } = new();
}

/// <summary>Property-based round trips: any generated instance saves and loads back equal, member by member.</summary>
public sealed class PropertyRoundTripTests
{
    private static readonly Gen<Step> StepGen = Gen.Select(Gen.String, Gen.Double, Gen.Enum<Phase>(), (name, score, phase) => new Step { Name = name, Score = score, Phase = phase });

    private static readonly Gen<DateTime> DateTimeGen = Gen.Select(Gen.DateTime, Gen.Int[0, 2], (d, kind) => DateTime.SpecifyKind(d, kind == 0 ? DateTimeKind.Utc : DateTimeKind.Unspecified));

    internal static readonly Gen<PropertyState> StateGen = Gen.Select(
        Gen.Select(Gen.String.Null(), Gen.Long, Gen.Double, Gen.Float, Gen.Decimal, Gen.Char, DateTimeGen, Gen.DateTimeOffset),
        Gen.Select(Gen.TimeSpan, Gen.Guid, Gen.Enum<Phase>(), Gen.Int.Nullable(), Gen.Byte.Array[0, 40].Null()),
        Gen.Select(Gen.String.Null().List[0, 6], Gen.Dictionary(Gen.String, Gen.Int)[0, 6], StepGen.List[0, 5]),
        (a, b, c) => new PropertyState
        {
            Id = Guid.NewGuid().ToString("N"), // samples run in parallel: one key each
            Text = a.Item1,
            Count = a.Item2,
            Ratio = a.Item3,
            Weight = a.Item4,
            Money = a.Item5,
            Letter = a.Item6,
            When = a.Item7,
            At = a.Item8,
            Took = b.Item1,
            Trace = b.Item2,
            Phase = b.Item3,
            Maybe = b.Item4,
            Blob = b.Item5,
            Tags = c.Item1,
            Counts = c.Item2,
            Steps = c.Item3,
        });

    [Fact]
    public async Task Any_generated_instance_round_trips_member_by_member()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        await StateGen.SampleAsync(
            async saved =>
            {
                await saved.SaveStateAsync(manager);
                var loaded = new PropertyState { Id = saved.Id };
                Assert.True(await loaded.LoadStateAsync(manager));
                AssertEqual(saved, loaded);
            },
            iter: 1500);
    }

    [Fact]
    public async Task Any_instance_of_a_type_with_every_member_kind_round_trips_member_by_member()
    {
        await using var manager = new StateManager(new MemoryStateStore());
        await EveryKindSample.All.SampleAsync(
            async saved =>
            {
                await saved.SaveStateAsync(manager);
                var loaded = new EveryKind { Id = saved.Id };
                Assert.True(await loaded.LoadStateAsync(manager));
                EveryKindSample.AssertEqual(saved, loaded);
            },
            iter: 1500);
    }

    internal static void AssertEqual(PropertyState expected, PropertyState actual)
    {
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(BitConverter.DoubleToInt64Bits(Normalize(expected.Ratio)), BitConverter.DoubleToInt64Bits(Normalize(actual.Ratio)));
        Assert.Equal(BitConverter.SingleToInt32Bits(Normalize(expected.Weight)), BitConverter.SingleToInt32Bits(Normalize(actual.Weight)));
        Assert.Equal(expected.Money, actual.Money);
        Assert.Equal(expected.Money.Scale, actual.Money.Scale);
        Assert.Equal(expected.Letter, actual.Letter);
        Assert.Equal(expected.When, actual.When);
        Assert.Equal(expected.When.Kind, actual.When.Kind);
        Assert.Equal(expected.At, actual.At);
        Assert.Equal(expected.At.Offset, actual.At.Offset);
        Assert.Equal(expected.Took, actual.Took);
        Assert.Equal(expected.Trace, actual.Trace);
        Assert.Equal(expected.Phase, actual.Phase);
        Assert.Equal(expected.Maybe, actual.Maybe);
        Assert.Equal(expected.Blob, actual.Blob);
        Assert.Equal(expected.Tags, actual.Tags);
        Assert.Equal(expected.Counts.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Counts.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Steps.Count, actual.Steps.Count);
        for (int i = 0; i < expected.Steps.Count; i++)
        {
            Assert.Equal(expected.Steps[i].Name, actual.Steps[i].Name);
            Assert.Equal(BitConverter.DoubleToInt64Bits(Normalize(expected.Steps[i].Score)), BitConverter.DoubleToInt64Bits(Normalize(actual.Steps[i].Score)));
            Assert.Equal(expected.Steps[i].Phase, actual.Steps[i].Phase);
        }
    }

    // All NaNs are one value in JSON; -0.0 stays -0.0 (its bits are compared).
    private static double Normalize(double value) => double.IsNaN(value) ? double.NaN : value;

    private static float Normalize(float value) => float.IsNaN(value) ? float.NaN : value;
}
