using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Deletion;

/// <summary>
/// Keeps the two copies of the tombstone list in step, at start and then every <see cref="Interval"/>: a user in this
/// instance's file but not in the online store's set (the store was replaced or flushed, or was down when the user was
/// deleted) is deleted online again, which also removes any state re-created meanwhile; a user in the set but not in the
/// file (deleted through another instance) is added to the file, so that this instance's reads of the log skip them too.
/// </summary>
public sealed partial class DeletedUsersSync(
    DeletedUsers deleted,
    UserDeletion deletion,
    IConnectionMultiplexer redis,
    TimeProvider time,
    ILogger<DeletedUsersSync> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SyncAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is OnlineStoreUnavailableException || OnlineStoreUnavailableException.IsStoreFailure(ex))
            {
                LogSyncFailed(logger, ex);
            }

            await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>One round; returns (re-deleted online, learned from the store).</summary>
    public async Task<(int Pushed, int Pulled)> SyncAsync(CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var online = (await db.SetMembersAsync(OnlineKeys.DeletedUsers).WaitAsync(cancellationToken))
            .Select(v => v.ToString())
            .ToHashSet(StringComparer.Ordinal);
        var pushed = 0;
        foreach (var userId in deleted.UserIds)
        {
            if (!online.Contains(userId))
            {
                await deletion.DeleteAsync(userId, cancellationToken);
                pushed++;
            }
        }

        var pulled = await deleted.MergeAsync(online.Where(id => !deleted.Contains(id)), time.GetUtcNow(), cancellationToken);
        if (pushed > 0 || pulled > 0)
        {
            LogSynced(logger, pushed, pulled, deleted.Count);
        }

        return (pushed, pulled);
    }

    [LoggerMessage(EventId = 260, Level = LogLevel.Information, Message = "Deleted users synced: {Pushed} deleted again in the online store, {Pulled} learned from it ({Total} in all)")]
    private static partial void LogSynced(ILogger logger, int pushed, int pulled, int total);

    [LoggerMessage(EventId = 261, Level = LogLevel.Warning, Message = "Deleted users could not be synced with the online store; retrying later")]
    private static partial void LogSyncFailed(ILogger logger, Exception exception);
}
