using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;

namespace RecSys.Rollout;

/// <summary>How long a stage lasts at least and how much candidate traffic it needs before its gates may advance it.</summary>
public sealed record RolloutStageOptions
{
    public TimeSpan MinDuration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Requests the candidate must have handled in the stage's window (in shadow: requests it scored in the background).</summary>
    public long MinRequests { get; init; } = 1_000;
}

/// <summary>Settings of a <see cref="RolloutEngine"/> (configuration section <c>Rollout</c>).</summary>
public sealed record RolloutOptions
{
    public const string SectionName = "Rollout";

    /// <summary>The registry kind rolled out (one rollout at a time per kind).</summary>
    public string ModelKind { get; init; } = "rankers";

    /// <summary>Folder of the persisted rollout state (<c>rollout-&lt;kind&gt;.json</c>), so a restart resumes the rollout.</summary>
    public string StateDirectory { get; init; } = "";

    /// <summary>Percent of users the canary serves (1-5).</summary>
    public double CanaryPercent { get; init; } = 1;

    /// <summary>How often the gates are evaluated (and a stage may advance or roll back).</summary>
    public TimeSpan GateInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Advance as soon as a stage's gates pass; when false, the stage waits for a manual promote.</summary>
    public bool AutoAdvance { get; init; } = true;

    public RolloutStageOptions Shadow { get; init; } = new() { MinDuration = TimeSpan.FromHours(1), MinRequests = 10_000 };
    public RolloutStageOptions Canary { get; init; } = new() { MinDuration = TimeSpan.FromHours(2), MinRequests = 5_000 };
    public RolloutStageOptions Ramp10 { get; init; } = new() { MinDuration = TimeSpan.FromHours(1), MinRequests = 10_000 };
    public RolloutStageOptions Ramp25 { get; init; } = new() { MinDuration = TimeSpan.FromHours(1), MinRequests = 20_000 };
    public RolloutStageOptions Ramp50 { get; init; } = new() { MinDuration = TimeSpan.FromHours(1), MinRequests = 40_000 };
    public RolloutStageOptions Ramp100 { get; init; } = new() { MinDuration = TimeSpan.FromHours(1), MinRequests = 40_000 };

    /// <summary>The candidate's latency quantile must stay below this multiple of production's.</summary>
    public double MaxLatencyRatio { get; init; } = 1.10;

    public double LatencyQuantile { get; init; } = 0.99;

    /// <summary>Latencies each version needs in the window before the quantiles are compared.</summary>
    public int MinLatencySamples { get; init; } = 500;

    /// <summary>Normal quantile of the distribution-free quantile bounds (2.576: two-sided 99 %).</summary>
    public double BoundZ { get; init; } = 2.576;

    /// <summary>Largest tolerated fraction of failed candidate requests.</summary>
    public double MaxErrorRate { get; init; } = 0.01;

    public int MinErrorSamples { get; init; } = 100;

    /// <summary>Largest tolerated relative CTR drop of the candidate against production (0.05 = 5 %).</summary>
    public double MaxCtrDrop { get; init; } = 0.05;

    /// <summary>False-alarm rate of the always-valid CTR test over a whole rollout (split evenly over the tested stages).</summary>
    public double CtrAlpha { get; init; } = 0.05;

    /// <summary>Standard deviation of the normal mixture over CTR differences (absolute CTR units); tune it to the size of changes expected.</summary>
    public double CtrMixtureStdDev { get; init; } = 0.01;

    /// <summary>Impressions each version needs in the window before the CTR gate decides.</summary>
    public long MinImpressions { get; init; } = 2_000;

    /// <summary>The shadow's score distribution fails when the KS test's p-value is at or below this.</summary>
    public double KsMinPValue { get; init; } = 0.01;

    /// <summary>Scores kept per version for the KS test, one per request (a bottom-k hash sample, so memory stays bounded).</summary>
    public int ScoreSampleSize { get; init; } = 4_000;

    /// <summary>Sampled scores, hence shadowed requests, each version needs before the KS gate decides.</summary>
    public int MinScoreSamples { get; init; } = 1_000;

    /// <summary>Scores outside [MinScore, MaxScore] (or NaN, infinite) fail the candidate at once.</summary>
    public float MinScore { get; init; }

    public float MaxScore { get; init; } = 1;

    /// <summary>Clicks arriving later than this after their request's impressions are not attributed.</summary>
    public TimeSpan ClickAttributionWindow { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Requests whose impressions wait for clicks; beyond it new requests are left out of the CTR (counted as untracked).</summary>
    public int MaxTrackedRequests { get; init; } = 1_000_000;

    /// <summary>Non-active versions the registry keeps after a rollout reaches production.</summary>
    public int RetainVersions { get; init; } = 3;

    /// <summary>Finished rollouts kept in the state file.</summary>
    public int HistoryLength { get; init; } = 20;

    /// <summary>The stage settings of <paramref name="stage"/>.</summary>
    public RolloutStageOptions ForStage(RolloutStage stage) => stage switch
    {
        RolloutStage.Shadow => Shadow,
        RolloutStage.Canary => Canary,
        RolloutStage.Ramp10 => Ramp10,
        RolloutStage.Ramp25 => Ramp25,
        RolloutStage.Ramp50 => Ramp50,
        RolloutStage.Ramp100 => Ramp100,
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "Production has no stage settings."),
    };

