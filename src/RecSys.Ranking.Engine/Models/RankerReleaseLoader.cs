using System.Diagnostics.Metrics;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Models;

/// <summary>
/// Loads a release folder: <c>pre-ranker/</c> and the configured main stage (<c>main-ranker/</c> or <c>student/</c>), each a
/// manifest whose file hashes must match, of the right kind, with a graph that fits the manifest, and with features the
/// registered <see cref="IRankingFeatureProvider"/> supports. Any failure is an <see cref="InvalidDataException"/> that
/// says what is wrong; nothing is left open.
/// </summary>
public sealed class RankerReleaseLoader(
    ExecutionProviderSelector providers,
    IRankingFeatureProvider? features,
    TimeProvider timeProvider,
    ILogger<RankerReleaseLoader> logger,
    IMeterFactory? meterFactory = null,
    RankingTelemetry? telemetry = null)
{
    public RankerRelease Load(string releaseDirectory, RankingModelOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(releaseDirectory);
        ArgumentNullException.ThrowIfNull(options);
        var version = Path.GetFileName(Path.TrimEndingDirectorySeparator(releaseDirectory));
        var preRanker = OpenStage(releaseDirectory, ModelKinds.PreRanker, options);
        RankerModel? mainStage = null;
        try
        {
            mainStage = OpenStage(releaseDirectory, options.MainStage, options);
            var batcher = new MainStageBatcher(
                mainStage, options.Batching.ToBatcherOptions(mainStage.Width), timeProvider, logger, meterFactory, telemetry is null ? null : telemetry.RecordMainBatch);
            return new RankerRelease(version, preRanker, mainStage, batcher, ex => ServingLog.ReleaseCloseFailed(logger, version, ex), options.MaxFetchedFeatures);
        }
        catch
        {
            mainStage?.Dispose();
            preRanker.Dispose();
            throw;
        }
    }

    private RankerModel OpenStage(string releaseDirectory, string kind, RankingModelOptions options)
    {
        var directory = Path.Combine(releaseDirectory, kind);
        if (!Directory.Exists(directory))
        {
            throw new InvalidDataException($"Release {releaseDirectory} has no {kind}/ folder.");
        }

        var manifest = ModelManifest.Read(directory);
        if (!string.Equals(manifest.Kind, kind, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{directory}: the manifest says kind '{manifest.Kind}', the folder is '{kind}'.");
        }

        if (!manifest.Files.Any(f => f.Path == ModelPackage.OnnxFile))
        {
            throw new InvalidDataException($"{directory}: the manifest does not list {ModelPackage.OnnxFile}, so its hash is unchecked.");
        }

        if (!string.Equals(manifest.Inputs[0].Name, OnnxExport.InputName, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{directory}: the model input is '{manifest.Inputs[0].Name}', serving feeds '{OnnxExport.InputName}'.");
        }

        var output = ModelKinds.ScoreOutput(kind);
        if (!manifest.Outputs.Any(o => o.Name == output))
        {
            throw new InvalidDataException($"{directory}: a {kind} must list the output '{output}'.");
        }

        var unsupported = manifest.Features.Select(f => f.Name).Where(name => features is null || !features.Supports(name)).ToArray();
        if (unsupported.Length > 0)
        {
            throw new InvalidDataException(features is null
                ? $"{directory}: no IRankingFeatureProvider is registered, so none of its {manifest.Features.Count} features can be computed."
                : $"{directory}: the feature provider does not support {string.Join(", ", unsupported.Take(10))}{(unsupported.Length > 10 ? $" and {unsupported.Length - 10} more" : "")}.");
        }

        try
        {
            var model = RankerModel.Open(directory, manifest, providers, options.MaxRowsPerRun, options.CompileTreeEnsembles);
            if (model.CompiledTrees > 0)
            {
                ServingLog.TreesCompiled(logger, manifest.Version, model.CompiledTrees, model.CompiledMaxDifference ?? 0, RankerModel.VerificationRows);
            }
            else if (model.CompileRefusal is { } refusal)
            {
                ServingLog.TreesNotCompiled(logger, manifest.Version, refusal);
            }

            return model;
        }
        catch (Exception ex) when (ex is not InvalidDataException)
        {
            throw new InvalidDataException($"{directory}: ONNX Runtime cannot load or run model.onnx: {ex.Message}", ex);
        }
    }
}
