using System;
using System.Collections.Generic;
using System.Text.Json;
using StateGen.Migrations;

namespace StateGen.Tests.Migrations;

/// <summary>
/// A persistent type at schema version 3 with a written-out <see cref="IPersistentState{TSelf}"/> implementation (the
/// shape the generator emits for a type with a recorded history), so store-wide migrations can be tested over a chain
/// with a rename, a dropped member and a custom hook:
/// v1 <c>{Id, Title, Legacy, Priority:"high"}</c> → v2 renames Title to Subject and drops Legacy → v3 turns Priority
/// from a word into a number; the word <c>"poison"</c> makes that hook throw.
/// </summary>
public sealed class Ticket : IPersistentState<Ticket>
{
    public const string TypeName = "ticket";

    private static readonly PersistentStateInfo Info = new(TypeName, 3);

    private static readonly UpgradeStep[] Steps =
    [
        new(1, new Dictionary<string, string> { ["Title"] = "Subject" }, ["Legacy"], [], null),
        new(2, new Dictionary<string, string>(), [], ["Priority"], UpgradeFromV2),
    ];

    public string? Id { get; set; }

    public string? Subject { get; set; }

    public int Priority { get; set; }

    static PersistentStateInfo IPersistentState<Ticket>.StateInfo => Info;

    static IReadOnlyList<UpgradeStep> IPersistentState<Ticket>.UpgradeSteps => Steps;

    static byte[]? IPersistentState<Ticket>.UpgradeState(int fromVersion, ReadOnlySpan<byte> document)
        => SchemaUpgrader.Upgrade(TypeName, fromVersion, Info.SchemaVersion, document, Steps);

    static Ticket IPersistentState<Ticket>.CreateState() => new();

    string? IPersistentState<Ticket>.GetStateId() => Id;

    void IPersistentState<Ticket>.WriteState(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("Id", Id);
        writer.WriteString("Subject", Subject);
        writer.WriteNumber("Priority", Priority);
        writer.WriteEndObject();
    }

    void IPersistentState<Ticket>.ReadState(ref Utf8JsonReader reader)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            switch (name)
            {
                case "Id": Id = reader.GetString(); break;
                case "Subject": Subject = reader.GetString(); break;
                case "Priority": Priority = reader.GetInt32(); break; // a string here throws, as generated code does
                default: reader.Skip(); break;
            }
        }
    }

    /// <summary>v1 JSON.</summary>
    public static string V1(string id, string title, string priority) => $$"""{"Id":"{{id}}","Title":"{{title}}","Legacy":"old-{{id}}","Priority":"{{priority}}"}""";

    /// <summary>v2 JSON.</summary>
    public static string V2(string id, string subject, string priority) => $$"""{"Id":"{{id}}","Subject":"{{subject}}","Priority":"{{priority}}"}""";

    private static void UpgradeFromV2(SchemaUpgrade upgrade)
    {
        string? word = upgrade.Old("Priority")?.GetString();
        upgrade.Set("Priority", word switch
        {
            "low" => 1L,
            "high" => 3L,
            "poison" => throw new InvalidOperationException("poison value " + word),
            _ => 2L,
        });
    }
}
