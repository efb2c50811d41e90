using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>Options of the online feature store, section <c>FeatureServer:OnlineStore</c>.</summary>
public sealed class OnlineStoreOptions
{
    public const string SectionName = "FeatureServer:OnlineStore";

    /// <summary>How long a fetched value is served from the in-process L1 cache; zero switches the cache off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan L1CacheTtl { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most (entity, feature) values the L1 cache holds.</summary>
    [Range(1, 10_000_000)]
    public int L1CacheMaxEntries { get; set; } = 200_000;

    /// <summary>
    /// How long the active embedding version (the pointer an embedding read resolves first) is reused before it is read
    /// again; zero (the default) reads it for every fetch. With it, a request's embedding read is one round trip instead of
    /// two; each fetch still reads one version whole, and a switch is seen within this time. Reads that opt out of in-process
    /// caches (<see cref="OnlineFeatureQuery.UseL1Cache"/> false: the bulk readers) always read the pointer.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ActiveEmbeddingVersionCacheTtl { get; set; } = TimeSpan.Zero;

    /// <summary>Least time between two stale-value log lines of one feature (every stale value is counted).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan StaleLogInterval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>The data annotations of <see cref="OnlineStoreOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class OnlineStoreOptionsValidator : IValidateOptions<OnlineStoreOptions>;
