using System.Runtime.InteropServices;

namespace RecSys.Retrieval.Bench;

/// <summary>
/// CPU time of this whole process (every thread: the request's, the thread pool's, the Redis client's reader, GC), the
/// figure a service's CPU-ms per request is made of. The store runs in another process and is not counted.
/// </summary>
internal static partial class CpuClock
{
    /// <summary>CLOCK_PROCESS_CPUTIME_ID on Linux.</summary>
    private const int ProcessCpuTime = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec ts);

    public static double Milliseconds() => ClockGetTime(ProcessCpuTime, out var ts) == 0 ? (ts.Sec * 1e3) + (ts.Nsec * 1e-6) : 0;
}

/// <summary>CPU time of the calling thread (for single-threaded loops).</summary>
internal static partial class ThreadCpu
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec ts);

    /// <summary>CLOCK_THREAD_CPUTIME_ID on Linux.</summary>
    public static double Microseconds() => ClockGetTime(3, out var ts) == 0 ? (ts.Sec * 1e6) + (ts.Nsec * 1e-3) : 0;
}

/// <summary>
/// The request time the sources see (creator recency) is fixed, so that two builds asked the same question get bitwise the
/// same scores; timestamps (cache expiry, elapsed times) and timers stay real.
/// </summary>
internal sealed class FixedNowTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
