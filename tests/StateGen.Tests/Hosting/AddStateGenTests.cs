using System;
using System.Collections.Generic;
using System.IO;
using System.Threading.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StateGen.Caching;
using StateGen.Hooks;
using StateGen.Hosting;
using StateGen.Storage;
using StateGen.Storage.LiteDb;
using StateGen.Storage.Memory;
using StateGen.Tests.Caching;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Hosting;

/// <summary>
/// <c>services.AddStateGen(...)</c> registers one shared manager, built from bound and validated options over the right
/// store, configured by the registered configurators, and disposed (file closed) with the container.
/// </summary>
public sealed class AddStateGenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static IConfiguration Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    [Fact]
    public async Task A_registered_key_ring_encrypts_sensitive_members()
    {
        var services = new ServiceCollection();
        services.AddSingleton(_ => StateGen.Tests.Security.TestKeys.Ring());
        services.AddStateGen(Config(new() { ["StateGen:DatabasePath"] = _dir.File("keys.db") }).GetSection("StateGen"));
        await using ServiceProvider provider = services.BuildServiceProvider();
        StateManager manager = provider.GetRequiredService<StateManager>();

        await new EncryptHookAgent { Id = "e", Secret = StateGen.Tests.Security.TestKeys.Secret }.SaveStateAsync(manager);
        var loaded = new EncryptHookAgent { Id = "e" };
        Assert.True(await loaded.LoadStateAsync(manager));
        Assert.Equal(StateGen.Tests.Security.TestKeys.Secret, loaded.Secret);
        Assert.DoesNotContain(StateGen.Tests.Security.TestKeys.Secret, Backends.Utf8((await manager.Store.GetAsync("global", "encrypt-agent/e"))!.Payload), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolves_one_shared_manager_over_the_LiteDb_file_from_configuration()
    {
        string path = _dir.File("agents.db");
        IConfiguration config = Config(new()
        {
            ["StateGen:DatabasePath"] = path,
            ["StateGen:RecordChanges"] = "false",
            ["StateGen:Durability"] = "relaxed",
            ["StateGen:RelaxedFlushInterval"] = "00:00:02",
            ["StateGen:MaxValueBytes"] = "1000",
            ["StateGen:MaxDepth"] = "32",
            ["StateGen:WriteBackUpgrades"] = "true",
            ["StateGen:HookTimeout"] = "00:00:03",
            ["StateGen:RecordHookHistory"] = "false",
            ["StateGen:SlowOperationThreshold"] = "",
            ["StateGen:ReadCache:MaxEntries"] = "100",
            ["StateGen:ReadCache:MaxBytes"] = "1048576",
        });
        var services = new ServiceCollection();
        services.AddStateGen(config.GetSection("StateGen"));
        await using ServiceProvider provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        StateManager manager = provider.GetRequiredService<StateManager>();
        Assert.Same(manager, provider.GetRequiredService<StateManager>());
        await using (AsyncServiceScope scope = provider.CreateAsyncScope())
        {
            Assert.Same(manager, scope.ServiceProvider.GetRequiredService<StateManager>());
        }

        StateGenOptions options = provider.GetRequiredService<IOptions<StateGenOptions>>().Value;
        Assert.Equal(path, options.DatabasePath);
        Assert.False(options.RecordChanges);
        Assert.Equal(StateGen.Storage.LiteDb.StateDurability.Relaxed, options.Durability);
        Assert.Equal(TimeSpan.FromSeconds(2), options.RelaxedFlushInterval);
        Assert.Equal(1000, options.MaxValueBytes);
        Assert.Equal(32, options.MaxDepth);
        Assert.True(options.WriteBackUpgrades);
        Assert.Equal(TimeSpan.FromSeconds(3), options.HookTimeout);
        Assert.False(options.RecordHookHistory);
        Assert.Null(options.SlowOperationThreshold);
        Assert.Equal((100, 1048576L), (options.ReadCache.MaxEntries, options.ReadCache.MaxBytes));

        var cache = Assert.IsAssignableFrom<CachingStateStore>(manager.Store);
        var store = Assert.IsType<LiteDbStateStore>(cache.Inner);
        Assert.Equal(path, store.FilePath);
        Assert.False(((IStateHistoryStore)manager.Store).RecordsChanges);

        // The manager options are the bound ones: a value over MaxValueBytes is refused.
        await Assert.ThrowsAsync<StateValueTooLargeException>(async () => await manager.SetJsonAsync(StateScope.Global, "big", Backends.JsonString(new string('x', 2000))));
    }

    [Fact]
    public void Defaults_are_the_manager_defaults_with_no_cache()
    {
        var services = new ServiceCollection();
        services.AddStateGen();
        using ServiceProvider provider = services.BuildServiceProvider();

        StateGenOptions options = provider.GetRequiredService<IOptions<StateGenOptions>>().Value;
        var defaults = new StateManagerOptions();

        Assert.Equal("stategen.db", options.DatabasePath);
        Assert.True(options.RecordChanges);
        Assert.Equal(
            (defaults.MaxValueBytes, defaults.MaxDepth, defaults.WriteBackUpgrades, defaults.HookTimeout, defaults.RecordHookHistory, defaults.SlowOperationThreshold),
            (options.MaxValueBytes, options.MaxDepth, options.WriteBackUpgrades, options.HookTimeout, options.RecordHookHistory, options.SlowOperationThreshold));
        Assert.False(options.ReadCache.IsEnabled);
    }

    [Fact]
    public void Code_configuration_runs_after_configuration_binding()
    {
        var services = new ServiceCollection();
        services.AddStateGen(Config(new() { ["MaxDepth"] = "20", ["MaxValueBytes"] = "5000" }), o => o.MaxDepth = 10)
            .Configure(o => o.MaxValueBytes *= 2);
        using ServiceProvider provider = services.BuildServiceProvider();

        StateGenOptions options = provider.GetRequiredService<IOptions<StateGenOptions>>().Value;

        Assert.Equal(10, options.MaxDepth);
        Assert.Equal(10000, options.MaxValueBytes);
    }

    [Fact]
    public void Invalid_options_fail_with_one_OptionsValidationException_naming_every_problem()
    {
        string path = _dir.File("never.db");
        IConfiguration config = Config(new()
        {
            ["StateGen:DatabasePath"] = path,
            ["StateGen:MaxDepth"] = "0",
            ["StateGen:MaxValueBytes"] = "-1",
            ["StateGen:HookTimeout"] = "soon",
            ["StateGen:RecordChanges"] = "yes",
            ["StateGen:Durability"] = "fast",
            ["StateGen:RelaxedFlushInterval"] = "00:00:00",
            ["StateGen:ReadCache:MaxEntries"] = "-5",
            ["StateGen:MaxDeph"] = "12",
        });
        var services = new ServiceCollection();
        services.AddStateGen(config.GetSection("StateGen"));
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<StateManager>());

        Assert.Equal(typeof(StateGenOptions), error.OptionsType);
        Assert.Contains("StateGen:MaxDepth must be between 1 and", error.Message);
        Assert.Contains("StateGen:MaxValueBytes must be positive (was -1)", error.Message);
        Assert.Contains("StateGen:HookTimeout must be a time span such as 00:00:10 (was 'soon')", error.Message);
        Assert.Contains("StateGen:RecordChanges must be true or false (was 'yes')", error.Message);
        Assert.Contains("StateGen:Durability must be Durable or Relaxed (was 'fast')", error.Message);
        Assert.Contains("StateGen:RelaxedFlushInterval must be positive", error.Message);
        Assert.Contains("StateGen:ReadCache:MaxEntries must be 0 (no entry limit) or positive (was -5)", error.Message);
        Assert.Contains("StateGen:MaxDeph is not a StateGen setting", error.Message);
        Assert.False(File.Exists(path)); // nothing was opened

        // The host runs the same check at start (ValidateOnStart).
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("SegmentFiles", true)]
    [InlineData("collection", false)]
    public async Task The_change_log_layout_is_bound_from_configuration_and_decides_a_new_files_layout(string? configured, bool segmented)
    {
        string path = _dir.File($"layout-{configured}.db");
        var values = new Dictionary<string, string?> { ["StateGen:DatabasePath"] = path };
        if (configured is not null)
        {
            values["StateGen:ChangeLogLayout"] = configured;
        }

        var services = new ServiceCollection();
        services.AddStateGen(Config(values).GetSection("StateGen"));
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
            StateManager manager = provider.GetRequiredService<StateManager>();
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.JsonString("v"));
            Assert.Equal(segmented, Assert.IsType<LiteDbStateStore>(manager.Store).ChangeLogFolder is not null);
        }

        Assert.Equal(segmented, Directory.Exists(path + ".changes"));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("true", true)]
    public async Task Upgrading_the_change_log_of_an_existing_file_is_bound_from_configuration(string? configured, bool converted)
    {
        string path = _dir.File($"upgrade-{configured}.db");
        using (LiteDbStateStore old = StateGen.Tests.TestSupport.CollectionLayout.Open(path))
        {
            await old.WriteAsync(new StateGen.Storage.StateWrite("global", "k", "Note", 1, "\"v\""u8.ToArray()));
        }

        var values = new Dictionary<string, string?> { ["StateGen:DatabasePath"] = path };
        if (configured is not null)
        {
            values["StateGen:UpgradeChangeLog"] = configured;
        }

        var services = new ServiceCollection();
        services.AddStateGen(Config(values).GetSection("StateGen"));
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
            StateManager manager = provider.GetRequiredService<StateManager>();
            Assert.Equal(converted, Assert.IsType<LiteDbStateStore>(manager.Store).ChangeLogFolder is not null);
            Assert.Single(await manager.Store.ListKeysAsync("global"));
        }
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public async Task Writing_behind_is_bound_from_configuration(string? configured, bool behind)
    {
        string path = _dir.File($"behind-{configured}.db");
        var values = new Dictionary<string, string?> { ["StateGen:DatabasePath"] = path };
        if (configured is not null)
        {
            values["StateGen:WriteBehind"] = configured;
        }

        var services = new ServiceCollection();
        services.AddStateGen(Config(values).GetSection("StateGen"));
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
            StateManager manager = provider.GetRequiredService<StateManager>();
            await manager.Store.WriteAsync(new StateGen.Storage.StateWrite("global", "k", "Note", 1, "\"v\""u8.ToArray()));

            // Written behind, the value waits in the store's overlay until a list (or the close) applies it.
            Assert.Equal(behind ? 1 : 0, Assert.IsType<LiteDbStateStore>(manager.Store).PendingValueCount);
        }
    }

    [Fact]
    public void An_unknown_change_log_layout_is_a_binding_error_naming_the_choices()
    {
        var services = new ServiceCollection();
        services.AddStateGen(Config(new() { ["StateGen:ChangeLogLayout"] = "1" }).GetSection("StateGen"));
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("StateGen:ChangeLogLayout must be SegmentFiles or Collection (was '1')", error.Message);
    }

    [Theory]
    [InlineData("64", 64)]
    [InlineData("100000", LiteDbStateStore.MaxCheckpointPages)]
    [InlineData("", LiteDbStateStore.DefaultCheckpointPages)]
    [InlineData(null, LiteDbStateStore.DefaultCheckpointPages)]
    public async Task The_checkpoint_threshold_is_bound_from_configuration_into_the_store(string? configured, int expected)
    {
        var values = new Dictionary<string, string?> { ["StateGen:DatabasePath"] = _dir.File("checkpoint.db") };
        if (configured is not null)
        {
            values["StateGen:CheckpointPages"] = configured;
        }

        var services = new ServiceCollection();
        services.AddStateGen(Config(values).GetSection("StateGen"));
        await using ServiceProvider provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        StateManager manager = provider.GetRequiredService<StateManager>();
        Assert.Equal(configured is null or "" ? null : expected, provider.GetRequiredService<IOptions<StateGenOptions>>().Value.CheckpointPages);
        Assert.Equal(expected, Assert.IsType<LiteDbStateStore>(manager.Store).CheckpointThreshold);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("100001")]
    public void An_out_of_range_checkpoint_threshold_fails_at_start_naming_the_setting(string configured)
    {
        string path = _dir.File("never.db");
        var services = new ServiceCollection();
        services.AddStateGen(Config(new() { ["StateGen:DatabasePath"] = path, ["StateGen:CheckpointPages"] = configured }).GetSection("StateGen"));
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains($"StateGen:CheckpointPages must be from 1 to {LiteDbStateStore.MaxCheckpointPages} pages (was {configured})", error.Message);
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<StateManager>());
        Assert.False(File.Exists(path)); // nothing was opened
    }

    [Fact]
    public void A_checkpoint_threshold_that_is_not_a_number_is_a_binding_error()
    {
        var services = new ServiceCollection();
        services.AddStateGen(Config(new() { ["StateGen:CheckpointPages"] = "many" }).GetSection("StateGen"));
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("StateGen:CheckpointPages must be a whole number of pages (or empty for the store's default) (was 'many')", error.Message);
        Assert.DoesNotContain("must be from 1 to", error.Message); // the setting kept its default: one error, not two
    }

    [Fact]
    public async Task The_container_disposes_the_manager_and_closes_the_file()
    {
        string path = _dir.File("closed.db");
        var services = new ServiceCollection();
        services.AddStateGen(o => o.DatabasePath = path);
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            StateManager manager = provider.GetRequiredService<StateManager>();
            await new Note { Id = "n1", Topic = "kept" }.SaveStateAsync(manager);
        }

        // Opening the same file again in this process works only when the first store was disposed.
        await using var reopened = new StateManager(new LiteDbStateStore(path));
        var note = new Note { Id = "n1" };
        Assert.True(await note.LoadStateAsync(reopened));
        Assert.Equal("kept", note.Topic);
    }

    [Fact]
    public async Task UseStore_supplies_the_store_and_the_manager_owns_it()
    {
        string path = _dir.File("unused.db");
        ProbeStore? created = null;
        var services = new ServiceCollection();
        services.AddSingleton<IStateStore>(new MemoryStateStore()); // UseStore wins over a registration
        services.AddStateGen(o => o.DatabasePath = path)
            .UseStore(_ => created = new ProbeStore(new MemoryStateStore()));
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            StateManager manager = provider.GetRequiredService<StateManager>();
            Assert.Same(created, manager.Store);
            await manager.SetJsonAsync(StateScope.Global, "k", Backends.JsonString("v"));
            Assert.Equal(1, created!.WriteCount);
        }

        Assert.Equal(1, created.DisposeCount);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task A_registered_store_is_used_and_left_to_the_container_to_dispose()
    {
        var registered = new ProbeStore(new MemoryStateStore());
        var services = new ServiceCollection();
        services.AddSingleton<IStateStore>(_ => registered);
        services.AddStateGen(o => o.ReadCache.MaxEntries = 10);
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            StateManager manager = provider.GetRequiredService<StateManager>();
            var cache = Assert.IsAssignableFrom<CachingStateStore>(manager.Store);
            Assert.Same(registered, cache.Inner);
            Assert.False(manager.Store is IStateHistoryStore); // mirrors the inner store
        }

        Assert.Equal(1, registered.DisposeCount); // by the container, not again by the manager or the cache
    }

    [Fact]
    public async Task Configurators_register_hooks_before_the_manager_is_handed_out()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IStateManagerConfigurator, DenyKeyHook>();
        services.AddStateGen().UseStore(_ => new MemoryStateStore())
            .ConfigureManager((manager, sp) => manager.Hooks.Register(StateHookPoint.BeforeChange, "deny-drafts", context =>
                context.Key.StartsWith("draft", StringComparison.Ordinal) ? StateHookResult.Cancel("drafts are not kept") : StateHookResult.Continue));
        await using ServiceProvider provider = services.BuildServiceProvider();
        StateManager manager = provider.GetRequiredService<StateManager>();

        StateWriteResult draft = await manager.SetJsonAsync(StateScope.Global, "draft-1", Backends.JsonString("x"));
        StateWriteResult secret = await manager.SetJsonAsync(StateScope.Global, "secret", Backends.JsonString("x"));
        StateWriteResult kept = await manager.SetJsonAsync(StateScope.Global, "kept", Backends.JsonString("x"));

        Assert.Equal(StateWriteStatus.Canceled, draft.Status);
        Assert.Equal(StateWriteStatus.Canceled, secret.Status);
        Assert.Equal(StateWriteStatus.Written, kept.Status);
    }

    [Fact]
    public async Task A_failing_configurator_fails_resolution_and_leaves_the_file_closed()
    {
        string path = _dir.File("configured.db");
        var services = new ServiceCollection();
        services.AddStateGen(o => o.DatabasePath = path)
            .ConfigureManager((_, _) => throw new InvalidOperationException("hook setup failed"));
        await using (ServiceProvider provider = services.BuildServiceProvider())
        {
            InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<StateManager>());
            Assert.Equal("hook setup failed", error.Message);
        }

        await using var reopened = new LiteDbStateStore(path); // not still held by the failed manager
    }

    [Fact]
    public async Task Logs_go_to_the_containers_ILogger_of_StateManager()
    {
        var logger = new ListLogger<StateManager>();
        var services = new ServiceCollection();
        services.AddSingleton<ILogger<StateManager>>(logger);
        services.AddStateGen().UseStore(_ => new MemoryStateStore());
        await using ServiceProvider provider = services.BuildServiceProvider();

        await new Note { Id = "n1" }.SaveStateAsync(provider.GetRequiredService<StateManager>());

        Assert.NotEmpty(logger.Messages);
    }

    [Fact]
    public void Calling_AddStateGen_twice_still_registers_one_manager()
    {
        var services = new ServiceCollection();
        services.AddStateGen().UseStore(_ => new MemoryStateStore());
        services.AddStateGen(o => o.MaxDepth = 12);
        using ServiceProvider provider = services.BuildServiceProvider();

        Assert.Single(provider.GetServices<StateManager>());
        Assert.Equal(12, provider.GetRequiredService<IOptions<StateGenOptions>>().Value.MaxDepth);
    }

    private sealed class DenyKeyHook : IStateManagerConfigurator
    {
        public void Configure(StateManager manager)
            => manager.Hooks.Register(StateHookPoint.BeforeChange, "deny-secret", context =>
                context.Key == "secret" ? StateHookResult.Cancel("no secrets") : StateHookResult.Continue);
    }
}
