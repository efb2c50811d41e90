namespace RecSys.Fuzz;

/// <summary>Runs saved inputs once each outside the fuzzer: to reproduce a crash, or to smoke-test the corpus.</summary>
internal static class Replay
{
    public static int Run(IFuzzTarget target, IReadOnlyList<string> paths)
    {
        var files = paths.SelectMany(p => Directory.Exists(p)
            ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.'))
            : [p]).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            Console.Error.WriteLine("No input files.");
            return 2;
        }

        var failures = 0;
        foreach (var file in files)
        {
            try
            {
                target.Run(File.ReadAllBytes(file));
            }
#pragma warning disable CA1031 // Replay reports every failure, whatever its type, and goes on with the next input.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failures++;
                Console.WriteLine($"FAIL {file}: {e.GetType().Name}: {e.Message}");
                Console.WriteLine(e.StackTrace);
            }
        }

        Console.WriteLine($"{target.Name}: {files.Count} inputs, {failures} failed");
        return failures == 0 ? 0 : 1;
    }
}
