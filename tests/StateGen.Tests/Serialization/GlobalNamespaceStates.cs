using System;
using System.Collections.Generic;
using StateGen;

// Types in the global namespace (no namespace declaration), mirroring the generator's GlobalNamespace golden-file input:
// ContainingTypeTests saves and loads them at run time.

public struct GlobalPoint
{
    public int X { get; set; }
    public int Y { get; set; }
}

[PersistentState]
public partial class GlobalMemory
{
    [StateId] public long Number { get; set; }
    public string? Summary { get; set; }
}

[PersistentState]
public partial class GlobalEverything
{
    public int Id { get; set; }
    public bool Flag { get; set; }
    public byte B { get; set; }
    public sbyte SB { get; set; }
    public short S { get; set; }
    public ushort US { get; set; }
    public uint UI { get; set; }
    public long L { get; set; }
    public ulong UL { get; set; }
    public float F { get; set; }
    public double D { get; set; }
    public Guid G { get; set; }
    public DateTime When { get; set; }
    public GlobalPoint Where { get; set; }
    public GlobalPoint? MaybeWhere { get; set; }
    public GlobalMemory? Memory { get; set; }
    public List<GlobalMemory> Memories { get; set; } = new();
#pragma warning disable SA1401, IDE1006 // a public field named with a keyword, as in the golden-file input
    public string @event = "";
#pragma warning restore SA1401, IDE1006
}
