using System.CommandLine;
using System.Globalization;
using System.Text;
using RecSys.Core.Contracts;
using RecSys.Learning.Als;
using RecSys.Learning.Evaluation;
using RecSys.Learning.Ranking;
using RecSys.Learning.Registry;
using RecSys.Ranking.Features;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Evaluation;
using RecSys.Trainer.Training;
using Spectre.Console;

namespace RecSys.Trainer.Ranking;

/// <summary>
/// <c>train-rankers</c>: the ranking training set from the system's events (labels from event types, sampled negatives among the
/// candidates an ALS model fitted before the label window would have retrieved, features as of each request), the GBDT
/// pre-ranker, the MLP main ranker, the distilled student, per-segment calibration, ONNX parity, and the release folder.
/// With <c>--evaluate</c> it first holds out each user's latest interactions (the evaluator's temporal split), trains on the
/// rest, and scores ALS candidates re-ranked by each model against ALS alone.
/// </summary>
internal static class TrainRankersCommand
{
    /// <summary>Embedding products a release reads unless told otherwise (<c>--embedding-products</c>).</summary>
    internal const int DefaultEmbeddingProducts = 0;

    /// <summary>The catalog's embedding products past the first <paramref name="used"/> dimensions.</summary>
    internal static IEnumerable<string> UnusedEmbeddingProducts(int used) =>
        Enumerable.Range(used, RankingFeatureCatalog.EmbeddingProductDimensions - used).Select(RankingFeatureCatalog.EmbeddingProductName);

