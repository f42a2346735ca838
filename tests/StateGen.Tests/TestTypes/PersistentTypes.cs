using System;
using System.Collections.Generic;

namespace StateGen.Tests.TestTypes;

// Types the source generator in this project turns into persistent types. They are public because test methods
// use them, and every one is partial with a parameterless constructor and settable members.

/// <summary>A small agent state used by most manager tests: a string id, simple members, a secret.</summary>
[PersistentState]
public partial class Note
{
    public string? Id { get; set; }

    public string? Topic { get; set; } = "initial-topic";

    public int Runs { get; set; } = 7;

    public List<string>? Tags { get; set; } = new() { "initial-tag" };

    [Sensitive]
    public string? ApiKey { get; set; }

    [StateIgnore]
    public string? Scratch { get; set; }
}

/// <summary>Another type, to store a document under a key and read it back as the wrong type.</summary>
[PersistentState]
public partial class OtherNote
{
    public string? Id { get; set; }

    public string? Topic { get; set; }
}

/// <summary>A type at schema version 3, to test older and newer stored versions.</summary>
[PersistentState]
[SchemaVersion(3)]
public partial class VersionedNote
{
    public string? Id { get; set; }

    public string? Text { get; set; } = "initial-text";
}

public enum Color
{
    Red,
    Green,
    Blue,
}

[Flags]
public enum Access : byte
{
    None = 0,
    Read = 1,
    Write = 2,
}

public enum Huge : ulong
{
    Zero = 0,
    Max = ulong.MaxValue,
}

public enum Signed : long
{
    Min = long.MinValue,
    MinusOne = -1,
    Max = long.MaxValue,
}

/// <summary>A plain nested class (not a persistent type), with a sensitive member of its own.</summary>
public sealed class Address
{
    public string? Street { get; set; }

    public int Zip { get; set; }

    public Point Corner { get; set; }

    [Sensitive]
    public string? DoorCode { get; set; }
}

/// <summary>A plain nested struct with fields and properties.</summary>
public struct Point : IEquatable<Point>
{
    public int X;

    public double Y { get; set; }

    public bool Equals(Point other) => X == other.X && Y.Equals(other.Y);

    public override bool Equals(object? obj) => obj is Point other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(X, Y);
}

/// <summary>A persistent type used as a member of another persistent type.</summary>
[PersistentState]
public partial class Profile
{
    public string? Id { get; set; }

    public string? DisplayName { get; set; }

    public int Level { get; set; }
}

/// <summary>Every member kind the generated serializer supports.</summary>
[PersistentState]
public partial class AllKinds
{
    public string? Id { get; set; }

    public string? Text { get; set; }
    public string? NullText { get; set; } = "not-null";
    public bool Flag { get; set; }

    public byte ByteMin { get; set; }
    public byte ByteMax { get; set; }
    public sbyte SByteMin { get; set; }
    public sbyte SByteMax { get; set; }
    public short ShortMin { get; set; }
    public short ShortMax { get; set; }
    public ushort UShortMin { get; set; }
    public ushort UShortMax { get; set; }
    public int IntMin { get; set; }
    public int IntMax { get; set; }
    public uint UIntMin { get; set; }
    public uint UIntMax { get; set; }
    public long LongMin { get; set; }
    public long LongMax { get; set; }
    public ulong ULongMin { get; set; }
    public ulong ULongMax { get; set; }

    public float FloatValue { get; set; }
    public float FloatMax { get; set; }
    public float FloatEpsilon { get; set; }
    public float FloatNaN { get; set; }
    public float FloatPositiveInfinity { get; set; }
    public float FloatNegativeInfinity { get; set; }
    public double DoubleValue { get; set; }
    public double DoubleMin { get; set; }
    public double DoubleMax { get; set; }
    public double DoubleEpsilon { get; set; }
    public double DoubleNaN { get; set; }
    public double DoublePositiveInfinity { get; set; }
    public double DoubleNegativeInfinity { get; set; }

    public decimal DecimalWithScale { get; set; }
    public decimal DecimalZeroWithScale { get; set; }
    public decimal DecimalMin { get; set; }
    public decimal DecimalMax { get; set; }

