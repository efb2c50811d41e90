using RecSys.Trainer.Import;
using RecSys.Trainer.Ingestion;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>The table printed at the end of a command: per phase accepted, rejected, elapsed and rate, then the reasons.</summary>
internal static class Summary
{
    public static void Print(IAnsiConsole console, string title, IEnumerable<SendResult> results, ImportReport? report = null)
    {
        var list = results.ToList();
        console.MarkupLineInterpolated($"[bold]{title}[/]");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("phase");
        table.AddColumn(new TableColumn("accepted").RightAligned());
        table.AddColumn(new TableColumn("rejected").RightAligned());
        table.AddColumn(new TableColumn("elapsed").RightAligned());
        table.AddColumn(new TableColumn("rate").RightAligned());
        foreach (var r in list)
        {
            table.AddRow(
                Markup.Escape(r.Phase),
                $"{r.Accepted:N0}",
                r.Rejected > 0 ? $"[red]{r.Rejected:N0}[/]" : "0",
                $"{r.Elapsed.TotalSeconds:N1} s",
                $"{r.Rate:N0}/s");
        }

        if (report is not null)
        {
            table.AddRow("input rows", $"{report.Rows:N0}", report.Skipped > 0 ? $"[yellow]{report.Skipped:N0} skipped[/]" : "0", "", "");
        }

        console.Write(table);
        foreach (var r in list.Where(r => r.Reasons.Count > 0))
        {
            console.MarkupLineInterpolated($"[red]{r.Phase} refused[/] ({r.Rejected:N0}), first reasons:");
            foreach (var reason in r.Reasons)
            {
                console.MarkupLineInterpolated($"  - {reason}");
            }
        }

        if (report is { Examples.Count: > 0 })
        {
            console.MarkupLineInterpolated($"[yellow]bad rows skipped[/] ({report.Skipped:N0}), first ones:");
            foreach (var error in report.Examples)
            {
                console.MarkupLineInterpolated($"  - {error}");
            }
        }

        foreach (var r in list.Where(r => r.Stopped))
        {
            console.MarkupLineInterpolated($"[red]stopped[/] after {r.Phase} were refused (--on-error stop).");
        }
    }

    /// <summary>Exit code for a finished run: refused records under --on-error stop are an error.</summary>
    public static int ExitCode(IEnumerable<SendResult> results) =>
        results.Any(r => r.Stopped) ? ExitCodes.Rejected : ExitCodes.Ok;
}
