using System.Globalization;
using Microsoft.Extensions.Options;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Serving;

/// <summary>
/// Holds the served release and replaces it when a newer valid one appears in <c>Ranking:Models:Path</c> (or when
/// <c>Ranking:Models:MainStage</c> changes). A release that fails to load is remembered by its manifests' size and write
/// time and not tried again until they change; the service stays on what it had.
/// </summary>
public sealed class RankerReleaseManager : IAsyncDisposable
{
    /// <summary>What serves when no release ever loaded.</summary>
    public const string FusedScoreFallback = "fused-score ranker";

    private readonly RankerReleaseLoader _loader;
    private readonly IOptionsMonitor<RankingModelOptions> _options;
    private readonly ExecutionProviderSelector _providers;
    private readonly RankingTelemetry? _telemetry;
    private readonly ILogger _logger;
    private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);

    // Releases held next to the served one (a rollout's candidate, or production while the candidate is served): copy on
    // write, so the request path reads it without a lock.
    private volatile Dictionary<string, RankerRelease> _pinned = new(StringComparer.Ordinal);
    private readonly Lock _refreshGate = new();
    private RankerRelease? _current;
    private string? _lastError;

    public RankerReleaseManager(
        RankerReleaseLoader loader,
        IOptionsMonitor<RankingModelOptions> options,
        ExecutionProviderSelector providers,
        ILogger<RankerReleaseManager> logger,
        RankingTelemetry? telemetry = null)
    {
        _loader = loader;
        _options = options;
        _providers = providers;
        _logger = logger;
        _telemetry = telemetry;
        telemetry?.ObserveModelsWith(() => Current);
    }

    /// <summary>The served release's versions and provider, or null while the fused-score fallback serves.</summary>
    public ModelInfo? Current => Volatile.Read(ref _current) is { } r
        ? new ModelInfo(r.Version, r.PreRanker.Version, r.MainStage.Kind, r.MainStage.Version, r.MainStage.ExecutionProvider)
        : null;

    /// <summary>The provider sessions are created on.</summary>
    public string ExecutionProvider => _providers.Active;

    /// <summary>Why the last release tried was refused, if it was.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Holds the served release for one request, or returns false when none is loaded.</summary>
    public bool TryAcquire(out ReleaseLease lease)
    {
        while (Volatile.Read(ref _current) is { } release)
        {
            if (release.TryAcquire())
            {
                lease = new ReleaseLease(release);
                return true;
            }

            // Swapped out and closing between the read and the acquire: read the new one.
            Thread.Yield();
        }

        lease = default;
        return false;
    }

    /// <summary>
    /// Holds the release <paramref name="version"/> for one request: the served one when it is that version, else a pinned
    /// one. False when that version is not loaded.
    /// </summary>
    public bool TryAcquire(string version, out ReleaseLease lease)
    {
        ArgumentNullException.ThrowIfNull(version);
        while (true)
        {
            var release = Volatile.Read(ref _current) is { } current && string.Equals(current.Version, version, StringComparison.Ordinal)
                ? current
                : _pinned.GetValueOrDefault(version);
            if (release is null)
            {
                lease = default;
                return false;
            }

            if (release.TryAcquire())
            {
                lease = new ReleaseLease(release);
                return true;
            }

            Thread.Yield();
        }
    }

    /// <summary>Versions loaded besides the served one.</summary>
    public IReadOnlyCollection<string> PinnedVersions => _pinned.Keys;

    /// <summary>
    /// Loads release <paramref name="version"/> from <c>Ranking:Models:Path</c> and keeps it loaded next to the served one
    /// until <see cref="Unpin"/> (a rollout serves both). Returns null when it is loaded (or already was), else why not.
    /// </summary>
    public string? Pin(string version)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(version);
        lock (_refreshGate)
        {
            if (_pinned.ContainsKey(version) || (Volatile.Read(ref _current) is { } current && current.Version == version && PinCurrent(current)))
            {
                return null;
            }

            var options = _options.CurrentValue;
            if (string.IsNullOrWhiteSpace(options.Path))
            {
                return "Ranking:Models:Path is not set";
            }

            var directory = Path.Combine(options.Path, version);
            if (version.IndexOfAny(['/', '\\']) >= 0 || version is "." or ".." || !Directory.Exists(directory))
            {
                return $"release folder {directory} does not exist";
            }

            try
            {
                var release = _loader.Load(directory, options);
                _pinned = new Dictionary<string, RankerRelease>(_pinned, StringComparer.Ordinal) { [version] = release };
                ServingLog.ReleasePinned(_logger, version);
                return null;
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                _telemetry?.RecordLoadFailure();
                ServingLog.ReleaseRejected(_logger, version, "the served release", ex.Message);
                return ex.Message;
            }
        }
    }

    /// <summary>Lets go of a pinned release; it closes when its last request is done. Nothing happens when it is not pinned.</summary>
    public void Unpin(string version)
    {
        ArgumentNullException.ThrowIfNull(version);
        lock (_refreshGate)
        {
            if (!_pinned.TryGetValue(version, out var release))
            {
                return;
            }

            var next = new Dictionary<string, RankerRelease>(_pinned, StringComparer.Ordinal);
            next.Remove(version);
            _pinned = next;
            release.Release();
        }
    }

    // The served release is also held as pinned, so a refresh that moves off it (the registry activated the candidate)
    // keeps it loaded for the requests the rollout still routes to it.
    private bool PinCurrent(RankerRelease current)
    {
        if (!current.TryAcquire())
        {
            return false;
        }

        _pinned = new Dictionary<string, RankerRelease>(_pinned, StringComparer.Ordinal) { [current.Version] = current };
        return true;
    }

    /// <summary>
    /// Looks for the newest valid release (newest first by folder name, digits compared as numbers) and serves it if it is
    /// not already served. Returns true when the served release changed.
    /// </summary>
    public bool Refresh()
    {
        lock (_refreshGate)
        {
            var options = _options.CurrentValue;
            if (string.IsNullOrWhiteSpace(options.Path))
            {
                return false;
            }

            var serving = Current is { } info ? $"release {info.Release}" : FusedScoreFallback;
            if (!Directory.Exists(options.Path))
            {
                ServingLog.ReleaseFolderMissing(_logger, options.Path, serving);
                return false;
            }

            var releases = RegistryOrder(options.Path) ?? Directory.GetDirectories(options.Path)
                .Select(d => Path.GetFileName(d)!)
                .Where(name => !name.StartsWith('.'))
                .OrderDescending(VersionNameComparer.Instance)
                .ToArray();
            var current = Volatile.Read(ref _current);
            foreach (var name in releases)
            {
                if (current is not null && string.Equals(current.Version, name, StringComparison.Ordinal)
                    && string.Equals(current.MainStage.Kind, options.MainStage, StringComparison.Ordinal))
                {
                    return false;
                }

                var directory = Path.Combine(options.Path, name);
                var key = $"{name}|{options.MainStage}";
                var fingerprint = Fingerprint(directory, options.MainStage);
                if (_failed.TryGetValue(key, out var seen) && seen == fingerprint)
                {
                    continue;
                }

                if (_pinned.TryGetValue(name, out var pinned) && string.Equals(pinned.MainStage.Kind, options.MainStage, StringComparison.Ordinal)
                    && pinned.TryAcquire())
                {
                    // Already loaded for a rollout: serve the same instance (one more reference for the served slot).
                    Publish(pinned);
                    return true;
                }

                try
                {
                    var release = _loader.Load(directory, options);
                    _failed.Remove(key);
                    Publish(release);
                    return true;
                }
                catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    _failed[key] = fingerprint;
                    Volatile.Write(ref _lastError, $"{name}: {ex.Message}");
                    _telemetry?.RecordLoadFailure();
                    ServingLog.ReleaseRejected(_logger, name, serving, ex.Message);
                }
            }

            return false;
        }
    }

    /// <summary>
    /// When the release folder is a model registry's <c>rankers</c> folder, the registry decides: its active release first,
    /// then the previous ones, most recently active first (a rollback in the registry is served at the next refresh);
    /// failed releases never. Null when there is no registry (the newest folder name wins) or it cannot be read.
    /// </summary>
    private string[]? RegistryOrder(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        var root = Path.GetDirectoryName(full);
        if (root is null || Path.GetFileName(full) != RecSys.Learning.Registry.ModelKinds.Rankers
            || !File.Exists(Path.Combine(root, RecSys.Learning.Registry.ModelRegistry.FileName)))
        {
            return null;
        }

        try
        {
            var entries = new RecSys.Learning.Registry.ModelRegistry(root).List(RecSys.Learning.Registry.ModelKinds.Rankers);
            return
            [
                .. entries.Where(e => e.State == RecSys.Learning.Registry.ModelState.Active).Select(e => e.Version),
                .. entries.Where(e => e.State == RecSys.Learning.Registry.ModelState.Previous).OrderByDescending(e => e.ActivatedAt).Select(e => e.Version),
            ];
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            Volatile.Write(ref _lastError, $"model registry: {ex.Message}");
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var last = Interlocked.Exchange(ref _current, null);
        if (last is not null)
        {
            last.Release();
        }

        foreach (var pinned in Interlocked.Exchange(ref _pinned, new Dictionary<string, RankerRelease>(StringComparer.Ordinal)).Values)
        {
            pinned.Release();
        }

        await ValueTask.CompletedTask.ConfigureAwait(false);
    }

    private void Publish(RankerRelease release)
    {
        var previous = Interlocked.Exchange(ref _current, release);
        ServingLog.ReleaseLoaded(_logger, release.Version, release.PreRanker.Version, release.MainStage.Kind, release.MainStage.Version,
            release.Columns.Count, release.MainStage.ExecutionProvider);
        // The previous release closes when its last request lets go.
        previous?.Release();
    }

    /// <summary>Size and write time of the manifests a load reads: a rewritten release gets another chance.</summary>
    private static string Fingerprint(string directory, string mainStage)
    {
        static string Of(string path) =>
            File.Exists(path) ? string.Create(CultureInfo.InvariantCulture, $"{new FileInfo(path).Length}@{File.GetLastWriteTimeUtc(path).Ticks}") : "none";

        return $"{Of(Path.Combine(directory, ModelKinds.PreRanker, ModelManifest.FileName))};{Of(Path.Combine(directory, mainStage, ModelManifest.FileName))}";
    }
}

