namespace StateGen.Generator.Tests;

/// <summary>Representative persistent types used by the golden, cacheability and execution tests.</summary>
internal static class TestSources
{
    public const string Agent = """
        using System;
        using System.Collections.Generic;
        using StateGen;

        namespace Agents;

        public enum Role { User, Assistant, Tool, Bot = Assistant }

        public sealed class Turn
        {
            public Role Role { get; set; }
            public string Text { get; set; } = "";
            public DateTimeOffset At { get; set; }
        }

        [PersistentState]
        [SchemaVersion(2)]
        public partial class ResearchAgent
        {
            public string Id { get; set; } = "";
            public string Topic { get; set; } = "";
            [Sensitive] public string ApiKey { get; set; } = "";
            public List<Turn> History { get; set; } = new();
            public Dictionary<string, string> Notes { get; set; } = new();
            public DateTime? LastRunUtc { get; set; }
            public int Count => History.Count;
            [StateIgnore] public string Scratch { get; set; } = "";
        }
        """;

    public const string NestedGeneric = """
        using System;
        using System.Collections.Generic;
        using StateGen;

        namespace Agents.Workflows
        {
            public partial class Outer<TContext>
            {
                [PersistentState("workflow-step")]
                [SchemaVersion(3)]
                public partial record StepState
                {
                    [StateId] public Guid RunId { get; set; }
                    public int[] Numbers { get; set; } = Array.Empty<int>();
                    public Dictionary<string, List<double?>> Series { get; set; } = new();
                    public byte[]? Blob { get; set; }
                    public IReadOnlyList<string> Tags { get; set; } = new List<string>();
                    public TimeSpan Elapsed { get; set; }
                    public decimal Cost { get; set; }
                    public char Grade { get; set; }
                }
            }
        }
        """;

    public const string GlobalNamespace = """
        using System;
        using System.Collections.Generic;
        using StateGen;

        public struct Point
        {
            public int X { get; set; }
            public int Y { get; set; }
        }

        [PersistentState]
        public partial class Memory
        {
            [StateId] public long Number { get; set; }
            public string? Summary { get; set; }
        }

        [PersistentState]
        public partial class Everything
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
            public Point Where { get; set; }
            public Point? MaybeWhere { get; set; }
            public Memory? Memory { get; set; }
            public List<Memory> Memories { get; set; } = new();
            public string @event = "";
        }
        """;

    public const string Records = """
        using System;
        using System.Collections.Generic;
        using System.Text.Json.Serialization;
        using StateGen;

        namespace Agents.Records;

        public sealed record Turn
        {
            public required string Role { get; init; }
            public string Text { get; init; } = "";
        }

        public enum Channel { Chat, Email }

        [Flags] public enum Access : byte { None = 0, Read = 1, Write = 2 }

        public sealed record Cite(string Url, int Page);

        public sealed class Ledger
        {
            [JsonInclude] private int _entries;
            [JsonInclude] public string Owner { get; private set; } = "";
            [JsonInclude] internal decimal Balance { private get; set; }
            public int Entries => _entries;
            public void Post(string owner) { Owner = owner; _entries++; }
        }

        [PersistentState("record-agent")]
        public partial record RecordAgent
        {
            public required string Id { get; init; }
            [JsonPropertyName("topic")] public string Topic { get; init; } = "";
            [JsonIgnore] public string Cache { get; set; } = "";
            public List<Turn> Turns { get; init; } = new();
            public Dictionary<Channel, int> ByChannel { get; set; } = new();
            public HashSet<Guid> Seen { get; set; } = new();
            public DateOnly? Day { get; set; }
            public List<Cite> Cites { get; set; } = new();
            public Access Access { get; set; }
            public Ledger Ledger { get; set; } = new();
            [Sensitive] public string Token { get; set; } = "";
            public System.Text.Json.Nodes.JsonObject? Settings { get; set; }
            [JsonExtensionData] public Dictionary<string, System.Text.Json.JsonElement>? Extra { get; set; }
        }
        """;

