using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// The newest items of creators the user follows or engages with. Creator affinity is the user's engagement weight with the
/// creator divided by the largest one, raised to <see cref="CreatorSourceOptions.FollowedAffinity"/> for a followed creator;
/// an item scores <c>affinity x 2^(-age / RecencyHalfLife)</c> (age from its created time), normalized so that the best item
/// scores 1.
/// </summary>
internal sealed class CreatorSource(CandidateSignalReader store, IOptionsMonitor<RetrievalOptions> options) : ICandidateSource
{
    public string Name => SourceNames.Creator;

    public UserSignalsQuery SignalsNeeded
    {
        get
        {
            var o = options.CurrentValue.Creator;
            return new(0, 0, Math.Max(o.TopAffinityCreators, o.MaxFollowedCreators));
        }
    }

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue.Creator;
        var signals = await request.SignalsAsync(store, SignalsNeeded, cancellationToken).WaitAsync(cancellationToken);
        var affinity = signals.CreatorAffinity.Take(Math.Max(o.TopAffinityCreators, o.MaxFollowedCreators)).ToArray();
        var creators = SelectCreators(signals.Follows, affinity, o);
        if (creators.Count == 0)
        {
            return [];
        }

        var totalAffinity = creators.Sum(c => c.Affinity);
        var lookups = new (string Creator, int Depth)[creators.Count];
        for (var i = 0; i < creators.Count; i++)
        {
            var depth = ScoreRanking.ReadDepth(
                o.ReadFactor * budget * creators[i].Affinity / totalAffinity, Math.Min(o.MinItemsPerCreator, budget), Math.Min(o.MaxItemsPerCreator, budget));
            lookups[i] = (creators[i].Creator, depth);
        }

        var lists = await store.ReadCreatorItemsAsync(lookups, cancellationToken);
        var nowMs = request.Now.ToUnixTimeMilliseconds();
        var halfLifeMs = o.RecencyHalfLife.TotalMilliseconds;
        // This thread's scratch table: filled and ranked below with no await in between.
        var scores = ScoreRanking.ScratchScores();
        for (var i = 0; i < creators.Count; i++)
        {
            var creatorAffinity = creators[i].Affinity;
            foreach (var entry in lists[i])
            {
                var score = creatorAffinity * ScoreRanking.Decay(nowMs - entry.Score, halfLifeMs);
                ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(scores, entry.Member, out _);
                slot = Math.Max(slot, score);
            }
        }

        return ScoreRanking.TopNormalized(scores, budget);
    }

    /// <summary>
    /// Followed creators (those with affinity first, then by id; at most <see cref="CreatorSourceOptions.MaxFollowedCreators"/>)
    /// plus the top <see cref="CreatorSourceOptions.TopAffinityCreators"/> by affinity, each with its affinity in [0, 1].
    /// </summary>
    internal static List<(string Creator, double Affinity)> SelectCreators(IReadOnlyList<string> follows, IReadOnlyList<ScoredMember> affinity, CreatorSourceOptions o)
    {
        var max = affinity.Count > 0 && affinity[0].Score > 0 ? affinity[0].Score : 0;
        var affinityOf = new Dictionary<string, (double Normalized, int Rank)>(affinity.Count, StringComparer.Ordinal);
        for (var i = 0; i < affinity.Count; i++)
        {
            affinityOf[affinity[i].Member] = (max > 0 ? Math.Clamp(affinity[i].Score / max, 0, 1) : 0, i);
        }

        var selected = new Dictionary<string, double>(StringComparer.Ordinal);
        var followed = follows
            .OrderBy(f => affinityOf.TryGetValue(f, out var a) ? a.Rank : int.MaxValue)
            .ThenBy(f => f, StringComparer.Ordinal)
            .Take(o.MaxFollowedCreators);
        foreach (var creator in followed)
        {
            var a = affinityOf.TryGetValue(creator, out var known) ? known.Normalized : 0;
            selected[creator] = Math.Max(a, o.FollowedAffinity);
        }

        for (var i = 0; i < Math.Min(o.TopAffinityCreators, affinity.Count); i++)
        {
            var creator = affinity[i].Member;
            var a = affinityOf[creator].Normalized;
            if (a > 0)
            {
                selected[creator] = Math.Max(a, selected.GetValueOrDefault(creator));
            }
        }

        return selected.Where(kv => kv.Value > 0).Select(kv => (kv.Key, kv.Value)).ToList();
    }
}
