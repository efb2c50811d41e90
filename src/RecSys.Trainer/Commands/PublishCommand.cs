using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using RecSys.Learning.Ranking;
using RecSys.Learning.Registry;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>
/// <c>trainer publish</c>: registers a trained ranker release folder (as <c>train-rankers --out</c> writes it) in the model
/// registry. Without <c>--rollout</c> it is activated at once (every user, as <c>train-rankers --registry</c> does); with
/// <c>--rollout</c> it stays registered and Ranking's admin API starts its rollout (shadow, canary, ramp), which activates
/// it only if every stage's gates pass.
/// </summary>
public static class PublishCommand
{
    public const string RankingVariable = "services__ranking__http__0";

    public static Command Create(TrainerEnvironment env)
    {
        var release = new Option<string>("--release") { Description = "The trained release folder (holding pre-ranker/, main-ranker/, student/)", Required = true };
        var registryRoot = new Option<string>("--registry") { Description = "The model registry's folder (the data root's models/)", Required = true };
        var version = new Option<string?>("--version") { Description = "Version to register it as (default: the folder's name)" };
        var rollout = new Option<bool>("--rollout") { Description = "Start a gated rollout on Ranking instead of activating it for everyone" };
        var ranking = new Option<string?>("--ranking") { Description = $"Ranking service URL for --rollout (default: ${RankingVariable}); the API key must hold the admin role" };
        var command = new Command("publish", "Register a trained ranker release and activate it, or with --rollout start its gated rollout on Ranking.");
        foreach (var option in new Option[] { release, registryRoot, version, rollout, ranking })
        {
            command.Options.Add(option);
        }

        command.SetAction(env, async (result, cancellationToken) =>
        {
            var source = Path.GetFullPath(result.GetValue(release)!);
            if (!Directory.Exists(source))
            {
                throw new CliException($"--release {source} does not exist.");
            }

            var name = result.GetValue(version) ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(source));
            Uri? rankingUrl = null;
            if (result.GetValue(rollout))
            {
                var url = result.GetValue(ranking) ?? env.GetEnvironmentVariable(RankingVariable);
                if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out rankingUrl) || rankingUrl.Scheme is not ("http" or "https"))
                {
                    throw new CliException($"--rollout needs the Ranking service: --ranking <http url> or ${RankingVariable} (was '{url}').");
                }
            }

            ModelManifest main;
            try
            {
                main = ModelManifest.Read(Path.Combine(source, RecSys.Trainer.Ranking.RankerRelease.MainRankerFolder));
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or JsonException)
            {
                throw new CliException($"{source} is not a ranker release: {ex.Message}");
            }

            var registry = new ModelRegistry(result.GetValue(registryRoot)!, env.Time);
            string target;
            try
            {
                target = registry.FolderFor(ModelKinds.Rankers, name);
            }
            catch (ArgumentException ex)
            {
                throw new CliException($"--version '{name}': {ex.Message}");
            }

            if (registry.Get(ModelKinds.Rankers, name) is not null)
            {
                throw new CliException($"Ranker release '{name}' is already registered; give another --version.");
            }

            if (!string.Equals(Path.TrimEndingDirectorySeparator(target), Path.TrimEndingDirectorySeparator(source), StringComparison.Ordinal))
            {
                if (Directory.Exists(target))
                {
                    throw new CliException($"{target} already exists and is not registered; remove it or give another --version.");
                }

                CopyFolder(source, target);
            }

            var console = env.Console;
            registry.Register(new ModelRegistration(ModelKinds.Rankers, name, main.CreatedAt, new TrainingRange(null, null, 0),
                [.. main.Features.Select(f => new RegistryFeature(f.Name, f.Importance))], main.Metrics));
            if (rankingUrl is null)
            {
                registry.Activate(ModelKinds.Rankers, name);
                console.MarkupLineInterpolated($"registered and activated ranker release {name} in {registry.Root}");
                return ExitCodes.Ok;
            }

            console.MarkupLineInterpolated($"registered ranker release {name} in {registry.Root}; starting its rollout on {rankingUrl} ...");
            using var http = env.CreateHttpClient(rankingUrl, TimeSpan.FromSeconds(30));
            using var response = await http.PostAsJsonAsync("/v1/rollout", new { version = name }, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new CliException($"Ranking refused the rollout of {name} ({(int)response.StatusCode}): {body}", ExitCodes.Rejected);
            }

            using var status = JsonDocument.Parse(body);
            var state = status.RootElement.GetProperty("state").GetString();
            var detail = status.RootElement.TryGetProperty("alert", out var alert) && alert.ValueKind == JsonValueKind.Object
                ? $": {alert.GetProperty("reason").GetString()}"
                : "";
            console.MarkupLineInterpolated($"rollout of {name}: {state}{detail}");
            return string.Equals(state, "RolledBack", StringComparison.OrdinalIgnoreCase) ? ExitCodes.Rejected : ExitCodes.Ok;
        });
        return command;
    }

    private static void CopyFolder(string source, string target)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
    }
}
