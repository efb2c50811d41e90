using System.Text.Json;
using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Ranking.Services;

/// <summary>
/// The trending top as last read from the online store, kept in process (and in a file under the data root) so that a
/// request still gets a list when Retrieval and the store are both away. It cannot apply the seen and unavailable rules
/// (they live in the store), so it is the last resort, and a response served from it says so.
/// </summary>
public sealed partial class LastKnownPopularList(IOptions<FallbackOptions> options, TimeProvider time, ILogger<LastKnownPopularList> logger)
{
    public const string FileName = "last-known-popular.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private Snapshot? _current;

    /// <summary>When the list was read from the store; null while there is none.</summary>
    public DateTimeOffset? AsOf => Volatile.Read(ref _current)?.AsOf;

    public int Count => Volatile.Read(ref _current)?.Items.Length ?? 0;

    private string? FilePath => options.Value.DataDirectory is { Length: > 0 } dir ? Path.Combine(dir, FileName) : null;

    /// <summary>The first <paramref name="count"/> items, best first, tagged with the trending source; empty when none is known.</summary>
    public IReadOnlyList<CandidateDto> Get(int count)
    {
        var snapshot = Volatile.Read(ref _current);
        if (snapshot is null)
        {
            return [];
        }

        var n = Math.Min(count, snapshot.Items.Length);
        var result = new CandidateDto[n];
        for (var i = 0; i < n; i++)
        {
            result[i] = new CandidateDto(snapshot.Items[i].ItemId, snapshot.Items[i].Score, [SourceNames.Trending]);
        }

        return result;
    }

    /// <summary>Replaces the list with a fresh read (an empty read keeps the old list: an empty store teaches nothing).</summary>
    /// <returns>True when the list changed.</returns>
    public bool Update(IReadOnlyList<ScoredMember> trending)
    {
        if (trending.Count == 0)
        {
            return false;
        }

        var items = new PopularItem[trending.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = new PopularItem(trending[i].Member, trending[i].Score);
        }

        var old = Volatile.Read(ref _current);
        Volatile.Write(ref _current, new Snapshot(time.GetUtcNow(), items));
        return old is null || !old.Items.AsSpan().SequenceEqual(items);
    }

    /// <summary>Reads the saved list, if any. A missing file is normal; an unreadable one is logged and ignored (the store refreshes it).</summary>
    public void Load()
    {
        if (FilePath is not { } path || !File.Exists(path))
        {
            return;
        }

        try
        {
            var saved = JsonSerializer.Deserialize<Snapshot>(File.ReadAllBytes(path), Json);
            if (saved?.Items is { Length: > 0 } items && items.All(i => i is not null && EntityIds.IsValid(i.ItemId) && double.IsFinite(i.Score)))
            {
                Volatile.Write(ref _current, saved);
                LogLoaded(logger, items.Length, path, saved.AsOf);
                return;
            }

            LogUnreadable(logger, path, "no valid items");
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            LogUnreadable(logger, path, ex.Message);
        }
    }

    /// <summary>Writes the list atomically (temporary file, then rename), so a crash mid-write leaves the previous one.</summary>
    public async Task SaveAsync(CancellationToken cancellationToken)
    {
        if (FilePath is not { } path || Volatile.Read(ref _current) is not { } snapshot)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        await using (var stream = File.Create(temp))
        {
            await JsonSerializer.SerializeAsync(stream, snapshot, Json, cancellationToken);
        }

        File.Move(temp, path, overwrite: true);
    }

    public sealed record PopularItem(string ItemId, double Score);

    private sealed record Snapshot(DateTimeOffset AsOf, PopularItem[] Items);

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded the last-known popular list ({Count} items, read {AsOf}) from {Path}")]
    private static partial void LogLoaded(ILogger logger, int count, string path, DateTimeOffset asOf);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring the saved last-known popular list {Path}: {Reason}; it is rebuilt from the online store")]
    private static partial void LogUnreadable(ILogger logger, string path, string reason);
}

/// <summary>Keeps <see cref="LastKnownPopularList"/> fresh: loads the saved list at start, then reads the trending top on an interval.</summary>
public sealed partial class LastKnownPopularRefresher(
    LastKnownPopularList list,
    CandidateSignalReader store,
    IOptions<FallbackOptions> options,
    TimeProvider time,
    ILogger<LastKnownPopularRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        list.Load();
        var o = options.Value;
        using var timer = new PeriodicTimer(o.LastKnownRefreshInterval, time);
        var failing = false;
        do
        {
            try
            {
                await RefreshAsync(stoppingToken);
                if (failing)
                {
                    LogRecovered(logger, list.Count);
                    failing = false;
                }
            }
            catch (Exception ex) when (ex is OnlineStoreUnavailableException or OperationCanceledException or IOException or UnauthorizedAccessException
                && !stoppingToken.IsCancellationRequested)
            {
                // Logged once per outage: the list keeps serving what it had.
                if (!failing)
                {
                    LogRefreshFailed(logger, list.Count, list.AsOf, ex.Message);
                    failing = true;
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One refresh: the trending top under the store timeout, saved when it changed.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(o.StoreTimeout * 10);
        var trending = await store.ReadTrendingAsync(o.LastKnownSize, timeout.Token);
        if (list.Update(trending))
        {
            await list.SaveAsync(cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh the last-known popular list ({Count} items, read {AsOf}); it keeps serving: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, int count, DateTimeOffset? asOf, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "The last-known popular list is refreshed again ({Count} items)")]
    private static partial void LogRecovered(ILogger logger, int count);
}
