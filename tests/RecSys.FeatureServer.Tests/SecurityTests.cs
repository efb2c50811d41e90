using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;

namespace RecSys.FeatureServer.Tests;

/// <summary>The FeatureServer with keys required: every route names its policy and the keys get what their roles allow.</summary>
public sealed class SecurityTests : IDisposable
{
    /// <summary>The producer routes; every other route that is not anonymous must be admin (the FeatureServer has no public route).</summary>
    private static readonly string[] ProducerRoutes = ["POST /v1/events", "PUT /v1/items"];

    private readonly FeatureServerFactory _factory = FeatureServerFactory.With(SecurityProbe.RequireKeys);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public void Every_route_names_one_policy_producer_for_ingestion_and_admin_for_the_rest()
    {
        var endpoints = _factory.Services.GetRequiredService<EndpointDataSource>();

        Assert.Empty(SecurityExtensions.RoutesWithoutPolicy(endpoints));
        var policies = SecurityProbe.PoliciesByRoute(endpoints);
        Assert.Subset(policies.Keys.ToHashSet(), ProducerRoutes.ToHashSet());
        Assert.Contains("POST /v1/training-sets", policies.Keys);
        foreach (var (route, names) in policies)
        {
            var expected = ProducerRoutes.Contains(route) ? RecSysPolicies.Producer : RecSysPolicies.Admin;
            Assert.True(names.SequenceEqual([expected]), $"{route} names [{string.Join(", ", names)}]; expected {expected}");
        }

        Assert.All(SecurityProbe.AnonymousRoutes(endpoints), route => Assert.Matches("^(GET|\\*) /(health|alive|openapi/)", route));
    }

    [Theory]
    [InlineData("GET", "/v1/status")]
    [InlineData("GET", "/v1/export/events")]
    [InlineData("POST", "/v1/consistency/reconcile")]
    [InlineData("POST", "/v1/events")]
    public async Task No_key_gets_401_problem_json(string method, string path)
    {
        using var client = _factory.CreateClient();
        using var response = await client.SendAsync(SecurityProbe.Request(new HttpMethod(method), path, key: null));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(401, body.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task A_producer_key_on_an_admin_route_gets_403_and_a_reader_key_on_ingestion_too()
    {
        using var client = _factory.CreateClient();

        using var admin = await client.SendAsync(SecurityProbe.Request(HttpMethod.Post, "/v1/offline/backfill", SecurityProbe.ProducerKey));
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
        Assert.Equal("application/problem+json", admin.Content.Headers.ContentType?.MediaType);

        using var ingest = await client.SendAsync(SecurityProbe.Request(HttpMethod.Post, "/v1/events", SecurityProbe.ReaderKey, """{"events":[]}"""));
        Assert.Equal(HttpStatusCode.Forbidden, ingest.StatusCode);
    }

    [Fact]
    public async Task The_right_keys_pass_and_health_needs_none()
    {
        using var client = _factory.CreateClient();

        using var status = await client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/v1/status", SecurityProbe.AdminKey));
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);

        using var events = await client.SendAsync(SecurityProbe.Request(HttpMethod.Post, "/v1/events", SecurityProbe.ProducerKey, """{"events":[]}"""));
        Assert.NotEqual(HttpStatusCode.Unauthorized, events.StatusCode);
        Assert.NotEqual(HttpStatusCode.Forbidden, events.StatusCode);

        using var health = await client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/alive", key: null));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}
