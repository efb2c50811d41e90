using System.Text.Json;
using System.Text.Json.Serialization;

namespace RecSys.Learning.Ranking;

/// <summary>Which map a calibrator applies to a raw logit.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CalibrationMethod>))]
public enum CalibrationMethod
{
    /// <summary>p = sigmoid(A z + B).</summary>
    Platt,

    /// <summary>A non-decreasing piecewise-linear map through the pooled blocks of pool-adjacent-violators.</summary>
    Isotonic,
}

/// <summary>A fitted map from a ranker's raw logit to a click probability.</summary>
public sealed record Calibrator(CalibrationMethod Method, double A, double B, double[] X, double[] Y)
{
    private const double MinProbability = 1e-6;

    public static Calibrator FitPlatt(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, ReadOnlySpan<float> weights)
    {
        // Newton's method on the weighted log loss of sigmoid(a z + b); the 2 x 2 Hessian is solved directly.
        double a = 1, b = 0;
        for (var iteration = 0; iteration < 100; iteration++)
        {
            double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
            for (var i = 0; i < logits.Length; i++)
            {
                var p = 1 / (1 + Math.Exp(-((a * logits[i]) + b)));
                var residual = weights[i] * (p - (labels[i] > 0 ? 1 : 0));
                var curvature = weights[i] * Math.Max(p * (1 - p), 1e-12);
                ga += residual * logits[i];
                gb += residual;
                haa += curvature * logits[i] * logits[i];
                hab += curvature * logits[i];
                hbb += curvature;
            }

            haa += 1e-9;
            hbb += 1e-9;
            var det = (haa * hbb) - (hab * hab);
            if (!(Math.Abs(det) > 1e-300))
            {
                break;
            }

            var da = ((hbb * ga) - (hab * gb)) / det;
            var db = ((haa * gb) - (hab * ga)) / det;
            a -= da;
            b -= db;
            if (Math.Abs(da) + Math.Abs(db) < 1e-10)
            {
                break;
            }
        }

        return new Calibrator(CalibrationMethod.Platt, a, b, [], []);
    }

    /// <summary>Pool-adjacent-violators on rows sorted by logit (equal logits pooled first), weighted.</summary>
    public static Calibrator FitIsotonic(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, ReadOnlySpan<float> weights)
    {
        var order = Enumerable.Range(0, logits.Length).ToArray();
        var keys = logits.ToArray();
        Array.Sort(keys, order);
        var blockX = new List<double>();
        var blockY = new List<double>();
        var blockW = new List<double>();
        var previousLogit = double.NaN;
        for (var t = 0; t < order.Length; t++)
        {
            var i = order[t];
            var w = (double)weights[i];
            if (w <= 0)
            {
                continue;
            }

            double x = logits[i], y = labels[i] > 0 ? 1 : 0;
            if (blockX.Count > 0 && x == previousLogit)
            {
                // Same logit as the previous row, which is in the last block: ties are never split, so block means stay strictly increasing.
                Merge(blockX, blockY, blockW, x, y, w);
            }
            else
            {
                blockX.Add(x);
                blockY.Add(y);
                blockW.Add(w);
            }

            previousLogit = x;

            // Merge backwards while the last two blocks violate monotonicity.
            while (blockY.Count > 1 && blockY[^2] >= blockY[^1])
            {
                var (lx, ly, lw) = (blockX[^1], blockY[^1], blockW[^1]);
                blockX.RemoveAt(blockX.Count - 1);
                blockY.RemoveAt(blockY.Count - 1);
                blockW.RemoveAt(blockW.Count - 1);
                Merge(blockX, blockY, blockW, lx, ly, lw);
            }
        }

        if (blockX.Count == 0)
        {
            throw new ArgumentException("Isotonic calibration needs rows with positive weight.", nameof(weights));
        }

        return new Calibrator(CalibrationMethod.Isotonic, 0, 0, [.. blockX], [.. blockY]);
    }

