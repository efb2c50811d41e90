using RecSys.Learning.Ranking;

namespace RecSys.Learning.Tests.Ranking;

public sealed class CalibrationAndManifestTests
{
    /// <summary>Labels drawn from sigmoid(z); the scores handed over are miscalibrated per segment (scaled and shifted).</summary>
    private static (float[] Logits, float[] Labels, float[] Weights, SegmentKey[] Segments) Miscalibrated(int n, int seed)
    {
        var rng = new Random(seed);
        var logits = new float[n];
        var labels = new float[n];
        var weights = new float[n];
        var segments = new SegmentKey[n];
        for (var i = 0; i < n; i++)
        {
            var segment = new SegmentKey(i % 3, i / 3 % 2);
            var z = (float)((rng.NextDouble() * 6) - 4);
            labels[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-z)) ? 1 : 0;
            logits[i] = (z * (segment.Context == 0 ? 3f : 0.5f)) + (segment.ActivityBucket == 1 ? 1.5f : -1f);
            weights[i] = 1;
            segments[i] = segment;
        }

        return (logits, labels, weights, segments);
    }

    [Fact]
    public void Calibration_reduces_log_loss_and_ece_on_miscalibrated_scores()
    {
        var (z, y, w, s) = Miscalibrated(12_000, 1);
        var calibration = SegmentCalibration.Fit(z, y, w, s, minSegmentRows: 500);
        Assert.Equal(6, calibration.Segments.Count);

        var (tz, ty, tw, ts) = Miscalibrated(6_000, 2);
        var before = tz.Select(RankerMetrics.Sigmoid).ToArray();
        var after = calibration.ApplyAll(tz, ts);
        var lossBefore = RankerMetrics.LogLoss(ty, before, tw);
        var lossAfter = RankerMetrics.LogLoss(ty, after, tw);
        Assert.True(lossAfter < lossBefore - 0.05, $"log loss {lossBefore:F4} -> {lossAfter:F4}");
        Assert.True(RankerMetrics.ExpectedCalibrationError(ty, after, tw) < RankerMetrics.ExpectedCalibrationError(ty, before, tw) / 2);

        var restored = SegmentCalibration.FromJson(calibration.ToJson());
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(after[i], restored.Apply(tz[i], ts[i]));
        }
    }

    [Fact]
    public void Small_segments_fall_back_to_the_global_calibrator()
    {
        var (z, y, w, s) = Miscalibrated(3_000, 3);
        var calibration = SegmentCalibration.FromJson(SegmentCalibration.Fit(z, y, w, s, minSegmentRows: 100_000).ToJson());
        Assert.Empty(calibration.Segments);
        Assert.All(calibration.Report.Where(r => r.Segment.StartsWith('c')), r => Assert.True(r.UsesGlobal));
        Assert.Equal(calibration.Global.Apply(0.3f), calibration.Apply(0.3f, new SegmentKey(9, 9)));
    }

    [Fact]
    public void Isotonic_output_is_monotone_and_pools_violations()
    {
        var rng = new Random(4);
        var z = Enumerable.Range(0, 2_000).Select(_ => (float)Math.Round((rng.NextDouble() * 8) - 4, 1)).ToArray();
        var y = z.Select(v => rng.NextDouble() < 1 / (1 + Math.Exp(-v)) ? 1f : 0f).ToArray();
        var w = Enumerable.Repeat(1f, z.Length).ToArray();
        var isotonic = Calibrator.FitIsotonic(z, y, w);
        for (var i = 1; i < isotonic.X.Length; i++)
        {
            Assert.True(isotonic.X[i] > isotonic.X[i - 1]);
            Assert.True(isotonic.Y[i] >= isotonic.Y[i - 1]);
        }

        var previous = 0f;
        for (var v = -5f; v <= 5f; v += 0.01f)
        {
            var p = isotonic.Apply(v);
            Assert.True(p >= previous, $"not monotone at {v}");
            previous = p;
        }

        // A hand-checked case: labels 1, 0 at increasing scores violate order and pool to 0.5.
        var pooled = Calibrator.FitIsotonic([1f, 2f, 3f], [1f, 0f, 1f], [1f, 1f, 1f]);
        Assert.Equal([1.5, 3.0], pooled.X);
        Assert.Equal([0.5, 1.0], pooled.Y);
    }

    [Fact]
    public void Calibration_json_that_is_not_monotone_is_rejected()
    {
        var bad = new SegmentCalibration(10, new Calibrator(CalibrationMethod.Isotonic, 0, 0, [0, 1], [0.8, 0.2]),
            new Dictionary<string, Calibrator>(), []);
        Assert.Throws<InvalidDataException>(() => SegmentCalibration.FromJson(bad.ToJson()));
        Assert.Throws<InvalidDataException>(() => SegmentCalibration.FromJson("{ not json"));
    }

    [Fact]
    public void Manifest_round_trips_and_rejects_corruption()
    {
        var dir = Directory.CreateTempSubdirectory("manifest").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "model.onnx"), [1, 2, 3, 4]);
            var manifest = new ModelManifest(ModelManifest.CurrentSchemaVersion, "student", "2025-01-01.1", new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
                [new ManifestFeature("a", 0.5), new ManifestFeature("b", 0.25)],
                [new ManifestTensor("features", "float", [-1, 2])],
                [new ManifestTensor("logit", "float", [-1, 1])],
                [ModelManifest.Describe(dir, "model.onnx")],
                new Dictionary<string, double> { ["ndcg@10"] = 0.61 });
            manifest.Write(dir);
            var read = ModelManifest.Read(dir);
            Assert.Equal(manifest.Kind, read.Kind);
            Assert.Equal(manifest.CreatedAt, read.CreatedAt);
            Assert.Equal(manifest.Features, read.Features);
            Assert.Equal(manifest.Files, read.Files);
            Assert.Equal(0.61, read.Metrics["ndcg@10"]);

            // A changed model file no longer matches its hash.
            File.WriteAllBytes(Path.Combine(dir, "model.onnx"), [1, 2, 3, 5]);
            var e = Assert.Throws<InvalidDataException>(() => ModelManifest.Read(dir));
            Assert.Contains("SHA-256", e.Message, StringComparison.Ordinal);
            File.WriteAllBytes(Path.Combine(dir, "model.onnx"), [1, 2, 3, 4]);

            // Truncated JSON, and a feature list that disagrees with the input width.
            var path = Path.Combine(dir, ModelManifest.FileName);
            var json = File.ReadAllText(path);
            File.WriteAllText(path, json[..(json.Length / 2)]);
            Assert.Throws<InvalidDataException>(() => ModelManifest.Read(dir));
            Assert.Throws<InvalidDataException>(() => (manifest with { Inputs = [new ManifestTensor("features", "float", [-1, 3])] }).Write(dir));
            Assert.Throws<InvalidDataException>(() => (manifest with { Files = [new ManifestFile("../escape.onnx", "00", 4)] }).Write(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
