using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Features;

/// <summary>
/// Keeps the <see cref="ItemFeatureTable"/> fresh: a first read at start, then one every
/// <see cref="RankingFeatureProviderOptions.ItemTableRefresh"/>. A failed read keeps the previous snapshot and is retried
/// sooner; until the first read completes, requests read item values from the store.
/// </summary>
public sealed partial class ItemFeatureTableRefresher(
    ItemFeatureTable table,
    IOptions<RankingFeatureProviderOptions> options,
    TimeProvider time,
    ILogger<ItemFeatureTableRefresher> logger) : BackgroundService
{
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.ItemTableRefresh;
        if (interval <= TimeSpan.Zero)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = interval;
            try
            {
                var started = time.GetTimestamp();
                var snapshot = await table.RefreshAsync(stoppingToken).ConfigureAwait(false);
                LogRefreshed(logger, snapshot.Count, snapshot.Version, time.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Whatever the failure (the store's client throws its own types from bulk reads), the host must keep serving.
                LogRefreshFailed(logger, ex.Message);
                wait = interval < RetryAfterFailure ? interval : RetryAfterFailure;
            }

            try
            {
                await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Item feature table refreshed: {Items} items, version {Version}, in {Milliseconds:F0} ms")]
    private static partial void LogRefreshed(ILogger logger, int items, long version, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Item feature table refresh failed; the previous snapshot stays in use: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string reason);
}
