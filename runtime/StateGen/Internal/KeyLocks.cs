using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Internal;

/// <summary>
/// Per-key async locks for a manager's write paths: one save of an agent is never interleaved with another save of the
/// same agent. Keys hash onto a fixed set of stripes (no allocation per key). Re-entrant within one async flow, so a
/// hook that writes a key of the same stripe does not deadlock on its own operation.
/// </summary>
/// <remarks>
/// Usage, inside the async method that runs the operation (the held mark is an <see cref="AsyncLocal{T}"/> and must be
/// set in that method so the hooks it calls see it and it is undone when the method returns):
/// <code>
/// int stripe = KeyLocks.StripeOf(scope, key);
/// bool entered = !_locks.IsHeld(stripe);
/// if (entered) { await _locks.WaitAsync(stripe, ct); _locks.MarkHeld(stripe); }
/// try { ... } finally { if (entered) _locks.Release(stripe); }
/// </code>
/// </remarks>
internal sealed class KeyLocks
{
    private const int StripeCount = 256;
    private static readonly AsyncLocal<Held?> s_held = new();
    private readonly SemaphoreSlim[] _stripes;

    public KeyLocks()
    {
        _stripes = new SemaphoreSlim[StripeCount];
        for (int i = 0; i < _stripes.Length; i++)
        {
            _stripes[i] = new SemaphoreSlim(1, 1);
        }
    }

    public static int StripeOf(string scope, string key) => (int)((uint)HashCode.Combine(scope, key) % StripeCount);

    /// <summary>The distinct stripes of several keys in ascending order (the order to take them in).</summary>
    public static int[] StripesOf(IEnumerable<(string Scope, string Key)> keys)
    {
        var stripes = new SortedSet<int>();
        foreach (var (scope, key) in keys)
        {
            stripes.Add(StripeOf(scope, key));
        }

        return [.. stripes];
    }

    /// <summary>Whether this async flow holds the stripe already.</summary>
    public bool IsHeld(int stripe)
    {
        for (Held? held = s_held.Value; held is not null; held = held.Next)
        {
            if (held.Stripe == stripe && ReferenceEquals(held.Owner, this))
            {
                return true;
            }
        }

        return false;
    }

    public Task WaitAsync(int stripe, CancellationToken cancellationToken) => _stripes[stripe].WaitAsync(cancellationToken);

    public void MarkHeld(int stripe) => s_held.Value = new Held(this, stripe, s_held.Value);

    public void Release(int stripe) => _stripes[stripe].Release();

    private sealed record Held(KeyLocks Owner, int Stripe, Held? Next);
}
