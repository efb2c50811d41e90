using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Caching;

/// <summary>The main ranker's score cache (section <c>Ranking:ScoreCache</c>).</summary>
public sealed class ScoreCacheOptions
{
    public const string SectionName = "Ranking:ScoreCache";

    /// <summary>When false, every lookup misses and nothing is stored.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long a score stays valid. Short: features drift even when their version does not change.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Most scores held; beyond it the oldest unreferenced entries are evicted (CLOCK). An entry costs ~70 bytes (its slot and index positions) plus its item id
    /// string, which it shares with the request that stored it, so 200,000 entries take roughly 20-40 MB.
    /// </summary>
    [Range(16, 50_000_000)]
    public int MaxEntries { get; set; } = 200_000;
}

/// <summary>The data annotations of <see cref="ScoreCacheOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class ScoreCacheOptionsValidator : IValidateOptions<ScoreCacheOptions>;
