using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.Retrieval.Services;
using StackExchange.Redis;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// The newest items of creators the user follows or engages with. Creator affinity is the user's weight in
/// <c>u:{user}:creators</c> divided by the largest one, raised to <see cref="CreatorSourceOptions.FollowedAffinity"/> for a
/// followed creator; an item scores <c>affinity x 2^(-age / RecencyHalfLife)</c> (age from its created time in
/// <c>cr:{creator}:items</c>), normalized so that the best item scores 1.
/// </summary>
internal sealed class CreatorSource(IConnectionMultiplexer redis, IOptionsMonitor<RetrievalOptions> options) : ICandidateSource
{
    public string Name => SourceNames.Creator;

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue.Creator;
        var db = redis.GetDatabase();

        var batch = db.CreateBatch();
        var followsTask = batch.SetMembersAsync(OnlineKeys.UserFollows(request.UserId));
        var affinityTask = batch.SortedSetRangeByRankWithScoresAsync(
            OnlineKeys.UserCreatorAffinity(request.UserId), 0, Math.Max(o.TopAffinityCreators, o.MaxFollowedCreators) - 1, Order.Descending);
        batch.Execute();
        await Task.WhenAll(followsTask, affinityTask).WaitAsync(cancellationToken);

        var creators = SelectCreators(followsTask.Result, affinityTask.Result, o);
        if (creators.Count == 0)
        {
            return [];
        }

        var totalAffinity = creators.Sum(c => c.Affinity);
        batch = db.CreateBatch();
        var lookups = new Task<SortedSetEntry[]>[creators.Count];
        for (var i = 0; i < creators.Count; i++)
        {
            var depth = ScoreRanking.ReadDepth(
                o.ReadFactor * budget * creators[i].Affinity / totalAffinity, Math.Min(o.MinItemsPerCreator, budget), Math.Min(o.MaxItemsPerCreator, budget));
            lookups[i] = batch.SortedSetRangeByRankWithScoresAsync(OnlineKeys.CreatorItems(creators[i].Creator), 0, depth - 1, Order.Descending);
        }

        batch.Execute();
        await Task.WhenAll(lookups).WaitAsync(cancellationToken);

        var nowMs = request.Now.ToUnixTimeMilliseconds();
        var halfLifeMs = o.RecencyHalfLifeHours * 3_600_000;
        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < creators.Count; i++)
        {
            var affinity = creators[i].Affinity;
            foreach (var entry in lookups[i].Result)
            {
                var score = affinity * ScoreRanking.Decay(nowMs - entry.Score, halfLifeMs);
                ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(scores, entry.Element!, out _);
                slot = Math.Max(slot, score);
            }
        }

        return ScoreRanking.TopNormalized(scores, budget);
    }

    /// <summary>
    /// Followed creators (those with affinity first, then by id; at most <see cref="CreatorSourceOptions.MaxFollowedCreators"/>)
    /// plus the top <see cref="CreatorSourceOptions.TopAffinityCreators"/> by affinity, each with its affinity in [0, 1].
    /// </summary>
    internal static List<(string Creator, double Affinity)> SelectCreators(RedisValue[] follows, SortedSetEntry[] affinity, CreatorSourceOptions o)
    {
        var max = affinity.Length > 0 && affinity[0].Score > 0 ? affinity[0].Score : 0;
        var affinityOf = new Dictionary<string, (double Normalized, int Rank)>(affinity.Length, StringComparer.Ordinal);
        for (var i = 0; i < affinity.Length; i++)
        {
            affinityOf[affinity[i].Element!] = (max > 0 ? Math.Clamp(affinity[i].Score / max, 0, 1) : 0, i);
        }

        var selected = new Dictionary<string, double>(StringComparer.Ordinal);
        var followed = follows
            .Select(f => (string)f!)
            .OrderBy(f => affinityOf.TryGetValue(f, out var a) ? a.Rank : int.MaxValue)
            .ThenBy(f => f, StringComparer.Ordinal)
            .Take(o.MaxFollowedCreators);
        foreach (var creator in followed)
        {
            var a = affinityOf.TryGetValue(creator, out var known) ? known.Normalized : 0;
            selected[creator] = Math.Max(a, o.FollowedAffinity);
        }

        for (var i = 0; i < Math.Min(o.TopAffinityCreators, affinity.Length); i++)
        {
            string creator = affinity[i].Element!;
            var a = affinityOf[creator].Normalized;
            if (a > 0)
            {
                selected[creator] = Math.Max(a, selected.GetValueOrDefault(creator));
            }
        }

        return selected.Where(kv => kv.Value > 0).Select(kv => (kv.Key, kv.Value)).ToList();
    }
}
