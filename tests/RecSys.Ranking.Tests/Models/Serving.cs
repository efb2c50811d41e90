using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Tests.Models;

/// <summary>Options whose current value a test changes.</summary>
public sealed class MutableOptions<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue { get; set; } = value;

    public T Get(string? name) => CurrentValue;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}

/// <summary>The engine's parts wired by hand over a release folder.</summary>
public sealed class Serving : IAsyncDisposable
{
    public Serving(string path, IRankingFeatureProvider? provider, Action<RankingModelOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new RankingModelOptions { Path = path, ReloadInterval = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        Options = new MutableOptions<RankingModelOptions>(options);
        Providers = new ExecutionProviderSelector(options, NullLogger<ExecutionProviderSelector>.Instance);
        Time = time ?? TimeProvider.System;
        var loader = new RankerReleaseLoader(Providers, provider, Time, NullLogger<RankerReleaseLoader>.Instance);
        Manager = new RankerReleaseManager(loader, Options, Providers, NullLogger<RankerReleaseManager>.Instance);
        Ranker = new TwoStageRanker(Manager, provider, Options, Time);
    }

    public MutableOptions<RankingModelOptions> Options { get; }

    public ExecutionProviderSelector Providers { get; }

    public TimeProvider Time { get; }

    public RankerReleaseManager Manager { get; }

    public TwoStageRanker Ranker { get; }

    public ValueTask DisposeAsync() => Manager.DisposeAsync();
}
