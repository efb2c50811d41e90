using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.Ranking.Services;

/// <summary>
/// Answers from the online store's trending list when candidate generation is unavailable, so that a Retrieval outage
/// degrades personalisation instead of failing requests. Seen and unavailable items are still filtered.
/// </summary>
public sealed class TrendingFallback(IConnectionMultiplexer redis)
{
    public async Task<IReadOnlyList<CandidateDto>> GetAsync(string userId, int count, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        // Over-fetch so that filtering seen and unavailable items still leaves enough.
        var topTask = db.SortedSetRangeByRankWithScoresAsync(OnlineKeys.Trending, 0, (count * 3) + 50, Order.Descending);
        var seenTask = db.SetMembersAsync(OnlineKeys.UserSeen(userId));
        var unavailableTask = db.SetMembersAsync(OnlineKeys.UnavailableItems);
        await Task.WhenAll(topTask, seenTask, unavailableTask).WaitAsync(cancellationToken);

        var blocked = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in seenTask.Result.Concat(unavailableTask.Result))
        {
            blocked.Add(v.ToString());
        }

        var top = topTask.Result;
        var max = top.Length > 0 ? Math.Max(top[0].Score, double.Epsilon) : 1;
        var result = new List<CandidateDto>(count);
        foreach (var entry in top)
        {
            var id = entry.Element.ToString();
            if (!blocked.Contains(id))
            {
                result.Add(new CandidateDto(id, entry.Score / max, [SourceNames.Trending]));
                if (result.Count == count)
                {
                    break;
                }
            }
        }

        return result;
    }
}
