using System;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using QuickStart;

namespace StateGen.EndToEnd.Tests;

/// <summary>The QuickStart's own agent type through the whole stack: generated code, StateManager, a real LiteDB file.</summary>
public sealed class QuickStartAgentTests : TempFolderTest
{
    private const string Secret = "sk-ant-api03-e2e-SECRET-do-not-store-7f3a9c";

    private string DbPath => Path.Combine(Folder, "agents.db");

    [Fact]
    public async Task Agent_saved_then_loaded_after_restart_matches_member_by_member()
    {
        ResearchAgent saved = NewAgent();
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            await saved.SaveStateAsync(manager);
        }

        // A new manager on the same file: what a restarted process sees.
        var loaded = new ResearchAgent { Id = saved.Id, ApiKey = "set-by-the-new-process" };
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            Assert.True(await loaded.LoadStateAsync(manager));
        }

        Assert.Equal(saved.Id, loaded.Id);
        Assert.Equal(saved.Topic, loaded.Topic);
        Assert.Equal(saved.Runs, loaded.Runs);
        Assert.Equal(saved.LastRunUtc, loaded.LastRunUtc);
        Assert.Equal(DateTimeKind.Utc, loaded.LastRunUtc!.Value.Kind);
        Assert.Equal(saved.Notes, loaded.Notes);
        Assert.Equal(saved.History.Count, loaded.History.Count);
        for (int i = 0; i < saved.History.Count; i++)
        {
            Assert.Equal(saved.History[i].Role, loaded.History[i].Role);
            Assert.Equal(saved.History[i].Text, loaded.History[i].Text);
            Assert.Equal(saved.History[i].At, loaded.History[i].At);
            Assert.Equal(saved.History[i].At.Offset, loaded.History[i].At.Offset);
        }

        // [Sensitive]: not stored, so the restarted process keeps its own in-memory value.
        Assert.Equal("set-by-the-new-process", loaded.ApiKey);
    }

    [Fact]
    public async Task Raw_bytes_of_the_database_file_contain_no_sensitive_value()
    {
        await using (StateManager manager = StateManager.OpenLiteDb(DbPath))
        {
            ResearchAgent agent = NewAgent();
            await agent.SaveStateAsync(manager);
            agent.Runs++;
            await agent.SaveStateAsync(manager); // a second write: old pages and the log must not hold it either
        }

        byte[] file = File.ReadAllBytes(DbPath);
        Assert.True(file.Length > 0);
        Assert.NotEqual(-1, IndexOf(file, Encoding.UTF8.GetBytes("state that survives")));
        Assert.Equal(-1, IndexOf(file, Encoding.UTF8.GetBytes(Secret)));
        Assert.Equal(-1, IndexOf(file, Encoding.Unicode.GetBytes(Secret)));
        Assert.Equal(-1, IndexOf(file, Encoding.UTF8.GetBytes("ApiKey")));
    }

    [Fact]
    public async Task Loading_when_nothing_is_stored_returns_false_and_leaves_the_agent_unchanged()
    {
        await using StateManager manager = StateManager.OpenLiteDb(DbPath);
        var agent = new ResearchAgent { Id = "nobody", Topic = "kept" };

        Assert.False(await agent.LoadStateAsync(manager));
        Assert.Equal("kept", agent.Topic);
        Assert.Empty(agent.History);
    }

    [Fact]
    public async Task Two_agents_in_two_scopes_with_the_same_id_do_not_collide_and_delete_removes_one()
    {
        await using StateManager manager = StateManager.OpenLiteDb(DbPath);
        var first = new ResearchAgent { Id = "same", Topic = "first" };
        var second = new ResearchAgent { Id = "same", Topic = "second" };
        await first.SaveStateAsync(manager, StateScope.Agent("alpha"));
        await second.SaveStateAsync(manager, StateScope.Agent("beta"));

        var probe = new ResearchAgent { Id = "same" };
        Assert.True(await probe.LoadStateAsync(manager, StateScope.Agent("alpha")));
        Assert.Equal("first", probe.Topic);
        Assert.True(await probe.LoadStateAsync(manager, StateScope.Agent("beta")));
        Assert.Equal("second", probe.Topic);

        Assert.True(await first.DeleteStateAsync(manager, StateScope.Agent("alpha")));
        Assert.False(await probe.LoadStateAsync(manager, StateScope.Agent("alpha")));
        Assert.True(await probe.LoadStateAsync(manager, StateScope.Agent("beta")));
    }

    private static ResearchAgent NewAgent()
    {
        var agent = new ResearchAgent
        {
            Id = "researcher-e2e",
            Topic = "state that survives restarts",
            ApiKey = Secret,
            Runs = 3,
            LastRunUtc = new DateTime(2026, 11, 25, 12, 30, 15, 123, DateTimeKind.Utc).AddTicks(4567),
        };
        agent.History.Add(new Turn { Role = Role.User, Text = "What is new?", At = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.FromHours(1)) });
        agent.History.Add(new Turn { Role = Role.Assistant, Text = "Versioned state, \"quoted\" and ünïcödé.", At = new DateTimeOffset(2026, 11, 25, 12, 0, 1, TimeSpan.Zero) });
        agent.Notes["mood"] = "curious";
        agent.Notes["empty"] = "";
        return agent;
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
