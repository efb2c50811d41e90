using System.Net;
using System.Net.Http.Json;
using RecSys.Core.Contracts;

namespace RecSys.FeatureServer.Tests.Registry;

public sealed class FeaturesApiTests(FeatureServerFactory factory) : IClassFixture<FeatureServerFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task Cross_creator_and_windowed_features_are_served_with_flagged_defaults()
    {
        var response = await _client.GetFromJsonAsync<OnlineFeaturesResponse>(
            "/v1/features/online?entities=user:fa-u1,creator:fa-c1,user_item:fa-u1:fa-i1&features=user_views_24h,user_ctr_7d,creator_engagement_30d,user_item_category_affinity,user_item_creator_affinity",
            FeatureServerFactory.Json);

        var byEntity = response!.Entities.ToDictionary(e => e.Entity);
        Assert.Equal(["user_views_24h", "user_ctr_7d"], byEntity["user:fa-u1"].Features.Keys);
        Assert.Equal(["creator_engagement_30d"], byEntity["creator:fa-c1"].Features.Keys);
        Assert.Equal(["user_item_category_affinity", "user_item_creator_affinity"], byEntity["user_item:fa-u1:fa-i1"].Features.Keys);
        Assert.All(response.Entities.SelectMany(e => e.Features.Values), v =>
        {
            Assert.True(v.IsDefault);
            Assert.Equal(0, v.Number);
        });
    }

    [Theory]
    [InlineData("entities=user_item:fa-u1&features=user_item_creator_affinity")]
    [InlineData("entities=user_item:fa-u1:bad id&features=user_item_creator_affinity")]
    [InlineData("entities=creator:fa-c1&features=user_item_creator_affinity")]
    public async Task Bad_cross_entities_get_400(string query)
    {
        using var response = await _client.GetAsync("/v1/features/online?" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
