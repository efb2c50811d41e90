using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.FeatureStore.Consistency;

/// <summary>Meter and ActivitySource <c>RecSys.FeatureStore.Consistency</c>.</summary>
public sealed class ConsistencyMetrics
{
    public const string Name = "RecSys.FeatureStore.Consistency";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _checks;
    private readonly Counter<long> _mismatches;
    private readonly Counter<long> _reconciled;
    private double _ratio;

    public ConsistencyMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _checks = meter.CreateCounter<long>("recsys.consistency.checks", "{check}", "Online/offline consistency checks run.");
        _mismatches = meter.CreateCounter<long>("recsys.consistency.mismatches", "{value}", "Feature values that differed between online and offline.");
        _reconciled = meter.CreateCounter<long>("recsys.consistency.reconciled", "{value}", "Online values replaced by newer offline ones.");
        meter.CreateObservableGauge(
            "recsys.consistency.inconsistency_ratio",
            () => Volatile.Read(ref _ratio),
            "{value}/{entity}",
            "Inconsistent values per sampled entity in the latest check (alert above FeatureServer:Consistency:AlertRatio).");
    }

    public void Checked(int mismatches, double ratio)
    {
        _checks.Add(1);
        _mismatches.Add(mismatches);
        Volatile.Write(ref _ratio, ratio);
    }

    public void Reconciled(int written) => _reconciled.Add(written);
}
