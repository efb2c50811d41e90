using System.Collections.Concurrent;
using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using RecSys.Core.Contracts;
using RecSys.Learning.Als;
using RecSys.Learning.Evaluation;
using RecSys.Trainer.Evaluation;
using RecSys.Trainer.Ingestion;
using RecSys.Trainer.Training;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>
/// <c>evaluate</c>: most-popular, item-kNN, EASE and ALS scored by the same evaluator on a per-user temporal and/or random
/// split (model-only); with <c>--e2e</c> also the lists a running system serves after importing the training part.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create(TrainerEnvironment env)
    {
        var inputs = new TrainingInputOptions();
        var als = new AlsOptionSet();
        var output = new Option<string>("--out") { Description = "Folder for report.md, report.json and the SVG plots", Required = true };
        var splitKind = new Option<string>("--split") { Description = "temporal, random or both", DefaultValueFactory = _ => "both" };
        splitKind.AcceptOnlyFromAmong("temporal", "random", "both");
        var holdout = new Option<double>("--holdout") { Description = "Share of each user's interactions held out (0..1)", DefaultValueFactory = _ => 0.2 };
        var splitSeed = new Option<long>("--split-seed") { Description = "Seed of the random split", DefaultValueFactory = _ => 1 };
        var maxK = new Option<int>("--max-k") { Description = "Curves are computed for k = 1..max-k (>= 20)", DefaultValueFactory = _ => 50 };
        var easeItems = new Option<int>("--ease-items") { Description = "EASE uses the most popular N items (its inverse is N x N)", DefaultValueFactory = _ => 5_000 };
        var easeLambda = new Option<float>("--ease-lambda") { Description = "EASE regularization", DefaultValueFactory = _ => 500f };
        var knn = new Option<int>("--knn") { Description = "Neighbours per item of item-kNN", DefaultValueFactory = _ => 100 };
        var recommenders = new Option<string>("--recommenders")
        {
            Description = "Comma-separated subset of most-popular, item-knn, ease, als",
            DefaultValueFactory = _ => string.Join(',', AllRecommenders),
        };
        var e2e = new Option<bool>("--e2e") { Description = "Also evaluate a running (fresh) system on the first split (temporal unless --split random): import the training part, train and publish, ask /v1/recommendations" };
        var ranking = new Option<string?>("--ranking") { Description = "Ranking service URL (with --e2e)" };
        var featureServer = new Option<string?>("--featureserver") { Description = "FeatureServer URL of the system under test (with --e2e; a fresh system)" };
        var retrieval = new Option<string?>("--retrieval") { Description = $"Retrieval service URL (with --e2e; default: ${SeedCommand.RetrievalVariable})" };
        var rankersRegistry = new Option<string?>("--rankers-registry") { Description = "With --e2e: the system's model registry (<data root>/models); the ranker release is trained on the imported events (train-rankers), activated there, and the test users are asked once Ranking serves it" };
        var rankersOptions = new Option<string?>("--rankers-options") { Description = "With --rankers-registry: extra train-rankers options, space separated (e.g. \"--as-of data-end --windows 3\")" };
        var timeBase = new Option<string>("--e2e-time")
        {
            Description = "With --e2e: event times as imported. shift-to-now (default) moves every training event by one whole number of days so that the latest is within the day before the import's start "
                + "(a historic log replayed as if it had just happened: serving at wall-clock time then reads the same time windows training reads at the data's end); "
                + "original keeps the log's own times",
            DefaultValueFactory = _ => "shift-to-now",
        };
        timeBase.AcceptOnlyFromAmong("shift-to-now", "original");
        var command = new Command("evaluate", "Offline evaluation: baselines and ALS on per-user splits (and, with --e2e, the running system), as Markdown, JSON and SVG.");
        inputs.AddTo(command);
        als.AddTo(command);
        foreach (var option in new Option[] { output, recommenders, splitKind, holdout, splitSeed, maxK, easeItems, easeLambda, knn, e2e, ranking, featureServer, retrieval, rankersRegistry, rankersOptions, timeBase })
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

            var k = result.GetValue(maxK);
            if (k is < 20 or > 1_000)
            {
                throw new CliException("--max-k must be between 20 and 1,000.");
            }

            if (result.GetValue(easeItems) < 1 || result.GetValue(knn) < 1 || !(result.GetValue(easeLambda) > 0))
            {
                throw new CliException("--ease-items and --knn must be at least 1, --ease-lambda above 0.");
            }

            if (result.GetValue(splitSeed) < 0)
            {
                throw new CliException("--split-seed must be 0 or more.");
            }

            var chosen = result.GetValue(recommenders)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            if (chosen.Count == 0 || chosen.FirstOrDefault(r => !AllRecommenders.Contains(r)) is { } unknown)
            {
                throw new CliException($"--recommenders takes a comma-separated subset of {string.Join(", ", AllRecommenders)}.");
            }

            EndToEndTargets? targets = null;
            if (result.GetValue(e2e))
            {
                var rankingUrl = result.GetValue(ranking) ?? throw new CliException("--e2e needs --ranking <url>.");
                var featureServerUrl = result.GetValue(featureServer) ?? throw new CliException("--e2e needs --featureserver <url>.");
                var retrievalUrl = result.GetValue(retrieval) ?? env.GetEnvironmentVariable(SeedCommand.RetrievalVariable)
                    ?? throw new CliException($"--e2e needs --retrieval <url> (or ${SeedCommand.RetrievalVariable}) to publish the trained vectors.");
                targets = new EndToEndTargets(TargetResolver.Parse(rankingUrl), TargetResolver.Parse(featureServerUrl), TargetResolver.Parse(retrievalUrl))
                {
                    RankersRegistry = result.GetValue(rankersRegistry),
                    RankersOptions = result.GetValue(rankersOptions)?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [],
                    ShiftToNow = result.GetValue(timeBase) == "shift-to-now",
                };
            }
            else if (result.GetValue(ranking) is not null || result.GetValue(featureServer) is not null)
            {
                throw new CliException("--ranking and --featureserver are for --e2e.");
            }

            var outDir = result.GetValue(output)!;
            var console = env.Console;
            console.MarkupLineInterpolated($"evaluating on {source.Describe()}");
            var data = await ProgressRunner.RunAsync(env, async progress =>
            {
                var phase = progress.StartPhase("events", null);
                var loaded = await TrainingData.LoadAsync(
                    TrainingReader.Events(source, window, env, cancellationToken), null, interactionOptions, window, keepEvents: targets is not null, phase.Advance, cancellationToken);
                phase.Complete();
                return loaded;
            });
            TrainCommand.PrintData(console, data.Stats);
            if (data.Interactions.Count == 0)
            {
                throw new CliException("No interactions to evaluate on (no positive events in the input).");
            }

            var kind = result.GetValue(splitKind);
            var splits = new List<DataSplit>();
            if (kind is "temporal" or "both")
            {
                splits.Add(DataSplit.Temporal(data.Interactions, data.Users.Count, data.Items.Count, fraction));
            }

            if (kind is "random" or "both")
            {
                splits.Add(DataSplit.Random(data.Interactions, data.Users.Count, data.Items.Count, (ulong)result.GetValue(splitSeed), fraction));
            }

            var reports = new List<EvaluationReport>();
            foreach (var split in splits)
            {
                if (split.TestInteractions == 0)
                {
                    throw new CliException($"The {split.Name} split holds nothing out: users need at least 2 interactions.");
                }

                console.MarkupLineInterpolated($"split {split.Name}: {split.Train.InteractionCount:N0} training, {split.TestInteractions:N0} held-out interactions");
                var fitters = new List<Func<IRecommender>>();
                if (chosen.Contains("most-popular"))
                {
                    fitters.Add(() => new MostPopularRecommender(split.Train));
                }

                if (chosen.Contains("item-knn"))
                {
                    fitters.Add(() => new ItemKnnRecommender(split.Train, result.GetValue(knn)));
                }

                if (chosen.Contains("ease"))
                {
                    fitters.Add(() => new EaseRecommender(split.Train, result.GetValue(easeLambda), result.GetValue(easeItems)));
                }

                if (chosen.Contains("als"))
                {
                    fitters.Add(() => new FactorRecommender(new AlsTrainer(alsOptions, env.Time).Train(split.Train, cancellationToken: cancellationToken), split.Train,
                        string.Create(CultureInfo.InvariantCulture, $"als(d={alsOptions.Dimension}, alpha={alsOptions.Alpha}, lambda={alsOptions.Regularization}, {alsOptions.Epochs} epochs)")));
                }

                var report = await Task.Run(() => Evaluator.Run(source.Describe(), split, fitters, k, env.Time), cancellationToken);

                if (targets is not null && ReferenceEquals(split, splits[0]))
                {
                    var served = await EndToEndAsync(env, source, data, split, targets, interactionOptions, alsOptions, Path.Combine(outDir, "e2e-model"), cancellationToken);
                    report = report with { Recommenders = [.. report.Recommenders, served] };
                }

                reports.Add(report);
                console.Write(new Markup(Markup.Escape(report.ToMarkdown(10))));
            }

            var parameters = AlsOptionSet.Describe(alsOptions, interactionOptions, null).ToDictionary();
            parameters["holdout"] = fraction.ToString(CultureInfo.InvariantCulture);
            parameters["maxK"] = k.ToString(CultureInfo.InvariantCulture);
            parameters["easeItems"] = result.GetValue(easeItems).ToString(CultureInfo.InvariantCulture);
            parameters["easeLambda"] = result.GetValue(easeLambda).ToString(CultureInfo.InvariantCulture);
            parameters["knn"] = result.GetValue(knn).ToString(CultureInfo.InvariantCulture);
            var files = EvaluationOutput.Write(outDir, new EvaluationRun(source.Describe(), env.Time.GetUtcNow(), parameters, reports));
            console.MarkupLineInterpolated($"wrote {files.Count} files to {outDir} ({EvaluationOutput.MarkdownFile}, {EvaluationOutput.JsonFile}, plots)");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static readonly string[] AllRecommenders = ["most-popular", "item-knn", "ease", "als"];

    /// <summary>Waits (up to 5 minutes) until Ranking answers with <paramref name="release"/> as its ranker version.</summary>
    private static async Task WaitForReleaseAsync(TrainerEnvironment env, Uri ranking, string release, CancellationToken cancellationToken)
    {
        // With the API key: Ranking answers 401 without one, and the wait would only time out.
        using var http = env.CreateHttpClient(ranking, env.Retry.RequestTimeout);
        var deadline = env.Time.GetUtcNow() + TimeSpan.FromMinutes(5);
        string? serving = null;
        while (env.Time.GetUtcNow() < deadline)
        {
            try
            {
                var response = await http.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/e2e-probe?count=1", JsonDefaults.Options, cancellationToken);
                serving = response?.Metadata.RankerVersion;
                if (serving == release)
                {
                    env.Console.MarkupLineInterpolated($"end-to-end: Ranking serves ranker release {release}");
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException)
            {
                serving = ex.Message;
            }

            await Task.Delay(TimeSpan.FromSeconds(2), env.Time, cancellationToken);
        }

        throw new CliException($"Ranking did not serve ranker release {release} within 5 minutes (last: {serving}); is its Ranking:Models:Path the registry's rankers folder?", ExitCodes.Timeout);
    }

    private sealed record EndToEndTargets(Uri Ranking, Uri FeatureServer, Uri Retrieval)
    {
        public string? RankersRegistry { get; init; }

        public IReadOnlyList<string> RankersOptions { get; init; } = [];

        /// <summary>Shift the imported events by whole days so that the latest is within the day before the import's start (see <c>--e2e-time</c>).</summary>
        public bool ShiftToNow { get; init; } = true;
    }

    /// <summary>
    /// The events moved by one constant so that the latest is within the day before <paramref name="now"/>: their order and
    /// the gaps between them are kept. The constant is a whole number of days, so every event keeps its time of day and falls
    /// in the same day bucket of the store's 7- and 30-day windows relative to the others in every run (a shift by the import's
    /// exact start moved those boundaries, and with them the window features and the trained rankers, from run to run).
    /// Events without a time are left as they are (the system stamps them on arrival).
    /// </summary>
    internal static (List<EventDto> Events, TimeSpan Shift) ShiftedToNow(IReadOnlyList<EventDto> events, DateTimeOffset now)
    {
        var latest = events.Where(e => e.EventTime is not null).Select(e => e.EventTime!.Value).DefaultIfEmpty(now).Max();
        var shift = TimeSpan.FromDays(Math.Floor((now - latest).TotalDays));
        return ([.. events.Select(e => e.EventTime is { } t ? e with { EventTime = t + shift } : e)], shift);
    }

    /// <summary>
    /// Imports the split's training part into the system (items, then the training events), waits for the stream processor,
    /// trains from the system's own export and publishes, then asks the ranking service for every test user's 20 items.
    /// </summary>
    private static async Task<RecommenderScore> EndToEndAsync(
        TrainerEnvironment env,
        TrainingSource source,
        TrainingData data,
        DataSplit split,
        EndToEndTargets targets,
        InteractionOptions interactionOptions,
        AlsOptions alsOptions,
        string modelDirectory,
        CancellationToken cancellationToken)
    {
        var console = env.Console;
        var events = data.Events ?? throw new InvalidOperationException("The events were not kept.");
        // Sent in time order, as a live system receives them: the ingestion watermark then follows the event times, so
        // that point-in-time reads of the offline store (the rankers' training set) see each value from its own time.
        var trainEvents = events.Where((_, i) => split.InTrain[i]).OrderBy(e => e.EventTime ?? DateTimeOffset.MinValue).ToList();
        if (targets.ShiftToNow)
        {
            // A historic log served at wall-clock time would see every time window (7/30 days, decayed popularity,
            // session) empty while training read them at the data's end: replay it as if it had just happened.
            (trainEvents, var shift) = ShiftedToNow(trainEvents, env.Time.GetUtcNow());
            console.MarkupLineInterpolated($"end-to-end: event times shifted by {shift.TotalDays:N1} days (whole days) so that the latest training event is within the last day (--e2e-time shift-to-now)");
        }

        console.MarkupLineInterpolated($"end-to-end: importing {trainEvents.Count:N0} training events into {targets.FeatureServer}");
        var client = env.CreateClient(targets.FeatureServer);
        var results = await ProgressRunner.RunAsync(env, async progress =>
        {
            // One request in flight: with several, the batches reach the log in a different order each run, and the
            // backfill's knowledge times (the log's watermark on arrival) with them, so the training sets would differ.
            var sink = new HttpRecordSink(env.CreateClient(targets.FeatureServer, progress), new SendOptions { OnError = OnErrorMode.Stop, Concurrency = 1 });
            var list = new List<SendResult>();
            if (TrainingReader.Items(source, env, cancellationToken) is { } items)
            {
                var all = new List<ItemDto>();
                await foreach (var item in items.WithCancellation(cancellationToken))
                {
                    all.Add(item);
                }

                list.Add(await sink.SendItemsAsync(all, progress.StartPhase("items", all.Count), cancellationToken));
            }

            list.Add(await sink.SendEventsAsync(trainEvents, progress.StartPhase("events", trainEvents.Count), cancellationToken));
            return list;
        });
        if (results.Any(r => r.Stopped || r.Rejected > 0))
        {
            Summary.Print(console, $"import into {targets.FeatureServer}", results);
            throw new CliException("The system refused part of the training data; the end-to-end evaluation would be meaningless.", ExitCodes.Rejected);
        }

        var deadline = env.Time.GetUtcNow() + TimeSpan.FromMinutes(10);
        while (await client.GetStatusAsync(cancellationToken) is { } status && status.ProcessedPosition < status.LogTail)
        {
            if (env.Time.GetUtcNow() > deadline)
            {
                throw new CliException($"The FeatureServer's stream processor is still behind after 10 minutes ({status.ProcessedPosition:N0} of {status.LogTail:N0}).", ExitCodes.Timeout);
            }

            await Task.Delay(env.PollInterval, env.Time, cancellationToken);
        }

        var manifest = await TrainCommand.RunAsync(env, new FeatureServerSource(targets.FeatureServer), ExportWindowFilter.All, interactionOptions,
            new TrainSettings { Als = alsOptions, MetricsHoldout = null }, modelDirectory,
            new RetrievalIndexPublisher(env.CreateClient(targets.Retrieval), env.Time, env.PollInterval), cancellationToken);

        string? rankers = null;
        if (targets.RankersRegistry is { } registry)
        {
            rankers = "e2e-rankers-" + env.Time.GetUtcNow().ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);
            // The log was imported at once: a backfill makes its values known from their own times (see train-rankers --backfill).
            string[] line = ["train-rankers", "--target", targets.FeatureServer.ToString(), "--registry", registry, "--version", rankers, "--backfill",
                "--dim", alsOptions.Dimension.ToString(System.Globalization.CultureInfo.InvariantCulture), .. targets.RankersOptions];
            var code = await TrainerCli.InvokeNestedAsync(env, line, cancellationToken);
            if (code != ExitCodes.Ok)
            {
                throw new CliException($"train-rankers exited with code {code}.", code);
            }

            await WaitForReleaseAsync(env, targets.Ranking, rankers, cancellationToken);
        }

        var testUsers = Enumerable.Range(0, split.Test.Count).Where(u => split.Test[u].Length > 0).ToList();
        console.MarkupLineInterpolated($"end-to-end: asking {targets.Ranking} for {testUsers.Count:N0} users' recommendations");
        using var http = env.CreateHttpClient(targets.Ranking, env.Retry.RequestTimeout);
        var lists = new ConcurrentDictionary<int, int[]>();
        var failures = 0;
        var unknown = 0;
        string? lastFailure = null;
        // What the lists were made of, for the report: degraded parts (a source past its timeout, a fallback ranker), the
        // sources of the items in each top 10, and the models that ranked.
        var degraded = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var topSources = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var rankedBy = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        // One request at a time: the figure is the quality of the whole pipeline, not of a loaded service (on a small machine,
        // four in flight push Ranking's p99 over its target, and its candidate budget then serves fewer candidates).
        await Parallel.ForEachAsync(testUsers, new ParallelOptions { MaxDegreeOfParallelism = 1, CancellationToken = cancellationToken }, async (user, ct) =>
        {
            var id = Uri.EscapeDataString(data.Users.IdAt(user));
            try
            {
                var response = await http.GetFromJsonAsync<RecommendationResponse>($"/v1/recommendations/{id}?count=20", JsonDefaults.Options, ct);
                var items = new List<int>();
                foreach (var reason in response?.Metadata.Degraded ?? [])
                {
                    degraded.AddOrUpdate(reason, 1, (_, n) => n + 1);
                }

                var model = response?.Metadata.Models is { } models && models.TryGetValue("student", out var student) ? "student " + student
                    : response?.Metadata.Models is { } m && m.TryGetValue("main-ranker", out var main) ? "main-ranker " + main : "fused score";
                rankedBy.AddOrUpdate(model, 1, (_, n) => n + 1);
                foreach (var source in (response?.Items ?? []).Take(10).SelectMany(i => i.Sources))
                {
                    topSources.AddOrUpdate(source, 1, (_, n) => n + 1);
                }

                foreach (var item in response?.Items ?? [])
                {
                    // An item without interactions in the data cannot be relevant and has no index in the evaluator: it is
                    // left out (and counted), which moves later items up by one place.
                    if (data.Items.TryGetIndex(item.ItemId, out var index))
                    {
                        items.Add(index);
                    }
                    else
                    {
                        Interlocked.Increment(ref unknown);
                    }
                }

                lists[user] = [.. items];
            }
            catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException)
            {
                Interlocked.Increment(ref failures);
                lastFailure = ex.Message;
            }
        });
        if (failures == testUsers.Count)
        {
            throw new CliException($"GET /v1/recommendations failed for every user ({lastFailure}).", ExitCodes.Unreachable);
        }

        if (failures > 0)
        {
            console.MarkupLineInterpolated($"[yellow]{failures:N0} of {testUsers.Count:N0} recommendation requests failed (scored as empty lists); last: {lastFailure}[/]");
        }

        console.MarkupLineInterpolated($"ranked by: {string.Join(", ", rankedBy.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:N0}"))}; degraded: {(degraded.IsEmpty ? "none" : string.Join(", ", degraded.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:N0}")))}");
        console.MarkupLineInterpolated($"sources of the served top-10 items (an item may have several): {string.Join(", ", topSources.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:N0}"))}");
        if (unknown > 0)
        {
            console.MarkupLineInterpolated($"{unknown:N0} served items had no interaction in the data (cold items) and were left out of the scored lists");
        }

        var recommender = new PrecomputedRecommender($"end-to-end /v1/recommendations (embeddings {manifest?.Version}{(rankers is null ? "" : ", rankers " + rankers)})", lists);
        return Evaluator.Evaluate(recommender, split, maxK: 20, time: env.Time);
    }
}
