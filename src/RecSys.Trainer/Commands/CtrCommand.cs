using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Evaluation;
using RecSys.Trainer.Training;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>
/// <c>trainer ctr</c>: CTR per model version from the event log (a FeatureServer's export, or an exported NDJSON file), with
/// 95 % Wilson intervals: what each ranker release's lists earned, independent of any rollout's in-memory window.
/// </summary>
public static class CtrCommand
{
    public static Command Create(TrainerEnvironment env)
    {
        var inputs = new TrainingInputOptions();
        var json = new Option<string?>("--json") { Description = "Also write the report as JSON to this file" };
        var command = new Command("ctr", "CTR per model version from the event log: Ranking's impressions (request id, release) joined with clicks by request id.");
        foreach (var option in new Option[] { inputs.Events, inputs.Target, inputs.From, inputs.Until, json })
        {
            command.Options.Add(option);
        }

        command.SetAction(env, async (result, cancellationToken) =>
        {
            var source = inputs.ReadSource(result, env);
            var window = inputs.ReadWindow(result);
            var report = new CtrReport();
            await env.Console.Status().StartAsync($"reading events from {source.Describe()}", async _ =>
            {
                await foreach (var e in TrainingReader.Events(source, window, env, cancellationToken))
                {
                    report.Add(e);
                }
            });

            var built = report.Build();
            Write(env.Console, built);
            if (result.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(built, JsonDefaults.Options), cancellationToken);
                env.Console.MarkupLineInterpolated($"JSON written to {path}");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Write(IAnsiConsole console, CtrReportResult report)
    {
        if (report.Versions.Count == 0)
        {
            console.MarkupLineInterpolated($"No impression carries a request id and a model version among {report.EventsRead:N0} events: nothing to attribute.");
            return;
        }

        var table = new Table().AddColumns("version", "requests", "impressions", "clicks", "CTR", "95 % interval", "requests clicked", "first served", "last served");
        foreach (var v in report.Versions)
        {
            table.AddRow(
                Markup.Escape(v.Version),
                v.Requests.ToString("N0", CultureInfo.InvariantCulture),
                v.Impressions.ToString("N0", CultureInfo.InvariantCulture),
                v.Clicks.ToString("N0", CultureInfo.InvariantCulture),
                v.Ctr.ToString("P2", CultureInfo.InvariantCulture),
                $"{v.CtrLower.ToString("P2", CultureInfo.InvariantCulture)} - {v.CtrUpper.ToString("P2", CultureInfo.InvariantCulture)}",
                v.RequestCtr.ToString("P1", CultureInfo.InvariantCulture),
                v.FirstServed?.ToString("u", CultureInfo.InvariantCulture) ?? "",
                v.LastServed?.ToString("u", CultureInfo.InvariantCulture) ?? "");
        }

        console.Write(table);
        console.MarkupLineInterpolated(
            $"{report.EventsRead:N0} events read; not attributed: {report.UnattributedClicks:N0} clicks on a request or item no impression shows, {report.ClicksWithoutRequestId:N0} clicks without a request id, {report.ImpressionsWithoutVersion:N0} impressions without request id or version.");
    }
}
