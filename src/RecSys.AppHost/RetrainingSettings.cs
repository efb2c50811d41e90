using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace RecSys.AppHost;

/// <summary>
/// The retraining resource's settings (section <c>RecSys:Retraining</c>): <c>Enabled</c> (true), <c>Interval</c> (a TimeSpan,
/// 1.00:00:00), <c>At</c> (optional UTC time of day the runs are aligned to, HH:mm) and <c>Keep</c> (model folders kept, 7).
/// </summary>
internal sealed record RetrainingSettings(bool Enabled, TimeSpan Interval, TimeOnly? At, int Keep, string ModelDirectory, IReadOnlyList<string> Arguments)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromDays(1);
    public const int DefaultKeep = 7;

    // The Trainer's bounds (RetrainSchedule), checked here too so that a bad setting stops the AppHost at start.
    private static readonly TimeSpan MinimumInterval = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaximumInterval = TimeSpan.FromDays(366);

    public static RetrainingSettings From(IConfiguration config, string modelDirectory, int dimensions)
    {
        var enabled = config.GetValue("RecSys:Retraining:Enabled", true);
        var intervalText = config["RecSys:Retraining:Interval"];
        var interval = DefaultInterval;
        if (!string.IsNullOrWhiteSpace(intervalText)
            && (!TimeSpan.TryParse(intervalText, CultureInfo.InvariantCulture, out interval) || interval < MinimumInterval || interval > MaximumInterval))
        {
            throw new InvalidOperationException(
                $"RecSys:Retraining:Interval must be a TimeSpan between 00:01:00 and 366.00:00:00 (e.g. 1.00:00:00 for a day), not '{intervalText}'.");
        }

        TimeOnly? at = null;
        var atText = config["RecSys:Retraining:At"];
        if (!string.IsNullOrWhiteSpace(atText))
        {
            if (!TimeOnly.TryParseExact(atText, ["HH:mm", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
            {
                throw new InvalidOperationException($"RecSys:Retraining:At must be a UTC time of day (HH:mm), not '{atText}'.");
            }

            var day = TimeSpan.FromDays(1);
            if (day.Ticks % interval.Ticks != 0 && interval.Ticks % day.Ticks != 0)
            {
                throw new InvalidOperationException(
                    $"With RecSys:Retraining:At the interval must divide a day (e.g. 06:00:00) or be whole days, not {interval}.");
            }

            at = parsed;
        }

        var keep = config.GetValue("RecSys:Retraining:Keep", DefaultKeep);
        if (keep < 1)
        {
            throw new InvalidOperationException($"RecSys:Retraining:Keep must be at least 1, not {keep}.");
        }

        var c = CultureInfo.InvariantCulture;
        var args = new List<string>
        {
            "retrain", "--every", interval.ToString("c", c), "--model-dir", modelDirectory, "--keep", keep.ToString(c),
            // The registry is the models folder's parent (<data root>/models): ranker releases go under its rankers/.
            "--rankers-registry", Path.GetDirectoryName(Path.GetFullPath(modelDirectory))!,
        };
        if (at is { } time)
        {
            args.Add("--at");
            args.Add(time.ToString("HH:mm:ss", c));
        }

        // After "--": train's own options. (`dotnet run` under DCP keeps the "--" for itself; retrain passes the options it does
        // not know to train either way.) Same dimension as the seed's (the Retrieval index's) and content vectors for cold items.
        args.AddRange(["--", "--dim", dimensions.ToString(c), "--content"]);
        return new RetrainingSettings(enabled, interval, at, keep, modelDirectory, args);
    }
}