/// <summary>Orders release names with runs of digits compared as numbers ("v9" before "v10"), else ordinally.</summary>
public sealed class VersionNameComparer : IComparer<string>
{
    public static readonly VersionNameComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        int i = 0, j = 0;
        while (i < x.Length && j < y.Length)
        {
            if (char.IsAsciiDigit(x[i]) && char.IsAsciiDigit(y[j]))
            {
                var si = i;
                var sj = j;
                while (i < x.Length && char.IsAsciiDigit(x[i]))
                {
                    i++;
                }

                while (j < y.Length && char.IsAsciiDigit(y[j]))
                {
                    j++;
                }

                var a = x.AsSpan(si, i - si).TrimStart('0');
                var b = y.AsSpan(sj, j - sj).TrimStart('0');
                var byValue = a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.SequenceCompareTo(b);
                if (byValue != 0)
                {
                    return byValue;
                }
            }
            else
            {
                var c = x[i].CompareTo(y[j]);
                if (c != 0)
                {
                    return c;
                }

                i++;
                j++;
            }
        }

        return (x.Length - i).CompareTo(y.Length - j);
    }
}

/// <summary>Checks for releases at start and then every <c>Ranking:Models:ReloadInterval</c> (on the injected clock).</summary>
public sealed class RankerReleaseWatcher(RankerReleaseManager manager, IOptionsMonitor<RankingModelOptions> options, TimeProvider time, ILogger<RankerReleaseWatcher> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Off the start-up path: loading sessions must not hold the host's start.
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                manager.Refresh();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                ServingLog.RefreshFailed(logger, ex);
            }

            try
            {
                await Task.Delay(options.CurrentValue.ReloadInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
