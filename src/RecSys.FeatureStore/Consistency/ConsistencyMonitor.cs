using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.Consistency;

/// <summary>Runs <see cref="ConsistencyChecker.CheckAsync"/> every <see cref="ConsistencyOptions.Period"/> (on the injected clock).</summary>
public sealed partial class ConsistencyMonitor(
    ConsistencyChecker checker,
    IOptions<ConsistencyOptions> options,
    TimeProvider time,
    ILogger<ConsistencyMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.Period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await checker.CheckAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    [LoggerMessage(EventId = 660, Level = LogLevel.Error, Message = "Periodic consistency check failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
