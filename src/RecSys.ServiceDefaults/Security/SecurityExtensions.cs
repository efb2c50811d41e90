using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace RecSys.ServiceDefaults.Security;

/// <summary>Authentication (API keys, JWT bearer), the three policies, problem+json 401/403 and rate limiting.</summary>
public static partial class SecurityExtensions
{
    /// <summary>The scheme that picks JWT bearer for <c>Authorization: Bearer</c> and API keys otherwise.</summary>
    public const string Scheme = "RecSys";

    public static TBuilder AddRecSysSecurity<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptionsWithValidateOnStart<SecurityOptions, SecurityOptionsValidator>().BindConfiguration(SecurityOptions.SectionName);
        builder.Services.AddOptionsWithValidateOnStart<RateLimitingOptions, RateLimitingOptionsValidator>().BindConfiguration(RateLimitingOptions.SectionName);
        var jwt = builder.Configuration.GetSection(SecurityOptions.SectionName).GetSection("Jwt").Get<JwtOptions>() ?? new JwtOptions();

        var authentication = builder.Services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "API key or bearer token", o => o.ForwardDefaultSelector = ctx =>
                jwt.Enabled && ctx.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                    ? JwtBearerDefaults.AuthenticationScheme
                    : ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        if (jwt.Enabled)
        {
            authentication.AddJwtBearer(o =>
            {
                o.Authority = jwt.Authority?.ToString();
                o.Audience = jwt.Audience;
                o.RequireHttpsMetadata = jwt.Authority?.Scheme == Uri.UriSchemeHttps;
                o.MapInboundClaims = false;
                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateAudience = jwt.Audience is not null,
                    ValidAudience = jwt.Audience,
                    ValidateIssuer = jwt.Issuer is not null,
                    ValidIssuer = jwt.Issuer,
                    RoleClaimType = "role",
                    NameClaimType = "sub",
                    IssuerSigningKey = string.IsNullOrEmpty(jwt.SigningKey) ? null : new SymmetricSecurityKey(Convert.FromBase64String(jwt.SigningKey)),
                };
            });
        }

        var authorization = builder.Services.AddAuthorizationBuilder();
        foreach (var (policy, roles) in RecSysPolicies.RolesFor)
        {
            authorization.AddPolicy(policy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireRole(roles));
        }

        builder.Services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, ProblemDetailsAuthorizationResultHandler>();
        builder.Services.AddRateLimiter(ConfigureRateLimiter);
        builder.Services.AddSingleton(sp => new AdaptiveConcurrencyLimiter(
            sp.GetRequiredService<IOptions<RateLimitingOptions>>().Value,
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        return builder;
    }

    /// <summary>Authentication, authorization and the rate limiter, after routing; logs when security is open.</summary>
    public static WebApplication UseRecSysSecurity(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RecSys.Security");
        if (security.Mode == SecurityMode.Open)
        {
            LogOpenMode(logger);
        }
        else if (security.ApiKeys.Count == 0 && !security.Jwt.Enabled)
        {
            LogNoCredentials(logger);
        }

        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        return app;
    }

    /// <summary>Public routes: the policy and the per-client token bucket.</summary>
    public static TBuilder RequirePublicRead<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(RecSysPolicies.PublicRead).RequireRateLimiting(RecSysPolicies.PublicRateLimit);

    public static TBuilder RequireProducer<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(RecSysPolicies.Producer);

    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(RecSysPolicies.Admin);

    /// <summary>
    /// Routes of <paramref name="endpoints"/> that name no policy and do not say they are anonymous: the check behind the
    /// test that every route of every service has an explicit policy.
    /// </summary>
    public static IReadOnlyList<string> RoutesWithoutPolicy(EndpointDataSource endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return
        [
            .. endpoints.Endpoints.OfType<RouteEndpoint>()
                .Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is null
                    && !e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => !string.IsNullOrEmpty(a.Policy)))
                .Select(e => $"{string.Join(',', e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"])} /{e.RoutePattern.RawText?.TrimStart('/')}"),
        ];
    }

    private static void ConfigureRateLimiter(RateLimiterOptions options)
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.OnRejected = async (context, cancellationToken) =>
        {
            var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
            var http = context.HttpContext;
            http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var problems = http.RequestServices.GetRequiredService<IProblemDetailsService>();
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = http,
                ProblemDetails = { Status = StatusCodes.Status429TooManyRequests, Title = "Too many requests.", Detail = $"Retry after {retryAfter.TotalSeconds:0.#} s." },
            });
        };

        options.AddPolicy(RecSysPolicies.PublicRateLimit, http =>
        {
            var limits = http.RequestServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value;
            var client = http.User.Identity?.IsAuthenticated == true ? "client:" + http.User.Identity.Name : "ip:" + http.Connection.RemoteIpAddress;
            return limits.PerClientTokensPerSecond <= 0
                ? RateLimitPartition.GetNoLimiter(client)
                : RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limits.PerClientBurst,
                    TokensPerPeriod = limits.PerClientTokensPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
        });

        // One concurrency limit over the whole service (health excluded), when configured: ranking's load shedding.
        options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
        {
            var limits = http.RequestServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value;
            if (limits.MaxConcurrentRequests <= 0 || http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/alive"))
            {
                return RateLimitPartition.GetNoLimiter("unlimited");
            }

            return limits.ConcurrencyTargetP99 is null
                ? RateLimitPartition.GetConcurrencyLimiter("service", _ => new ConcurrencyLimiterOptions
                {
                    PermitLimit = limits.MaxConcurrentRequests,
                    QueueLimit = 0,
                })
                : RateLimitPartition.Get("service", _ => http.RequestServices.GetRequiredService<AdaptiveConcurrencyLimiter>());
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "RecSys:Security:Mode is Open: every caller may use every route, admin routes included. Use it for isolated tests only.")]
    private static partial void LogOpenMode(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No API keys and no JWT settings are configured under RecSys:Security: every route except health answers 401.")]
    private static partial void LogNoCredentials(ILogger logger);
}