    public float Apply(float logit)
    {
        double p;
        if (Method == CalibrationMethod.Platt)
        {
            p = 1 / (1 + Math.Exp(-((A * logit) + B)));
        }
        else if (logit <= X[0])
        {
            p = Y[0];
        }
        else if (logit >= X[^1])
        {
            p = Y[^1];
        }
        else
        {
            var hi = Array.BinarySearch(X, (double)logit);
            if (hi >= 0)
            {
                p = Y[hi];
            }
            else
            {
                hi = ~hi;
                var lo = hi - 1;
                var t = (logit - X[lo]) / (X[hi] - X[lo]);
                p = Y[lo] + (t * (Y[hi] - Y[lo]));
            }
        }

        return (float)Math.Clamp(p, MinProbability, 1 - MinProbability);
    }

    internal void Validate()
    {
        if (Method == CalibrationMethod.Platt)
        {
            if (!double.IsFinite(A) || !double.IsFinite(B))
            {
                throw new InvalidDataException("Platt calibrator has non-finite coefficients.");
            }

            return;
        }

        if (X is null || Y is null || X.Length == 0 || X.Length != Y.Length)
        {
            throw new InvalidDataException("Isotonic calibrator needs equally long, non-empty X and Y.");
        }

        for (var i = 0; i < X.Length; i++)
        {
            if (!double.IsFinite(X[i]) || Y[i] is < 0 or > 1 || double.IsNaN(Y[i]) || (i > 0 && (X[i] <= X[i - 1] || Y[i] < Y[i - 1])))
            {
                throw new InvalidDataException($"Isotonic calibrator is not increasing in X and non-decreasing in Y within [0, 1] at point {i}.");
            }
        }
    }

    private static void Merge(List<double> xs, List<double> ys, List<double> ws, double x, double y, double w)
    {
        var total = ws[^1] + w;
        xs[^1] = ((xs[^1] * ws[^1]) + (x * w)) / total;
        ys[^1] = ((ys[^1] * ws[^1]) + (y * w)) / total;
        ws[^1] = total;
    }
}

/// <summary>How one segment was calibrated: held-out log loss of each candidate, the choice, and before/after on all its rows.</summary>
public sealed record SegmentCalibrationReport(string Segment, int Rows, bool UsesGlobal, CalibrationMethod? Chosen,
    double PlattHeldOutLogLoss, double IsotonicHeldOutLogLoss, double LogLossBefore, double LogLossAfter, double EceBefore, double EceAfter);

