using System.Runtime.InteropServices;

namespace RecSys.Candidates;

/// <summary>One source's ranked list and its fusion weight.</summary>
public sealed record SourceResult(string Source, double Weight, IReadOnlyList<ScoredItem> Items);

/// <summary>A fused candidate: its total score and the sources that proposed it, in the order the sources were given.</summary>
public sealed class FusedCandidate(string itemId)
{
    internal int LastSourceIndex = -1;

    public string ItemId { get; } = itemId;

    public double Score { get; internal set; }

    public List<string> Sources { get; } = new(2);
}

/// <summary>
/// Weighted reciprocal-rank fusion of the sources' lists. For the item at 1-based <c>rank</c> with normalized <c>score</c> in a source of weight
/// <c>w</c>: <c>(score x 0.7 + 0.3 / (60 + rank)) x w</c>, summed over the sources that propose it; an item proposed by
/// n &gt; 1 sources is then multiplied by <c>1 + 0.1 n</c>. Sorted by total descending, ties by item id (ordinal).
/// Deduplication is inherent; a source that lists an item twice counts once, at its first (best) rank.
/// </summary>
public static class CandidateFusion
{
    public const int RrfK = 60;
    public const double ScoreShare = 0.7;
    public const double RankShare = 0.3;
    public const double MultiSourceBonus = 0.1;

    public static List<FusedCandidate> Merge(IReadOnlyList<SourceResult> results)
    {
        var capacity = 0;
        foreach (var r in results)
        {
            capacity += r.Items.Count;
        }

        var byItem = new Dictionary<string, FusedCandidate>(capacity, StringComparer.Ordinal);
        var ordered = new List<FusedCandidate>(capacity);
        for (var s = 0; s < results.Count; s++)
        {
            var (source, weight, items) = results[s];
            for (var i = 0; i < items.Count; i++)
            {
                var item = items[i];
                ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(byItem, item.ItemId, out var exists);
                if (!exists)
                {
                    slot = new FusedCandidate(item.ItemId);
                    ordered.Add(slot);
                }

                var candidate = slot!;
                if (candidate.LastSourceIndex == s)
                {
                    continue;
                }

                candidate.LastSourceIndex = s;
                var rank = i + 1;
                var rrf = 1.0 / (RrfK + rank);
                candidate.Score += ((item.Score * ScoreShare) + (rrf * RankShare)) * weight;
                candidate.Sources.Add(source);
            }
        }

        foreach (var candidate in ordered)
        {
            if (candidate.Sources.Count > 1)
            {
                candidate.Score *= 1 + (MultiSourceBonus * candidate.Sources.Count);
            }
        }

        ordered.Sort(static (a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : string.CompareOrdinal(a.ItemId, b.ItemId);
        });
        return ordered;
    }
}
