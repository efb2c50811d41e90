namespace RecSys.Rollout.Statistics;

/// <summary>
/// Per-request sums of a ratio metric (CTR = Σ clicks / Σ impressions over requests). Its variance comes from the delta method
/// on the request as the unit (Deng, Knoblich and Lu, "Applying the Delta Method in Metric Analytics", KDD 2018), so clicks
/// within one request, which are correlated, do not make the estimate look more certain than it is.
/// </summary>
public sealed class RatioAccumulator
{
    private readonly Lock _lock = new();
    private long _requests;
    private double _x;
    private double _y;
    private double _xx;
    private double _yy;
    private double _xy;

    /// <summary>Adds a request with <paramref name="impressions"/> shown items and no click yet.</summary>
    public void AddRequest(int impressions)
    {
        lock (_lock)
        {
            _requests++;
            _x += impressions;
            _xx += (double)impressions * impressions;
        }
    }

    /// <summary>A click on a request that had <paramref name="clicksBefore"/> clicks out of <paramref name="impressions"/>.</summary>
    public void AddClick(int impressions, int clicksBefore)
    {
        lock (_lock)
        {
            _y += 1;
            _yy += (2.0 * clicksBefore) + 1;
            _xy += impressions;
        }
    }

    /// <summary>The current totals and the ratio's estimated variance.</summary>
    public RatioEstimate Estimate()
    {
        lock (_lock)
        {
            if (_requests == 0 || _x == 0)
            {
                return new RatioEstimate(_requests, (long)_x, (long)_y, 0, double.PositiveInfinity);
            }

            var n = (double)_requests;
            var ratio = _y / _x;
            var meanX = _x / n;
            if (_requests < 2)
            {
                return new RatioEstimate(_requests, (long)_x, (long)_y, ratio, double.PositiveInfinity);
            }

            // Var(ȳ/x̄) ≈ (s_yy − 2 r s_xy + r² s_xx) / (n x̄²), with sample (co)variances s.
            var syy = (_yy - (_y * _y / n)) / (n - 1);
            var sxx = (_xx - (_x * _x / n)) / (n - 1);
            var sxy = (_xy - (_x * _y / n)) / (n - 1);
            var variance = Math.Max(0, (syy - (2 * ratio * sxy) + (ratio * ratio * sxx)) / (n * meanX * meanX));
            return new RatioEstimate(_requests, (long)_x, (long)_y, ratio, variance);
        }
    }
}

/// <summary>A ratio metric's totals, value and delta-method variance (infinite while undefined).</summary>
public readonly record struct RatioEstimate(long Requests, long Denominator, long Numerator, double Ratio, double Variance);
