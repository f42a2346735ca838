using System;
using Microsoft.Extensions.DependencyInjection;
using StateGen.Storage;

namespace StateGen.Hosting;

/// <summary>
/// Returned by <c>services.AddStateGen(...)</c>: chooses the store and configures the shared <see cref="StateManager"/>
/// (hooks, change subscribers) when the container creates it.
/// </summary>
public sealed class StateGenBuilder
{
    internal StateGenBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection StateGen was added to.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Changes the options in code, after configuration binding.</summary>
    public StateGenBuilder Configure(Action<StateGenOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }

    /// <summary>
    /// Uses the store <paramref name="factory"/> creates instead of the LiteDB file (and instead of any
    /// <see cref="IStateStore"/> registered in the container). The manager owns that store and disposes it with itself.
    /// The last call wins.
    /// </summary>
    public StateGenBuilder UseStore(Func<IServiceProvider, IStateStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.AddSingleton(new StateStoreFactory(factory));
        return this;
    }

    /// <summary>
    /// Runs <paramref name="configure"/> once on the new manager, before anyone else gets it: the place to register hooks
    /// (<see cref="StateManager.Hooks"/>) and change subscribers. Same as registering an
    /// <see cref="IStateManagerConfigurator"/>; configurators run in registration order.
    /// </summary>
    public StateGenBuilder ConfigureManager(Action<StateManager, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.AddSingleton<IStateManagerConfigurator>(sp => new DelegateConfigurator(configure, sp));
        return this;
    }

    internal sealed class StateStoreFactory(Func<IServiceProvider, IStateStore> create)
    {
        public IStateStore Create(IServiceProvider services)
            => create(services) ?? throw new InvalidOperationException("The StateGen store factory (StateGenBuilder.UseStore) returned null.");
    }

    private sealed class DelegateConfigurator(Action<StateManager, IServiceProvider> configure, IServiceProvider services) : IStateManagerConfigurator
    {
        public void Configure(StateManager manager) => configure(manager, services);
    }
}

/// <summary>
/// Configures the shared <see cref="StateManager"/> once, when the container creates it (for example, registers hooks).
/// Register implementations as singletons: <c>services.AddSingleton&lt;IStateManagerConfigurator, AuditHooks&gt;()</c>.
/// </summary>
public interface IStateManagerConfigurator
{
    /// <summary>Configures the new manager; it is not in use yet. An exception here fails the manager's creation.</summary>
    void Configure(StateManager manager);
}
