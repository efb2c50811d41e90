namespace RecSys.Fuzz;

/// <summary>
/// A private folder for the files a target must hand to a file-based parser. One per process; a persistent fuzzing
/// loop reuses it, so every input rewrites the files it needs and removes the ones it does not.
/// </summary>
internal sealed class Scratch
{
    public Scratch(string target)
    {
        Root = Path.Combine(Path.GetTempPath(), $"recsys-fuzz-{target}-{Environment.ProcessId}");
        Directory.CreateDirectory(Root);

        // A replay ends normally and cleans up; afl-fuzz kills its targets, so run.sh removes the whole TMPDIR instead.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(Root, recursive: true);
    }

    public string Root { get; }

    public string Folder(string relative)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/>, or deletes the file when <paramref name="present"/> is false.</summary>
    public static void Put(string path, ReadOnlySpan<byte> content, bool present = true)
    {
        if (!present)
        {
            File.Delete(path);
            return;
        }

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        stream.Write(content);
    }
}
