namespace RecSys.Trainer.Generation;

/// <summary>Sizes and shape of a synthetic world. The same options (seed included) always give the same world.</summary>
public sealed record WorldOptions
{
    /// <summary>The default end of event time, fixed so that <c>generate</c> is reproducible without <c>--end</c>.</summary>
    public static readonly DateTimeOffset DefaultEnd = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public long Seed { get; init; } = 42;
    public int Users { get; init; } = 1_000;
    public int Items { get; init; } = 4_000;
    public int Creators { get; init; } = 200;
    public int Categories { get; init; } = 20;
    public int Days { get; init; } = 30;
    public DateTimeOffset End { get; init; } = DefaultEnd;

    /// <summary>Mean number of events (impressions included) per user; the per-user count is log-normal, so heavy-tailed.</summary>
    public double EventsPerUser { get; init; } = 100;

    /// <summary>Dimensions of the latent taste vectors of users, items and categories.</summary>
    public int Dimensions { get; init; } = 16;

    /// <summary>Exponent of the Zipf law of item popularity.</summary>
    public double ZipfExponent { get; init; } = 1.0;

    public DateTimeOffset Start => End - TimeSpan.FromDays(Days);

    /// <summary>Problems with the options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Check(Users is >= 1 and <= 50_000_000, "--users must be between 1 and 50,000,000.");
        Check(Items is >= 1 and <= 50_000_000, "--items must be between 1 and 50,000,000.");
        Check(Creators >= 1 && Creators <= Items, "--creators must be between 1 and the number of items.");
        Check(Categories is >= 1 and <= 10_000, "--categories must be between 1 and 10,000.");
        Check(Days is >= 1 and <= 3_650, "--days must be between 1 and 3,650.");
        Check(EventsPerUser is >= 0 and <= 100_000 && double.IsFinite(EventsPerUser), "--events-per-user must be between 0 and 100,000.");
        Check(Dimensions is >= 2 and <= 256, "--dimensions must be between 2 and 256.");
        Check(ZipfExponent is >= 0 and <= 3, "--zipf must be between 0 and 3.");
        Check(Start.Year >= 1971, "--end minus --days must be after 1970.");
        return errors;

        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }
    }
}
