using System;
using System.Collections.Generic;
using System.Globalization;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.TestSupport;

/// <summary>A fully populated <see cref="AllKinds"/> with edge values, and a member-by-member comparison.</summary>
public static class AllKindsSample
{
    public const string SecretDoorCode = "door-4242-SECRET";

    public static AllKinds Create(string id = "all") => new()
    {
        Id = id,
        Text = "héllo \"quoted\" \\ / \u0000 \u2028 日本 😀",
        NullText = null,
        Flag = true,
        ByteMin = byte.MinValue,
        ByteMax = byte.MaxValue,
        SByteMin = sbyte.MinValue,
        SByteMax = sbyte.MaxValue,
        ShortMin = short.MinValue,
        ShortMax = short.MaxValue,
        UShortMin = ushort.MinValue,
        UShortMax = ushort.MaxValue,
        IntMin = int.MinValue,
        IntMax = int.MaxValue,
        UIntMin = uint.MinValue,
        UIntMax = uint.MaxValue,
        LongMin = long.MinValue,
        LongMax = long.MaxValue,
        ULongMin = ulong.MinValue,
        ULongMax = ulong.MaxValue,
        FloatValue = 3.14159274f,
        FloatMax = float.MaxValue,
        FloatEpsilon = float.Epsilon,
        FloatNaN = float.NaN,
        FloatPositiveInfinity = float.PositiveInfinity,
        FloatNegativeInfinity = float.NegativeInfinity,
        DoubleValue = 0.1 + 0.2,
        DoubleMin = double.MinValue,
        DoubleMax = double.MaxValue,
        DoubleEpsilon = double.Epsilon,
        DoubleNaN = double.NaN,
        DoublePositiveInfinity = double.PositiveInfinity,
        DoubleNegativeInfinity = double.NegativeInfinity,
        DecimalWithScale = 1.50m,
        DecimalZeroWithScale = 0.000m,
        DecimalMin = decimal.MinValue,
        DecimalMax = decimal.MaxValue,
        Letter = '\u00E9',
        NulChar = '\0',
        Color = Color.Blue,
        UndefinedColor = (Color)42,
        Access = Access.Read | Access.Write,
        Huge = Huge.Max,
        Signed = Signed.Min,
        UtcTime = new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Utc).AddTicks(1234567),
        LocalTime = new DateTime(2024, 1, 15, 10, 20, 30, DateTimeKind.Local).AddTicks(7654321),
        UnspecifiedTime = new DateTime(2023, 7, 1, 1, 2, 3, DateTimeKind.Unspecified).AddTicks(1),
        MinTime = DateTime.MinValue,
        MaxTime = DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc),
        OffsetTime = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(5.5)).AddTicks(9876543),
        NegativeOffsetTime = new DateTimeOffset(1999, 12, 31, 23, 59, 59, TimeSpan.FromHours(-9.5)),
        Guid = new Guid("0f8fad5b-d9cb-469f-a165-70867728950e"),
        NegativeSpan = -(TimeSpan.FromDays(3) + TimeSpan.FromHours(4) + TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(6) + TimeSpan.FromTicks(1234567)),
        SpanMin = TimeSpan.MinValue,
        SpanMax = TimeSpan.MaxValue,
        NullableIntSet = -17,
        NullableIntNull = null,
        NullableTimeSet = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc),
        NullableColorNull = null,
        NullableStructSet = new Point { X = 3, Y = -4.5 },
        Strings = new List<string> { "a", "", "c d", "日本" },
        StringsWithNull = new List<string?> { "x", null, "z" },
        NullableInts = new List<int?> { 1, null, int.MinValue },
        EmptyList = new List<int>(),
        NullList = null,
        IntArray = new[] { 3, 1, 2, int.MaxValue },
        NullArray = null,
        Bytes = new byte[] { 0, 1, 2, 127, 128, 254, 255 },
        EmptyBytes = Array.Empty<byte>(),
        NullBytes = null,
        Jagged = new List<List<int>> { new() { 1, 2 }, new(), new() { 3 } },
        Counts = new Dictionary<string, int> { ["one"] = 1, [""] = 0, ["quote\"key"] = -1, ["日本"] = 2 },
        PointsByName = new Dictionary<string, List<Point>> { ["p"] = new() { new Point { X = 1, Y = 2 }, new Point { X = -1, Y = 0.5 } }, ["none"] = new() },
        NullDictionary = null,
        InterfaceList = new List<string> { "i1", "i2" },
        ReadOnlyList = new List<int> { 9, 8, 7 },
        ReadOnlyDictionary = new Dictionary<string, string> { ["k"] = "v", ["k2"] = "v2" },
        Address = new Address { Street = "1 Main St", Zip = 12345, Corner = new Point { X = 7, Y = 8.25 }, DoorCode = SecretDoorCode },
        NullAddress = null,
        Point = new Point { X = int.MinValue, Y = double.Epsilon },
        Addresses = new List<Address> { new() { Street = "a", Zip = 1 }, new() { Street = null, Zip = 2 } },
        Profile = new Profile { Id = "p1", DisplayName = "Nested Persistent", Level = 3 },
        Profiles = new List<Profile> { new() { Id = "p2", DisplayName = "two", Level = 2 }, new() { Id = "p3", Level = 9 } },
        PublicField = 99,
    };

    /// <summary>Asserts every persisted member of <paramref name="actual"/> equals <paramref name="expected"/>.</summary>
    /// <param name="doorCodeAfterLoad">What a nested [Sensitive] member holds after loading (it is never stored).</param>
    public static void AssertEqual(AllKinds expected, AllKinds actual, string? doorCodeAfterLoad = null)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.NullText, actual.NullText);
        Assert.Equal(expected.Flag, actual.Flag);

        Assert.Equal(expected.ByteMin, actual.ByteMin);
        Assert.Equal(expected.ByteMax, actual.ByteMax);
        Assert.Equal(expected.SByteMin, actual.SByteMin);
        Assert.Equal(expected.SByteMax, actual.SByteMax);
        Assert.Equal(expected.ShortMin, actual.ShortMin);
        Assert.Equal(expected.ShortMax, actual.ShortMax);
        Assert.Equal(expected.UShortMin, actual.UShortMin);
        Assert.Equal(expected.UShortMax, actual.UShortMax);
        Assert.Equal(expected.IntMin, actual.IntMin);
        Assert.Equal(expected.IntMax, actual.IntMax);
        Assert.Equal(expected.UIntMin, actual.UIntMin);
        Assert.Equal(expected.UIntMax, actual.UIntMax);
        Assert.Equal(expected.LongMin, actual.LongMin);
        Assert.Equal(expected.LongMax, actual.LongMax);
        Assert.Equal(expected.ULongMin, actual.ULongMin);
        Assert.Equal(expected.ULongMax, actual.ULongMax);

        // Bit patterns: exact, and NaN equals NaN.
        Assert.Equal(BitConverter.SingleToInt32Bits(expected.FloatValue), BitConverter.SingleToInt32Bits(actual.FloatValue));
        Assert.Equal(BitConverter.SingleToInt32Bits(expected.FloatMax), BitConverter.SingleToInt32Bits(actual.FloatMax));
        Assert.Equal(BitConverter.SingleToInt32Bits(expected.FloatEpsilon), BitConverter.SingleToInt32Bits(actual.FloatEpsilon));
        Assert.True(float.IsNaN(actual.FloatNaN));
        Assert.Equal(float.PositiveInfinity, actual.FloatPositiveInfinity);
        Assert.Equal(float.NegativeInfinity, actual.FloatNegativeInfinity);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.DoubleValue), BitConverter.DoubleToInt64Bits(actual.DoubleValue));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.DoubleMin), BitConverter.DoubleToInt64Bits(actual.DoubleMin));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.DoubleMax), BitConverter.DoubleToInt64Bits(actual.DoubleMax));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.DoubleEpsilon), BitConverter.DoubleToInt64Bits(actual.DoubleEpsilon));
        Assert.True(double.IsNaN(actual.DoubleNaN));
        Assert.Equal(double.PositiveInfinity, actual.DoublePositiveInfinity);
        Assert.Equal(double.NegativeInfinity, actual.DoubleNegativeInfinity);

        // Decimals keep their scale: compare the text, not only the value.
        Assert.Equal(expected.DecimalWithScale.ToString(CultureInfo.InvariantCulture), actual.DecimalWithScale.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(expected.DecimalZeroWithScale.ToString(CultureInfo.InvariantCulture), actual.DecimalZeroWithScale.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(expected.DecimalMin, actual.DecimalMin);
        Assert.Equal(expected.DecimalMax, actual.DecimalMax);

        Assert.Equal(expected.Letter, actual.Letter);
        Assert.Equal(expected.NulChar, actual.NulChar);

        Assert.Equal(expected.Color, actual.Color);
        Assert.Equal(expected.UndefinedColor, actual.UndefinedColor);
        Assert.Equal(expected.Access, actual.Access);
        Assert.Equal(expected.Huge, actual.Huge);
        Assert.Equal(expected.Signed, actual.Signed);

        AssertSameDateTime(expected.UtcTime, actual.UtcTime);
        AssertSameDateTime(expected.LocalTime, actual.LocalTime);
        AssertSameDateTime(expected.UnspecifiedTime, actual.UnspecifiedTime);
        AssertSameDateTime(expected.MinTime, actual.MinTime);
        AssertSameDateTime(expected.MaxTime, actual.MaxTime);
        AssertSameDateTimeOffset(expected.OffsetTime, actual.OffsetTime);
        AssertSameDateTimeOffset(expected.NegativeOffsetTime, actual.NegativeOffsetTime);
        Assert.Equal(expected.Guid, actual.Guid);
        Assert.Equal(expected.NegativeSpan.Ticks, actual.NegativeSpan.Ticks);
        Assert.Equal(expected.SpanMin, actual.SpanMin);
        Assert.Equal(expected.SpanMax, actual.SpanMax);

        Assert.Equal(expected.NullableIntSet, actual.NullableIntSet);
        Assert.Equal(expected.NullableIntNull, actual.NullableIntNull);
        Assert.Equal(expected.NullableTimeSet, actual.NullableTimeSet);
        Assert.Equal(expected.NullableTimeSet?.Kind, actual.NullableTimeSet?.Kind);
        Assert.Equal(expected.NullableColorNull, actual.NullableColorNull);
        Assert.Equal(expected.NullableStructSet, actual.NullableStructSet);

        Assert.Equal(expected.Strings, actual.Strings);
        Assert.Equal(expected.StringsWithNull, actual.StringsWithNull);
        Assert.Equal(expected.NullableInts, actual.NullableInts);
        Assert.NotNull(actual.EmptyList);
        Assert.Empty(actual.EmptyList);
        Assert.Null(actual.NullList);
        Assert.Equal(expected.IntArray, actual.IntArray);
        Assert.Null(actual.NullArray);
        Assert.Equal(expected.Bytes, actual.Bytes);
        Assert.NotNull(actual.EmptyBytes);
        Assert.Empty(actual.EmptyBytes);
        Assert.Null(actual.NullBytes);
        Assert.Equal(expected.Jagged, actual.Jagged);
        Assert.Equal(expected.Counts, actual.Counts);
        Assert.Equal(expected.PointsByName, actual.PointsByName);
        Assert.Null(actual.NullDictionary);
        Assert.Equal(expected.InterfaceList, actual.InterfaceList);
        Assert.Equal(expected.ReadOnlyList, actual.ReadOnlyList);
        Assert.Equal(expected.ReadOnlyDictionary, actual.ReadOnlyDictionary);

        AssertSameAddress(expected.Address, actual.Address, doorCodeAfterLoad);
        Assert.Null(actual.NullAddress);
        Assert.Equal(expected.Point, actual.Point);
        Assert.Equal(expected.Addresses!.Count, actual.Addresses!.Count);
        for (int i = 0; i < expected.Addresses.Count; i++)
        {
            AssertSameAddress(expected.Addresses[i], actual.Addresses[i], expected.Addresses[i].DoorCode);
        }

        AssertSameProfile(expected.Profile, actual.Profile);
        Assert.Equal(expected.Profiles!.Count, actual.Profiles!.Count);
        for (int i = 0; i < expected.Profiles.Count; i++)
        {
            AssertSameProfile(expected.Profiles[i], actual.Profiles[i]);
        }

        Assert.Equal(expected.PublicField, actual.PublicField);
    }

    /// <summary>Same kind and ticks.</summary>
    internal static void AssertSameDateTime(DateTime expected, DateTime actual)
    {
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.Ticks, actual.Ticks);
    }

    /// <summary>Same offset and ticks.</summary>
    internal static void AssertSameDateTimeOffset(DateTimeOffset expected, DateTimeOffset actual)
    {
        Assert.Equal(expected.Offset, actual.Offset);
        Assert.Equal(expected.Ticks, actual.Ticks);
    }

    private static void AssertSameAddress(Address? expected, Address? actual, string? doorCode)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected.Street, actual.Street);
        Assert.Equal(expected.Zip, actual.Zip);
        Assert.Equal(expected.Corner, actual.Corner);
        Assert.Equal(doorCode, actual.DoorCode);
    }

    private static void AssertSameProfile(Profile? expected, Profile? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.DisplayName, actual.DisplayName);
        Assert.Equal(expected.Level, actual.Level);
    }
}
