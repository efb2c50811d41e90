using System.CommandLine;
using System.Globalization;
using RecSys.Learning.Als;
using RecSys.Learning.Content;
using RecSys.Trainer.Ingestion;
using RecSys.Trainer.Training;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>The ALS hyper-parameter options, shared by <c>train</c> and <c>evaluate</c>.</summary>
internal sealed class AlsOptionSet
{
    // Defaults chosen on MovieLens (docs/learning-benchmarks.md): strengths of 1-5 want a small alpha and a strong lambda.
    public Option<int> Dimension { get; } = new("--dim") { Description = "Embedding dimension (1..1024)", DefaultValueFactory = _ => 64 };
    public Option<int> Epochs { get; } = new("--epochs") { Description = "ALS epochs (>= 1)", DefaultValueFactory = _ => 15 };
    public Option<long> Seed { get; } = new("--seed") { Description = "Random seed: same data, seed and options give identical factors", DefaultValueFactory = _ => 42 };
    public Option<float> Alpha { get; } = new("--alpha") { Description = "Confidence slope: c = 1 + alpha * strength", DefaultValueFactory = _ => 1f };
    public Option<float> Lambda { get; } = new("--lambda") { Description = "L2 regularization (> 0)", DefaultValueFactory = _ => 30f };
    public Option<int> ConjugateGradientSteps { get; } = new("--cg-steps") { Description = "Conjugate-gradient steps per row and half-epoch", DefaultValueFactory = _ => 3 };
    public Option<int> Threads { get; } = new("--threads") { Description = "Worker threads (-1: all cores); the result does not depend on it", DefaultValueFactory = _ => -1 };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Dimension, Epochs, Seed, Alpha, Lambda, ConjugateGradientSteps, Threads })
        {
            command.Options.Add(option);
        }
    }

    public AlsOptions Read(ParseResult result)
    {
        if (result.GetValue(Epochs) < 1)
        {
            throw new CliException("--epochs must be at least 1.");
        }

        if (result.GetValue(Seed) < 0)
        {
            throw new CliException("--seed must be 0 or more.");
        }

        var options = new AlsOptions
        {
            Dimension = result.GetValue(Dimension),
            Epochs = result.GetValue(Epochs),
            Seed = (ulong)result.GetValue(Seed),
            Alpha = result.GetValue(Alpha),
            Regularization = result.GetValue(Lambda),
            ConjugateGradientSteps = result.GetValue(ConjugateGradientSteps),
            MaxDegreeOfParallelism = result.GetValue(Threads),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            var option = ex.ParamName switch
            {
                nameof(AlsOptions.Dimension) => "--dim",
                nameof(AlsOptions.Regularization) => "--lambda",
                nameof(AlsOptions.Alpha) => "--alpha",
                nameof(AlsOptions.ConjugateGradientSteps) => "--cg-steps",
                nameof(AlsOptions.MaxDegreeOfParallelism) => "--threads",
                _ => "an ALS option",
            };
            throw new CliException($"{option}: {ex.Message.Split(" (Parameter", 2)[0]}");
        }

        return options;
    }

    public static IReadOnlyDictionary<string, string> Describe(AlsOptions als, InteractionOptions interactions, ContentOptions? content)
    {
        var c = CultureInfo.InvariantCulture;
        var parameters = new Dictionary<string, string>
        {
            ["algorithm"] = "implicit ALS, conjugate gradient",
            ["dim"] = als.Dimension.ToString(c),
            ["epochs"] = als.Epochs.ToString(c),
            ["seed"] = als.Seed.ToString(c),
            ["alpha"] = als.Alpha.ToString(c),
            ["lambda"] = als.Regularization.ToString(c),
            ["cgSteps"] = als.ConjugateGradientSteps.ToString(c),
            ["halfLifeDays"] = interactions.HalfLife.TotalDays.ToString(c),
            ["positives"] = interactions.Positives.ToString().ToLowerInvariant(),
            ["baseStrength"] = interactions.BaseStrength.ToString(c),
        };
        if (content is not null)
        {
            parameters["contentDim"] = content.Dimension.ToString(c);
            parameters["contentBuckets"] = content.TfIdf.Buckets.ToString(c);
            parameters["contentProjectionLambda"] = content.ProjectionRegularization.ToString(c);
        }

        return parameters;
    }
}

