using System.Globalization;

namespace RecSys.VectorSearch;

/// <summary>A snapshot that could not be used, and why.</summary>
public sealed record SnapshotRejection(long Version, string Path, string Reason);

/// <summary>The loaded index, which snapshot it came from and the newer ones that were rejected.</summary>
public sealed record SnapshotLoadResult(HnswIndex Index, long Version, string Path, IReadOnlyList<SnapshotRejection> Rejected)
{
    /// <summary>True when a newer snapshot was corrupt and an older one was used (the spec's rollback).</summary>
    public bool RolledBack => Rejected.Count > 0;
}

/// <summary>
/// Versioned snapshots of one index in a directory (<c>index-0000000042.rsvs</c>), written atomically. Keeps the
/// newest <see cref="Retain"/> versions; <see cref="LoadLatest"/> falls back to the previous snapshot when the newest is corrupt.
/// </summary>
public sealed class SnapshotStore
{
    private const string Prefix = "index-";
    private const string Suffix = ".rsvs";
    private readonly Lock _lock = new();

    public SnapshotStore(string directory, int retain = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retain, 2);
        Directory = directory;
        Retain = retain;
        System.IO.Directory.CreateDirectory(directory);
    }

    public string Directory { get; }

    public int Retain { get; }

    /// <summary>Versions on disk, newest first.</summary>
    public IReadOnlyList<(long Version, string Path)> List()
    {
        var list = new List<(long, string)>();
        foreach (var f in System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Suffix))
        {
            var name = System.IO.Path.GetFileName(f);
            var num = name.AsSpan(Prefix.Length, name.Length - Prefix.Length - Suffix.Length);
            if (long.TryParse(num, NumberStyles.None, CultureInfo.InvariantCulture, out var v)) list.Add((v, f));
        }
        list.Sort((a, b) => b.Item1.CompareTo(a.Item1));
        return list;
    }

    public string PathOf(long version) =>
        System.IO.Path.Combine(Directory, Prefix + version.ToString("D10", CultureInfo.InvariantCulture) + Suffix);

    /// <summary>Writes a new version (previous + 1) and prunes versions beyond <see cref="Retain"/>. Returns the version.</summary>
    public long Save(HnswIndex index)
    {
        lock (_lock)
        {
            var existing = List();
            var version = existing.Count == 0 ? 1 : existing[0].Version + 1;
            HnswSnapshot.Save(index, PathOf(version));
            var all = List();
            for (var i = Retain; i < all.Count; i++) File.Delete(all[i].Path);
            return version;
        }
    }

    /// <summary>
    /// Loads the newest snapshot that verifies. Corrupt or truncated ones are skipped and reported in
    /// <see cref="SnapshotLoadResult.Rejected"/>. Throws <see cref="SnapshotCorruptedException"/> when none verifies and
    /// <see cref="FileNotFoundException"/> when there is none at all.
    /// </summary>
    public SnapshotLoadResult LoadLatest()
    {
        var all = List();
        if (all.Count == 0) throw new FileNotFoundException($"No snapshot in '{Directory}'.");
        var rejected = new List<SnapshotRejection>();
        foreach (var (version, path) in all)
        {
            try
            {
                return new SnapshotLoadResult(HnswSnapshot.Load(path), version, path, rejected);
            }
            catch (SnapshotCorruptedException e)
            {
                rejected.Add(new SnapshotRejection(version, path, e.Reason));
            }
        }
        throw new SnapshotCorruptedException(all[0].Path, "no snapshot in the store verifies: " + string.Join("; ", rejected.Select(r => $"v{r.Version}: {r.Reason}")));
    }
}
