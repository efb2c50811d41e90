using System.Net;
using RecSys.Core.Domain;

namespace RecSys.IntegrationTests;

/// <summary>Keys through the whole app: the AppHost passes hashes to the services, and admin routes refuse anonymous callers.</summary>
[Collection(AppHostCollection.Name)]
public sealed class SecurityTests(AppHostFixture fixture)
{
    [Theory]
    [InlineData(ServiceNames.Retrieval, "POST", "/v1/index/rebuild")]
    [InlineData(ServiceNames.FeatureServer, "POST", "/v1/consistency/reconcile")]
    public async Task A_request_without_a_key_to_an_admin_route_gets_401_problem_json(string service, string method, string path)
    {
        using var anonymous = fixture.CreateClient(service, apiKey: null);
        using var response = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_producer_key_may_ingest_but_not_touch_the_index()
    {
        using var producer = fixture.CreateClient(ServiceNames.Retrieval, AppHostFixture.ProducerKey);
        using var response = await producer.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/index/rebuild"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
