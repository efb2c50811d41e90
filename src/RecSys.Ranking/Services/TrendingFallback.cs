using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Ranking.Services;

/// <summary>Candidates of the fallback path, and whether they came from the in-process last-known list.</summary>
public sealed record FallbackCandidates(IReadOnlyList<CandidateDto> Candidates, bool LastKnown);

/// <summary>
/// Answers when candidate generation is unavailable, so that an outage degrades personalisation instead of failing
/// requests. First the online store's trending list with the same eligibility rule as Retrieval's trending source and
/// filter (seen and unavailable items never come back), under <see cref="FallbackOptions.StoreTimeout"/>; when the store
/// fails too, or has nothing, the <see cref="LastKnownPopularList"/>.
/// </summary>
public sealed partial class TrendingFallback(
    CandidateSignalReader store,
    EligibilityFilter eligibility,
    LastKnownPopularList lastKnown,
    IOptions<FallbackOptions> options,
    ILogger<TrendingFallback> logger)
{
    public async Task<FallbackCandidates> GetAsync(string userId, int count, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.StoreTimeout);
            var fromStore = await FromStoreAsync(userId, count, timeout.Token);
            if (fromStore.Count > 0)
            {
                return new FallbackCandidates(fromStore, LastKnown: false);
            }
        }
        catch (Exception ex) when (ex is OnlineStoreUnavailableException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogStoreFailed(logger, userId, lastKnown.Count, ex.Message);
        }

        return new FallbackCandidates(lastKnown.Get(count), LastKnown: true);
    }

    private async Task<IReadOnlyList<CandidateDto>> FromStoreAsync(string userId, int count, CancellationToken cancellationToken)
    {
        // Over-read so that filtering seen and unavailable items still leaves enough.
        var top = await store.ReadTrendingAsync((count * 3) + 50, cancellationToken);
        var ids = new string[top.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = top[i].Member;
        }

        var eligible = await eligibility.CheckAsync(userId, ids, cancellationToken);
        var result = new List<CandidateDto>(Math.Min(count, top.Count));
        for (var i = 0; i < top.Count && result.Count < count; i++)
        {
            if (eligible[i])
            {
                result.Add(new CandidateDto(top[i].Member, top[i].Score, [SourceNames.Trending]));
            }
        }

        return result;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The trending fallback could not read the online store for user {UserId}; answering from the last-known popular list ({Count} items): {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string userId, int count, string reason);
}
