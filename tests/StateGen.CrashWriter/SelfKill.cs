using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;

namespace StateGen.CrashWriter;

/// <summary>
/// A kill this process aims at itself: <see cref="Pause"/> after a moment of its own (<see cref="Arm"/>), measured by its
/// own clock, a dedicated thread prints <c>kill @ms</c> on standard error and kills the process with SIGKILL. The kill tests used to aim
/// from the parent, by when they read the child's lines; a loaded test host reads them late (its thread pool starved),
/// and the kills then landed later than aimed, sometimes all past the part they were aimed at.
/// </summary>
internal sealed class SelfKill
{
    /// <summary>How long before the moment the killing thread stops sleeping and spins (a sleep can overshoot by a tick or more).</summary>
    private static readonly TimeSpan SpinAhead = TimeSpan.FromMilliseconds(15);

    private readonly Stopwatch _clock;
    private int _armed;

    /// <param name="pause">How long after <see cref="Arm"/> the process kills itself.</param>
    /// <param name="clock">The clock the moments are measured by and <c>kill @ms</c> is printed in.</param>
    public SelfKill(TimeSpan pause, Stopwatch clock)
    {
        Pause = pause;
        _clock = clock;
    }

    public TimeSpan Pause { get; }

    /// <summary>The clock the moments are measured by.</summary>
    public Stopwatch Clock => _clock;

    /// <summary>A pause given on the command line, in milliseconds (invariant culture, fractions allowed).</summary>
    public static TimeSpan ParsePause(string milliseconds)
        => TimeSpan.FromMilliseconds(double.Parse(milliseconds, NumberStyles.Float, CultureInfo.InvariantCulture));

    /// <summary>
    /// Takes the moment now (on the caller's thread, so nothing after this call runs before it is taken) and starts the
    /// thread that kills the process <see cref="Pause"/> after it. Later calls do nothing.
    /// </summary>
    public void Arm()
    {
        TimeSpan at = _clock.Elapsed + Pause;
        if (Interlocked.Exchange(ref _armed, 1) != 0)
        {
            return;
        }

        var killer = new Thread(() => KillAt(at)) { IsBackground = true, Name = "self-kill" };
        killer.Start();
    }

    private void KillAt(TimeSpan at)
    {
        while (true)
        {
            TimeSpan left = at - _clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                break;
            }

            if (left > SpinAhead)
            {
                Thread.Sleep(left - SpinAhead);
            }
            else
            {
                Thread.Yield();
            }
        }

        // On standard error: standard output can be full (a parent reading late), and a write there would hold the kill up.
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"kill @{_clock.Elapsed.TotalMilliseconds:F3}"));
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill(); // SIGKILL on Unix
        Thread.Sleep(Timeout.Infinite);
    }
}
