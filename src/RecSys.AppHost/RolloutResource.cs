using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RecSys.AppHost;

/// <summary>The model rollout of the Ranking service, shown as a dashboard resource.</summary>
internal sealed class RolloutResource(string name) : Resource(name);

/// <summary>
/// The <c>rollout</c> resource: its state is the Ranking service's <c>GET /v1/rollout</c> (state, stage, candidate share,
/// gates, per-version requests, error rate, latency and CTR), refreshed every few seconds; a rollback shows as an error
/// state with the failed gate and reason. Commands call Ranking's admin API with the admin key: start (the newest
/// registered release that is neither active nor failed), promote (when the stage's gates pass) and roll back.
/// </summary>
internal static partial class RolloutResourceExtensions
{
    public const string Name = "rollout";
    public const string StartCommand = "rollout-start";
    public const string PromoteCommand = "rollout-promote";
    public const string RollbackCommand = "rollout-rollback";

    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);

    public static IResourceBuilder<RolloutResource> AddRollout(this IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> ranking, IResourceBuilder<ParameterResource> adminKey)
    {
        var endpoint = ranking.GetEndpoint("http");
        var client = new RankingAdminClient(endpoint, adminKey.Resource);
        var rollout = builder.AddResource(new RolloutResource(Name))
            .WithParentRelationship(ranking)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "Rollout",
                State = new ResourceStateSnapshot("Waiting for ranking", KnownResourceStateStyles.Info),
                Properties = [],
            })
            .WithCommand(StartCommand, "Start rollout", async context =>
                {
                    using var models = await client.SendAsync(HttpMethod.Get, "/v1/models", null, context.CancellationToken);
                    var list = JsonDocument.Parse(await models.Content.ReadAsStringAsync(context.CancellationToken)).RootElement;
                    if (!models.IsSuccessStatusCode || list.ValueKind != JsonValueKind.Array)
                    {
                        return CommandResults.Failure($"GET /v1/models answered {(int)models.StatusCode}: {list}");
                    }

                    var candidate = list.EnumerateArray()
                        .Where(m => m.GetProperty("state").GetString()?.ToLowerInvariant() is "available" or "previous")
                        .OrderByDescending(m => m.GetProperty("registeredAt").GetDateTimeOffset())
                        .Select(m => m.GetProperty("version").GetString())
                        .FirstOrDefault();
                    if (candidate is null)
                    {
                        return CommandResults.Failure("No registered ranker release to roll out: train one (the retrain resource's \"Train now\", or trainer publish).");
                    }

                    return await client.CommandAsync("/v1/rollout", new { version = candidate }, $"Rolling out {candidate}", context.CancellationToken);
                },
                new CommandOptions { Description = "Roll out the newest registered ranker release, starting in shadow", IconName = "Rocket", IsHighlighted = true })
            .WithCommand(PromoteCommand, "Promote rollout", context => client.CommandAsync("/v1/rollout/promote", new { }, "Promoted", context.CancellationToken),
                new CommandOptions { Description = "Advance the rollout one stage (only when the stage's gates pass)", IconName = "ArrowForward" })
            .WithCommand(RollbackCommand, "Roll back rollout", context => client.CommandAsync("/v1/rollout/rollback", new { reason = "rolled back from the dashboard" }, "Rolled back", context.CancellationToken),
                new CommandOptions
                {
                    Description = "Send every user back to production now and mark the candidate failed",
                    IconName = "ArrowUndo",
                    ConfirmationMessage = "Roll the running rollout back? The candidate is marked failed in the model registry.",
                });
        builder.Services.AddHostedService(sp => new RolloutMonitor(rollout.Resource, client, sp.GetRequiredService<ResourceNotificationService>(),
            sp.GetRequiredService<ILogger<RolloutMonitor>>()));
        return rollout;
    }

    /// <summary>The dashboard state of a <c>GET /v1/rollout</c> answer: text, style and properties.</summary>
    internal static (string State, string Style, List<ResourcePropertySnapshot> Properties) Describe(JsonElement status)
    {
        // Ranking writes the state's enum names (Running, RolledBack...); compared without case.
        var state = status.GetProperty("state").GetString()?.ToLowerInvariant() ?? "idle";
        var rollout = status.TryGetProperty("rollout", out var r) && r.ValueKind == JsonValueKind.Object ? r : (JsonElement?)null;
        var stage = rollout?.GetProperty("stage").GetString();
        var percent = status.GetProperty("candidatePercent").GetDouble();
        var properties = new List<ResourcePropertySnapshot>
        {
            new("rollout.production", Text(status, "productionVersion")),
            new("rollout.candidate", rollout is { } c ? Text(c, "candidateVersion") : ""),
            new("rollout.stage", stage ?? ""),
            new("rollout.candidatePercent", percent.ToString(CultureInfo.InvariantCulture)),
        };
        foreach (var arm in new[] { "production", "candidate" })
        {
            if (status.TryGetProperty(arm, out var m) && m.ValueKind == JsonValueKind.Object)
            {
                properties.Add(new($"{arm}.requests", Text(m, "requests")));
                properties.Add(new($"{arm}.errorRate", Text(m, "errorRate")));
                properties.Add(new($"{arm}.latencyTailMs", Text(m, "latencyTailMs")));
                properties.Add(new($"{arm}.ctr", Text(m, "ctr")));
                properties.Add(new($"{arm}.impressions", Text(m, "impressions")));
            }
        }

        if (status.TryGetProperty("gates", out var gates) && gates.ValueKind == JsonValueKind.Array)
        {
            foreach (var gate in gates.EnumerateArray())
            {
                properties.Add(new($"gate.{Text(gate, "gate")}", $"{Text(gate, "verdict")}: {Text(gate, "detail")}"));
            }
        }

        if (status.TryGetProperty("alert", out var alert) && alert.ValueKind == JsonValueKind.Object)
        {
            properties.Add(new("rollout.alert", $"{Text(alert, "version")} rolled back in {Text(alert, "stage")}, gate {Text(alert, "gate")}: {Text(alert, "reason")}"));
        }

        return state switch
        {
            "rolledback" => ($"Rolled back: {(rollout is { } rb ? Text(rb, "reason") : "")}", KnownResourceStateStyles.Error, properties),
            "completed" => ($"Completed: {Text(status, "productionVersion")} serves", KnownResourceStateStyles.Success, properties),
            "running" or "readytopromote" => (string.Create(CultureInfo.InvariantCulture, $"{stage} ({percent:0.##} %){(state == "readytopromote" ? ", ready to promote" : "")}"), KnownResourceStateStyles.Info, properties),
            _ => ("Idle", KnownResourceStateStyles.Info, properties),
        };
    }

    private static string Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString() ?? "",
            JsonValueKind.Null or JsonValueKind.Undefined => "",
            _ => value.GetRawText(),
        } : "";

    /// <summary>Ranking's admin API with the admin key.</summary>
    internal sealed class RankingAdminClient(EndpointReference endpoint, ParameterResource adminKey)
    {
        private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

        public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
        {
            var baseUrl = await endpoint.GetValueAsync(cancellationToken) ?? throw new InvalidOperationException("The ranking endpoint is not allocated yet.");
            using var request = new HttpRequestMessage(method, new Uri(new Uri(baseUrl), path));
            request.Headers.Add("X-Api-Key", await adminKey.GetValueAsync(cancellationToken));
            if (body is not null)
            {
                request.Content = JsonContent.Create(body);
            }

            return await Http.SendAsync(request, cancellationToken);
        }

        public async Task<ExecuteCommandResult> CommandAsync(string path, object body, string done, CancellationToken cancellationToken)
        {
            try
            {
                using var response = await SendAsync(HttpMethod.Post, path, body, cancellationToken);
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    return CommandResults.Failure($"{path} answered {(int)response.StatusCode}: {ProblemDetail(text)}");
                }

                var (state, _, _) = Describe(JsonDocument.Parse(text).RootElement);
                return CommandResults.Success($"{done}: {state}");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException or JsonException)
            {
                return CommandResults.Failure($"Ranking did not answer {path}: {ex.Message}");
            }
        }

        private static string ProblemDetail(string body)
        {
            try
            {
                var problem = JsonDocument.Parse(body).RootElement;
                var sb = new StringBuilder(Text(problem, "detail"));
                if (problem.TryGetProperty("errors", out var errors))
                {
                    sb.Append(errors.GetRawText());
                }

                return sb.Length > 0 ? sb.ToString() : body;
            }
            catch (JsonException)
            {
                return body;
            }
        }
    }

    /// <summary>Refreshes the resource's state from Ranking every few seconds.</summary>
    internal sealed partial class RolloutMonitor(RolloutResource resource, RankingAdminClient client, ResourceNotificationService notifications, ILogger<RolloutMonitor> logger)
        : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            string? lastError = null;
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(RefreshInterval, stoppingToken);
                    using var response = await client.SendAsync(HttpMethod.Get, "/v1/rollout", null, stoppingToken);
                    var text = await response.Content.ReadAsStringAsync(stoppingToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        await notifications.PublishUpdateAsync(resource, s => s with
                        {
                            State = new ResourceStateSnapshot($"Unavailable ({(int)response.StatusCode})", KnownResourceStateStyles.Warn),
                        });
                        continue;
                    }

                    var (state, style, properties) = Describe(JsonDocument.Parse(text).RootElement);
                    await notifications.PublishUpdateAsync(resource, s => s with
                    {
                        State = new ResourceStateSnapshot(state, style),
                        Properties = [.. properties],
                    });
                    lastError = null;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException or JsonException)
                {
                    // Ranking is starting or restarting: say so once, not every few seconds.
                    if (lastError != ex.Message)
                    {
                        LogUnavailable(logger, ex.Message);
                        lastError = ex.Message;
                    }
                }
            }
        }

        [LoggerMessage(Level = LogLevel.Debug, Message = "The rollout status is not available yet: {Reason}")]
        private static partial void LogUnavailable(ILogger logger, string reason);
    }
}
