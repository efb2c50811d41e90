using System.Text.Json.Serialization;

namespace RecSys.Rollout;

/// <summary>Where a rollout stands; the stages run in declaration order.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutStage>))]
public enum RolloutStage
{
    /// <summary>0 % served; the candidate scores every request in the background and its scores are compared with production's.</summary>
    Shadow,

    /// <summary>A configurable 1-5 % of users served by the candidate.</summary>
    Canary,

    Ramp10,
    Ramp25,
    Ramp50,
    Ramp100,

    /// <summary>The candidate became the production version; the old one was cleaned up.</summary>
    Production,
}

/// <summary>How a rollout ended, or that it has not.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutOutcome>))]
public enum RolloutOutcome
{
    Running,
    Completed,
    RolledBack,
}

/// <summary>What the host shows for the rollout (the integrator maps it to the dashboard resource's state).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutState>))]
public enum RolloutState
{
    /// <summary>No rollout was ever started for this kind.</summary>
    Idle,

    /// <summary>A stage is collecting traffic or waiting for its gates.</summary>
    Running,

    /// <summary>The stage's gates pass and automatic advance is off: waiting for a manual promote.</summary>
    ReadyToPromote,

    /// <summary>The last rollout reached production.</summary>
    Completed,

    /// <summary>The last rollout was rolled back: an alert until the next rollout starts.</summary>
    RolledBack,
}

/// <summary>Stage facts that do not depend on options.</summary>
public static class RolloutStages
{
    /// <summary>Number of routing buckets; a percentage p serves the candidate to buckets below p x 100.</summary>
    public const int BucketCount = 10_000;

    /// <summary>Percent of users the candidate serves in <paramref name="stage"/> (<paramref name="canaryPercent"/> for the canary).</summary>
    public static double PercentOf(RolloutStage stage, double canaryPercent) => stage switch
    {
        RolloutStage.Shadow => 0,
        RolloutStage.Canary => canaryPercent,
        RolloutStage.Ramp10 => 10,
        RolloutStage.Ramp25 => 25,
        RolloutStage.Ramp50 => 50,
        RolloutStage.Ramp100 or RolloutStage.Production => 100,
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "Unknown rollout stage."),
    };

    /// <summary>True where both versions serve users, so their CTRs can be compared over the same window.</summary>
    public static bool ComparesServedTraffic(RolloutStage stage) =>
        stage is RolloutStage.Canary or RolloutStage.Ramp10 or RolloutStage.Ramp25 or RolloutStage.Ramp50;

    /// <summary>Stages in which the CTR test runs; its false-alarm budget is split evenly across them.</summary>
    public const int CtrTestedStages = 4;

    /// <summary>Buckets served by the candidate at <paramref name="percent"/>.</summary>
    public static int ThresholdBuckets(double percent) => (int)Math.Round(percent * (BucketCount / 100.0), MidpointRounding.AwayFromZero);
}