    public char Letter { get; set; }
    public char NulChar { get; set; }

    public Color Color { get; set; }
    public Color UndefinedColor { get; set; }
    public Access Access { get; set; }
    public Huge Huge { get; set; }
    public Signed Signed { get; set; }

    public DateTime UtcTime { get; set; }
    public DateTime LocalTime { get; set; }
    public DateTime UnspecifiedTime { get; set; }
    public DateTime MinTime { get; set; }
    public DateTime MaxTime { get; set; }
    public DateTimeOffset OffsetTime { get; set; }
    public DateTimeOffset NegativeOffsetTime { get; set; }
    public Guid Guid { get; set; }
    public TimeSpan NegativeSpan { get; set; }
    public TimeSpan SpanMin { get; set; }
    public TimeSpan SpanMax { get; set; }

    public int? NullableIntSet { get; set; }
    public int? NullableIntNull { get; set; } = 5;
    public DateTime? NullableTimeSet { get; set; }
    public Color? NullableColorNull { get; set; } = Color.Green;
    public Point? NullableStructSet { get; set; }

    public List<string>? Strings { get; set; }
    public List<string?>? StringsWithNull { get; set; }
    public List<int?>? NullableInts { get; set; }
    public List<int>? EmptyList { get; set; }
    public List<int>? NullList { get; set; } = new() { 1 };
    public int[]? IntArray { get; set; }
    public string[]? NullArray { get; set; } = new[] { "x" };
    public byte[]? Bytes { get; set; }
    public byte[]? EmptyBytes { get; set; }
    public byte[]? NullBytes { get; set; } = new byte[] { 1 };
    public List<List<int>>? Jagged { get; set; }
    public Dictionary<string, int>? Counts { get; set; }
    public Dictionary<string, List<Point>>? PointsByName { get; set; }
    public Dictionary<string, int>? NullDictionary { get; set; } = new() { ["x"] = 1 };
    public IList<string>? InterfaceList { get; set; }
    public IReadOnlyList<int>? ReadOnlyList { get; set; }
    public IReadOnlyDictionary<string, string>? ReadOnlyDictionary { get; set; }

    public Address? Address { get; set; }
    public Address? NullAddress { get; set; } = new();
    public Point Point { get; set; }
    public List<Address>? Addresses { get; set; }
    // Initialized so tests about other members do not depend on how a null nested persistent member is written.
    public Profile? Profile { get; set; } = new() { Id = "default-profile" };
    public List<Profile>? Profiles { get; set; }

    public int PublicField;
}

/// <summary>A persistent type with a nullable persistent member, to save with that member null.</summary>
[PersistentState]
public partial class WithOptionalProfile
{
    public string? Id { get; set; }

    public Profile? Profile { get; set; }
}

/// <summary>[StateId] on a Guid property other than Id.</summary>
[PersistentState]
public partial class GuidKeyed
{
    [StateId]
    public Guid Key { get; set; }

    public string? Value { get; set; }
}

/// <summary>[StateId] on an int field.</summary>
[PersistentState]
public partial class IntKeyed
{
    [StateId]
    public int Number;

    public string? Value { get; set; }
}

/// <summary>[StateId] on a long property; a property named Id exists but is not the id.</summary>
[PersistentState]
public partial class LongKeyed
{
    [StateId]
    public long Sequence { get; set; }

    public string? Id { get; set; }
}

/// <summary>The "old" CLR type of a renamed agent: stored under a stable name.</summary>
[PersistentState("research-agent")]
public partial class ResearchAgentBeforeRename
{
    public string? Id { get; set; }

    public string? Goal { get; set; }

    public int Steps { get; set; }
}

/// <summary>The same stored type after the CLR class was renamed; the stable name keeps the stored key.</summary>
[PersistentState("research-agent")]
public partial class ResearchAgentAfterRename
{
    public string? Id { get; set; }

    public string? Goal { get; set; }

    public int Steps { get; set; }
}

/// <summary>A persistent type nested inside another (partial) class.</summary>
public static partial class Outer
{
    [PersistentState]
    public partial class NestedAgent
    {
        public string? Id { get; set; }

        public string? Name { get; set; }
    }
}
