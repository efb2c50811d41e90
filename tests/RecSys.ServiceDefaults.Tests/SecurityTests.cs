using System.Net;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using RecSys.ServiceDefaults.Security;

namespace RecSys.ServiceDefaults.Tests;

public sealed class SecurityTests
{
    private const string AdminKey = "admin-key-0123456789abcdefghijklmnop";
    private const string ReaderKey = "reader-key-0123456789abcdefghijklmnop";
    private static readonly string SigningKey = Convert.ToBase64String("a-test-signing-key-of-32-bytes!!"u8.ToArray());

    [Fact]
    public async Task A_request_without_credentials_gets_401_problem_json()
    {
        await using var app = await StartAsync();
        using var response = await app.GetTestClient().GetAsync(new Uri("/read", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("X-Api-Key", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(401, body.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task A_wrong_key_gets_401_and_a_weaker_role_gets_403_problem_json()
    {
        await using var app = await StartAsync();
        var client = app.GetTestClient();

        using var wrong = await SendAsync(client, "/admin", "not-a-key");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        using var weak = await SendAsync(client, "/admin", ReaderKey);
        Assert.Equal(HttpStatusCode.Forbidden, weak.StatusCode);
        Assert.Equal("application/problem+json", weak.Content.Headers.ContentType?.MediaType);
        Assert.Contains("admin", await weak.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_grant_their_roles_and_stronger_roles_include_weaker_ones()
    {
        await using var app = await StartAsync();
        var client = app.GetTestClient();

        using var read = await SendAsync(client, "/read", ReaderKey);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("reader", await read.Content.ReadAsStringAsync());

        foreach (var path in new[] { "/read", "/produce", "/admin" })
        {
            using var admin = await SendAsync(client, path, AdminKey);
            Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        }
    }

    [Fact]
    public async Task A_signed_bearer_token_with_the_role_is_accepted_and_a_forged_one_is_not()
    {
        await using var app = await StartAsync();
        var client = app.GetTestClient();

        using var valid = new HttpRequestMessage(HttpMethod.Get, "/produce");
        valid.Headers.Authorization = new("Bearer", Token(SigningKey, RecSysRoles.Producer));
        using var accepted = await client.SendAsync(valid);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal("ingest-job", await accepted.Content.ReadAsStringAsync());

        using var forged = new HttpRequestMessage(HttpMethod.Get, "/produce");
        forged.Headers.Authorization = new("Bearer", Token(Convert.ToBase64String("another-signing-key-of-32-bytes!"u8.ToArray()), RecSysRoles.Admin));
        using var refused = await client.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Open_mode_lets_every_caller_in()
    {
        await using var app = await StartAsync(("RecSys:Security:Mode", "Open"));
        using var response = await app.GetTestClient().GetAsync(new Uri("/admin", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_client_over_its_token_bucket_gets_429_with_retry_after_and_others_are_not_affected()
    {
        await using var app = await StartAsync(("RecSys:RateLimiting:PerClientTokensPerSecond", "1"), ("RecSys:RateLimiting:PerClientBurst", "3"));
        var client = app.GetTestClient();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await SendAsync(client, "/read", ReaderKey);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.NotNull(response.Headers.RetryAfter);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
        }

        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        using var other = await SendAsync(client, "/read", AdminKey);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task The_policy_audit_lists_routes_that_name_no_policy()
    {
        await using var app = await StartAsync(configureRoutes: a => a.MapGet("/forgotten", () => "x"));
        var missing = SecurityExtensions.RoutesWithoutPolicy(app.Services.GetRequiredService<EndpointDataSource>());
        Assert.Equal(["GET /forgotten"], missing);
    }

    [Theory]
    [InlineData("ApiKeys:x:Hash", "plain-text-key", "Hash must be sha256")]
    [InlineData("ApiKeys:x:Roles:0", "root", "Roles must list")]
    [InlineData("Jwt:SigningKey", "c2hvcnQ=", "at least 32 bytes")]
    public async Task Bad_security_settings_stop_the_service_at_start(string key, string value, string message)
    {
        var settings = new List<(string, string)> { ("ApiKeys:x:Hash", ApiKeyHasher.Hash("k")), ("ApiKeys:x:Roles:0", "admin") };
        settings.RemoveAll(s => s.Item1 == key);
        settings.Add((key, value));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync([.. settings.Select(s => ("RecSys:Security:" + s.Item1, s.Item2))]));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hashes_are_sha256_of_the_key_and_new_keys_differ()
    {
        Assert.Equal("sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", ApiKeyHasher.Hash("foo"));
        Assert.NotEqual(ApiKeyHasher.NewKey(), ApiKeyHasher.NewKey());
        Assert.True(ApiKeyHasher.NewKey().Length >= 43);
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add(ApiKeyAuthenticationHandler.HeaderName, key);
        return client.SendAsync(request);
    }

    private static string Token(string signingKey, string role) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = "recsys-tests",
        Audience = "recsys",
        Subject = new ClaimsIdentity([new Claim("sub", "ingest-job"), new Claim("role", role)]),
        Expires = DateTime.UtcNow.AddMinutes(5),
        SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Convert.FromBase64String(signingKey)), SecurityAlgorithms.HmacSha256),
    });

    private static async Task<WebApplication> StartAsync(params (string Key, string Value)[] overrides) => await StartAsync(null, overrides);

    private static async Task<WebApplication> StartAsync(Action<WebApplication>? configureRoutes, params (string Key, string Value)[] overrides)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        var settings = new Dictionary<string, string?>
        {
            ["RecSys:Security:ApiKeys:admin:Hash"] = ApiKeyHasher.Hash(AdminKey),
            ["RecSys:Security:ApiKeys:admin:Roles:0"] = RecSysRoles.Admin,
            ["RecSys:Security:ApiKeys:reader:Hash"] = ApiKeyHasher.Hash(ReaderKey),
            ["RecSys:Security:ApiKeys:reader:Roles:0"] = RecSysRoles.PublicRead,
            ["RecSys:Security:Jwt:SigningKey"] = SigningKey,
            ["RecSys:Security:Jwt:Issuer"] = "recsys-tests",
            ["RecSys:Security:Jwt:Audience"] = "recsys",
        };
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddProblemDetails();
        builder.AddRecSysSecurity();
        var app = builder.Build();
        app.UseRecSysSecurity();
        app.MapGet("/read", (ClaimsPrincipal user) => user.Identity!.Name).RequirePublicRead();
        app.MapGet("/produce", (ClaimsPrincipal user) => user.Identity!.Name).RequireProducer();
        app.MapGet("/admin", () => "ok").RequireAdmin();
        configureRoutes?.Invoke(app);
        await app.StartAsync();
        return app;
    }
}