    /// <summary>Removes the run's folder for the training-set API's answers (each answer is deleted once read; the folder stayed behind).</summary>
    private static void DeleteWorkDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    public static Command Create(TrainerEnvironment env)
    {
        var inputs = new TrainingInputOptions();
        var als = new AlsOptionSet();
        var output = new Option<string?>("--out") { Description = "Folder that receives the release folder <out>/<version>/ (pre-ranker, main-ranker, student); with --registry: <registry>/rankers" };
        var registryRoot = new Option<string?>("--registry") { Description = "Model registry folder (<data root>/models): the release is written under <registry>/rankers/<version>, registered with its features, metrics and file hashes, and made the active ranker release" };
        var keep = new Option<int>("--keep") { Description = "With --registry: ranker releases kept besides the active one (older ones are deleted)", DefaultValueFactory = _ => 5 };
        var version = new Option<string?>("--version") { Description = "Release name (default: rankers-<UTC time>)" };
        var alsCandidates = new Option<int>("--als-candidates") { Description = "Candidates per request from ALS", DefaultValueFactory = _ => 100 };
        var popularCandidates = new Option<int>("--popular-candidates") { Description = "Most popular unseen items added to the candidates", DefaultValueFactory = _ => 20 };
        var preRankerExtra = new Option<int>("--pre-ranker-extra-candidates")
        {
            Description = "Extra candidates per training request for the pre-ranker only, sampled from the deeper ALS and popular ranks Retrieval returns "
                + "(down to --retrieval-als-depth and --retrieval-popular-depth): in serving it sorts thousands of candidates, not the main ranker's ALS top 100",
            DefaultValueFactory = _ => new RankerTrainingOptions().PreRankerExtraCandidates,
        };
        var retrievalAlsDepth = new Option<int>("--retrieval-als-depth") { Description = "Deepest ALS rank of the pre-ranker's extra candidates and of --evaluate-wide (Retrieval's collaborative budget)", DefaultValueFactory = _ => 2_500 };
        var retrievalPopularDepth = new Option<int>("--retrieval-popular-depth") { Description = "Deepest popularity rank of the pre-ranker's extra candidates and of --evaluate-wide (Retrieval's trending budget)", DefaultValueFactory = _ => 500 };
        var preRankKeep = new Option<int>("--pre-rank-keep") { Description = "With --evaluate-wide: candidates the pre-ranker passes to the main ranker (Ranking's PreRankKeep)", DefaultValueFactory = _ => 500 };
        var evaluateWide = new Option<bool>("--evaluate-wide")
        {
            Description = "With --evaluate, also score the two stages as served: candidates down to the retrieval depths (ALS and popular), the pre-ranker keeping "
                + "--pre-rank-keep of them for the main ranker (about a minute more)",
        };
        var labelFraction = new Option<double>("--label-fraction") { Description = "Share of each user's latest interactions used as labels (the rest feed features and the ALS fit)", DefaultValueFactory = _ => 0.2 };
        var windows = new Option<int>("--windows") { Description = "Label windows per user, each inside the previous one's feature part (1-10)", DefaultValueFactory = _ => 3 };
        var asOf = new Option<string>("--as-of") { Description = "When features are read: user-cutoff (just before each user's labels) or data-end (after all feature events)", DefaultValueFactory = _ => "user-cutoff" };
        asOf.AcceptOnlyFromAmong("user-cutoff", "data-end");
        var evaluateAsOf = new Option<string>("--evaluate-as-of") { Description = "With --evaluate, when the test requests' features are read: data-end (every test user at one instant after the training part, as the end-to-end evaluation asks a running system) or user-cutoff (just before each user's held-out events)", DefaultValueFactory = _ => "data-end" };
        evaluateAsOf.AcceptOnlyFromAmong("user-cutoff", "data-end");
        var lapsedDropout = new Option<double>("--lapsed-dropout") { Description = "Share of training requests (0-1) read as for a lapsed user: no session items, latest event over a year before the request (point-in-time requests sit just before the user's next event, so without this the ranker never sees an inactive user)", DefaultValueFactory = _ => 0.5 };
        var excludeFeatures = new Option<string?>("--exclude-features") { Description = "Ranking features left out of the release, comma separated (names of RankingFeatureCatalog); Ranking computes only the features a release lists" };
        var embeddingProducts = new Option<int>("--embedding-products")
        {
            Description = $"Per-dimension products of the user's and the item's ALS vectors (als_product_00..) the main ranker and the student read: the first N "
                + $"principal axes (0-{RankingFeatureCatalog.EmbeddingProductDimensions}; 0 leaves them out)",
            DefaultValueFactory = _ => DefaultEmbeddingProducts,
        };
        var mainWeightDecay = new Option<float>("--main-weight-decay")
        {
            Description = "Decoupled weight decay of the main ranker's and the student's weights per step (times the step size; 0: none)",
            DefaultValueFactory = _ => new RankerModelOptions().MainRanker.WeightDecay,
        };
        var labelHalfLife = new Option<double>("--label-half-life-days") { Description = "Sample weights halve for labels this much older than the newest (0, the default: no decay; on logs spanning years a short half-life starves the older users of weight)", DefaultValueFactory = _ => 0 };
        var consumedWeight = new Option<float>("--consumed-weight") { Description = "Weight of consumption labels (views, ratings below 4); engaged labels weigh 1", DefaultValueFactory = _ => 0.5f };
        var trees = new Option<int>("--trees") { Description = "Boosting rounds of the pre-ranker", DefaultValueFactory = _ => new RankerModelOptions().PreRanker.Iterations };
        var preRankerLeaves = new Option<int>("--pre-ranker-leaves")
        {
            Description = "Leaves per tree of the pre-ranker (2-32 keep Ranking's QuickScorer; more fall back to its slower tree walk)",
            DefaultValueFactory = _ => new RankerModelOptions().PreRanker.Leaves,
        };
        var preRankerRate = new Option<double>("--pre-ranker-learning-rate") { Description = "Learning rate (shrinkage) of the pre-ranker's boosting", DefaultValueFactory = _ => new RankerModelOptions().PreRanker.LearningRate };
        var comparePreRankers = new Option<string?>("--compare-pre-rankers")
        {
            Description = "With --evaluate --evaluate-wide: also train pre-rankers of these settings on the same rows (comma separated ROUNDSxLEAVES or "
                + "ROUNDSxLEAVES@RATE, e.g. 50x15,100x7@0.1) and report for each, next to the release's: nDCG@10 after both stages, its recall of the "
                + "main ranker's top 10 and 50, and the time to score 5,000 rows in Ranking's compiled trees (same process, interleaved)",
        };
        var mainEpochs = new Option<int>("--main-epochs") { Description = "Epochs of the main ranker", DefaultValueFactory = _ => 6 };
        var studentEpochs = new Option<int>("--student-epochs") { Description = "Epochs of the distilled student", DefaultValueFactory = _ => 10 };
        var evaluate = new Option<bool>("--evaluate") { Description = "Hold out each user's latest interactions, train on the rest and report nDCG@10 of re-ranked ALS candidates vs ALS alone" };
        var holdout = new Option<double>("--holdout") { Description = "Share held out per user with --evaluate", DefaultValueFactory = _ => 0.2 };
        var compareEase = new Option<bool>("--compare-ease") { Description = "With --evaluate, also score EASE (top 5,000 items, lambda 500; about a minute)" };
        var featuresFrom = new Option<string>("--features-from")
        {
            Description = "Where the registry values with an offline form (counters, windows, latest event time) come from: featureserver (POST /v1/training-sets, "
                + "point in time; the default when reading from a FeatureServer), replay (recomputed from the events read; the default for files), or auto",
            DefaultValueFactory = _ => "auto",
        };
        featuresFrom.AcceptOnlyFromAmong("auto", "featureserver", "replay");
        var backfill = new Option<bool>("--backfill")
        {
            Description = "With --features-from featureserver: run an offline-store backfill first. Rows the stream processor captured are known from when they "
                + "were written, so a log imported at once (a seed, a historic import) is invisible at its own times until a backfill recomputes it with the "
                + "log's watermark (import such a log in time order with --concurrency 1, or the watermark, and so the training set, follows the order "
                + "in which concurrent batches arrived); a live system's captured rows need none (each backfill adds a full copy of the rows)",
        };
        var command = new Command("train-rankers", "Train the pre-ranker, main ranker and student from the system's events and write the ranker release folder.");
        inputs.AddTo(command);
        als.AddTo(command);
        foreach (var option in new Option[] { output, registryRoot, keep, version, alsCandidates, popularCandidates, preRankerExtra, retrievalAlsDepth, retrievalPopularDepth, preRankKeep, evaluateWide, labelFraction, windows, asOf, evaluateAsOf, lapsedDropout, excludeFeatures, embeddingProducts, mainWeightDecay, labelHalfLife, consumedWeight, trees, preRankerLeaves, preRankerRate, comparePreRankers, mainEpochs, studentEpochs, evaluate, holdout, compareEase, featuresFrom, backfill })
        {
            command.Options.Add(option);
        }

        command.SetAction(env, async (result, cancellationToken) =>
        {
            var source = inputs.ReadSource(result, env);
            var window = inputs.ReadWindow(result);
            var interactionOptions = inputs.ReadInteractionOptions(result);
            var alsOptions = als.Read(result);
            var fraction = result.GetValue(holdout);
            if (!(fraction is > 0 and < 1))
            {
                throw new CliException("--holdout must be between 0 and 1 (exclusive).");
            }

            if (result.GetValue(labelHalfLife) is var days && !(days >= 0 && days <= 36_500))
            {
                throw new CliException("--label-half-life-days must be between 0 and 36,500.");
            }

            if (result.GetValue(trees) < 1 || result.GetValue(mainEpochs) < 1 || result.GetValue(studentEpochs) < 1)
            {
                throw new CliException("--trees, --main-epochs and --student-epochs must be at least 1.");
            }

            if (!(result.GetValue(mainWeightDecay) is >= 0 and <= 100))
            {
                throw new CliException("--main-weight-decay must be between 0 and 100.");
            }

            var options = new RankerTrainingOptions
            {
                AlsCandidates = result.GetValue(alsCandidates),
                PopularCandidates = result.GetValue(popularCandidates),
                PreRankerExtraCandidates = result.GetValue(preRankerExtra),
                RetrievalAlsDepth = result.GetValue(retrievalAlsDepth),
                RetrievalPopularDepth = result.GetValue(retrievalPopularDepth),
                PreRankKeep = result.GetValue(preRankKeep),
                LabelFraction = result.GetValue(labelFraction),
                Windows = result.GetValue(windows),
                AsOf = result.GetValue(asOf) == "data-end" ? AsOfMode.DataEnd : AsOfMode.UserCutoff,
                EvaluateAsOf = result.GetValue(evaluateAsOf) == "user-cutoff" ? AsOfMode.UserCutoff : AsOfMode.DataEnd,
                LapsedDropout = result.GetValue(lapsedDropout),
                Labels = new LabelPolicy { HalfLife = TimeSpan.FromDays(days), ConsumedWeight = result.GetValue(consumedWeight) },
                Seed = (int)Math.Min(int.MaxValue, alsOptions.Seed),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new CliException(ex.Message);
            }

            var models = new RankerModelOptions
            {
                PreRanker = new RankerModelOptions().PreRanker with { Iterations = result.GetValue(trees), Leaves = result.GetValue(preRankerLeaves), LearningRate = result.GetValue(preRankerRate) },
                MainRanker = new RankerModelOptions().MainRanker with { Epochs = result.GetValue(mainEpochs), WeightDecay = result.GetValue(mainWeightDecay) },
                Student = new RankerModelOptions().Student with { Epochs = result.GetValue(studentEpochs), WeightDecay = result.GetValue(mainWeightDecay) },
            };
            IReadOnlyList<PreRankerSetting> comparisons;
            try
            {
                models.PreRanker.Validate();
                comparisons = [.. (result.GetValue(comparePreRankers) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(text => PreRankerSetting.Parse(text, models.PreRanker.LearningRate))];
                foreach (var setting in comparisons)
                {
                    setting.Apply(models.PreRanker).Validate();
                }
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                throw new CliException($"Pre-ranker settings (--trees, --pre-ranker-leaves, --pre-ranker-learning-rate, --compare-pre-rankers): {ex.Message}");
            }

            if (comparisons.Count > 0 && !(result.GetValue(evaluate) && result.GetValue(evaluateWide)))
            {
                throw new CliException("--compare-pre-rankers needs --evaluate and --evaluate-wide.");
            }

            var name = result.GetValue(version) ?? "rankers-" + env.Time.GetUtcNow().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
            if (name.Length == 0 || name.IndexOfAny([.. Path.GetInvalidFileNameChars(), '/', '\\']) >= 0 || name is "." or "..")
            {
                throw new CliException($"--version '{name}' is not a usable folder name.");
            }

            var registry = result.GetValue(registryRoot) is { } root ? new ModelRegistry(root, env.Time) : null;
            if (registry is null && result.GetValue(output) is null)
            {
                throw new CliException("Give --out <folder> or --registry <models folder>.");
            }

            if (result.GetValue(keep) < 0)
            {
                throw new CliException("--keep must be 0 or more.");
            }

            string releaseDirectory;
            try
            {
                releaseDirectory = registry is not null && result.GetValue(output) is null
                    ? registry.FolderFor(ModelKinds.Rankers, name)
                    : Path.Combine(result.GetValue(output)!, name);
                if (registry is not null && registry.Get(ModelKinds.Rankers, name) is not null)
                {
                    throw new CliException($"Ranker release '{name}' is already registered; choose another --version.");
                }
            }
            catch (ArgumentException ex)
            {
                throw new CliException(ex.Message);
            }
            var useApi = result.GetValue(featuresFrom) switch
            {
                "featureserver" => source is FeatureServerSource ? true : throw new CliException("--features-from featureserver needs --target <FeatureServer url>."),
                "replay" => false,
                _ => source is FeatureServerSource,
            };
            if (useApi && options.AsOf == AsOfMode.DataEnd)
            {
                // The store holds the label events too: read after them, the counters would count the labels.
                throw new CliException("--as-of data-end reads the store after the labels happened (leakage); with --features-from featureserver features are read as of each request (user-cutoff). Use --features-from replay for data-end.");
            }

            var console = env.Console;
            console.MarkupLineInterpolated($"training rankers on {source.Describe()}");
            TrainingSetFeatures? trainingSets = null;
            if (useApi && source is FeatureServerSource server)
            {
                var client = env.CreateClient(server.Target);
                if (result.GetValue(backfill))
                {
                    console.MarkupLine("backfilling the offline store (POST /v1/offline/backfill), so that every event's values are known from its ingestion watermark");
                    await client.RunBackfillAsync(env.PollInterval, cancellationToken);
                }

                trainingSets = new TrainingSetFeatures(client);
                console.MarkupLineInterpolated($"features: {string.Join(", ", TrainingSetFeatures.UserFeatures.Concat(TrainingSetFeatures.ItemFeatures))} from POST /v1/training-sets; {string.Join(", ", TrainingSetFeatures.ReplayedFeatures)} replayed from the events (no offline form) or from the fitted model");
            }

            var (data, others) = await ProgressRunner.RunAsync(env, async progress =>
            {
                var phase = progress.StartPhase("events", null);
                var all = new List<EventDto>();
                await foreach (var e in TrainingReader.Events(source, window, env, cancellationToken).WithCancellation(cancellationToken))
                {
                    all.Add(e);
                }

                IAsyncEnumerable<ItemDto>? items = TrainingReader.Items(source, env, cancellationToken);
                var loaded = await TrainingData.LoadAsync(ToAsync(all), items, interactionOptions, window, keepEvents: true, phase.Advance, cancellationToken);
                phase.Complete();
                var kept = new HashSet<EventDto>(loaded.Events!, ReferenceEqualityComparer.Instance);
                return (loaded, (IReadOnlyList<EventDto>)[.. all.Where(e => !kept.Contains(e))]);
            });
            TrainCommand.PrintData(console, data.Stats);
            if (data.Interactions.Count == 0)
            {
                throw new CliException("No interactions to train on (no positive events in the input).");
            }

            var builder = new RankerGroupBuilder(data, others, options, alsOptions, env.Time)
            {
                TrainingSets = trainingSets,
                WorkDirectory = Path.Combine(Path.GetTempPath(), "recsys-train-rankers-" + Guid.NewGuid().ToString("N")),
            };
            var excluded = (result.GetValue(excludeFeatures) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (excluded.FirstOrDefault(name => !RankingFeatureCatalog.TryGet(name, out _)) is { } unknown)
            {
                throw new CliException($"--exclude-features: unknown feature '{unknown}'; known: {string.Join(", ", RankingFeatureCatalog.Names)}.");
            }

            if (result.GetValue(embeddingProducts) is var products && products is < 0 or > RankingFeatureCatalog.EmbeddingProductDimensions)
            {
                throw new CliException($"--embedding-products must be between 0 and {RankingFeatureCatalog.EmbeddingProductDimensions}.");
            }

            IReadOnlyList<string> columns = [.. RankingFeatureCatalog.Names.Except(excluded, StringComparer.Ordinal).Except(UnusedEmbeddingProducts(products), StringComparer.Ordinal)];
            if (RankerRelease.CheapColumns(columns).Count == 0)
            {
                throw new CliException("--exclude-features leaves the pre-ranker no cheap feature.");
            }

            var report = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["source"] = source.Describe(),
                ["alsCandidates"] = options.AlsCandidates,
                ["popularCandidates"] = options.PopularCandidates,
                ["preRankerExtraCandidates"] = options.PreRankerExtraCandidates,
                ["retrievalAlsDepth"] = options.RetrievalAlsDepth,
                ["retrievalPopularDepth"] = options.RetrievalPopularDepth,
                ["labelFraction"] = options.LabelFraction,
                ["windows"] = options.Windows,
                ["asOf"] = options.AsOf.ToString(),
                ["excludedFeatures"] = excluded,
                ["lapsedDropout"] = options.LapsedDropout,
                ["labelHalfLifeDays"] = days,
                ["consumedWeight"] = options.Labels.ConsumedWeight,
                ["mainWeightDecay"] = models.MainRanker.WeightDecay,
                ["preRanker"] = PreRankerSetting.Of(models.PreRanker).ToString(),
                ["featuresFrom"] = trainingSets is null ? "replay" : "featureserver (POST /v1/training-sets) for " + string.Join(", ", TrainingSetFeatures.UserFeatures.Concat(TrainingSetFeatures.ItemFeatures)),
                ["negatives"] = "sampled: the ALS and popular candidates of the request the user did not engage with in the label window; plus impressions without engagement when the log has them",
            };
            var scope = new bool[data.Interactions.Count];
            DataSplit? split = null;
            if (result.GetValue(evaluate))
            {
                split = DataSplit.Temporal(data.Interactions, data.Users.Count, data.Items.Count, fraction);
                for (var i = 0; i < scope.Length; i++)
                {
                    scope[i] = split.InTrain[i];
                }

                console.MarkupLineInterpolated($"evaluation split {split.Name}: rankers see {split.Train.InteractionCount:N0} interactions, {split.TestInteractions:N0} held out");
            }
            else
            {
                Array.Fill(scope, true);
            }

            if (products > 0)
            {
                // The embedding products read single coordinates, which differ between ALS fits by a rotation: every window's fit
                // is aligned to the fit of all the data the rankers see (what the system serves after publishing the same export
                // with the same options; with --evaluate, the evaluation's own fit).
                builder.AlignmentReference = new AlsTrainer(alsOptions, env.Time).Train(split?.Train ?? data.BuildMatrix(), cancellationToken: cancellationToken);
                report["embeddingProducts"] = products;
            }

            var (groups, trained) = await ProgressRunner.RunAsync(env, progress => Task.Run(async () =>
            {
                try
                {
                    return await TrainAllAsync(progress);
                }
                catch (ArgumentException ex)
                {
                    throw new CliException($"Cannot train the rankers on this data: {ex.Message}");
                }
            }, cancellationToken));

            async Task<(RankerGroupSet, TrainedRankers)> TrainAllAsync(IRunProgress progress)
            {
                var phase = progress.StartPhase("training set (ALS before the label window, candidates, features)", null);
                var set = await builder.TrainingAsync(scope, columns, cancellationToken);
                phase.Complete();
                progress.Note(string.Create(CultureInfo.InvariantCulture,
                    $"{set.Data.GroupCount:N0} requests ({set.LabelledGroups:N0} with a positive), {set.Data.RowCount:N0} rows, {set.Data.Labels.Count(l => l > 0):N0} positives, {columns.Count} features; pre-ranker rows {set.PreRankData.RowCount:N0}"));
                IProgressPhase? step = null;
                var rankers = RankerRelease.Train(set.Data, models, env.Time, s =>
                {
                    step?.Complete();
                    step = progress.StartPhase(s, null);
                }, cancellationToken, set.PreRankData);
                step?.Complete();
                return (set, rankers);
            }

            if (split is null)
            {
                DeleteWorkDirectory(builder.WorkDirectory);
            }

            report["groups"] = groups.Data.GroupCount;
            report["rows"] = groups.Data.RowCount;
            report["positives"] = groups.Data.Labels.Count(l => l > 0);
            report["featureStats"] = FeatureStats(groups.Data);

            if (split is not null)
            {
                var alternatives = new PreRankerAlternatives(groups, models, comparisons);
                var evaluation = await Task.Run(() => EvaluateAsync(env, data, builder, split, trained, alsOptions, options, result.GetValue(compareEase), result.GetValue(evaluateWide), alternatives, cancellationToken), cancellationToken);
                DeleteWorkDirectory(builder.WorkDirectory);
                report["evaluation"] = evaluation.Scores.ToDictionary(s => s.Name, s => s.Ndcg10);
                if (evaluation.PreRankers.Count > 0)
                {
                    report["preRankerComparison"] = evaluation.PreRankers;
                }
                console.Write(new Markup(Markup.Escape(evaluation.Markdown)));
                Directory.CreateDirectory(releaseDirectory);
                await File.WriteAllTextAsync(Path.Combine(releaseDirectory, "evaluation.md"), evaluation.Markdown, cancellationToken);
            }

            IReadOnlyDictionary<string, double> metrics;
            try
            {
                metrics = RankerRelease.Write(releaseDirectory, name, env.Time.GetUtcNow(), trained, groups.Data, models, report);
            }
            catch (InvalidDataException ex)
            {
                throw new CliException($"The release was not completed: {ex.Message}");
            }
            var table = new Table().AddColumns("metric", "value");
            foreach (var (key, value) in metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                table.AddRow(key, value.ToString("G4", CultureInfo.InvariantCulture));
            }

            console.Write(table);
            console.MarkupLineInterpolated($"wrote the ranker release {releaseDirectory} ({RankerRelease.PreRankerFolder}, {RankerRelease.MainRankerFolder}, {RankerRelease.StudentFolder})");
            if (registry is not null)
            {
                Register(registry, name, releaseDirectory, env.Time.GetUtcNow(), data, groups.Data.RowCount, metrics, result.GetValue(keep), console);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private sealed record NamedScore(string Name, double Ndcg10);

    /// <summary>The pre-ranker settings <c>--compare-pre-rankers</c> asks for, with the rows and options to train them as the release's.</summary>
    private sealed record PreRankerAlternatives(RankerGroupSet Groups, RankerModelOptions Models, IReadOnlyList<PreRankerSetting> Settings);

    /// <summary>One pre-ranker over the deep candidates: quality after both stages, recall of the main ranker's best, cost.</summary>
    internal sealed record PreRankerFigures(string Setting, int Trees, int Nodes, double PreRankerNdcg10, double CascadeNdcg10, double RecallOfMainTop10,
        double RecallOfMainTop50, double MicrosecondsPer5000Rows, double CostRatio, string Method);

    /// <summary>Registers the release (features with the main ranker's importance, metrics, hashes), activates it, prunes old ones.</summary>
    private static void Register(ModelRegistry registry, string name, string releaseDirectory, DateTimeOffset createdAt, TrainingData data, long rows,
        IReadOnlyDictionary<string, double> metrics, int keep, IAnsiConsole console)
    {
        if (!string.Equals(Path.GetFullPath(releaseDirectory), registry.FolderFor(ModelKinds.Rankers, name), StringComparison.Ordinal))
        {
            throw new CliException($"With --registry the release must be written under {Path.Combine(registry.Root, ModelKinds.Rankers)}; drop --out.");
        }

        var main = RecSys.Learning.Ranking.ModelManifest.Read(Path.Combine(releaseDirectory, RankerRelease.MainRankerFolder));
        var (first, last) = data.Stats.FirstEvent is { } f && data.Stats.LastEvent is { } l ? (f, l) : ((DateTimeOffset?)null, (DateTimeOffset?)null);
        registry.Register(new ModelRegistration(
            ModelKinds.Rankers,
            name,
            createdAt,
            new TrainingRange(first, last, rows),
            [.. main.Features.Select(x => new RegistryFeature(x.Name, x.Importance))],
            metrics));
        registry.Activate(ModelKinds.Rankers, name);
        var pruned = registry.Prune(ModelKinds.Rankers, keep);
        console.MarkupLineInterpolated($"registered and activated ranker release {name} in {registry.Root}{(pruned.Count > 0 ? $"; removed {string.Join(", ", pruned)}" : "")}");
    }

    private static async Task<(IReadOnlyList<NamedScore> Scores, string Markdown, IReadOnlyList<PreRankerFigures> PreRankers)> EvaluateAsync(TrainerEnvironment env,
        TrainingData data, RankerGroupBuilder builder, DataSplit split, TrainedRankers rankers, AlsOptions alsOptions, RankerTrainingOptions options, bool ease, bool wide,
        PreRankerAlternatives alternatives, CancellationToken cancellationToken)
    {
        var model = new AlsTrainer(alsOptions, env.Time).Train(split.Train, cancellationToken: cancellationToken);
        var set = await builder.EvaluationAsync(split, model, rankers.MainRanker.FeatureNames, cancellationToken);
        var cheap = set.Data.SelectFeatures(rankers.PreRanker.FeatureNames);
        var pre = new float[set.Data.RowCount];
        rankers.PreRanker.Score(cheap.Features, pre);
        var main = new float[set.Data.RowCount];
        rankers.MainRanker.Score(set.Data.Features, main);
        var student = new float[set.Data.RowCount];
        rankers.Student.Score(set.Data.Features, student);
        var retrievalOrder = new float[set.Data.RowCount];
        for (var r = 0; r < retrievalOrder.Length; r++)
        {
            // Candidates come in retrieval order (ALS best first, then popular): a decreasing score keeps that order.
            retrievalOrder[r] = -r;
        }

        IReadOnlyList<PreRankerFigures> preRankers = [];
        var recommenders = new List<IRecommender>
        {
            new FactorRecommender(model, split.Train, "ALS alone"),
            Lists("candidates in retrieval order (check: ALS, then popular)", set, retrievalOrder, null, 0),
            Lists("pre-ranker (GBDT, cheap features) over the candidates", set, pre, null, 0),
            Lists("main ranker (MLP, all features) over the candidates", set, main, null, 0),
            Lists("student (distilled MLP) over the candidates", set, student, null, 0),
            Lists("cascade: pre-ranker top 50, then main ranker", set, main, pre, 50),
            Lists("cascade: pre-ranker top 50, then student (Ranking:Models:MainStage student)", set, student, pre, 50),
        };
        if (wide)
        {
            // The set the pre-ranker filters in serving, as far as this loop can draw it (Retrieval's content and recent-similar
            // sources are not replayed): the ALS and popular candidates down to the sources' budgets.
            var deep = await builder.EvaluationAsync(split, model, rankers.MainRanker.FeatureNames, cancellationToken, wide: true);
            var deepPre = new float[deep.Data.RowCount];
            rankers.PreRanker.Score(deep.Data.SelectFeatures(rankers.PreRanker.FeatureNames).Features, deepPre);
            var deepMain = new float[deep.Data.RowCount];
            rankers.MainRanker.Score(deep.Data.Features, deepMain);
            recommenders.Add(Lists($"deep candidates ({options.RetrievalAlsDepth} ALS + {options.RetrievalPopularDepth} popular): pre-ranker alone", deep, deepPre, null, 0));
            recommenders.Add(Lists($"deep candidates: pre-ranker top {options.PreRankKeep}, then main ranker (as served)", deep, deepMain, deepPre, options.PreRankKeep));
            recommenders.Add(Lists("deep candidates: main ranker over all", deep, deepMain, null, 0));
            var deepStudent = new float[deep.Data.RowCount];
            rankers.Student.Score(deep.Data.Features, deepStudent);
            recommenders.Add(Lists($"deep candidates: pre-ranker top {options.PreRankKeep}, then student (as served with MainStage student)", deep, deepStudent, deepPre, options.PreRankKeep));
            if (alternatives.Settings.Count > 0)
            {
                preRankers = ComparePreRankers(env, deep, split, deepMain, rankers.PreRanker, alternatives, options.PreRankKeep, cancellationToken);
            }
        }
        if (ease)
        {
            recommenders.Add(new EaseRecommender(split.Train, 500f, 5_000));
        }

        var scores = recommenders.Select(r => Evaluator.Evaluate(r, split, maxK: 20, time: env.Time)).ToList();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Split {split.Name}: {split.Train.InteractionCount:N0} training, {split.TestInteractions:N0} held-out interactions; "
            + $"{options.AlsCandidates} ALS + {options.PopularCandidates} popular candidates (pre-ranker: {options.PreRankerExtraCandidates} more per request from ALS ranks <= {options.RetrievalAlsDepth} and popular ranks <= {options.RetrievalPopularDepth}); training features as of {options.AsOf} (lapsed dropout {options.LapsedDropout:0.##}), test features as of {options.EvaluateAsOf}.");
        text.AppendLine();
        text.AppendLine("| recommender | nDCG@10 | recall@10 | hit rate@10 | nDCG@20 |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var s in scores)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {s.Name} | {s.At(10).Ndcg:F4} | {s.At(10).Recall:F4} | {s.At(10).HitRate:F4} | {s.At(20).Ndcg:F4} |");
        }

        if (preRankers.Count > 0)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"Pre-rankers over the deep candidates (the release's first; each keeps its top {options.PreRankKeep} for the main ranker; "
                + $"recall: share of the main ranker's top 10 / 50 over all deep candidates among those kept; cost: median time to score {PreRankerComparison.CostRows:N0} rows in Ranking's compiled trees, interleaved in this process):");
            text.AppendLine();
            text.AppendLine("| pre-ranker (rounds x leaves @ rate) | trees | nodes | pre-ranker nDCG@10 | then main ranker nDCG@10 | recall of main top 10 | recall of main top 50 | us per 5,000 rows | cost vs release | scorer |");
            text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var p in preRankers)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {p.Setting} | {p.Trees} | {p.Nodes} | {p.PreRankerNdcg10:F4} | {p.CascadeNdcg10:F4} | {p.RecallOfMainTop10:F4} | {p.RecallOfMainTop50:F4} | {p.MicrosecondsPer5000Rows:F0} | {p.CostRatio:F3} | {p.Method} |");
            }
        }

