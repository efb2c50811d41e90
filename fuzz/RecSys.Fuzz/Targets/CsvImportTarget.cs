using System.Text;
using RecSys.Core.Domain;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Import;
using RecSys.Trainer.Ingestion;

namespace RecSys.Fuzz.Targets;

/// <summary>
/// The CSV/TSV importer. The input is up to three parts (0x01 between them): movies.csv, ratings.csv and tags.csv of a
/// MovieLens-layout folder. The folder is imported in full; the ratings part is also imported as a generic interaction
/// log (delimiter detected), and every field of the whole input, read as CSV and as TSV, goes through the normalizers,
/// whose results must satisfy what the ingestion API accepts.
/// </summary>
internal sealed class CsvImportTarget(Scratch scratch) : IFuzzTarget
{
    private readonly string _folder = scratch.Folder("movielens");
    private readonly string _log = Path.Combine(scratch.Folder("log"), "events.csv");

    public string Name => "csv";

    public string Description => "CsvReader, Normalization, MovieLensImporter, EventLogImporter";

    public void Run(ReadOnlySpan<byte> input)
    {
        var parts = Parts.Split(input, 3);
        Scratch.Put(Path.Combine(_folder, MovieLensImporter.MoviesFile), parts[0].Span);
        Scratch.Put(Path.Combine(_folder, MovieLensImporter.RatingsFile), parts.Count > 1 ? parts[1].Span : default);
        Scratch.Put(Path.Combine(_folder, MovieLensImporter.TagsFile), parts.Count > 2 ? parts[2].Span : default, parts.Count > 2);
        Scratch.Put(_log, parts.Count > 1 ? parts[1].Span : parts[0].Span);

        ImportMovieLens();
        ImportEventLog();
        var text = Encoding.UTF8.GetString(input);
        NormalizeFields(text, ',');
        NormalizeFields(text, '\t');
    }

    private void ImportMovieLens()
    {
        MovieLensImporter.CheckLayout(_folder);
        var importer = new MovieLensImporter(_folder, new ImportReport(OnErrorMode.Skip));
        var items = importer.ReadItems();
        foreach (var item in items)
        {
            Require(EntityIds.IsValid(item.Id), $"item id '{item.Id}' is not valid");
        }

        foreach (var e in importer.ReadRatings())
        {
            Require(EntityIds.IsValid(e.UserId) && EntityIds.IsValid(e.ItemId), $"event {e.EventId} has an invalid id");
        }
    }

    private void ImportEventLog()
    {
        var mapping = new EventLogMapping { User = "userId", Item = "movieId", Rating = "rating", Time = "timestamp" };
        try
        {
            var importer = new EventLogImporter(_log, mapping, new ImportReport(OnErrorMode.Skip));
            foreach (var e in importer.Read())
            {
                Require(EntityIds.IsValid(e.UserId), $"event {e.EventId} has an invalid user id '{e.UserId}'");
            }
        }
        catch (CliException)
        {
            // The importer's clear refusal: an empty file or a header without the mapped columns.
        }
    }

    private static void NormalizeFields(string text, char delimiter)
    {
        using var reader = new CsvReader(new StringReader(text), delimiter);
        foreach (var record in reader.ReadAll())
        {
            foreach (var field in record.Fields)
            {
                if (Normalization.MapId("x", field) is { } id)
                {
                    Require(EntityIds.IsValid(id), $"MapId gave the invalid id '{id}'");
                }

                Require(Normalization.Category(field) is not { Length: 0 or > Normalization.MaxNameLength }, "Category gave an empty or long name");
                Require(Normalization.Tag(field) is not { Length: 0 or > Normalization.MaxNameLength }, "Tag gave an empty or long name");
            }
        }
    }

    private static void Require(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("Invariant broken: " + what);
        }
    }
}
