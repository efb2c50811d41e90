using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using RecSys.Learning.Als;
using RecSys.Learning.Content;
using RecSys.Learning.Evaluation;
using RecSys.Learning.Interactions;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Training;

/// <summary>Everything <c>train</c> needs besides the data.</summary>
public sealed record TrainSettings
{
    public required AlsOptions Als { get; init; }

    /// <summary>Content embeddings (and their projection) for catalogue items without interactions.</summary>
    public ContentOptions? Content { get; init; }

    /// <summary>Folder of the resumable checkpoint (<c>als.ckpt</c> and its fingerprint); null: none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Held-out share of each user's latest interactions for the offline metrics; null: no metrics.</summary>
    public double? MetricsHoldout { get; init; } = 0.2;
}

/// <summary>What a checkpoint was made from: resuming on other data or parameters would silently mix two runs.</summary>
internal sealed record CheckpointFingerprint(int Users, int Items, int Interactions, string DataHash, string Parameters);

/// <summary>The model plus what the manifest records about how it was made.</summary>
public sealed record TrainingOutcome(TrainedModel Model, IReadOnlyDictionary<string, double>? Metrics, string? MetricsSplit, int ResumedFromEpoch, double Seconds);

/// <summary>
/// Trains ALS on <see cref="TrainingData"/> with progress per epoch and checkpoints, adds projected content vectors for cold
/// items, and scores the same settings on a per-user temporal split for the manifest.
/// </summary>
public static class TrainingPipeline
{
    public const string CheckpointFile = "als.ckpt";
    public const string FingerprintFile = "als.ckpt.json";