        return ([.. scores.Select(s => new NamedScore(s.Name, s.At(10).Ndcg))], text.ToString(), preRankers);
    }

    /// <summary>
    /// Trains each setting of <paramref name="alternatives"/> on the release pre-ranker's rows and judges it with the release's one over the
    /// deep candidates: nDCG@10 alone and after the main ranker over its top <paramref name="keep"/>, recall of the main ranker's best,
    /// and the cost of scoring in Ranking's compiled trees.
    /// </summary>
    private static List<PreRankerFigures> ComparePreRankers(TrainerEnvironment env, RankerGroupSet deep, DataSplit split, float[] deepMain, GbdtModel release,
        PreRankerAlternatives alternatives, int keep, CancellationToken cancellationToken)
    {
        var models = new List<(string Setting, GbdtModel Model)> { (PreRankerSetting.Of(alternatives.Models.PreRanker) + " (release)", release) };
        foreach (var setting in alternatives.Settings)
        {
            cancellationToken.ThrowIfCancellationRequested();
            models.Add((setting.ToString(), RankerRelease.TrainPreRanker(alternatives.Groups.Data, alternatives.Models, setting.Apply(alternatives.Models.PreRanker),
                cancellationToken, alternatives.Groups.PreRankData)));
        }

        var cheap = deep.Data.SelectFeatures(release.FeatureNames);
        var compiled = models.Select(m => PreRankerComparison.Compile(m.Model)).ToList();
        var micros = PreRankerComparison.MedianMicrosecondsPer5000Rows(compiled, cheap.Features, cheap.FeatureCount);
        var figures = new List<PreRankerFigures>();
        for (var m = 0; m < models.Count; m++)
        {
            var pre = new float[deep.Data.RowCount];
            models[m].Model.Score(cheap.Features, pre);
            var alone = Evaluator.Evaluate(Lists(models[m].Setting, deep, pre, null, 0), split, maxK: 10, time: env.Time).At(10).Ndcg;
            var cascade = Evaluator.Evaluate(Lists(models[m].Setting + ", then main", deep, deepMain, pre, keep), split, maxK: 10, time: env.Time).At(10).Ndcg;
            figures.Add(new PreRankerFigures(models[m].Setting, compiled[m].TreeCount, compiled[m].NodeCount, alone, cascade,
                PreRankerComparison.RecallOfMainTop(deep.Data, deepMain, pre, keep, 10), PreRankerComparison.RecallOfMainTop(deep.Data, deepMain, pre, keep, 50),
                micros[m], micros[m] / micros[0], compiled[m].Method));
        }

        return figures;
    }

    /// <summary>Each user's candidates sorted by <paramref name="scores"/> (after keeping the top <paramref name="keep"/> by <paramref name="firstStage"/> when given).</summary>
    private static PrecomputedRecommender Lists(string name, RankerGroupSet set, float[] scores, float[]? firstStage, int keep)
    {
        var lists = new Dictionary<int, int[]>();
        for (var g = 0; g < set.Users.Count; g++)
        {
            var (start, end) = set.Data.Group(g);
            var order = Enumerable.Range(start, end - start).ToList();
            if (firstStage is not null)
            {
                order = [.. order.OrderByDescending(r => firstStage[r]).ThenBy(r => r).Take(keep)];
            }

            lists[set.Users[g]] = [.. order.OrderByDescending(r => scores[r]).ThenBy(r => r).Take(20).Select(r => set.Candidates[g][r - start])];
        }

        return new PrecomputedRecommender(name, lists);
    }

    /// <summary>Mean, standard deviation, minimum and maximum of every column (how the rows looked, for audits and skew checks).</summary>
    private static Dictionary<string, double[]> FeatureStats(RankingDataset data)
    {
        var stats = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (var k = 0; k < data.FeatureCount; k++)
        {
            double sum = 0, squares = 0, min = double.MaxValue, max = double.MinValue;
            for (var r = 0; r < data.RowCount; r++)
            {
                double v = data.Features[(r * data.FeatureCount) + k];
                sum += v;
                squares += v * v;
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }

            var mean = sum / Math.Max(1, data.RowCount);
            stats[data.FeatureNames[k]] = [mean, Math.Sqrt(Math.Max(0, (squares / Math.Max(1, data.RowCount)) - (mean * mean))), min, max];
        }

        return stats;
    }

    private static async IAsyncEnumerable<T> ToAsync<T>(IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            yield return item;
        }

        await Task.CompletedTask;
    }
}
