using System.Reflection;
using System.Runtime.InteropServices;

namespace RecSys.VectorSearch.Bench;

/// <summary>Thread CPU time, so QPS on a busy shared machine can be judged apart from wall time.</summary>
internal static partial class ThreadClock
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec ts);

    public static double Seconds()
    {
        // CLOCK_THREAD_CPUTIME_ID = 3 on Linux.
        return ClockGetTime(3, out var ts) == 0 ? ts.Sec + (ts.Nsec * 1e-9) : 0;
    }
}

/// <summary>
/// The USearch C# wrapper sets expansion (ef) only in its constructor; the C library it ships can change it per index.
/// We reach the wrapper's private native handle by reflection and call the C functions directly.
/// </summary>
internal static partial class USearchNative
{
    [LibraryImport("libusearch_c", EntryPoint = "usearch_change_expansion_search")]
    private static partial void ChangeExpansionSearch(nint index, nuint expansion, out nint error);

    [LibraryImport("libusearch_c", EntryPoint = "usearch_memory_usage")]
    private static partial nuint MemoryUsage(nint index, out nint error);

    private static nint Handle(object wrapper)
    {
        var f = wrapper.GetType().GetField("_index", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new MissingFieldException("USearchIndex._index not found");
        return (nint)f.GetValue(wrapper)!;
    }

    public static bool TrySetExpansionSearch(object wrapper, int ef)
    {
        try
        {
            ChangeExpansionSearch(Handle(wrapper), (nuint)ef, out var err);
            return err == 0;
        }
        catch (Exception e) when (e is MissingFieldException or EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    public static long Memory(object wrapper)
    {
        try
        {
            return (long)MemoryUsage(Handle(wrapper), out _);
        }
        catch (Exception e) when (e is MissingFieldException or EntryPointNotFoundException or DllNotFoundException)
        {
            return 0;
        }
    }
}
