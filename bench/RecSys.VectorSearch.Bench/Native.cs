using System.Reflection;
using System.Runtime.InteropServices;

namespace RecSys.VectorSearch.Bench;

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
