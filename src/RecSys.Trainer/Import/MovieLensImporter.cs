using System.Globalization;
using System.Text.RegularExpressions;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Import;

/// <summary>
/// Reads the MovieLens "latest-small" layout: <c>movies.csv</c> (movieId,title,genres), <c>ratings.csv</c>
/// (userId,movieId,rating,timestamp) and the optional <c>tags.csv</c> (userId,movieId,tag,timestamp).
/// Movies become items <c>m{movieId}</c> (genres as categories, tags aggregated, created on Jan 1 of the title's
/// year), ratings become <c>rating</c> events of user <c>u{userId}</c> with id <c>ml-{userId}-{movieId}-{timestamp}</c>.
/// </summary>
public sealed partial class MovieLensImporter(string directory, ImportReport report, long? limit = null)
{
    public const string MoviesFile = "movies.csv";
    public const string RatingsFile = "ratings.csv";
    public const string TagsFile = "tags.csv";
    public const int MaxTagsPerItem = 32;
    private const string NoGenres = "(no genres listed)";

    private readonly HashSet<int> _movies = [];

    /// <summary>Throws a <see cref="CliException"/> naming what is missing.</summary>
    public static void CheckLayout(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new CliException($"Folder '{directory}' does not exist.");
        }

        foreach (var file in new[] { MoviesFile, RatingsFile })
        {
            if (!File.Exists(Path.Combine(directory, file)))
            {
                throw new CliException($"'{directory}' has no {file}: expected the ml-latest-small layout ({MoviesFile}, {RatingsFile}, optional {TagsFile}).");
            }
        }
    }

    /// <summary>All movies as items (a MovieLens catalog is small: this is read into memory, tags merged in).</summary>
    public IReadOnlyList<ItemDto> ReadItems()
    {
        var tags = ReadTags();
        var items = new List<ItemDto>();
        using var csv = CsvReader.Open(Path.Combine(directory, MoviesFile), ',');
        foreach (var record in Records(csv, MoviesFile, ["movieId", "title", "genres"]))
        {
            if (!int.TryParse(record.Fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var movieId))
            {
                report.Reject(new RowError(MoviesFile, record.Line, $"movieId '{record.Fields[0]}' is not a number"));
                continue;
            }

            if (!_movies.Add(movieId))
            {
                report.Reject(new RowError(MoviesFile, record.Line, $"movie {movieId} appears twice"));
                continue;
            }

            var title = record.Fields[1].Trim();
            var categories = record.Fields[2] == NoGenres
                ? []
                : record.Fields[2].Split('|').Select(Normalization.Category).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            items.Add(new ItemDto(
                $"m{movieId}",
                null,
                categories,
                tags.TryGetValue(movieId, out var movieTags) ? movieTags : [],
                YearOf(title),
                true,
                title.Length == 0 ? null : title));
        }

        return items;
    }

    /// <summary>Ratings as events, streamed (at most <c>limit</c> rows). Call after <see cref="ReadItems"/>.</summary>
    public IEnumerable<EventDto> ReadRatings()
    {
        using var csv = CsvReader.Open(Path.Combine(directory, RatingsFile), ',');
        long taken = 0;
        foreach (var record in Records(csv, RatingsFile, ["userId", "movieId", "rating", "timestamp"]))
        {
            if (limit is { } max && taken >= max)
            {
                yield break;
            }

            var f = record.Fields;
            string? error = null;
            if (!int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
            {
                error = $"userId '{f[0]}' is not a number";
            }
            else if (!int.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out var movieId))
            {
                error = $"movieId '{f[1]}' is not a number";
            }
            else if (!double.TryParse(f[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var rating))
            {
                error = $"rating '{f[2]}' is not a number";
            }
            else if (rating is < 0.5 or > 5 || double.IsNaN(rating))
            {
                error = $"rating {f[2]} is outside 0.5..5";
            }
            else if (!long.TryParse(f[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var timestamp)
                || timestamp < 0 || timestamp > 4_102_444_800)
            {
                error = $"timestamp '{f[3]}' is not a unix time in seconds";
            }
            else if (!_movies.Contains(movieId))
            {
                error = $"movie {movieId} is not in {MoviesFile}";
            }
            else
            {
                taken++;
                yield return new EventDto(
                    $"ml-{userId}-{movieId}-{timestamp}",
                    $"u{userId}",
                    $"m{movieId}",
                    null,
                    EventType.Rating.WireName(),
                    rating,
                    DateTimeOffset.FromUnixTimeSeconds(timestamp));
                continue;
            }

            report.Reject(new RowError(RatingsFile, record.Line, error));
        }
    }

    /// <summary>Jan 1 of the year in parentheses at the end of a title ("Heat (1995)"), else 1970-01-01.</summary>
    public static DateTimeOffset YearOf(string title)
    {
        var match = TitleYear().Match(title);
        return match.Success && int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var year) && year is >= 1800 and <= 2200
            ? new DateTimeOffset(year, 1, 1, 0, 0, 0, TimeSpan.Zero)
            : DateTimeOffset.UnixEpoch;
    }

    private Dictionary<int, IReadOnlyList<string>> ReadTags()
    {
        var result = new Dictionary<int, IReadOnlyList<string>>();
        var path = Path.Combine(directory, TagsFile);
        if (!File.Exists(path))
        {
            return result;
        }

        // movie -> tag -> (count, first seen): the most used tags win, ties by first appearance.
        var counts = new Dictionary<int, Dictionary<string, (int Count, long First)>>();
        using var csv = CsvReader.Open(path, ',');
        foreach (var record in Records(csv, TagsFile, ["userId", "movieId", "tag", "timestamp"]))
        {
            if (!int.TryParse(record.Fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var movieId))
            {
                report.Reject(new RowError(TagsFile, record.Line, $"movieId '{record.Fields[1]}' is not a number"));
                continue;
            }

            if (Normalization.Tag(record.Fields[2]) is not { } tag)
            {
                continue;
            }

            if (!counts.TryGetValue(movieId, out var movieTags))
            {
                counts[movieId] = movieTags = new Dictionary<string, (int, long)>(StringComparer.Ordinal);
            }

            movieTags[tag] = movieTags.TryGetValue(tag, out var seen) ? (seen.Count + 1, seen.First) : (1, record.Line);
        }

        foreach (var (movieId, movieTags) in counts)
        {
            result[movieId] = movieTags
                .OrderByDescending(x => x.Value.Count)
                .ThenBy(x => x.Value.First)
                .Take(MaxTagsPerItem)
                .Select(x => x.Key)
                .ToList();
        }

        return result;
    }

    /// <summary>Data records of a file with a known header; malformed rows and wrong column counts are reported.</summary>
    private IEnumerable<CsvRecord> Records(CsvReader csv, string file, string[] header)
    {
        var first = true;
        foreach (var record in csv.ReadAll())
        {
            if (first)
            {
                first = false;
                if (record.Fields.Count == header.Length && record.Fields[0].Trim().TrimStart('\uFEFF').Equals(header[0], StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
            }

            report.RowRead();
            if (record.Error is not null)
            {
                report.Reject(new RowError(file, record.Line, record.Error));
            }
            else if (record.Fields.Count != header.Length)
            {
                report.Reject(new RowError(file, record.Line, $"expected {header.Length} columns ({string.Join(',', header)}), found {record.Fields.Count}"));
            }
            else
            {
                yield return record;
            }
        }
    }

    [GeneratedRegex(@"\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")]
    private static partial Regex TitleYear();
}
