using System;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StateGen.Security;
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

    /// <summary>
    /// Loads the encryption keys from configuration (<see cref="ConfigurationStateKeyProvider"/>: by default the section
    /// <c>StateGen:Keys</c> with <c>ActiveKeyId</c> and <c>Keys:&lt;id&gt;</c> = base64): registers the provider as
    /// <see cref="IStateKeyProvider"/> and the ring it loads as a <see cref="StateKeyRing"/> singleton (loaded when first
    /// resolved, disposed by the container), which the manager uses for <c>[Sensitive(Encrypt)]</c> members. A store
    /// encrypted at rest takes the same ring: <c>UseStore(sp =&gt; new EncryptedStateStore(inner, new StateEncryptor(sp.GetRequiredService&lt;StateKeyRing&gt;())))</c>.
    /// </summary>
    /// <param name="configuration">The application's configuration.</param>
    /// <param name="sectionPath">The key section's path; empty when <paramref name="configuration"/> is that section.</param>
    /// <exception cref="StateKeyConfigurationException">On resolving the ring, when the keys are missing or malformed.</exception>
    public StateGenBuilder UseKeysFromConfiguration(IConfiguration configuration, string sectionPath = ConfigurationStateKeyProvider.DefaultSectionPath)
    {
        var provider = new ConfigurationStateKeyProvider(configuration, sectionPath);
        Services.RemoveAll<IStateKeyProvider>();
        Services.RemoveAll<StateKeyRing>();
        Services.AddSingleton<IStateKeyProvider>(provider);
        Services.AddSingleton(sp => sp.GetRequiredService<IStateKeyProvider>().GetKeyRingAsync().AsTask().GetAwaiter().GetResult());
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
