using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Trainer.Retraining;

/// <summary>
/// The retraining job's small HTTP face: <c>GET /health</c> (status, reason and last/next run as JSON), <c>GET /alive</c>
/// and <c>POST /run</c> (train now: 202 with the run, or 409 with the run already in progress; admin policy, like the
/// services' admin routes: the host calls <c>AddRecSysSecurity</c> and <c>UseRecSysSecurity</c>).
/// </summary>
public static class RetrainingHost
{
    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";
    public const string RunPath = "/run";

    private static readonly JsonSerializerOptions HealthJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>The scheduler (runs <paramref name="run"/>), its loop as a hosted service and its health check.</summary>
    public static IServiceCollection AddRetraining(this IServiceCollection services, RetrainSchedule schedule, Func<CancellationToken, Task<RunResult>> run)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(run);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new RetrainingScheduler(schedule, run, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RetrainingScheduler>>()));
        services.AddHostedService<ScheduleLoop>();
        services.AddHealthChecks().AddCheck<RetrainingHealthCheck>("retraining");
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase)));
        return services;
    }

    public static IEndpointRouteBuilder MapRetrainingEndpoints(this IEndpointRouteBuilder app)
    {
        // Health is probed without credentials, as on the services; starting a run publishes models, so it is an admin act.
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = WriteHealthAsync }).AllowAnonymous();
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapPost(RunPath, TrainNow)
            .WithName("TrainNow")
            .WithSummary("Starts a retraining run now, unless one is in progress.")
            .RequireAdmin();
        return app;
    }

    internal static Results<Accepted<RunRecord>, Conflict<RunRecord>> TrainNow(RetrainingScheduler scheduler)
    {
        var start = scheduler.TryStart(RunTrigger.Manual);
        return start.Started
            ? TypedResults.Accepted(HealthPath, start.Run)
            : TypedResults.Conflict(start.Run);
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        // One check: its description (the reason when Degraded) and data (last and next run) are the answer.
        var entry = report.Entries.Values.FirstOrDefault();
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new HealthAnswer(
            report.Status.ToString(),
            entry.Description ?? report.Status.ToString(),
            entry.Data.Count > 0 ? entry.Data : null), HealthJson, context.RequestAborted);
    }

    private sealed record HealthAnswer(string Status, string Description, IReadOnlyDictionary<string, object>? Data);

    private sealed class ScheduleLoop(RetrainingScheduler scheduler) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => scheduler.RunAsync(stoppingToken);
    }
}