    /// <summary>All three [Sensitive] modes, on strings, other member types and a nested plain object.</summary>
    public const string Sensitive = """
        using System;
        using System.Collections.Generic;
        using StateGen;

        namespace Vault;

        public sealed class Credentials
        {
            public string User { get; set; } = "";
            [Sensitive(SensitiveMode.Encrypt)] public string Password { get; set; } = "";
            [Sensitive(SensitiveMode.Redact)] public string? Hint { get; set; }
        }

        [PersistentState("vault-agent")]
        public partial class VaultAgent
        {
            public string Id { get; set; } = "";
            public string Topic { get; set; } = "";
            [Sensitive] public string SessionToken { get; set; } = "";
            [Sensitive(SensitiveMode.Redact)] public string? Note { get; set; }
            [Sensitive(SensitiveMode.Redact)] public int Pin { get; set; }
            [Sensitive(SensitiveMode.Redact, Fingerprint = true)] public string ApiKey { get; set; } = "";
            [Sensitive(SensitiveMode.Redact, Fingerprint = true)] public List<string> Scopes { get; set; } = new();
            [Sensitive(SensitiveMode.Encrypt)] public string? ConnectionString { get; set; }
            [Sensitive(SensitiveMode.Encrypt)] public byte[]? PrivateKey { get; set; }
            [Sensitive(SensitiveMode.Encrypt)] public Dictionary<string, string> Headers { get; set; } = new();
            [Sensitive(SensitiveMode.Encrypt)] public int? Budget { get; set; }
            public Credentials Login { get; set; } = new();
        }
        """;

    /// <summary>
    /// Members delegated to a JsonSerializerContext: a polymorphic base, a list of it, a framework type, an interface,
    /// an encrypted one, one in a nested object. The context is written by hand: the System.Text.Json generator does
    /// not run in these tests (the end-to-end tests run it).
    /// </summary>
    public const string Delegated = """
        using System;
        using System.Collections.Generic;
        using System.Text.Json;
        using System.Text.Json.Serialization;
        using System.Text.Json.Serialization.Metadata;
        using StateGen;

        namespace Zoo;

        [JsonPolymorphic(TypeDiscriminatorPropertyName = "$kind")]
        [JsonDerivedType(typeof(Dog), "dog")]
        [JsonDerivedType(typeof(Cat), "cat")]
        public class Animal { public string Name { get; set; } = ""; }
        public sealed class Dog : Animal { public bool Good { get; set; } }
        public sealed class Cat : Animal { public int Lives { get; set; } }

        public interface IToy { string Label { get; } }

        public sealed class Keeper
        {
            public string Name { get; set; } = "";
            public Animal? Favorite { get; set; }
            public Dictionary<string, Animal> ByPen { get; set; } = new();
        }

        public sealed class ZooJsonContext : JsonSerializerContext
        {
            public ZooJsonContext() : base(null) { }
            public static ZooJsonContext Default { get; } = new();
            protected override JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        [PersistentState("zoo", JsonContext = typeof(ZooJsonContext))]
        public partial class ZooAgent
        {
            public string Id { get; set; } = "";
            public Animal? Pet { get; set; }
            public List<Animal> Pets { get; set; } = new();
            public Queue<string?> Chores { get; set; } = new();
            public IToy? Toy { get; set; }
            public TimeZoneInfo? Zone { get; set; }
            [Sensitive(SensitiveMode.Encrypt)] public Animal? Secret { get; set; }
            public Keeper Keeper { get; set; } = new();
        }
        """;

    /// <summary>[JsonExtensionData] on nested plain objects: a class, a struct, a positional record, list elements.</summary>
    public const string NestedExtensionData = """
        using System.Collections.Generic;
        using System.Text.Json;
        using System.Text.Json.Nodes;
        using System.Text.Json.Serialization;
        using StateGen;

        namespace Agents.Extensions;

        public sealed class Step
        {
            public string Name { get; set; } = "";
            [Sensitive] public string? Token { get; set; }
            [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
        }

        public struct Position
        {
            public int X { get; set; }
            [JsonExtensionData] public JsonObject? More { get; set; }
        }

        public sealed record Tag(string Label)
        {
            [JsonExtensionData] public Dictionary<string, JsonElement>? Rest { get; set; }
        }

        [PersistentState("extensible")]
        public partial class Extensible
        {
            public string Id { get; set; } = "";
            public Step Current { get; set; } = new();
            public List<Step> Steps { get; set; } = new();
            public Position At { get; set; }
            public List<Tag> Tags { get; set; } = new();
        }
        """;