/// <summary>
/// Calibration per segment (context x user-activity bucket), stored as JSON beside the model. Each segment with at
/// least <see cref="MinSegmentRows"/> held-out rows has its own calibrator; the others use <see cref="Global"/>.
/// </summary>
public sealed record SegmentCalibration(int MinSegmentRows, Calibrator Global, IReadOnlyDictionary<string, Calibrator> Segments,
    IReadOnlyList<SegmentCalibrationReport> Report)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public float Apply(float logit, SegmentKey segment) =>
        (Segments.TryGetValue(segment.ToString(), out var calibrator) ? calibrator : Global).Apply(logit);

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static SegmentCalibration FromJson(string json)
    {
        SegmentCalibration? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<SegmentCalibration>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Calibration JSON is malformed: {e.Message}", e);
        }

        if (parsed?.Global is null || parsed.Segments is null)
        {
            throw new InvalidDataException("Calibration JSON lacks the global calibrator or the segment table.");
        }

        parsed.Global.Validate();
        foreach (var calibrator in parsed.Segments.Values)
        {
            calibrator.Validate();
        }

        return parsed;
    }

    /// <summary>
    /// Fits on held-out rows (never the ranker's training rows). Per segment, and for the global fallback: both methods are
    /// fitted on the even-numbered rows and scored by log loss on the odd ones; the better is refitted on all rows.
    /// </summary>
    public static SegmentCalibration Fit(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, ReadOnlySpan<float> weights,
        ReadOnlySpan<SegmentKey> segments, int minSegmentRows = 1000)
    {
        if (labels.Length != logits.Length || weights.Length != logits.Length || segments.Length != logits.Length)
        {
            throw new ArgumentException("Logits, labels, weights and segments differ in length.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(minSegmentRows, 2);
        if (logits.Length < 2)
        {
            throw new ArgumentException("Calibration needs at least two held-out rows.", nameof(logits));
        }

        var all = Enumerable.Range(0, logits.Length).ToArray();
        var (global, globalPlatt, globalIsotonic) = Choose(logits, labels, weights, all);
        var bySegment = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < segments.Length; i++)
        {
            var key = segments[i].ToString();
            if (!bySegment.TryGetValue(key, out var rows))
            {
                bySegment[key] = rows = [];
            }

            rows.Add(i);
        }

        var table = new Dictionary<string, Calibrator>(StringComparer.Ordinal);
        var report = new List<SegmentCalibrationReport>();
        foreach (var (key, rows) in bySegment)
        {
            var indices = rows.ToArray();
            Calibrator chosen;
            double platt = double.NaN, isotonic = double.NaN;
            var usesGlobal = indices.Length < minSegmentRows;
            if (usesGlobal)
            {
                chosen = global;
            }
            else
            {
                (chosen, platt, isotonic) = Choose(logits, labels, weights, indices);
                table[key] = chosen;
            }

            var (y, p, w) = Gather(logits, labels, weights, indices);
            var before = p.Select(RankerMetrics.Sigmoid).ToArray();
            var after = p.Select(chosen.Apply).ToArray();
            report.Add(new SegmentCalibrationReport(key, indices.Length, usesGlobal, usesGlobal ? null : chosen.Method, platt, isotonic,
                RankerMetrics.LogLoss(y, before, w), RankerMetrics.LogLoss(y, after, w),
                RankerMetrics.ExpectedCalibrationError(y, before, w), RankerMetrics.ExpectedCalibrationError(y, after, w)));
        }

        var (ay, az, aw) = Gather(logits, labels, weights, all);
        var rawAll = az.Select(RankerMetrics.Sigmoid).ToArray();
        var calibratedAll = ApplyTable(global, table, az, segments);
        report.Add(new SegmentCalibrationReport("all (per-segment)", all.Length, false, global.Method, globalPlatt, globalIsotonic,
            RankerMetrics.LogLoss(ay, rawAll, aw), RankerMetrics.LogLoss(ay, calibratedAll, aw),
            RankerMetrics.ExpectedCalibrationError(ay, rawAll, aw), RankerMetrics.ExpectedCalibrationError(ay, calibratedAll, aw)));
        return new SegmentCalibration(minSegmentRows, global, table, report);
    }

    /// <summary>Probabilities for every row through its segment's calibrator.</summary>
    public float[] ApplyAll(ReadOnlySpan<float> logits, ReadOnlySpan<SegmentKey> segments)
    {
        var result = new float[logits.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = Apply(logits[i], segments[i]);
        }

        return result;
    }

    private static float[] ApplyTable(Calibrator global, Dictionary<string, Calibrator> table, float[] logits, ReadOnlySpan<SegmentKey> segments)
    {
        var result = new float[logits.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = (table.TryGetValue(segments[i].ToString(), out var c) ? c : global).Apply(logits[i]);
        }

        return result;
    }

    private static (Calibrator Chosen, double Platt, double Isotonic) Choose(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels,
        ReadOnlySpan<float> weights, int[] indices)
    {
        var fitRows = indices.Where((_, i) => i % 2 == 0).ToArray();
        var testRows = indices.Where((_, i) => i % 2 == 1).ToArray();
        var (fy, fz, fw) = Gather(logits, labels, weights, fitRows);
        var (ty, tz, tw) = Gather(logits, labels, weights, testRows);
        var platt = Calibrator.FitPlatt(fz, fy, fw);
        var isotonic = Calibrator.FitIsotonic(fz, fy, fw);
        var plattLoss = RankerMetrics.LogLoss(ty, tz.Select(platt.Apply).ToArray(), tw);
        var isotonicLoss = RankerMetrics.LogLoss(ty, tz.Select(isotonic.Apply).ToArray(), tw);
        var (y, z, w) = Gather(logits, labels, weights, indices);
        var chosen = isotonicLoss < plattLoss ? Calibrator.FitIsotonic(z, y, w) : Calibrator.FitPlatt(z, y, w);
        return (chosen, plattLoss, isotonicLoss);
    }

    private static (float[] Labels, float[] Logits, float[] Weights) Gather(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels,
        ReadOnlySpan<float> weights, int[] indices)
    {
        var y = new float[indices.Length];
        var z = new float[indices.Length];
        var w = new float[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            y[i] = labels[indices[i]] > 0 ? 1 : 0;
            z[i] = logits[indices[i]];
            w[i] = weights[indices[i]];
        }

        return (y, z, w);
    }
}
