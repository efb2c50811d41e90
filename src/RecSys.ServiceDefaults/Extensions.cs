using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RecSys.ServiceDefaults.Telemetry;

namespace RecSys.ServiceDefaults;

/// <summary>
/// What every RecSys service shares: OpenTelemetry, health checks, service discovery, resilient HttpClients,
/// Problem Details for every error and bounded request bodies.
/// </summary>
public static class Extensions
{
    private const string HealthEndpointPath = "/health";
    private const string AlivenessEndpointPath = "/alive";

    private const string PollyLogCategory = "Polly";

    private static readonly JsonSerializerOptions HealthJson = new(JsonSerializerDefaults.Web);

    /// <summary>Default cap on request bodies; a batch endpoint may raise it.</summary>
    public const long DefaultMaxRequestBodyBytes = 16 * 1024 * 1024;

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        builder.Services.AddProblemDetails(options =>
            options.CustomizeProblemDetails = ctx =>
            {
                ctx.ProblemDetails.Extensions.TryAdd("traceId", Activity.Current?.Id ?? ctx.HttpContext.TraceIdentifier);
            });
        builder.Services.Configure<KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = DefaultMaxRequestBodyBytes);

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        // Polly's resilience telemetry logs every HTTP attempt at Information ("Execution attempt", one line per outgoing call),
        // which at a few hundred requests per second is most of what the console (read by DCP) and the dashboard receive.
        // Failed and retried attempts log at Warning and still pass. A service's own Logging:LogLevel:Polly wins.
        if (builder.Configuration[$"Logging:LogLevel:{PollyLogCategory}"] is null)
        {
            builder.Logging.AddFilter(PollyLogCategory, LogLevel.Warning);
        }

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOptionsWithValidateOnStart<TelemetryOptions, TelemetryOptionsValidator>().BindConfiguration(TelemetryOptions.SectionName);
        // The trace sampler's clock, and the services' (AddServiceDefaults calls this first).
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("RecSys.*"))
            .WithTracing(tracing => tracing
                // Set in code, so it also wins over the OTEL_TRACES_SAMPLER=always_on an AppHost passes.
                .SetSampler(sp => new ParentBasedSampler(new TraceBudgetSampler(
                    sp.GetRequiredService<IOptions<TelemetryOptions>>().Value.TracesPerSecond,
                    sp.GetRequiredService<TimeProvider>())))
                .AddSource(builder.Environment.ApplicationName)
                .AddSource("RecSys.*")
                .AddAspNetCoreInstrumentation(o =>
                    o.Filter = ctx => !ctx.Request.Path.StartsWithSegments(HealthEndpointPath)
                        && !ctx.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (every check: the service and its dependencies) and <c>/alive</c> (liveness only),
    /// and turns every unhandled error and bad request into Problem Details.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Orchestrators and load balancers probe without credentials; health says nothing a caller could abuse.
        app.MapHealthChecks(HealthEndpointPath, new HealthCheckOptions { ResponseWriter = WriteHealthJson }).AllowAnonymous();
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") }).AllowAnonymous();
        return app;
    }

    /// <summary>Problem Details for exceptions and empty error status codes; call first in the pipeline.</summary>
    public static WebApplication UseProblemDetailsForErrors(this WebApplication app)
    {
        app.UseExceptionHandler(errorApp => errorApp.Run(async ctx =>
        {
            var error = ctx.Features.Get<IExceptionHandlerFeature>()?.Error;
            (int status, string title) = error switch
            {
                Microsoft.AspNetCore.Http.BadHttpRequestException bad => (bad.StatusCode, bad.Message),
                JsonException => (StatusCodes.Status400BadRequest, "The request body is not valid JSON."),
                OperationCanceledException when ctx.RequestAborted.IsCancellationRequested => (499, "The client closed the request."),
                _ => (StatusCodes.Status500InternalServerError, "An unexpected error occurred."),
            };
            ctx.Response.StatusCode = status;
            var problems = ctx.RequestServices.GetRequiredService<IProblemDetailsService>();
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = ctx,
                ProblemDetails = { Status = status, Title = title },
                Exception = error,
            });
        }));
        app.UseStatusCodePages();
        return app;
    }

    private static Task WriteHealthJson(HttpContext ctx, HealthReport report)
    {
        ctx.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            totalMs = report.TotalDuration.TotalMilliseconds,
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), description = e.Value.Description, error = e.Value.Exception?.Message, data = e.Value.Data.Count > 0 ? e.Value.Data : null }),
        };
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(body, HealthJson));
    }

    /// <summary>Caps the body size of one endpoint (batch endpoints need more than the default).</summary>
    public static TBuilder WithMaxRequestBodySize<TBuilder>(this TBuilder builder, long bytes)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.Add(b => b.Metadata.Add(new RequestSizeLimitMetadata(bytes)));
        return builder;
    }

    private sealed class RequestSizeLimitMetadata(long bytes) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => bytes;
    }
}
