using System.Globalization;
using System.Text;
using System.Xml;

namespace RecSys.Trainer.Evaluation;

/// <summary>One line of a plot: y values at x = 1, 2, ... (a metric at k = 1..n).</summary>
public sealed record PlotSeries(string Name, IReadOnlyList<double> Values);

/// <summary>
/// A small SVG line plot writer (no dependency): axes with round ticks, one polyline per series, a legend. Written through
/// <see cref="XmlWriter"/>, so names with markup characters are escaped and the document is always well-formed.
/// </summary>
public static class SvgLinePlot
{
    private const double Width = 720;
    private const double Height = 440;
    private const double Left = 70;
    private const double Right = 20;
    private const double Top = 40;
    private const double Bottom = 55;

    private static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<PlotSeries> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        var maxX = Math.Max(2, series.Count == 0 ? 2 : series.Max(s => s.Values.Count));
        var finite = series.SelectMany(s => s.Values).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        var yTop = NiceCeiling(Math.Max(finite.Max(), 1e-9));
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        double X(double x) => Left + ((x - 1) / (maxX - 1) * plotWidth);
        double Y(double y) => Top + plotHeight - (Math.Clamp(y, 0, yTop) / yTop * plotHeight);

        var text = new StringBuilder();
        using (var xml = XmlWriter.Create(text, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
        {
            xml.WriteStartElement("svg", "http://www.w3.org/2000/svg");
            Attr(xml, "width", Width);
            Attr(xml, "height", Height);
            xml.WriteAttributeString("viewBox", Format($"0 0 {Width} {Height}"));
            xml.WriteAttributeString("font-family", "sans-serif");
            xml.WriteAttributeString("font-size", "12");
            Rect(xml, 0, 0, Width, Height, "white", null);
            Label(xml, Width / 2, 22, title, "middle", 15);

            // Grid and y ticks: five steps of a round number.
            for (var t = 0; t <= 5; t++)
            {
                var value = yTop * t / 5;
                var y = Y(value);
                Line(xml, Left, y, Left + plotWidth, y, t == 0 ? "#000" : "#ddd");
                Label(xml, Left - 6, y + 4, value.ToString(yTop < 0.1 ? "F3" : "F2", CultureInfo.InvariantCulture), "end", 11);
            }

            foreach (var k in XTicks(maxX))
            {
                var x = X(k);
                Line(xml, x, Top + plotHeight, x, Top + plotHeight + 5, "#000");
                Label(xml, x, Top + plotHeight + 18, k.ToString(CultureInfo.InvariantCulture), "middle", 11);
            }

            Line(xml, Left, Top, Left, Top + plotHeight, "#000");
            Label(xml, Left + (plotWidth / 2), Height - 12, xLabel, "middle", 12);
            xml.WriteStartElement("text");
            Attr(xml, "x", 16);
            Attr(xml, "y", Top + (plotHeight / 2));
            xml.WriteAttributeString("text-anchor", "middle");
            xml.WriteAttributeString("transform", Format($"rotate(-90 16 {Top + (plotHeight / 2)})"));
            xml.WriteString(yLabel);
            xml.WriteEndElement();

            for (var s = 0; s < series.Count; s++)
            {
                var color = Palette[s % Palette.Length];
                var points = string.Join(' ', series[s].Values
                    .Select((v, i) => (X: X(i + 1), V: v))
                    .Where(p => double.IsFinite(p.V))
                    .Select(p => Format($"{p.X:F1},{Y(p.V):F1}")));
                xml.WriteStartElement("polyline");
                xml.WriteAttributeString("fill", "none");
                xml.WriteAttributeString("stroke", color);
                xml.WriteAttributeString("stroke-width", "2");
                xml.WriteAttributeString("points", points);
                xml.WriteEndElement();

                var legendY = Top + 12 + (s * 18);
                Line(xml, Left + 12, legendY - 4, Left + 36, legendY - 4, color, 3);
                Label(xml, Left + 42, legendY, series[s].Name, "start", 12);
            }

            xml.WriteEndElement();
        }

        return text.ToString();
    }

    /// <summary>The smallest 1, 2 or 5 times a power of ten at or above <paramref name="value"/>.</summary>
    internal static double NiceCeiling(double value)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1.0, 2.0, 5.0, 10.0 })
        {
            if (step * power >= value * 0.999999)
            {
                return step * power;
            }
        }

        return 10 * power;
    }

    private static IEnumerable<int> XTicks(int maxX)
    {
        var step = maxX <= 10 ? 1 : maxX <= 25 ? 5 : 10;
        yield return 1;
        for (var k = step; k <= maxX; k += step)
        {
            if (k != 1)
            {
                yield return k;
            }
        }
    }

    private static string Format(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Attr(XmlWriter xml, string name, double value) => xml.WriteAttributeString(name, value.ToString("0.#", CultureInfo.InvariantCulture));

    private static void Rect(XmlWriter xml, double x, double y, double w, double h, string fill, string? stroke)
    {
        xml.WriteStartElement("rect");
        Attr(xml, "x", x);
        Attr(xml, "y", y);
        Attr(xml, "width", w);
        Attr(xml, "height", h);
        xml.WriteAttributeString("fill", fill);
        if (stroke is not null)
        {
            xml.WriteAttributeString("stroke", stroke);
        }

        xml.WriteEndElement();
    }

    private static void Line(XmlWriter xml, double x1, double y1, double x2, double y2, string stroke, double width = 1)
    {
        xml.WriteStartElement("line");
        Attr(xml, "x1", x1);
        Attr(xml, "y1", y1);
        Attr(xml, "x2", x2);
        Attr(xml, "y2", y2);
        xml.WriteAttributeString("stroke", stroke);
        Attr(xml, "stroke-width", width);
        xml.WriteEndElement();
    }

    private static void Label(XmlWriter xml, double x, double y, string text, string anchor, double size)
    {
        xml.WriteStartElement("text");
        Attr(xml, "x", x);
        Attr(xml, "y", y);
        xml.WriteAttributeString("text-anchor", anchor);
        Attr(xml, "font-size", size);
        xml.WriteString(text);
        xml.WriteEndElement();
    }
}
