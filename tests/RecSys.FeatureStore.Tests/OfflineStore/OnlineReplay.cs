using RecSys.FeatureStore.EventLog;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.OfflineStore;

/// <summary>
/// Replays a log into the online store beside an <see cref="OfflineKit"/>. It lives here rather than in TestSupport because it
/// asserts (TestSupport carries no test framework).
/// </summary>
internal static class OnlineReplay
{
    extension(OfflineKit)
    {
        /// <summary>Applies the whole log to the online store through the real applier, batch by batch as the processor does.</summary>
        public static async Task ApplyOnlineAsync(IEventLog log, EmbeddedGarnet garnet, int batchSize = 64)
        {
            var applier = Infrastructure.Applier(garnet);
            var position = await applier.InitializeAsync();
            while (position.Ordinal < log.TailPosition)
            {
                var batch = await log.ReadAsync(position, batchSize, CancellationToken.None);
                var result = await applier.ApplyAsync(batch.Entries, position, batch.NextPosition);
                Assert.True(result.Committed);
                position = batch.NextPosition;
            }
        }
    }
}
