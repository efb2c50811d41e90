using RecSys.Learning.Ranking;
using RecSys.Ranking.PostProcessing;
using static RecSys.Ranking.Tests.PostProcessing.PostProcessingTestKit;

namespace RecSys.Ranking.Tests.PostProcessing;

public sealed class CalibrationStageTests
{
    private static readonly SegmentCalibration Calibration = new(
        MinSegmentRows: 10,
        Global: new Calibrator(CalibrationMethod.Platt, 1, 0, [], []),
        Segments: new Dictionary<string, Calibrator>
        {
            ["c1-a2"] = new(CalibrationMethod.Platt, 2, 1, [], []),
            ["c0-a0"] = new(CalibrationMethod.Isotonic, 0, 0, [-1, 1], [0.1, 0.3]),
        },
        Report: []);

    private static PostProcessingResult Calibrate(SegmentKey segment, SegmentCalibration? calibration, params float[] logits) =>
        Pipeline(Plain()).Process(new PostProcessingRequest(
            [.. logits.Select((z, i) => new PostProcessingCandidate($"i{i}", z))], logits.Length, segment, null, Now, calibration));

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    [Fact]
    public void The_requests_segment_calibrator_maps_the_logits()
    {
        var result = Calibrate(new SegmentKey(1, 2), Calibration, 0.5f, -1f);

        Assert.True(result.Calibrated);
        var byId = result.Items.ToDictionary(i => i.ItemId);
        Assert.Equal(Sigmoid((2 * 0.5) + 1), byId["i0"].Probability, 1e-6);
        Assert.Equal(Sigmoid((2 * -1.0) + 1), byId["i1"].Probability, 1e-6);
        Assert.Equal(byId["i0"].Probability, byId["i0"].Score, 1e-6);
    }

    [Fact]
    public void Another_segment_gets_its_own_calibrator_and_an_unknown_one_the_global()
    {
        var isotonic = Calibrate(new SegmentKey(0, 0), Calibration, 0f);
        var unknown = Calibrate(new SegmentKey(5, 1), Calibration, 0.5f);

        Assert.Equal(0.2, isotonic.Items[0].Probability, 1e-6);
        Assert.Equal(Sigmoid(0.5), unknown.Items[0].Probability, 1e-6);
    }

    [Fact]
    public void Without_a_calibrator_the_sigmoid_applies_and_the_result_says_so()
    {
        var result = Calibrate(new SegmentKey(1, 2), null, 0.5f);

        Assert.False(result.Calibrated);
        Assert.Equal(Sigmoid(0.5), result.Items[0].Probability, 1e-6);
        Assert.Contains("sigmoid", Report(result, "calibration").Note, StringComparison.Ordinal);
    }

    [Fact]
    public void A_non_finite_logit_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Calibrate(new SegmentKey(1, 2), null, float.NaN));
    }
}
