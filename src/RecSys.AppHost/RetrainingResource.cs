using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RecSys.AppHost;

/// <summary>
/// The retraining resource: the Trainer's <c>retrain</c> mode, which runs <c>train --publish</c> on a schedule. Two health
/// checks (the endpoint answers; the last run did not fail, else Degraded with the reason) and two dashboard commands
/// ("Train now", POST /run; "Retraining status", the /health answer).
/// </summary>
internal static class RetrainingResource
{
    public const string Name = "retrain";
    public const string TrainNowCommand = "train-now";
    public const string StatusCommand = "retrain-status";
    public const string EndpointName = "http";

    private static readonly HttpClient StatusClient = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <param name="adminKey">Sent by the "Train now" command: <c>POST /run</c> needs the admin policy.</param>
    public static IResourceBuilder<ProjectResource> AddRetraining(
        this IDistributedApplicationBuilder builder, RetrainingSettings settings, IResourceBuilder<ParameterResource> adminKey)
    {
        var retrain = builder.AddProject<Projects.RecSys_Trainer>(Name)
            .WithArgs([.. settings.Arguments])
            .WithHttpEndpoint(name: EndpointName)
            .WithHttpHealthCheck("/alive", endpointName: EndpointName);
        retrain.WithLastRunHealthCheck()
            .WithHttpCommand("/run", "Train now", endpointName: EndpointName, commandName: TrainNowCommand, commandOptions: new HttpCommandOptions
            {
                Method = HttpMethod.Post,
                Description = "Retrain and publish now (POST /run). The run's progress is in the console log, its outcome in the health checks.",
                IconName = "BrainCircuit",
                IsHighlighted = true,
                PrepareRequest = async context =>
                    context.Request.Headers.Add(RecSys.ServiceDefaults.Security.ApiKeyAuthenticationHandler.HeaderName, await adminKey.Resource.GetValueAsync(context.CancellationToken)),
                GetCommandResult = async context =>
                {
                    var body = await context.Response.Content.ReadAsStringAsync(context.CancellationToken);
                    return TrainNowResult(context.Response.StatusCode, body);
                },
            })
            .WithHttpCommand("/health", "Retraining status", endpointName: EndpointName, commandName: StatusCommand, commandOptions: new HttpCommandOptions
            {
                Method = HttpMethod.Get,
                Description = "The last and the next run, and the reason of the last failure",
                IconName = "Clock",
                ResultMode = HttpCommandResultMode.Json,
            });
        return retrain;
    }

    /// <summary>What "Train now" shows: the run that started, or the one in the way.</summary>
    internal static ExecuteCommandResult TrainNowResult(HttpStatusCode status, string body)
    {
        var run = TryParse(body);
        var number = run?.TryGetProperty("number", out var n) == true ? n.ToString() : "?";
        var since = run?.TryGetProperty("startedAt", out var s) == true ? s.ToString() : "?";
        return status switch
        {
            HttpStatusCode.Accepted => CommandResults.Success($"Run {number} started at {since}: it shows in the health checks when it ends."),
            HttpStatusCode.Conflict => CommandResults.Failure($"Run {number} has been in progress since {since}: runs never overlap."),
            _ => CommandResults.Failure($"POST /run answered {(int)status} {status}."),
        };
    }

    /// <summary>The answer of the Trainer's <c>/health</c> as a health result: Degraded (with the reason) after a failed run.</summary>
    internal static HealthCheckResult LastRunHealth(HttpStatusCode status, string body)
    {
        var answer = TryParse(body);
        var description = answer?.TryGetProperty("description", out var d) == true ? d.GetString() : null;
        var reported = answer?.TryGetProperty("status", out var s) == true ? s.GetString() : null;
        if (status != HttpStatusCode.OK || description is null)
        {
            return HealthCheckResult.Unhealthy(string.Create(CultureInfo.InvariantCulture, $"GET /health answered {(int)status}: {description ?? "no retraining status"}"));
        }

        return reported switch
        {
            nameof(HealthStatus.Healthy) => HealthCheckResult.Healthy(description),
            nameof(HealthStatus.Degraded) => HealthCheckResult.Degraded(description),
            _ => HealthCheckResult.Unhealthy(description),
        };
    }

    /// <summary>Reads the Trainer's own health answer, so that the dashboard shows its status and reason rather than "200 OK".</summary>
    private static IResourceBuilder<ProjectResource> WithLastRunHealthCheck(this IResourceBuilder<ProjectResource> retrain)
    {
        var endpoint = retrain.GetEndpoint(EndpointName);
        var key = $"{Name}_last_run";
        retrain.ApplicationBuilder.Services.AddHealthChecks().AddAsyncCheck(key, async cancellationToken =>
        {
            try
            {
                using var response = await StatusClient.GetAsync(new Uri(new Uri(endpoint.Url), "/health"), cancellationToken);
                return LastRunHealth(response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
            }
            catch (HttpRequestException ex)
            {
                return HealthCheckResult.Unhealthy("The retraining endpoint does not answer.", ex);
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy("The retraining endpoint did not answer in time.", ex);
            }
        });
        return retrain.WithHealthCheck(key);
    }

    private static JsonElement? TryParse(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object ? document.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