/// <summary>
/// <c>train</c>: events from a FeatureServer (or a file) to interactions, ALS with progress and checkpoints, optional content
/// vectors for cold items, a model folder with a manifest, and optionally the vectors published to Retrieval.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(TrainerEnvironment env)
    {
        var inputs = new TrainingInputOptions();
        var als = new AlsOptionSet();
        var output = new Option<string>("--out") { Description = "Model folder to write (factors, id maps, manifest.json)", Required = true };
        var checkpointDir = new Option<string?>("--checkpoint-dir") { Description = "Write a checkpoint after every epoch here, and resume from it when present" };
        var content = new Option<bool>("--content") { Description = "Content embeddings (categories, tags, title) for items without interactions, projected into the ALS space" };
        var contentDim = new Option<int>("--content-dim") { Description = "Dimension of the content embeddings", DefaultValueFactory = _ => 64 };
        var noMetrics = new Option<bool>("--no-metrics") { Description = "Skip the offline metrics (a second fit on a temporal split)" };
        var publish = new Option<bool>("--publish") { Description = "Upload item vectors and user embeddings to the Retrieval index" };
        var retrieval = new Option<string?>("--retrieval") { Description = $"Retrieval service URL for --publish (default: ${SeedCommand.RetrievalVariable})" };
        var command = new Command("train", "Train collaborative (ALS) embeddings from the system's events, write the model and optionally publish it.");
        inputs.AddTo(command);
        als.AddTo(command);
        foreach (var option in new Option[] { output, checkpointDir, content, contentDim, noMetrics, publish, retrieval })
        {
            command.Options.Add(option);
        }

        command.SetAction(env, async (result, cancellationToken) =>
        {
            var source = inputs.ReadSource(result, env);
            var window = inputs.ReadWindow(result);
            var interactionOptions = inputs.ReadInteractionOptions(result);
            var alsOptions = als.Read(result);
            var contentOptions = result.GetValue(content) ? ReadContent(result.GetValue(contentDim), alsOptions.Seed) : null;
            IModelPublisher? publisher = null;
            if (result.GetValue(publish))
            {
                var url = result.GetValue(retrieval) ?? env.GetEnvironmentVariable(SeedCommand.RetrievalVariable);
                if (string.IsNullOrWhiteSpace(url))
                {
                    throw new CliException($"--publish needs the Retrieval service: --retrieval <url> or ${SeedCommand.RetrievalVariable}.");
                }

                publisher = new RetrievalIndexPublisher(env.CreateClient(TargetResolver.Parse(url)), env.Time, env.PollInterval);
            }

            var settings = new TrainSettings
            {
                Als = alsOptions,
                Content = contentOptions,
                CheckpointDirectory = result.GetValue(checkpointDir),
                MetricsHoldout = result.GetValue(noMetrics) ? null : 0.2,
            };
            var outcome = await RunAsync(env, source, window, interactionOptions, settings, result.GetValue(output)!, publisher, cancellationToken);
            return outcome is null ? ExitCodes.InputError : ExitCodes.Ok;
        });
        return command;
    }

    internal static ContentOptions ReadContent(int dimension, ulong seed)
    {
        var options = new ContentOptions { Dimension = dimension, Seed = seed };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new CliException($"--content-dim: {ex.Message.Split(" (Parameter", 2)[0]}");
        }

        return options;
    }

    /// <summary>Load, train, write, publish: the whole of <c>train</c>, also run by <c>evaluate --e2e</c>.</summary>
    internal static async Task<ModelManifest?> RunAsync(
        TrainerEnvironment env,
        TrainingSource source,
        ExportWindowFilter window,
        InteractionOptions interactionOptions,
        TrainSettings settings,
        string outputDirectory,
        IModelPublisher? publisher,
        CancellationToken cancellationToken)
    {
        var console = env.Console;
        console.MarkupLineInterpolated($"training from {source.Describe()}");
        // Two progress runs, so the data summary is printed between them rather than under live bars.
        var data = await ProgressRunner.RunAsync(env, async progress =>
        {
            var phase = progress.StartPhase("events", null);
            var loaded = await TrainingData.LoadAsync(
                TrainingReader.Events(source, window, env, cancellationToken),
                TrainingReader.Items(source, env, cancellationToken),
                interactionOptions,
                window,
                keepEvents: false,
                phase.Advance,
                cancellationToken);
            phase.Complete();
            return loaded;
        });
        PrintData(console, data.Stats);
        var outcome = await ProgressRunner.RunAsync(env, progress =>
            Task.Run(() => TrainingPipeline.Run(data, settings, progress, env.Time, cancellationToken), cancellationToken));

        var s = data.Stats;
        var range = new TrainingDataRange(source.Describe(), window.From, window.Until, s.FirstEvent, s.LastEvent, s.EventsRead, s.Duplicates, s.Interactions, s.Users, s.Items, s.CatalogueItems);
        var manifest = ModelWriter.Write(outputDirectory, outcome.Model, env.Time.GetUtcNow(), range,
            AlsOptionSet.Describe(settings.Als, interactionOptions, settings.Content), outcome.MetricsSplit, outcome.Metrics, outcome.Seconds);
        PrintManifest(console, outputDirectory, manifest, outcome);

        if (publisher is not null)
        {
            console.MarkupLineInterpolated($"publishing to {publisher.Destination} ...");
            var published = await publisher.PublishAsync(outcome.Model, manifest.Version, cancellationToken);
            console.MarkupLineInterpolated($"published {published.Items:N0} item and {published.Users:N0} user vectors of {outcome.Model.Dimension} dimensions as embedding version {published.Version}: {published.Detail}");
            VectorIndexUploader.ThrowIfRejected(published);
        }

        return manifest;
    }

    internal static void PrintData(IAnsiConsole console, TrainingDataStats s) =>
        console.MarkupLineInterpolated(
            $"data: {s.EventsRead:N0} events read ({s.Duplicates:N0} duplicates, {s.Invalid:N0} invalid, {s.NotPositive:N0} not interactions, {s.OutsideWindow:N0} outside the window) -> {s.Interactions:N0} interactions of {s.Users:N0} users on {s.Items:N0} items; catalogue {s.CatalogueItems:N0} items; {s.FirstEvent:yyyy-MM-dd} .. {s.LastEvent:yyyy-MM-dd}");

    private static void PrintManifest(IAnsiConsole console, string directory, ModelManifest manifest, TrainingOutcome outcome)
    {
        var c = CultureInfo.InvariantCulture;
        console.MarkupLineInterpolated($"[bold]model {manifest.Version}[/] written to {directory} in {manifest.TrainSeconds:N1} s{(outcome.ResumedFromEpoch > 0 ? $" (resumed after epoch {outcome.ResumedFromEpoch})" : "")}");
        console.MarkupLineInterpolated($"  {manifest.Users:N0} users, {manifest.WarmItems:N0} items with interactions, {manifest.ColdItems:N0} cold items, d{manifest.Dimension}");
        if (outcome.Metrics is { Count: > 0 } metrics)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
            foreach (var (name, value) in metrics)
            {
                table.AddRow(Markup.Escape(name), value.ToString("F4", c));
            }

            console.MarkupLineInterpolated($"offline metrics ({outcome.MetricsSplit}):");
            console.Write(table);
        }
    }
}