    /// <summary>Every setting out of range, one line each; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                problems.Add(message);
            }
        }

        Check(!string.IsNullOrWhiteSpace(ModelKind) && ModelKind.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'),
            $"ModelKind must be a non-empty name of ASCII letters, digits, '-', '_', '.' (was '{ModelKind}')");
        Check(!string.IsNullOrWhiteSpace(StateDirectory), "StateDirectory must name the folder of the rollout state");
        Check(CanaryPercent is >= 1 and <= 5, $"CanaryPercent must be in 1..5 (was {CanaryPercent})");
        Check(GateInterval >= TimeSpan.FromMilliseconds(1) && GateInterval <= TimeSpan.FromDays(1), $"GateInterval must be in 1 ms..1 day (was {GateInterval})");
        foreach (var stage in new[] { RolloutStage.Shadow, RolloutStage.Canary, RolloutStage.Ramp10, RolloutStage.Ramp25, RolloutStage.Ramp50, RolloutStage.Ramp100 })
        {
            var settings = ForStage(stage);
            if (settings is null)
            {
                problems.Add($"{stage} must be set");
                continue;
            }

            Check(settings.MinDuration >= TimeSpan.Zero && settings.MinDuration <= TimeSpan.FromDays(30), $"{stage}.MinDuration must be in 0..30 days (was {settings.MinDuration})");
            Check(settings.MinRequests >= 0, $"{stage}.MinRequests must not be negative (was {settings.MinRequests})");
        }

        Check(MaxLatencyRatio is >= 1 and <= 10, $"MaxLatencyRatio must be in 1..10 (was {MaxLatencyRatio})");
        Check(LatencyQuantile is >= 0.5 and < 1, $"LatencyQuantile must be in [0.5, 1) (was {LatencyQuantile})");
        Check(MinLatencySamples >= 1, $"MinLatencySamples must be at least 1 (was {MinLatencySamples})");
        Check(MinLatencySamples * (1 - LatencyQuantile) >= 1, $"MinLatencySamples ({MinLatencySamples}) must leave at least one sample above the {LatencyQuantile} quantile");
        Check(BoundZ is >= 1 and <= 6, $"BoundZ must be in 1..6 (was {BoundZ})");
        Check(MaxErrorRate is > 0 and < 1, $"MaxErrorRate must be in (0, 1) (was {MaxErrorRate})");
        Check(MinErrorSamples >= 1, $"MinErrorSamples must be at least 1 (was {MinErrorSamples})");
        Check(MaxCtrDrop is > 0 and < 1, $"MaxCtrDrop must be in (0, 1) (was {MaxCtrDrop})");
        Check(CtrAlpha is > 0 and <= 0.5, $"CtrAlpha must be in (0, 0.5] (was {CtrAlpha})");
        Check(CtrMixtureStdDev is > 0 and <= 1, $"CtrMixtureStdDev must be in (0, 1] (was {CtrMixtureStdDev})");
        Check(MinImpressions >= 1, $"MinImpressions must be at least 1 (was {MinImpressions})");
        Check(KsMinPValue is > 0 and < 1, $"KsMinPValue must be in (0, 1) (was {KsMinPValue})");
        Check(ScoreSampleSize is >= 10 and <= 1_000_000, $"ScoreSampleSize must be in 10..1000000 (was {ScoreSampleSize})");
        Check(MinScoreSamples >= 2 && MinScoreSamples <= ScoreSampleSize, $"MinScoreSamples must be in 2..ScoreSampleSize ({ScoreSampleSize}) (was {MinScoreSamples})");
        Check(float.IsFinite(MinScore) && float.IsFinite(MaxScore) && MinScore < MaxScore, $"MinScore ({MinScore}) must be finite and below MaxScore ({MaxScore})");
        Check(ClickAttributionWindow > TimeSpan.Zero, $"ClickAttributionWindow must be positive (was {ClickAttributionWindow})");
        Check(MaxTrackedRequests >= 1, $"MaxTrackedRequests must be at least 1 (was {MaxTrackedRequests})");
        Check(RetainVersions >= 1, $"RetainVersions must be at least 1, so the version before the rollout stays for rollback (was {RetainVersions})");
        Check(HistoryLength >= 0, $"HistoryLength must not be negative (was {HistoryLength})");
        return problems;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming every setting out of range.</summary>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            var message = new StringBuilder("Invalid rollout options:");
            foreach (var problem in problems)
            {
                message.Append(CultureInfo.InvariantCulture, $"{Environment.NewLine}  - {problem}");
            }

            throw new ArgumentException(message.ToString());
        }
    }
}

/// <summary>Validates <see cref="RolloutOptions"/> for <c>ValidateOnStart</c>.</summary>
public sealed class RolloutOptionsValidator : IValidateOptions<RolloutOptions>
{
    public ValidateOptionsResult Validate(string? name, RolloutOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Problems();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
