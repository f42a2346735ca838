using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

// Two programs' views of the same stored type ('e2e-project'): the newer one added members at every level; the older
// one declares [JsonExtensionData] on the root and on each nested type, so it keeps what it does not know.
namespace StateGen.EndToEnd.Tests.ExtensionData.Newer
{
    public sealed class Person
    {
        public string Name { get; set; } = "";

        public string Email { get; set; } = "";

        public List<int> Shifts { get; set; } = new();
    }

    public struct Settings
    {
        public int Level { get; set; }

        public bool Beta { get; set; }

        public Dictionary<string, string> Flags { get; set; }
    }

    public sealed record Tag(string Label, string Color);

    [PersistentState("e2e-project")]
    public partial class Project
    {
        public string Id { get; set; } = "";

        public string Title { get; set; } = "";

        public decimal Budget { get; set; }

        public Person Lead { get; set; } = new();

        public List<Person> Members { get; set; } = new();

        public Settings Settings { get; set; }

        public List<Tag> Tags { get; set; } = new();
    }
}

namespace StateGen.EndToEnd.Tests.ExtensionData.Older
{
    public sealed class Person
    {
        public string Name { get; set; } = "";

        [JsonExtensionData]
        public Dictionary<string, JsonElement>? Unknown { get; set; }
    }

    public struct Settings
    {
        public int Level { get; set; }

        [JsonExtensionData]
        public JsonObject? Unknown { get; set; }
    }

    public sealed record Tag(string Label)
    {
        [JsonExtensionData]
        public Dictionary<string, JsonElement>? Unknown { get; set; }
    }

    [PersistentState("e2e-project")]
    public partial class Project
    {
        public string Id { get; set; } = "";

        public string Title { get; set; } = "";

        public Person Lead { get; set; } = new();

        public List<Person> Members { get; set; } = new();

        public Settings Settings { get; set; }

        public List<Tag> Tags { get; set; } = new();

        [JsonExtensionData]
        public Dictionary<string, JsonElement>? Unknown { get; set; }
    }
}
