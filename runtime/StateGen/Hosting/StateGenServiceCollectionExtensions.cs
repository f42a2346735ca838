using System;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StateGen;
using StateGen.Caching;
using StateGen.Hosting;
using StateGen.Storage;
using StateGen.Storage.LiteDb;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers StateGen in a service collection.</summary>
public static class StateGenServiceCollectionExtensions
{
    /// <summary>
    /// Registers one shared <see cref="StateManager"/> (a singleton, disposed by the container) and
    /// <see cref="IOptions{StateGenOptions}"/>, validated at host start and when the manager is first resolved.
    /// </summary>
    /// <remarks>
    /// The store is, in this order: the one given to <see cref="StateGenBuilder.UseStore"/>; an
    /// <see cref="IStateStore"/> registered in the container (the container owns it: register it as a singleton); or a
    /// <see cref="LiteDbStateStore"/> on <see cref="StateGenOptions.DatabasePath"/>. A read cache
    /// (<see cref="StateGenOptions.ReadCache"/>) wraps it when enabled. Logs go to <c>ILogger&lt;StateManager&gt;</c>
    /// when logging is registered; the LiteDB store takes its clock from a registered <see cref="TimeProvider"/>.
    /// </remarks>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options in code; optional.</param>
    /// <returns>A builder to choose the store and configure the manager (hooks).</returns>
    public static StateGenBuilder AddStateGen(this IServiceCollection services, Action<StateGenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<StateGenOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StateGenOptions>, StateGenOptionsValidator>());
        services.TryAddSingleton(CreateManager);
        if (configure is not null)
        {
            services.Configure(configure);
        }

        return new StateGenBuilder(services);
    }

    /// <summary>
    /// Registers StateGen with options bound from <paramref name="configuration"/> (a section such as
    /// <c>configuration.GetSection("StateGen")</c>), then changed by <paramref name="configure"/>.
    /// </summary>
    /// <inheritdoc cref="AddStateGen(IServiceCollection, Action{StateGenOptions}?)"/>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section holding the StateGen settings (keys as in <see cref="StateGenOptions"/>).</param>
    /// <param name="configure">Sets options in code after binding; optional.</param>
    public static StateGenBuilder AddStateGen(this IServiceCollection services, IConfiguration configuration, Action<StateGenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddSingleton<IConfigureOptions<StateGenOptions>>(new StateGenConfigurationBinding(configuration));
        return services.AddStateGen(configure);
    }

    private static StateManager CreateManager(IServiceProvider services)
    {
        StateGenOptions options = services.GetRequiredService<IOptions<StateGenOptions>>().Value; // throws OptionsValidationException
        IStateStore store;
        bool ownsStore = true;
        if (services.GetService<StateGenBuilder.StateStoreFactory>() is { } factory)
        {
            store = factory.Create(services);
        }
        else if (services.GetService<IStateStore>() is { } registered)
        {
            store = registered;
            ownsStore = false;
        }
        else
        {
            store = new LiteDbStateStore(new LiteDbStateStoreOptions
            {
                Path = options.DatabasePath,
                RecordChanges = options.RecordChanges,
                ChangeLogLayout = options.ChangeLogLayout,
                UpgradeChangeLog = options.UpgradeChangeLog,
                WriteBehind = options.WriteBehind,
                Durability = options.Durability,
                RelaxedFlushInterval = options.RelaxedFlushInterval,
                CheckpointPages = options.CheckpointPages,
                TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System,
            });
        }

        StateManager? manager = null;
        try
        {
            if (options.ReadCache.IsEnabled)
            {
                var cacheOptions = new CachingStateStoreOptions { MaxEntries = options.ReadCache.MaxEntries, MaxBytes = options.ReadCache.MaxBytes };
                store = CachingStateStore.Create(store, cacheOptions, ownsInner: ownsStore);
                ownsStore = true; // the cache itself; it disposes the inner store only when that was ours
            }

            StateManagerOptions managerOptions = options.ToManagerOptions();
            managerOptions.SensitiveKeyRing = services.GetService<StateGen.Security.StateKeyRing>(); // [Sensitive(Encrypt)] keys, when registered
            manager = new StateManager(store, managerOptions, services.GetService<ILogger<StateManager>>(), ownsStore);
            foreach (IStateManagerConfigurator configurator in services.GetServices<IStateManagerConfigurator>())
            {
                configurator.Configure(manager);
            }

            return manager;
        }
        catch
        {
            // The container never sees a manager that failed here: close what was opened, so the file is not left locked.
            if (manager is not null)
            {
                manager.Dispose();
            }
            else if (ownsStore)
            {
                store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            throw;
        }
    }
}
