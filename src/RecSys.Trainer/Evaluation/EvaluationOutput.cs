using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RecSys.Learning.Evaluation;

namespace RecSys.Trainer.Evaluation;

/// <summary>What <c>evaluate</c> writes as <c>report.json</c>: how it was run, then one report per split.</summary>
public sealed record EvaluationRun(string Source, DateTimeOffset CreatedAt, IReadOnlyDictionary<string, string> Parameters, IReadOnlyList<EvaluationReport> Reports);

/// <summary>Writes <c>report.md</c>, <c>report.json</c> and one SVG per split and metric (the metric against k).</summary>
public static class EvaluationOutput
{
    public const string JsonFile = "report.json";
    public const string MarkdownFile = "report.md";

    /// <summary>The plotted metrics: name in file names, label, and how to read it from a <see cref="MetricSet"/>.</summary>
    public static readonly IReadOnlyList<(string Slug, string Label, Func<MetricSet, double> Read)> Metrics =
    [
        ("ndcg", "nDCG", m => m.Ndcg),
        ("precision", "precision", m => m.Precision),
        ("recall", "recall", m => m.Recall),
        ("map", "MAP", m => m.Map),
        ("hit-rate", "hit rate", m => m.HitRate),
        ("coverage", "catalogue coverage", m => m.Coverage),
    ];

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string ToJson(EvaluationRun run) => JsonSerializer.Serialize(run, Json);

    public static EvaluationRun FromJson(string json) =>
        JsonSerializer.Deserialize<EvaluationRun>(json, Json) ?? throw new InvalidDataException("Empty evaluation report.");

    /// <summary>Writes every file and returns their names.</summary>
    public static IReadOnlyList<string> Write(string directory, EvaluationRun run)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        var c = CultureInfo.InvariantCulture;
        var markdown = new StringBuilder();
        markdown.Append(c, $"# Offline evaluation\n\nSource: {run.Source}. Created {run.CreatedAt:yyyy-MM-dd HH:mm:ss} UTC.\n\n");
        markdown.Append("Parameters: ").Append(string.Join(", ", run.Parameters.Select(p => $"{p.Key} {p.Value}"))).Append(".\n\n");
        foreach (var report in run.Reports)
        {
            var slug = Slug(report.Split);
            markdown.Append(c, $"## Split: {report.Split}\n\n").Append(report.ToMarkdown(10, 20));
            foreach (var (metric, label, read) in Metrics)
            {
                var name = $"{slug}-{metric}.svg";
                var series = report.Recommenders.Select(r => new PlotSeries(r.Name, r.Curve.Select(read).ToList())).ToList();
                File.WriteAllText(Path.Combine(directory, name), SvgLinePlot.Render($"{label}@k, {report.Split} split", "k", label, series));
                written.Add(name);
                markdown.Append(c, $"![{label} against k]({name})\n");
            }

            markdown.Append('\n');
        }

        File.WriteAllText(Path.Combine(directory, MarkdownFile), markdown.ToString());
        File.WriteAllText(Path.Combine(directory, JsonFile), ToJson(run));
        written.Add(MarkdownFile);
        written.Add(JsonFile);
        return written;
    }

    internal static string Slug(string split)
    {
        var sb = new StringBuilder();
        foreach (var ch in split.ToLowerInvariant())
        {
            sb.Append(char.IsLetterOrDigit(ch) ? ch : '-');
        }

        return string.Join('-', sb.ToString().Split('-', StringSplitOptions.RemoveEmptyEntries));
    }
}

/// <summary>Lists fetched from somewhere else (the running system), replayed to the evaluator.</summary>
public sealed class PrecomputedRecommender(string name, IReadOnlyDictionary<int, int[]> lists) : IRecommender
{
    public string Name => name;

    public int Recommend(int user, Span<int> items)
    {
        if (!lists.TryGetValue(user, out var list))
        {
            return 0;
        }

        var n = Math.Min(items.Length, list.Length);
        list.AsSpan(0, n).CopyTo(items);
        return n;
    }
}
