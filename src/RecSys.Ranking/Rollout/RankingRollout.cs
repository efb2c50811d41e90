using Microsoft.Extensions.Options;
using RecSys.Learning.Registry;
using RecSys.Ranking.Serving;
using RecSys.Rollout;

namespace RecSys.Ranking.Rollout;

/// <summary>
/// The rollout of ranker releases in this Ranking service: a <see cref="RolloutEngine"/> over the model registry that
/// <c>Ranking:Models:Path</c> lives in (<c>&lt;root&gt;/rankers</c>), with the release manager holding production and the
/// candidate loaded while a rollout runs. It loads the candidate when a rollout starts or resumes (a candidate that does
/// not load is rolled back at once, gate <see cref="RolloutGates.Load"/>), runs the gate timer, and lets go of the
/// candidate when the rollout ends. Null <see cref="Engine"/>: the release folder is not a registry, so nothing rolls out.
/// </summary>
public sealed class RankingRollout : IHostedService, IDisposable
{
    private readonly RankerReleaseManager _releases;
    private readonly ILogger<RankingRollout> _logger;
    private readonly Lock _pinGate = new();
    private string? _pinnedCandidate;

    public RankingRollout(
        IOptions<RankingModelOptions> models,
        IOptions<RolloutOptions> rollout,
        RankerReleaseManager releases,
        TimeProvider time,
        ILoggerFactory loggers,
        System.Diagnostics.Metrics.IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(rollout);
        ArgumentNullException.ThrowIfNull(loggers);
        _releases = releases;
        _logger = loggers.CreateLogger<RankingRollout>();
        RegistryRoot = RegistryRootOf(models.Value.Path);
        if (RegistryRoot is null)
        {
            return;
        }

        Registry = new ModelRegistry(RegistryRoot, time);
        var options = rollout.Value;
        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            // Next to registry.json: replicas sharing the data root share the rollout, as they share the registry.
            options = options with { StateDirectory = RegistryRoot };
        }

        Engine = new RolloutEngine(options with { ModelKind = ModelKinds.Rankers }, new ModelRegistryVersionStore(Registry, options.RetainVersions), time,
            loggers.CreateLogger<RolloutEngine>(), meters);
        Engine.StatusChanged += OnStatusChanged;
    }

    /// <summary>The data root of the registry (the parent of the <c>rankers</c> release folder), or null.</summary>
    public string? RegistryRoot { get; }

    public ModelRegistry? Registry { get; }

    public RolloutEngine? Engine { get; }

    /// <summary>The folder's parent when <paramref name="releaseFolder"/> is a registry's <c>rankers</c> folder.</summary>
    public static string? RegistryRootOf(string? releaseFolder)
    {
        if (string.IsNullOrWhiteSpace(releaseFolder))
        {
            return null;
        }

        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(releaseFolder));
        return Path.GetFileName(full) == ModelKinds.Rankers ? Path.GetDirectoryName(full) : null;
    }

    /// <summary>Starts rolling out <paramref name="version"/>; a candidate that does not load is rolled back at once.</summary>
    public RolloutStatus Start(string version)
    {
        var engine = EngineOrThrow();
        engine.Start(version);
        EnsureCandidateLoaded(engine.Status());
        return engine.Status();
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Engine is { } engine)
        {
            // A restart resumes a running rollout: both versions must be loaded again before requests reach them.
            EnsureCandidateLoaded(engine.Status());
            engine.StartGateTimer();
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => Engine?.Dispose();

    internal RolloutEngine EngineOrThrow() =>
        Engine ?? throw new InvalidOperationException("Ranking:Models:Path is not a model registry's rankers folder, so there is nothing to roll out.");

    private void EnsureCandidateLoaded(RolloutStatus status)
    {
        if (status.State is not (RolloutState.Running or RolloutState.ReadyToPromote) || status.Rollout is not { } rollout)
        {
            return;
        }

        string? error;
        lock (_pinGate)
        {
            error = _releases.Pin(rollout.CandidateVersion);
            if (error is null)
            {
                _pinnedCandidate = rollout.CandidateVersion;
            }
        }

        if (error is not null)
        {
            RankingRolloutLog.CandidateLoadFailed(_logger, rollout.CandidateVersion, error);
            Engine!.Fail(RolloutGates.Load, $"{rollout.CandidateVersion} does not load: {error}");
        }
    }

    private void OnStatusChanged(RolloutStatus status)
    {
        if (status.State is RolloutState.Running or RolloutState.ReadyToPromote)
        {
            return;
        }

        if (status.State == RolloutState.Completed)
        {
            // The registry has activated the candidate: serve it now (the pinned instance) rather than at the next reload.
            try
            {
                _releases.Refresh();
            }
            catch (Exception ex)
            {
                RankingRolloutLog.RefreshFailed(_logger, ex);
            }
        }

        lock (_pinGate)
        {
            if (_pinnedCandidate is { } candidate)
            {
                _releases.Unpin(candidate);
                _pinnedCandidate = null;
            }
        }
    }
}

internal static partial class RankingRolloutLog
{
    [LoggerMessage(EventId = 7100, Level = LogLevel.Error, Message = "Rollout candidate {Version} does not load; rolling it back: {Reason}")]
    public static partial void CandidateLoadFailed(ILogger logger, string version, string reason);

    [LoggerMessage(EventId = 7101, Level = LogLevel.Error, Message = "Serving the promoted release failed; the release watcher retries at its next interval")]
    public static partial void RefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Ranker release {Version} failed for a request routed by the rollout; production answered instead: {Reason}")]
    public static partial void CandidateFailed(ILogger logger, string version, string reason);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Warning, Message = "Shadow scoring by {Version} failed: {Reason}")]
    public static partial void ShadowFailed(ILogger logger, string version, string reason);
}
