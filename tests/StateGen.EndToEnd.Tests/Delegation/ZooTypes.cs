using System.Collections.Generic;
using System.Text.Json.Serialization;
using Microsoft.Extensions.AI;

namespace StateGen.EndToEnd.Tests.Delegation;

/// <summary>A polymorphic hierarchy the generator does not write itself: delegated to <see cref="ZooJsonContext"/>.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "$kind")]
[JsonDerivedType(typeof(Dog), "dog")]
[JsonDerivedType(typeof(Cat), "cat")]
public abstract class Animal
{
    public string Name { get; set; } = "";
}

public sealed class Dog : Animal
{
    public bool Good { get; set; }

    /// <summary>Another animal, possibly this one: a reference cycle the generator cannot see (the type is delegated).</summary>
    public Animal? Friend { get; set; }
}

public sealed class Cat : Animal
{
    public int Lives { get; set; }
}

/// <summary>A plain object written by the generator that holds a delegated member.</summary>
public sealed class Keeper
{
    public string Name { get; set; } = "";

    public Animal? Favorite { get; set; }
}

/// <summary>The context the zoo names; the System.Text.Json generator completes it (and the derived types with it).</summary>
[JsonSerializable(typeof(Animal))]
internal sealed partial class ZooJsonContext : JsonSerializerContext
{
}

/// <summary>A context that does not know <see cref="Animal"/>.</summary>
[JsonSerializable(typeof(string))]
internal sealed partial class UnrelatedJsonContext : JsonSerializerContext
{
}

[PersistentState("e2e-zoo", JsonContext = typeof(ZooJsonContext))]
public partial class Zoo
{
    public string Id { get; set; } = "";

    public Animal? Pet { get; set; }

    public List<Animal> Pets { get; set; } = new();

    public Dictionary<string, Animal> ByPen { get; set; } = new();

    public Keeper Keeper { get; set; } = new();
}

/// <summary>[Sensitive] delegated members: the encrypted one needs a key ring.</summary>
[PersistentState("e2e-vet", JsonContext = typeof(ZooJsonContext))]
public partial class Vet
{
    public string Id { get; set; } = "";

    [Sensitive(SensitiveMode.Encrypt)]
    public Animal? Hidden { get; set; }

    [Sensitive(SensitiveMode.Redact)]
    public Animal? Redacted { get; set; }
}

// SG0008 warns at build time that the context does not know Animal; this type is here to test the run-time error.
#pragma warning disable SG0008
[PersistentState("e2e-zoo-unrelated-context", JsonContext = typeof(UnrelatedJsonContext))]
public partial class ZooWithUnrelatedContext
#pragma warning restore SG0008
{
    public string Id { get; set; } = "";

    public List<Animal> Pets { get; set; } = new();
}

/// <summary>Microsoft.Extensions.AI's chat messages, through a context of the application's own.</summary>
[JsonSerializable(typeof(ChatMessage))]
internal sealed partial class ChatJsonContext : JsonSerializerContext
{
}

[PersistentState("e2e-chat-agent", JsonContext = typeof(ChatJsonContext))]
public partial class ChatAgent
{
    public string Id { get; set; } = "";

    public string Topic { get; set; } = "";

    public List<ChatMessage> History { get; set; } = new();
}
