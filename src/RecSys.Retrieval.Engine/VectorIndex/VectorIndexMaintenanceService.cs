using Microsoft.Extensions.Options;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Loads the snapshots at start, then applies queued writes and refreshes filter metadata every
/// <see cref="VectorIndexOptions.IncrementalPeriod"/> and snapshots changed shards every <see cref="VectorIndexOptions.SnapshotPeriod"/>.
/// On shutdown, queued writes are applied and a last snapshot is written.
/// </summary>
internal sealed class VectorIndexMaintenanceService(
    VectorIndexManager manager,
    IOptions<VectorIndexOptions> options,
    TimeProvider time,
    ILogger<VectorIndexMaintenanceService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await manager.LoadAsync(stoppingToken);
            await manager.RefreshMetadataAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            // The service keeps serving (what it has) and the health check stays Degraded until a restart loads the snapshots.
            VectorIndexLog.MaintenanceFailed(logger, "load", ex);
        }

        var o = options.Value;
        await Task.WhenAll(
            EveryAsync(o.IncrementalPeriod, "incremental update", async ct =>
            {
                await manager.ApplyPendingAsync(ct);
                await manager.RefreshMetadataAsync(ct);
            }, stoppingToken),
            EveryAsync(o.SnapshotPeriod, "snapshot", ct => manager.SnapshotIfChangedAsync(ct), stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (!manager.Loaded)
        {
            return;
        }

        try
        {
            await manager.ApplyPendingAsync(cancellationToken);
            await manager.SnapshotIfChangedAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            VectorIndexLog.MaintenanceFailed(logger, "shutdown snapshot", ex);
        }
    }

    private async Task EveryAsync(TimeSpan period, string name, Func<CancellationToken, Task> work, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await work(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    VectorIndexLog.MaintenanceFailed(logger, name, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
