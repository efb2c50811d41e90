using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace RecSys.IntegrationTests;

/// <summary>Every malformed request gets a 4xx with problem+json, never a 500, on every public API.</summary>
[Collection(AppHostCollection.Name)]
public sealed class MalformedRequestTests(AppHostFixture fixture)
{
    public static TheoryData<string, string, string, string?> Cases() => new()
    {
        // service, method, path, JSON body
        { "ranking", "GET", "/v1/recommendations/bad%20user", null },
        { "ranking", "GET", "/v1/recommendations/" + new string('u', 65), null },
        { "ranking", "GET", "/v1/recommendations/u1?count=0", null },
        { "ranking", "GET", "/v1/recommendations/u1?count=100000", null },
        { "ranking", "GET", "/v1/recommendations/u1?count=abc", null },
        { "ranking", "GET", "/v1/recommendations/u1?context=" + new string('x', 300), null },
        { "retrieval", "POST", "/v1/candidates", "{ not json" },
        { "retrieval", "POST", "/v1/candidates", "{\"userId\": 42, \"count\": \"many\"}" },
        { "retrieval", "POST", "/v1/candidates", "{\"userId\": \"u1\", \"count\": 0}" },
        { "retrieval", "POST", "/v1/candidates", "{\"userId\": \"u 1\", \"count\": 10}" },
        { "retrieval", "POST", "/v1/candidates", "{\"count\": 10}" },
        { "retrieval", "POST", "/v1/candidates", "" },
        { "featureserver", "POST", "/v1/events", "[1,2,3]" },
        { "featureserver", "POST", "/v1/events", "{\"events\": []}" },
        { "featureserver", "POST", "/v1/events", "{\"events\": [{\"eventId\": \"e1\", \"userId\": \"u1\", \"itemId\": \"i1\", \"type\": \"teleport\", \"eventTime\": \"2024-01-01T00:00:00Z\"}]}" },
        { "featureserver", "POST", "/v1/events", "{\"events\": [{\"eventId\": \"e1\", \"userId\": \"u1\", \"itemId\": \"i1\", \"type\": \"click\", \"eventTime\": \"2999-01-01T00:00:00Z\"}]}" },
        { "featureserver", "POST", "/v1/events", "{\"events\": [{\"eventId\": \"e1\", \"type\": \"click\", \"eventTime\": \"2024-01-01T00:00:00Z\"}]}" },
        { "featureserver", "PUT", "/v1/items", "{\"items\": [{\"id\": \"bad id\", \"createdAt\": \"2024-01-01T00:00:00Z\"}]}" },
        { "featureserver", "PUT", "/v1/items", "{\"items\": \"nope\"}" },
        { "featureserver", "GET", "/v1/features/online?entities=nonsense&features=user_ctr", null },
        { "featureserver", "GET", "/v1/features/online?entities=user:u1&features=no_such_feature", null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Gets_4xx_problem_json(string service, string method, string path, string? body)
    {
        var client = service switch
        {
            "ranking" => fixture.Ranking,
            "retrieval" => fixture.Retrieval,
            _ => fixture.FeatureServer,
        };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);

        AssertProblem(response, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_oversized_body_gets_413_problem_json()
    {
        // 20 MB of valid-looking JSON, above every endpoint's limit.
        var payload = "{\"events\": [" + string.Join(',', Enumerable.Repeat("{\"eventId\":\"e\",\"userId\":\"u\",\"itemId\":\"i\",\"type\":\"view\",\"eventTime\":\"2024-01-01T00:00:00Z\"}", 250_000)) + "]}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/events")
        {
            Content = new StringContent(payload, Encoding.UTF8, "application/json"),
        };

        // A well-behaved client of a large upload asks first, so it reads the refusal instead of having its upload reset.
        request.Headers.ExpectContinue = true;
        using var response = await fixture.FeatureServer.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        AssertProblem(response, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_wrong_content_type_gets_415_problem_json()
    {
        using var content = new StringContent("userId=u1", Encoding.UTF8, "application/x-www-form-urlencoded");
        using var response = await fixture.Retrieval.PostAsync("/v1/candidates", content);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        AssertProblem(response, await response.Content.ReadAsStringAsync());
    }

    private static void AssertProblem(HttpResponseMessage response, string body)
    {
        var status = (int)response.StatusCode;
        Assert.True(status is >= 400 and < 500, $"{status}: {body}");
        Assert.Equal(new MediaTypeHeaderValue("application/problem+json").MediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"status\"", body, StringComparison.Ordinal);
    }
}
