using System.Text.Json;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.Tests.Registry;

public sealed class FeatureRegistryTests
{
    [Fact]
    public void The_version_is_a_hash_of_the_definitions()
    {
        var a = new FeatureRegistry();
        var b = new FeatureRegistry();
        Assert.Equal(a.Version, b.Version);
        Assert.Matches("^[0-9a-f]{16}$", a.Version);

        var changed = BuiltInFeatures.All().Select(d => d.Name == "user_ctr_7d" ? d with { Freshness = TimeSpan.FromDays(1) } : d);
        Assert.NotEqual(a.Version, new FeatureRegistry(changed).Version);
        var fewer = BuiltInFeatures.All().Where(d => d.Name != "item_ctr");
        Assert.NotEqual(a.Version, new FeatureRegistry(fewer).Version);
    }

    [Fact]
    public void A_name_defined_twice_is_refused()
    {
        var definitions = BuiltInFeatures.All();
        Assert.Throws<ArgumentException>(() => new FeatureRegistry(definitions.Append(definitions[0])));
    }

    [Fact]
    public void The_built_in_features_cover_the_required_kinds_and_windows()
    {
        var registry = new FeatureRegistry();
        foreach (var name in new[]
        {
            "user_views_1h", "user_clicks_24h", "user_ctr_7d", "user_ctr_30d", "user_category_distribution_7d", "user_recent_items",
            "user_session_items", "item_popularity", "item_views_24h", "item_ctr_7d", "user_top_creators", "creator_engagement_7d",
            "user_item_category_affinity", "user_item_creator_affinity",
        })
        {
            Assert.True(registry.TryGet(name, out _), name);
        }

        Assert.All(registry.Definitions, d => Assert.Contains(d.EntityKind, new[] { EntityKinds.User, EntityKinds.Item, EntityKinds.Creator, EntityKinds.UserItem }));
        Assert.All(registry.Definitions.Select(d => d.Transform).OfType<AggregateTransform>().Where(a => a.Window is not null),
            a => Assert.True(a.Window!.Ring.Slots >= a.Window.Buckets));
        Assert.All(registry.Definitions.Where(d => d.ValueType == FeatureValueType.Number), d => Assert.NotNull(d.DefaultNumber));
    }

    [Fact]
    public void Definitions_are_data_that_round_trip_through_json()
    {
        var registry = new FeatureRegistry();
        var json = JsonSerializer.Serialize(registry.Describe(), FeatureRegistry.Json);
        var back = JsonSerializer.Deserialize<RegistryDto>(json, FeatureRegistry.Json)!;
        Assert.Equal(registry.Version, back.Version);
        Assert.Equal(json, JsonSerializer.Serialize(back, FeatureRegistry.Json));

        var ctr = back.Features.Single(f => f.Name == "item_ctr_24h");
        var ratio = Assert.IsType<RatioTransform>(ctr.Transform);
        Assert.Equal(FeatureFields.ClicksTotal, ratio.Numerator.Counter);
        Assert.Equal([EventType.Click], ratio.Numerator.EventTypes);
        Assert.Equal("24h", ratio.Denominator.Window!.Name);
        Assert.Equal(TimeSpan.FromHours(1), ratio.Denominator.Window.Bucket);
        Assert.Contains("\"kind\":\"ratio\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-20T11:07:30Z", "1h", false)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-20T11:10:00Z", "1h", true)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-20T12:07:00Z", "24h", true)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-19T12:59:59Z", "24h", false)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-19T13:00:00Z", "24h", true)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-14T00:00:00Z", "7d", true)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-13T23:59:59Z", "7d", false)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-20T12:08:00Z", "7d", true)]
    [InlineData("2026-11-20T12:07:00Z", "2026-11-21T00:00:00Z", "7d", false)]
    public void Windows_count_whole_buckets_of_event_time(string now, string eventTime, string window, bool counted)
    {
        var w = FeatureWindow.All.Single(x => x.Name == window);
        Assert.Equal(counted, w.Contains(DateTimeOffset.Parse(eventTime, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(),
            DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds()));
    }
}
