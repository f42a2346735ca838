using System.Runtime.CompilerServices;
using System.Threading;

namespace StateGen.Tests.TestSupport;

/// <summary>
/// Raises the thread pool's minimum before any test runs. Many tests block pool threads (waits on events, sleeps in hooks
/// and disk callbacks, child processes' output read on the pool), and on a 2-core machine the pool's default minimum of
/// one thread a core then lets work that a test waits for sit for seconds while the pool grows by injection.
/// </summary>
internal static class ThreadPoolFloor
{
    public const int Threads = 32;

    [ModuleInitializer]
    internal static void Raise()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(System.Math.Max(workers, Threads), System.Math.Max(io, Threads));
    }
}