    public static TrainingOutcome Run(TrainingData data, TrainSettings settings, IRunProgress progress, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(settings);
        if (data.Interactions.Count == 0)
        {
            throw new CliException("No interactions to train on (no positive events in the input).");
        }

        var started = time.GetTimestamp();
        var matrix = data.BuildMatrix();
        var trainer = new AlsTrainer(settings.Als, time);
        AlsCheckpoint? resume = null;
        string? checkpointPath = null;
        if (settings.CheckpointDirectory is { } directory)
        {
            Directory.CreateDirectory(directory);
            checkpointPath = Path.Combine(directory, CheckpointFile);
            var fingerprint = Fingerprint(matrix, settings.Als);
            var fingerprintPath = Path.Combine(directory, FingerprintFile);
            if (File.Exists(checkpointPath))
            {
                var stored = File.Exists(fingerprintPath) ? JsonSerializer.Deserialize<CheckpointFingerprint>(File.ReadAllText(fingerprintPath)) : null;
                if (stored != fingerprint)
                {
                    throw new CliException(
                        $"The checkpoint in '{directory}' was made from other data or parameters ({Describe(stored)}; now {Describe(fingerprint)}). Delete it or choose another --checkpoint-dir.");
                }

                try
                {
                    resume = AlsCheckpoint.Load(checkpointPath);
                }
                catch (InvalidDataException ex)
                {
                    throw new CliException($"The checkpoint cannot be read: {ex.Message} Delete it to start over.");
                }

                progress.Note($"resuming from {checkpointPath}: {resume.EpochsCompleted} of {settings.Als.Epochs} epochs done");
            }

            File.WriteAllText(fingerprintPath, JsonSerializer.Serialize(fingerprint));
        }

        var phase = progress.StartPhase("ALS epochs", settings.Als.Epochs);
        if (resume is not null)
        {
            phase.Advance(Math.Min(resume.EpochsCompleted, settings.Als.Epochs));
        }

        var model = trainer.Train(
            matrix,
            report =>
            {
                progress.Note(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {report.Epoch}/{report.TotalEpochs}: {report.Elapsed.TotalSeconds:F2} s (users {report.UserSolveTime.TotalSeconds:F2} s, items {report.ItemSolveTime.TotalSeconds:F2} s){(report.Loss is { } loss ? $", loss {loss:F5}" : "")}"));
                phase.Advance(1);
            },
            resume,
            checkpointPath,
            cancellationToken);
        phase.Complete();

        var itemIds = data.Items.Ids.ToList();
        var itemVectors = model.ItemFactors;
        float[]? content = null;
        var contentDimension = 0;
        if (settings.Content is not null && data.Catalogue.Count == 0)
        {
            progress.Note("--content: the input has no item metadata (no items export or items file), so no content embeddings were made");
        }

        if (settings.Content is { } contentOptions && data.Catalogue.Count > 0)
        {
            var contentPhase = progress.StartPhase("content embeddings", null);
            var cold = data.ColdItems();
            var allIds = itemIds.Concat(cold).ToList();
            var contents = allIds.Select(id => data.Catalogue.TryGetValue(id, out var c) ? c : new ItemContent([], [], null)).ToList();
            var contentModel = ContentModel.Fit(data.Catalogue.Values.ToList(), contentOptions);
            content = contentModel.Embed(contents);
            contentDimension = contentModel.Dimension;
            var projected = ColdStart.ProjectColdItems(
                content, contentDimension, Enumerable.Range(0, itemIds.Count).ToList(), model,
                Enumerable.Range(itemIds.Count, cold.Count).ToList(), contentOptions.ProjectionRegularization);
            itemVectors = [.. model.ItemFactors, .. projected];
            itemIds = allIds;
            contentPhase.Advance(allIds.Count);
            contentPhase.Complete();
            progress.Note($"content: {allIds.Count:N0} items embedded in d{contentDimension}, {cold.Count:N0} cold items projected into the ALS space");
        }

        IReadOnlyDictionary<string, double>? metrics = null;
        string? metricsSplit = null;
        if (settings.MetricsHoldout is { } holdout)
        {
            var metricsPhase = progress.StartPhase("offline metrics", null);
            (metrics, metricsSplit) = OfflineMetrics(data, settings.Als, holdout, time);
            metricsPhase.Complete();
        }

        var trained = new TrainedModel(settings.Als.Dimension, data.Users.Ids.ToList(), model.UserFactors, itemIds, itemVectors, data.Items.Count, content, contentDimension);
        return new TrainingOutcome(trained, metrics, metricsSplit, resume?.EpochsCompleted ?? 0, time.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary>ALS with the same settings, fitted on a temporal split's training part, against most-popular.</summary>
    private static (IReadOnlyDictionary<string, double>, string) OfflineMetrics(TrainingData data, AlsOptions als, double holdout, TimeProvider time)
    {
        var split = DataSplit.Temporal(data.Interactions, data.Users.Count, data.Items.Count, holdout);
        if (split.TestInteractions == 0)
        {
            return (new Dictionary<string, double>(), $"{split.Name} {holdout:P0}: no held-out interactions");
        }

        var report = Evaluator.Run("training data", split, [
            () => new MostPopularRecommender(split.Train),
            () => new FactorRecommender(new AlsTrainer(als, time).Train(split.Train), split.Train),
        ], maxK: 20, time);
        var popular = report.Recommenders[0];
        var alsScore = report.Recommenders[1];
        var metrics = new Dictionary<string, double>();
        foreach (var k in new[] { 10, 20 })
        {
            var m = alsScore.At(k);
            metrics[$"ndcg@{k}"] = m.Ndcg;
            metrics[$"precision@{k}"] = m.Precision;
            metrics[$"recall@{k}"] = m.Recall;
            metrics[$"map@{k}"] = m.Map;
            metrics[$"hitRate@{k}"] = m.HitRate;
            metrics[$"coverage@{k}"] = m.Coverage;
        }

        metrics["mostPopular.ndcg@10"] = popular.At(10).Ndcg;
        return (metrics, $"{split.Name}, last {holdout:P0} of each user held out, {report.Users} users, {split.TestInteractions} held-out interactions");
    }

    private static CheckpointFingerprint Fingerprint(InteractionMatrix matrix, AlsOptions als)
    {
        var hash = new XxHash64();
        var csr = matrix.UserItems;
        hash.Append(MemoryMarshal.AsBytes(csr.RowStart.AsSpan()));
        hash.Append(MemoryMarshal.AsBytes(csr.ColumnIndices.AsSpan()));
        hash.Append(MemoryMarshal.AsBytes(csr.Values.AsSpan()));
        var parameters = string.Create(CultureInfo.InvariantCulture,
            $"d={als.Dimension} lambda={als.Regularization} alpha={als.Alpha} cg={als.ConjugateGradientSteps} seed={als.Seed} init={als.InitScale}");
        return new CheckpointFingerprint(matrix.UserCount, matrix.ItemCount, matrix.InteractionCount, hash.GetCurrentHashAsUInt64().ToString("x16", CultureInfo.InvariantCulture), parameters);
    }

    private static string Describe(CheckpointFingerprint? f) =>
        f is null ? "no fingerprint" : $"{f.Users} users x {f.Items} items, {f.Interactions} interactions, data {f.DataHash}, {f.Parameters}";
}
