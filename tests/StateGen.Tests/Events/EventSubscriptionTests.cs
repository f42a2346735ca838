using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StateGen.Events;
using StateGen.Tests.Hooks;
using StateGen.Tests.TestSupport;

namespace StateGen.Tests.Events;

/// <summary>Subscriptions are bounded and never slow writers down; disposing ends them.</summary>
public sealed class EventSubscriptionTests : IDisposable
{
    private const int Writes = 1000;
    private const int Capacity = 4;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static async Task WriteManyAsync(StateManager manager)
    {
        for (int i = 1; i <= Writes; i++)
        {
            await manager.SetJsonAsync(StateScope.Global, "counter", Backends.Json(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public async Task A_subscriber_that_never_reads_does_not_block_writers_and_keeps_the_newest_events_with_DropOldest()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        using StateEventSubscription idle = manager.Events.Subscribe(capacity: Capacity, overflow: StateEventOverflow.DropOldest);
        using StateEventSubscription reader = manager.Events.Subscribe(capacity: Writes);

        await WriteManyAsync(manager);

        Assert.Equal(Writes, (await manager.Store.GetAsync("global", "counter"))!.Version);
        Assert.Equal(Writes - Capacity, idle.DroppedCount);
        Assert.Equal(new long[] { 997, 998, 999, 1000 }, idle.Drain().Select(e => e.Version));
        Assert.Equal(0, reader.DroppedCount);
        Assert.Equal(Enumerable.Range(1, Writes).Select(i => (long)i), reader.Drain().Select(e => e.Version));
    }

    [Fact]
    public async Task DropNewest_keeps_the_first_events()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        using StateEventSubscription idle = manager.Events.Subscribe(capacity: Capacity, overflow: StateEventOverflow.DropNewest);

        await WriteManyAsync(manager);

        Assert.Equal(Writes, (await manager.Store.GetAsync("global", "counter"))!.Version);
        Assert.Equal(Writes - Capacity, idle.DroppedCount);
        List<StateChangeEvent> kept = idle.Drain();
        Assert.Equal(new long[] { 1, 2, 3, 4 }, kept.Select(e => e.Version));
        Assert.Equal(new[] { 1, 2, 3, 4 }, kept.Select(e => e.NewValue!.Value.GetInt32()));
    }

    [Fact]
    public async Task Disposing_a_subscription_completes_its_reader_after_the_buffered_events()
    {
        await using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        StateEventSubscription subscription = manager.Events.Subscribe();
        using StateEventSubscription other = manager.Events.Subscribe();
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));

        subscription.Dispose();
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("2"));

        Assert.False(subscription.Reader.Completion.IsCompleted); // one buffered event is still to be read
        var read = new List<long>();
        await foreach (StateChangeEvent e in subscription.ReadAllAsync())
        {
            read.Add(e.Version);
        }

        Assert.Equal(new long[] { 1 }, read);
        Assert.True(subscription.Reader.Completion.IsCompletedSuccessfully);
        Assert.Equal(2, other.Drain().Count);

        other.Dispose();
        Assert.False(manager.Events.HasSubscribers);
        Assert.True(other.Reader.Completion.IsCompletedSuccessfully);
    }

    [Theory]
    [InlineData(Backends.Memory, false)]
    [InlineData(Backends.LiteDb, false)]
    [InlineData(Backends.Memory, true)]
    public async Task Disposing_the_manager_completes_every_reader(string backend, bool synchronousDispose)
    {
        StateManager manager = Backends.CreateManager(backend, _dir);
        StateEventSubscription first = manager.Events.Subscribe();
        StateEventSubscription filtered = manager.Events.Subscribe(new StateEventFilter { ScopePattern = "agent/*" });
        await manager.SetJsonAsync(StateScope.Global, "k", Backends.Json("1"));
        Task<List<long>> pending = ReadToEndAsync(filtered);
        Assert.False(pending.IsCompleted);

        if (synchronousDispose)
        {
            manager.Dispose();
        }
        else
        {
            await manager.DisposeAsync();
        }

        Assert.Empty(await pending); // the waiting reader ends (a hang here is the failure)
        Assert.Equal(new long[] { 1 }, first.Drain().Select(e => e.Version));
        Assert.True(first.Reader.Completion.IsCompletedSuccessfully);
        Assert.False(manager.Events.HasSubscribers);
        first.Dispose();
        filtered.Dispose();

        static async Task<List<long>> ReadToEndAsync(StateEventSubscription subscription)
        {
            var versions = new List<long>();
            await foreach (StateChangeEvent e in subscription.ReadAllAsync())
            {
                versions.Add(e.Version);
            }

            return versions;
        }
    }

    [Fact]
    public void Capacity_must_be_positive()
    {
        using StateManager manager = Backends.CreateManager(Backends.Memory, _dir);
        Assert.Throws<ArgumentOutOfRangeException>(() => manager.Events.Subscribe(capacity: 0));
        Assert.False(manager.Events.HasSubscribers);
    }
}
