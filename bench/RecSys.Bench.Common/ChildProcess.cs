using System.Diagnostics;

namespace RecSys.Bench.Common;

/// <summary>Stopping a child process a bench started (a store host), whether or not it is still running.</summary>
public static class ChildProcess
{
    public static void Stop(Process process, TimeSpan wait)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(wait);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }

        process.Dispose();
    }
}
