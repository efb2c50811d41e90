using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using RecSys.ServiceDefaults.Security;

namespace RecSys.TestSupport;

/// <summary>
/// What the services' security tests share: three keys holding one role each (configured by hash only, as in
/// production) and the policy every route names, spelled like <see cref="SecurityExtensions.RoutesWithoutPolicy"/>.
/// </summary>
public static class SecurityProbe
{
    public const string AdminKey = "probe-admin-key-6f1c2a9e4b7d4c0f8e3a5b1d2c9f7e6a";
    public const string ProducerKey = "probe-producer-key-0b8d7c6e5f4a4b3c9d2e1f0a7b6c5d4e";
    public const string ReaderKey = "probe-reader-key-9e8f7a6b5c4d4e3f2a1b0c9d8e7f6a5b";

    /// <summary>Security required, with the three probe keys.</summary>
    public static void RequireKeys(IWebHostBuilder web)
    {
        ArgumentNullException.ThrowIfNull(web);
        web.UseSetting("RecSys:Security:Mode", nameof(SecurityMode.Required));
        Configure(web, "probe-admin", AdminKey, RecSysRoles.Admin);
        Configure(web, "probe-producer", ProducerKey, RecSysRoles.Producer);
        Configure(web, "probe-reader", ReaderKey, RecSysRoles.PublicRead);
    }

    /// <summary>Every route that is not anonymous, as <c>GET /v1/x</c>, with the policies it names.</summary>
    public static IReadOnlyDictionary<string, string[]> PoliciesByRoute(EndpointDataSource endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return Routes(endpoints)
            .Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is null)
            .ToDictionary(
                Describe,
                e => e.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).OfType<string>().Distinct().ToArray(),
                StringComparer.Ordinal);
    }

    /// <summary>The routes that say they are anonymous (health, the OpenAPI document).</summary>
    public static IReadOnlyList<string> AnonymousRoutes(EndpointDataSource endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return [.. Routes(endpoints).Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is not null).Select(Describe)];
    }

    /// <summary>A request carrying <paramref name="key"/> (none when null) and an optional JSON body.</summary>
    public static HttpRequestMessage Request(HttpMethod method, string path, string? key, string? json = null)
    {
        var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (key is not null)
        {
            request.Headers.Add(ApiKeyAuthenticationHandler.HeaderName, key);
        }

        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        return request;
    }

    private static void Configure(IWebHostBuilder web, string client, string key, string role)
    {
        web.UseSetting($"RecSys:Security:ApiKeys:{client}:Hash", ApiKeyHasher.Hash(key));
        web.UseSetting($"RecSys:Security:ApiKeys:{client}:Roles:0", role);
    }

    private static IEnumerable<RouteEndpoint> Routes(EndpointDataSource endpoints) => endpoints.Endpoints.OfType<RouteEndpoint>();

    private static string Describe(RouteEndpoint e) =>
        $"{string.Join(',', e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"])} /{e.RoutePattern.RawText?.TrimStart('/')}";
}
