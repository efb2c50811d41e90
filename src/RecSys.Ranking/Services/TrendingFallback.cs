using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Ranking.Services;

/// <summary>
/// Answers from the online store's trending list when candidate generation is unavailable, so that a Retrieval outage
/// degrades personalisation instead of failing requests. The same trending read and the same eligibility rule as
/// Retrieval's trending source and filter: seen and unavailable items never come back.
/// </summary>
public sealed class TrendingFallback(CandidateSignalReader store, EligibilityFilter eligibility)
{
    public async Task<IReadOnlyList<CandidateDto>> GetAsync(string userId, int count, CancellationToken cancellationToken)
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
}