    /// <summary>
    /// Collection members beyond settable lists: get-only collections filled in place (on the state type, a plain class,
    /// a record), immutable collections, queues and stacks.
    /// </summary>
    public const string Collections = """
        using System.Collections.Generic;
        using System.Collections.Immutable;
        using StateGen;

        namespace Agents.Collections;

        public sealed class Shelf
        {
            public string Name { get; set; } = "";
            public List<string> Books { get; } = new();
        }

        public sealed record Box(string Label)
        {
            public HashSet<int> Codes { get; } = new();
        }

        [PersistentState("collections")]
        public partial class Library
        {
            public string Id { get; set; } = "";
            public List<Shelf> Shelves { get; } = new();
            public IList<string> Authors { get; } = new List<string>();
            public ICollection<int> Years { get; } = new List<int>();
            public HashSet<string> Tags { get; } = new();
            public ISet<string> Labels { get; } = new HashSet<string>();
            public Dictionary<string, int> Counts { get; } = new();
            public IDictionary<string, Box> Boxes { get; } = new Dictionary<string, Box>();
            public List<string>? Maybe { get; }
            public int ShelfCount => Shelves.Count;
            public IReadOnlyList<string> Names => Authors as IReadOnlyList<string> ?? new List<string>();
            public IReadOnlyList<int> ReadOnlyYears { get; } = new List<int>();
            public ImmutableArray<string> Frozen { get; set; }
            public ImmutableArray<int>? MaybeFrozen { get; set; }
            public ImmutableList<Shelf> ShelfList { get; set; } = ImmutableList<Shelf>.Empty;
            public IImmutableList<string> Lines { get; set; } = ImmutableList<string>.Empty;
            public ImmutableHashSet<string> Keys { get; set; } = ImmutableHashSet<string>.Empty;
            public IImmutableSet<int> Numbers { get; set; } = ImmutableHashSet<int>.Empty;
            public ImmutableDictionary<string, int> Scores { get; set; } = ImmutableDictionary<string, int>.Empty;
            public IImmutableDictionary<int, Box> BoxesById { get; init; } = ImmutableDictionary<int, Box>.Empty;
            public Queue<string> Inbox { get; set; } = new();
            public Stack<Shelf> Undo { get; set; } = new();
            public SortedDictionary<int, string> ByRank { get; set; } = new();
            public SortedSet<string> Sorted { get; } = new();
            public LinkedList<int> Chain { get; set; } = new();
            public System.Collections.Concurrent.ConcurrentDictionary<string, int> Shared { get; set; } = new();
            public ImmutableSortedDictionary<string, Box> Ranked { get; set; } = ImmutableSortedDictionary<string, Box>.Empty;
            public IImmutableStack<string> History { get; set; } = ImmutableStack<string>.Empty;
            public ImmutableQueue<int> Backlog { get; set; } = ImmutableQueue<int>.Empty;
        }
        """;

    /// <summary>
    /// Reference cycles through [PersistentState] types: one that holds itself, two that hold each other through a plain
    /// object, one that only leads to a loop, and a nested persistent type that is acyclic (no guard anywhere).
    /// </summary>
    public const string Cycles = """
        using System.Collections.Generic;
        using StateGen;

        namespace Agents.Cycles;

        [PersistentState("chain")]
        public partial class Chain
        {
            public string Id { get; set; } = "";
            public Chain? Next { get; set; }
        }

        [PersistentState("crew")]
        public partial class Crew
        {
            public string Id { get; set; } = "";
            public List<Seat> Seats { get; set; } = new();
        }

        public sealed class Seat
        {
            public string Role { get; set; } = "";
            public Job? Job { get; set; }
        }

        [PersistentState("job")]
        public partial class Job
        {
            public string Id { get; set; } = "";
            public Crew? Owner { get; set; }
        }

        [PersistentState("holder")]
        public partial class Holder
        {
            public string Id { get; set; } = "";
            public Chain? Head { get; set; }
            public Note? Note { get; set; }
        }

        [PersistentState("note")]
        public partial class Note
        {
            public string Id { get; set; } = "";
            public string Text { get; set; } = "";
        }

        [PersistentState("notebook")]
        public partial class Notebook
        {
            public string Id { get; set; } = "";
            public List<Note> Notes { get; set; } = new();
        }
        """;
}
