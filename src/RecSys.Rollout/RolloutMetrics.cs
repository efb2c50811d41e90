using System.Diagnostics.Metrics;

namespace RecSys.Rollout;

/// <summary>The engine's instruments on the <c>RecSys.Rollout</c> meter.</summary>
internal sealed class RolloutMetrics : IDisposable
{
    public const string MeterName = "RecSys.Rollout";
    public const string KindTag = "recsys.rollout.kind";
    public const string ReasonTag = "recsys.rollout.reason";
    public const string StageTag = "recsys.rollout.stage";
    public const string ForcedTag = "recsys.rollout.forced";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _kind;
    private readonly Counter<long> _rollbacks;
    private readonly Counter<long> _transitions;

    public RolloutMetrics(string kind, IMeterFactory? meterFactory, Func<double> candidateShare, Func<int> rolledBack)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _kind = new KeyValuePair<string, object?>(KindTag, kind);
        var kindTag = _kind;
        _rollbacks = _meter.CreateCounter<long>("recsys.rollout.rollbacks", "{rollback}", "Rollouts rolled back, tagged with the gate (or manual) that caused it");
        _transitions = _meter.CreateCounter<long>("recsys.rollout.transitions", "{transition}", "Stage changes, tagged with the stage entered");
        _meter.CreateObservableGauge("recsys.rollout.candidate_share", () => new Measurement<double>(candidateShare(), kindTag), "1", "Fraction of users the candidate serves");
        _meter.CreateObservableGauge("recsys.rollout.rolled_back", () => new Measurement<int>(rolledBack(), kindTag), "1", "1 while the last rollout is rolled back (an alert), else 0");
    }

    public void RolledBack(string reason) => _rollbacks.Add(1, _kind, new KeyValuePair<string, object?>(ReasonTag, reason));

    public void Transition(RolloutStage to, bool forced) =>
        _transitions.Add(1, _kind, new KeyValuePair<string, object?>(StageTag, to.ToString()), new KeyValuePair<string, object?>(ForcedTag, forced));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
