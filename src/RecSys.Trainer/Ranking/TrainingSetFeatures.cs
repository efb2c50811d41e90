using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Registry;
using RecSys.Ranking.Features;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Ranking;

/// <summary>One row asked of the training-set API: a candidate of a request (user, item, request time), its label and weight.</summary>
internal readonly record struct TrainingSetRow(string UserId, string ItemId, long RequestTimeMs, float Label, float Weight);

/// <summary>
/// The training-set API's answer, in the order the rows were asked: the point-in-time registry values, and the label and
/// weight it passed through. A row the API left out (its user was deleted) is marked absent.
/// </summary>
internal sealed class TrainingSetAnswer(IReadOnlyList<string> userFeatures, IReadOnlyList<string> itemFeatures, double[] values, float[] labels, float[] weights, bool[] present)
{
    public float Label(int row) => labels[row];

    public float Weight(int row) => weights[row];

    public bool IsPresent(int row) => present[row];

    /// <summary>Writes row <paramref name="row"/>'s user and item values over the replayed ones.</summary>
    public void Apply(int row, EntityValues user, EntityValues item)
    {
        var width = userFeatures.Count + itemFeatures.Count;
        for (var f = 0; f < userFeatures.Count; f++)
        {
            user.SetNumber(userFeatures[f], values[(row * width) + f]);
        }

        for (var f = 0; f < itemFeatures.Count; f++)
        {
            item.SetNumber(itemFeatures[f], values[(row * width) + userFeatures.Count + f]);
        }
    }
}

/// <summary>
/// Reads the registry values of ranking rows through <c>POST /v1/training-sets</c>: every registry feature the ranking catalog
/// reads that has an offline form (all-time and windowed counters, latest event time) comes from the offline store as of each
/// request's time, with the store's point-in-time rules (no row written after the request is visible). The catalog's other
/// inputs have no offline form yet (<see cref="ReplayedFeatures"/>: recent and session items, decayed popularity, categories)
/// or are the model's own output (embeddings); the Trainer supplies those.
/// </summary>
internal sealed class TrainingSetFeatures(FeatureServerClient client)
{
    /// <summary>Labels per request (the API's limit is 1,000,000; smaller requests keep each answer well inside the timeout).</summary>
    public const int LabelsPerRequest = 50_000;

    private static readonly OfflineFeaturePlan Plan = new(new FeatureRegistry(BuiltInFeatures.All()));

    /// <summary>User features read from the training-set API.</summary>
    public static IReadOnlyList<string> UserFeatures { get; } = [.. RankingFeatureCatalog.UserFeatures.Where(HasOfflineForm)];

    /// <summary>Item features read from the training-set API.</summary>
    public static IReadOnlyList<string> ItemFeatures { get; } = [.. RankingFeatureCatalog.ItemFeatures.Where(HasOfflineForm)];

    /// <summary>The catalog's registry features the offline store cannot answer, which the Trainer replays from the log or the model.</summary>
    public static IReadOnlyList<string> ReplayedFeatures { get; } =
        [.. RankingFeatureCatalog.UserFeatures.Concat(RankingFeatureCatalog.ItemFeatures).Distinct(StringComparer.Ordinal).Where(n => !HasOfflineForm(n))];

    public static bool HasOfflineForm(string feature) => Plan.TryGet(feature, out _);

    public async Task<TrainingSetAnswer> FetchAsync(IReadOnlyList<TrainingSetRow> rows, string workDirectory, CancellationToken cancellationToken)
    {
        var features = UserFeatures.Concat(ItemFeatures).ToList();
        var width = features.Count;
        var values = new double[rows.Count * width];
        var labels = new float[rows.Count];
        var weights = new float[rows.Count];
        var present = new bool[rows.Count];
        Directory.CreateDirectory(workDirectory);
        for (var start = 0; start < rows.Count; start += LabelsPerRequest)
        {
            var count = Math.Min(LabelsPerRequest, rows.Count - start);
            var csv = new StringBuilder("user_id,item_id,event_time,label,weight\n");
            for (var i = start; i < start + count; i++)
            {
                var r = rows[i];
                csv.Append(CultureInfo.InvariantCulture, $"{Quote(r.UserId)},{Quote(r.ItemId)},{r.RequestTimeMs},{r.Label:R},{r.Weight:R}\n");
            }

            var path = Path.Combine(workDirectory, $"training-set-{start / LabelsPerRequest:D4}.parquet");
            await client.PostTrainingSetAsync(Encoding.UTF8.GetBytes(csv.ToString()), features, path, cancellationToken);
            try
            {
                await ReadAsync(path, features, start, count, values, labels, weights, present, cancellationToken);
            }
            finally
            {
                File.Delete(path);
            }
        }

        return new TrainingSetAnswer(UserFeatures, ItemFeatures, values, labels, weights, present);
    }

    private static async Task ReadAsync(string path, List<string> features, int start, int count, double[] values, float[] labels, float[] weights, bool[] present,
        CancellationToken cancellationToken)
    {
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var columns = string.Join(", ", features.Select(f => "\"" + f + "\""));
        command.CommandText = $"SELECT {TrainingSetBuilder.LabelIndexColumn}, label, weight, {columns} FROM read_parquet('{path.Replace("'", "''", StringComparison.Ordinal)}')";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var width = features.Count;
        while (await reader.ReadAsync(cancellationToken))
        {
            var index = reader.GetInt64(0);
            if (index < 0 || index >= count)
            {
                throw new InvalidDataException($"The training-set API answered label_index {index} for a request of {count} labels.");
            }

            var row = start + (int)index;
            present[row] = true;
            labels[row] = (float)reader.GetDouble(1);
            weights[row] = (float)reader.GetDouble(2);
            for (var f = 0; f < width; f++)
            {
                // Every requested feature of the built-ins has a numeric default, so the API never answers null here.
                values[(row * width) + f] = reader.IsDBNull(3 + f) ? 0 : reader.GetDouble(3 + f);
            }
        }
    }

    private static string Quote(string id) => "\"" + id.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
