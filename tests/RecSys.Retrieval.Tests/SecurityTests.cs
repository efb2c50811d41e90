using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;

namespace RecSys.Retrieval.Tests;

/// <summary>Retrieval with keys required: candidates are public-read, the index and embedding versions admin.</summary>
[Collection(StoreCollection.Name)]
public sealed class SecurityTests : IDisposable
{
    /// <summary>The public routes; every other route that is not anonymous must be admin (Retrieval takes no ingestion).</summary>
    private static readonly string[] PublicRoutes = ["POST /v1/candidates"];

    private readonly WebApplicationFactory<Program> _factory;

    public SecurityTests(StoreFixture store)
    {
        store.Garnet.Flush();
        _factory = store.App.WithWebHostBuilder(SecurityProbe.RequireKeys);
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public void Every_route_names_one_policy_public_read_for_candidates_and_admin_for_the_rest()
    {
        var endpoints = _factory.Services.GetRequiredService<EndpointDataSource>();

        Assert.Empty(SecurityExtensions.RoutesWithoutPolicy(endpoints));
        var policies = SecurityProbe.PoliciesByRoute(endpoints);
        Assert.Subset(policies.Keys.ToHashSet(), PublicRoutes.ToHashSet());
        Assert.Contains("POST /v1/index/rebuild", policies.Keys);
        Assert.Contains("POST /v1/embeddings/{version}/activate", policies.Keys);
        foreach (var (route, names) in policies)
        {
            var expected = PublicRoutes.Contains(route) ? RecSysPolicies.PublicRead : RecSysPolicies.Admin;
            Assert.True(names.SequenceEqual([expected]), $"{route} names [{string.Join(", ", names)}]; expected {expected}");
        }

        Assert.All(SecurityProbe.AnonymousRoutes(endpoints), route => Assert.Matches("^(GET|\\*) /(health|alive|openapi/)", route));
    }

    [Theory]
    [InlineData("POST", "/v1/index/rebuild")]
    [InlineData("PUT", "/v1/index/items")]
    [InlineData("GET", "/v1/embeddings/")]
    [InlineData("POST", "/v1/candidates")]
    public async Task No_key_gets_401_problem_json(string method, string path)
    {
        using var client = _factory.CreateClient();
        using var response = await client.SendAsync(SecurityProbe.Request(new HttpMethod(method), path, key: null, json: "{}"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(401, body.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Producer_and_reader_keys_on_admin_routes_get_403_problem_json()
    {
        using var client = _factory.CreateClient();

        foreach (var key in new[] { SecurityProbe.ProducerKey, SecurityProbe.ReaderKey })
        {
            using var response = await client.SendAsync(SecurityProbe.Request(HttpMethod.Post, "/v1/index/rebuild", key));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task The_right_keys_pass()
    {
        using var client = _factory.CreateClient();

        using var status = await client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/v1/index/status", SecurityProbe.AdminKey));
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);

        using var candidates = await client.SendAsync(SecurityProbe.Request(HttpMethod.Post, "/v1/candidates", SecurityProbe.ReaderKey, """{"userId":"u1","count":5}"""));
        Assert.Equal(HttpStatusCode.OK, candidates.StatusCode);
    }
}
