using System.Buffers;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Text.Json.Serialization;

namespace RecSys.Rollout;

/// <summary>Why a request went to the version it went to.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RouteReason>))]
public enum RouteReason
{
    /// <summary>No rollout is running: the production version serves everyone.</summary>
    NoRollout,

    /// <summary>A rollout runs and the user's bucket is at or above the candidate's share.</summary>
    ProductionBucket,

    /// <summary>A rollout runs and the user's bucket is below the candidate's share.</summary>
    CandidateBucket,
}

/// <summary>
/// The version that serves a request and why, for the response metadata. <see cref="ShadowVersion"/> is set in the shadow
/// stage: the host scores the request with it in the background and records those scores, never returning them.
/// </summary>
public readonly record struct RoutingDecision(
    string? Version,
    RouteReason Reason,
    string? RolloutId,
    RolloutStage? Stage,
    double CandidatePercent,
    int Bucket,
    string? ShadowVersion)
{
    public bool ServesCandidate => Reason == RouteReason.CandidateBucket;

    /// <summary>One line for response metadata, e.g. "v7: candidate, stage Canary (5 %), bucket 312 &lt; 500".</summary>
    public string Describe()
    {
        var version = Version ?? "(none)";
        return Reason switch
        {
            RouteReason.NoRollout => $"{version}: production, no rollout",
            _ => string.Create(CultureInfo.InvariantCulture,
                $"{version}: {(ServesCandidate ? "candidate" : "production")}, stage {Stage} ({CandidatePercent:0.##} %), bucket {Bucket} {(ServesCandidate ? "<" : ">=")} {RolloutStages.ThresholdBuckets(CandidatePercent)}{(ShadowVersion is null ? "" : $", shadow {ShadowVersion}")}"),
        };
    }
}

/// <summary>
/// Sticky bucketing: a user's bucket is XxHash64 of the UTF-8 user id, a zero byte and the UTF-8 rollout id, modulo
/// 10,000. XxHash64 is a published, seedable, platform-independent function (unlike string.GetHashCode, which is randomized
/// per process), so every replica and every restart puts a user in the same bucket. A candidate at p % serves buckets below
/// p x 100: within a stage a user keeps one version, and as p grows users only move from production to the candidate.
/// </summary>
public static class StickyRouting
{
    public static int BucketOf(string userId, string rolloutId)
    {
        ArgumentNullException.ThrowIfNull(userId);
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        var length = Encoding.UTF8.GetByteCount(userId) + 1 + Encoding.UTF8.GetByteCount(rolloutId);
        byte[]? rented = null;
        var buffer = length <= 512 ? stackalloc byte[length] : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        try
        {
            var written = Encoding.UTF8.GetBytes(userId, buffer);
            buffer[written] = 0; // Separator: ("ab", "c") and ("a", "bc") must not collide.
            Encoding.UTF8.GetBytes(rolloutId, buffer[(written + 1)..]);
            return (int)(XxHash64.HashToUInt64(buffer) % RolloutStages.BucketCount);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}

/// <summary>An immutable routing snapshot; the engine swaps it whole, so a rollback reverts traffic for the next request.</summary>
internal sealed record RoutingTable(string? ProductionVersion, string? CandidateVersion, string? RolloutId, RolloutStage? Stage, double Percent)
{
    public static RoutingTable ProductionOnly(string? production) => new(production, null, null, null, 0);

    public int ThresholdBuckets { get; } = RolloutStages.ThresholdBuckets(Percent);

    public RoutingDecision Route(string userId)
    {
        if (CandidateVersion is null || RolloutId is null)
        {
            return new RoutingDecision(ProductionVersion, RouteReason.NoRollout, null, null, 0, -1, null);
        }

        var bucket = StickyRouting.BucketOf(userId, RolloutId);
        var candidate = bucket < ThresholdBuckets;
        return new RoutingDecision(
            candidate ? CandidateVersion : ProductionVersion,
            candidate ? RouteReason.CandidateBucket : RouteReason.ProductionBucket,
            RolloutId,
            Stage,
            Percent,
            bucket,
            Stage == RolloutStage.Shadow ? CandidateVersion : null);
    }
}
