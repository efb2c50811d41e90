using System.Xml.Linq;
using RecSys.Trainer.Evaluation;

namespace RecSys.Trainer.Tests;

public sealed class SvgLinePlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public void The_plot_is_well_formed_svg_with_one_line_per_series_and_escaped_names()
    {
        var text = SvgLinePlot.Render("nDCG <at> k & more", "k", "nDCG", [
            new PlotSeries("als <d=64>", [0.1, 0.2, 0.25]),
            new PlotSeries("most-popular & co", [0.05, 0.08, double.NaN]),
        ]);

        var svg = XDocument.Parse(text);
        Assert.Equal(Svg + "svg", svg.Root!.Name);
        var lines = svg.Descendants(Svg + "polyline").ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal(3, lines[0].Attribute("points")!.Value.Split(' ').Length);
        Assert.Equal(2, lines[1].Attribute("points")!.Value.Split(' ').Length);
        var labels = svg.Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("als <d=64>", labels);
        Assert.Contains("most-popular & co", labels);
        Assert.Contains("nDCG <at> k & more", labels);
    }

    [Fact]
    public void Higher_values_are_drawn_higher_up()
    {
        var svg = XDocument.Parse(SvgLinePlot.Render("t", "k", "y", [new PlotSeries("s", [0.0, 1.0])]));
        var points = svg.Descendants(Svg + "polyline").Single().Attribute("points")!.Value.Split(' ')
            .Select(p => double.Parse(p.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(points[1] < points[0]);
    }

    [Theory]
    [InlineData(0.13, 0.2)]
    [InlineData(0.2, 0.2)]
    [InlineData(0.51, 1.0)]
    [InlineData(3.0, 5.0)]
    [InlineData(0.0042, 0.005)]
    public void The_axis_ends_at_a_round_number(double max, double expected) =>
        Assert.Equal(expected, SvgLinePlot.NiceCeiling(max), 10);

    [Fact]
    public void An_empty_plot_is_still_well_formed() =>
        Assert.NotNull(XDocument.Parse(SvgLinePlot.Render("empty", "k", "y", [])).Root);
}
