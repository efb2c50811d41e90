using System.Runtime.InteropServices;

namespace RecSys.Bench.Common;

/// <summary>
/// CPU time from <c>clock_gettime</c> (Linux): a benchmark on a shared machine reports CPU spent next to wall time, since the
/// wall time moves with the neighbours' load. Returns 0 where the clock is not available.
/// </summary>
public static partial class CpuClocks
{
    private const int ProcessCpuTime = 2; // CLOCK_PROCESS_CPUTIME_ID: every thread of this process.
    private const int ThreadCpuTime = 3;  // CLOCK_THREAD_CPUTIME_ID: the calling thread.

    /// <summary>CPU time of the whole process, in milliseconds.</summary>
    public static double ProcessMilliseconds() => Read(ProcessCpuTime) * 1e3;

    /// <summary>CPU time of the calling thread, in seconds.</summary>
    public static double ThreadSeconds() => Read(ThreadCpuTime);

    private static double Read(int clock) => ClockGetTime(clock, out var ts) == 0 ? ts.Sec + (ts.Nsec * 1e-9) : 0;

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec ts);

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long Nsec;
    }
}
