namespace RecSys.Retrieval.Bench;

/// <summary>
/// Counters of the process's thread hops: thread-pool work items completed (each continuation or work item that did not
/// run inline) and context switches of all its threads (<c>/proc/self/task/*/status</c>, Linux only; 0 elsewhere).
/// </summary>
internal readonly record struct ThreadHops(long WorkItems, long Voluntary, long Involuntary)
{
    public long ContextSwitches => Voluntary + Involuntary;

    public static ThreadHops Read()
    {
        long voluntary = 0, involuntary = 0;
        if (Directory.Exists("/proc/self/task"))
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            voluntary += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        }
                        else if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            involuntary += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                    // The thread ended while being read: its switches are not counted.
                }
            }
        }

        return new ThreadHops(ThreadPool.CompletedWorkItemCount, voluntary, involuntary);
    }

    public static ThreadHops operator -(ThreadHops a, ThreadHops b) =>
        new(a.WorkItems - b.WorkItems, a.Voluntary - b.Voluntary, a.Involuntary - b.Involuntary);
}
