using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;

namespace RecSys.Trainer.Generation;

/// <summary>What <c>world.json</c> records about a generated world (no timings: the file is part of the reproducible output).</summary>
public sealed record WorldSummary(
    string Generator,
    long Seed,
    int Users,
    int Items,
    int Creators,
    int Categories,
    int Days,
    DateTimeOffset Start,
    DateTimeOffset End,
    double EventsPerUser,
    int Dimensions,
    double ZipfExponent,
    long Events,
    IReadOnlyDictionary<string, long> EventsByType,
    IReadOnlyList<string> CategoryNames,
    string LatentFile);

/// <summary>
/// The side files of <c>generate --out</c>: <c>world.json</c> and <c>latent.bin</c>, the ground truth for evaluation.
/// latent.bin, little-endian: magic "RSWORLD1", int32 dimensions, users, items, categories, creators; then float32
/// user vectors (users x dims), item vectors (items x dims), category centroids (categories x dims); then int32 item
/// popularity ranks (0 = most popular) and int32 item creators.
/// </summary>
public static class WorldFiles
{
    public const string SummaryFile = "world.json";
    public const string LatentFile = "latent.bin";
    public const string Magic = "RSWORLD1";

    public static WorldSummary Summarize(WorldEventGenerator generator)
    {
        var o = generator.World.Options;
        var byType = generator.CountsByType.ToDictionary(x => x.Key.WireName(), x => x.Value);
        return new WorldSummary(
            "RecSys.Trainer synthetic world v1",
            o.Seed,
            o.Users,
            o.Items,
            o.Creators,
            o.Categories,
            o.Days,
            o.Start,
            o.End,
            o.EventsPerUser,
            o.Dimensions,
            o.ZipfExponent,
            generator.Total,
            byType,
            generator.World.CategoryNames,
            LatentFile);
    }

    public static async Task WriteSummaryAsync(string directory, WorldSummary summary, CancellationToken cancellationToken)
    {
        var options = new JsonSerializerOptions(JsonDefaults.Options) { WriteIndented = true };
        await using var file = File.Create(Path.Combine(directory, SummaryFile));
        await JsonSerializer.SerializeAsync(file, summary, options, cancellationToken);
    }

    public static void WriteLatent(string directory, SyntheticWorld world)
    {
        using var file = new FileStream(Path.Combine(directory, LatentFile), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var writer = new BinaryWriter(file);
        var o = world.Options;
        writer.Write(Magic.ToCharArray());
        writer.Write(o.Dimensions);
        writer.Write(o.Users);
        writer.Write(o.Items);
        writer.Write(o.Categories);
        writer.Write(o.Creators);
        WriteFloats(writer, world.UserVectors);
        WriteFloats(writer, world.ItemVectors);
        WriteFloats(writer, world.CategoryCentroids);
        WriteInts(writer, world.ItemRank);
        WriteInts(writer, world.ItemCreator);
    }

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        foreach (var v in values)
        {
            writer.Write(v);
        }
    }

    private static void WriteInts(BinaryWriter writer, int[] values)
    {
        foreach (var v in values)
        {
            writer.Write(v);
        }
    }
}
