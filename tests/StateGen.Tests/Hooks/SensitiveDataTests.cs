using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.Hooks;
using StateGen.History;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;
using static StateGen.Tests.Hooks.HookTestSupport;

namespace StateGen.Tests.Hooks;

/// <summary>
/// A [Sensitive] member's value never leaves the caller's instance: not into events, hook contexts, hook history, the
/// timeline, log lines, hook failure messages or the database file.
/// </summary>
public sealed class SensitiveDataTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(Backends.Memory, SensitiveMode.Omit)]
    [InlineData(Backends.LiteDb, SensitiveMode.Omit)]
    [InlineData(Backends.Memory, SensitiveMode.Redact)]
    [InlineData(Backends.LiteDb, SensitiveMode.Redact)]
    [InlineData(Backends.Memory, SensitiveMode.Encrypt)]
    [InlineData(Backends.LiteDb, SensitiveMode.Encrypt)]
    public Task A_sensitive_value_appears_in_no_event_hook_context_history_timeline_log_exception_or_file(string backend, SensitiveMode mode) => mode switch
    {
        SensitiveMode.Omit => SinksNeverSeeTheSecret<HookAgent>(backend, mode),
        SensitiveMode.Redact => SinksNeverSeeTheSecret<RedactHookAgent>(backend, mode),
        _ => SinksNeverSeeTheSecret<EncryptHookAgent>(backend, mode),
    };

    private async Task SinksNeverSeeTheSecret<T>(string backend, SensitiveMode mode)
        where T : class, IPersistentState<T>, ISensitiveHolder, new()
    {
        string secret = "sk-live-" + Guid.NewGuid().ToString("N");
        string typeName = T.StateInfo.TypeName;
        var texts = new ConcurrentBag<(string Where, string Text)>();
        var logger = new CapturingLogger<StateManager>();
        string path = _dir.File("sensitive.db");
        IStateStore store = backend == Backends.LiteDb ? new LiteDbStateStore(path) : new MemoryStateStore();
        using StateGen.Security.StateKeyRing ring = StateGen.Tests.Security.TestKeys.Ring();
        var options = new StateManagerOptions { SlowOperationThreshold = TimeSpan.Zero, SensitiveKeyRing = ring }; // every operation also logs as slow
        StateScope scope = StateScope.Agent("secretive");
        T agent = Make<T>("s1", secret);
        agent.Name = "holder";
        agent.Step = 1;
        agent.Log = new() { "entry" };
        var exceptions = new List<Exception>();
        int historyCount, timelineCount, hookRuns = 0;

        await using (var manager = new StateManager(store, options, logger))
        {
            using StateEventSubscription subscription = manager.Events.Subscribe();
            foreach (StateHookPoint point in new[] { StateHookPoint.BeforeChange, StateHookPoint.AfterChange, StateHookPoint.BeforeDelete, StateHookPoint.AfterDelete })
            {
                manager.Hooks.Register(point, "spy-" + point, c =>
                {
                    hookRuns++;
                    texts.Add(($"hook {c.Point} old", Text(c.OldDocument)));
                    texts.Add(($"hook {c.Point} new", Text(c.NewDocument)));
                    texts.Add(($"hook {c.Point} old value", c.OldValue?.GetRawText() ?? string.Empty));
                    texts.Add(($"hook {c.Point} new value", c.NewValue?.GetRawText() ?? string.Empty));
                    texts.Add(($"hook {c.Point} metadata", string.Join(",", c.Metadata.Select(m => m.Key + "=" + m.Value))));
                    return StateHookResult.Continue;
                }, new StateHookOptions { Priority = 100 });
            }

            manager.Hooks.Register(StateHookPoint.BeforeChange, "rewrite", c => c.Key.Substring(c.Key.IndexOf('/') + 1) switch
            {
                "throws" when c.TypeName == typeName => throw new InvalidOperationException("hook saw " + c.NewValue?.GetRawText()),
                "bad-shape" when c.TypeName == typeName => StateHookResult.Modify(Encoding.UTF8.GetBytes("{\"Step\":\"" + c.NewValue?.GetRawText() + "\"}")),
                _ when c.TypeName == typeName => ModifyObject(c, o => o["Name"] = "rewritten"),
                _ => StateHookResult.Continue,
            });
            manager.Hooks.Register(StateHookPoint.AfterChange, "after-throws", c => c.Key == typeName + "/after" ? throw new InvalidOperationException("after saw " + c.NewValue?.GetRawText()) : StateHookResult.Continue, new StateHookOptions { ScopePattern = "agent/secretive" });

            using (StateCorrelation.Begin("sensitive-corr", new Dictionary<string, string> { ["step"] = "plan" }))
            {
                await manager.SaveAsync(agent, scope);
                agent.Step = 2;
                await manager.SaveAsync(agent, scope);
                await manager.SetAsync(scope, "explicit", Make<T>("x", secret));
                await manager.CreateBatch()
                    .Save(Make<T>("batched", secret), scope)
                    .Set(StateScope.Global, "batched-explicit", Make<T>("y", secret))
                    .CommitAsync();
                foreach (string id in new[] { "throws", "bad-shape", "after" })
                {
                    exceptions.Add(await Assert.ThrowsAsync<StateHookException>(() => manager.SaveAsync(Make<T>(id, secret), scope).AsTask()));
                }

                var loaded = new T { Id = "s1" };
                Assert.True(await manager.LoadAsync(loaded, scope));
                Assert.Equal(mode == SensitiveMode.Encrypt ? secret : null, loaded.Secret); // only Encrypt stores it (as a ciphertext)
                Assert.Equal("rewritten", loaded.Name);
                Assert.Equal(4, await manager.ForkAsync(scope, StateScope.Agent("fork"))); // s1, explicit, batched, after
                await manager.DeleteAsync(agent, scope);
            }

            // The caller still holds the secret: it was there to leak at every step.
            Assert.Equal(secret, agent.Secret);

            foreach (StateChangeEvent e in subscription.Drain())
            {
                AddEvent("event", e);
            }

            IReadOnlyList<HookExecutionRecord> history = await manager.GetHookHistoryAsync(new HookExecutionQuery());
            foreach (HookExecutionRecord r in history)
            {
                texts.Add(($"history {r.HookId} old", Text(r.OldValue)));
                texts.Add(($"history {r.HookId} new", Text(r.NewValue)));
                texts.Add(($"history {r.HookId} result", Text(r.ResultValue)));
                texts.Add(($"history {r.HookId} fields", string.Join("|", r.HookId, r.Point, r.Scope, r.Key, r.TypeName, r.Outcome, r.Error, r.CorrelationId)));
            }

            IReadOnlyList<StateChangeEvent> timeline = await manager.GetTimelineAsync(new StateTimelineQuery());
            foreach (StateChangeEvent e in timeline)
            {
                AddEvent("timeline", e);
            }

            historyCount = history.Count;
            timelineCount = timeline.Count;
        }

        int eventCount = texts.Count(t => t.Where.StartsWith("event", StringComparison.Ordinal));
        foreach (Exception ex in exceptions)
        {
            texts.Add(("exception message", ex.Message));
            texts.Add(("exception inner message", ex.InnerException is StateGenException inner ? inner.Message : string.Empty));
        }

        texts.Add(("log", logger.AllText()));

        // Nothing vacuous: every channel saw the operations.
        Assert.True(eventCount > 0 && historyCount > 0 && timelineCount > 0 && hookRuns > 0);
        Assert.Contains(logger.Entries, e => e.EventId.Name == "SlowOperation"); // slow-operation warnings
        Assert.Contains(logger.Entries, e => e.EventId.Name == "HookFailed"); // hook failures
        Assert.Equal(3, exceptions.Count);

        foreach ((string where, string text) in texts)
        {
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"The secret leaked into {where}.");
            if (mode == SensitiveMode.Omit)
            {
                Assert.False(text.Contains("\"Secret\"", StringComparison.Ordinal), $"The sensitive member was written into {where}.");
            }
        }

        if (backend == Backends.LiteDb)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(secret), utf16 = Encoding.Unicode.GetBytes(secret);
            string[] files = Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories);
            Assert.Contains(path, files);
            foreach (string file in files)
            {
                byte[] bytes = await File.ReadAllBytesAsync(file);
                Assert.True(bytes.AsSpan().IndexOf(utf8) < 0, $"The secret is in {file} (UTF-8).");
                Assert.True(bytes.AsSpan().IndexOf(utf16) < 0, $"The secret is in {file} (UTF-16).");
            }
        }

        void AddEvent(string where, StateChangeEvent e)
        {
            texts.Add(($"{where} {e.Key} new", Text(e.NewDocument)));
            texts.Add(($"{where} {e.Key} old", Text(e.OldDocument)));
            texts.Add(($"{where} {e.Key} new value", e.NewValue?.GetRawText() ?? string.Empty));
            texts.Add(($"{where} {e.Key} old value", e.OldValue?.GetRawText() ?? string.Empty));
            texts.Add(($"{where} {e.Key} changed", string.Join(",", e.ChangedMembers)));
        }
    }

    private static T Make<T>(string id, string secret)
        where T : ISensitiveHolder, new()
        => new() { Id = id, Secret = secret };

    [Theory]
    [InlineData(Backends.Memory)]
    [InlineData(Backends.LiteDb)]
    public async Task A_hook_that_substitutes_a_document_with_a_sensitive_member_does_not_get_it_stored(string backend)
    {
        // A hook that builds its document from a live instance (for example with a reflection serializer) can put a
        // [Sensitive] member in it. The stored value is the type's own form of that document, as on any save.
        string secret = "sk-live-" + Guid.NewGuid().ToString("N");
        string path = _dir.File("modify-sensitive.db");
        IStateStore store = backend == Backends.LiteDb ? new LiteDbStateStore(path) : new MemoryStateStore();
        var texts = new List<(string Where, string Text)>();
        var agent = new HookAgent { Id = "m1", Name = "caller", Secret = "callers-own" };
        await using (var manager = new StateManager(store))
        {
            using StateEventSubscription subscription = manager.Events.Subscribe();
            manager.Hooks.Register(StateHookPoint.BeforeChange, "from-live-instance", _ => StateHookResult.Modify(Encoding.UTF8.GetBytes(
                $$"""{"Id":"m1","Name":"from-hook","Step":3,"Log":["x"],"Secret":"{{secret}}"}""")));
            manager.Hooks.Register(StateHookPoint.AfterChange, "spy", c =>
            {
                texts.Add(("after hook new", Text(c.NewDocument)));
                return StateHookResult.Continue;
            });

            await agent.SaveStateAsync(manager);
            await manager.SetAsync(StateScope.Global, "explicit", new HookAgent { Id = "e" });
            await manager.CreateBatch().Save(new HookAgent { Id = "m1" }, StateScope.Agent("b")).CommitAsync();

            var loaded = (await manager.GetAsync<HookAgent>(StateScope.Global, AgentKey("m1")))!;
            Assert.Equal(("from-hook", 3), (loaded.Name, loaded.Step));
            Assert.Null(loaded.Secret);
            Assert.Equal(("from-hook", 3, "callers-own"), (agent.Name, agent.Step, agent.Secret));
            texts.Add(("stored", Text((await manager.Store.GetAsync("global", AgentKey("m1")))!.Payload)));
            texts.Add(("stored explicit", Text((await manager.Store.GetAsync("global", "explicit"))!.Payload)));
            texts.Add(("stored batch", Text((await manager.Store.GetAsync("agent/b", AgentKey("m1")))!.Payload)));
            texts.AddRange(subscription.Drain().Select(e => ("event " + e.Key, Text(e.NewDocument))));
            texts.AddRange((await manager.GetTimelineAsync(new StateTimelineQuery())).Select(e => ("timeline " + e.Key, Text(e.NewDocument))));
        }

        Assert.Equal(12, texts.Count); // 3 writes: after hook, stored, event, timeline
        foreach ((string where, string text) in texts)
        {
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"The secret leaked into {where}.");
            Assert.Contains("from-hook", text, StringComparison.Ordinal);
        }

        if (backend == Backends.LiteDb)
        {
            Assert.True((await File.ReadAllBytesAsync(path)).AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0);
        }
    }
}
