using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.Retrieval.Extensions;

namespace RecSys.Retrieval.Tests;

public sealed class OptionsTests
{
    private static RetrievalOptions Bind(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        builder.AddRetrieval();
        using var services = builder.Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<RetrievalOptions>>().Value;
    }

    [Fact]
    public void Configuration_overrides_one_field_and_keeps_the_spec_defaults_for_the_rest()
    {
        var options = Bind(("Retrieval:Sources:content:Budget", "1200"), ("Retrieval:Sources:Trending:Enabled", "false"));

        Assert.Equal(1200, options.Sources[SourceNames.Content].Budget);
        Assert.Equal(0.9, options.Sources[SourceNames.Content].Weight);
        Assert.False(options.Sources[SourceNames.Trending].Enabled);
        Assert.Equal(0.7, options.Sources[SourceNames.Trending].Weight);
        Assert.Equal(2500, options.Sources[SourceNames.Collaborative].Budget);
        Assert.Equal(5, options.Sources.Count);
    }

    [Fact]
    public void A_new_source_is_one_configuration_entry()
    {
        var options = Bind(("Retrieval:Sources:fresh:Budget", "300"), ("Retrieval:Sources:fresh:Weight", "0.6"));

        var plan = BudgetPlanner.Plan(options, [.. SourceNames.All, "fresh"], 5000);

        Assert.Contains(plan.Sources, s => s is { Name: "fresh", Budget: 300, Weight: 0.6 });
    }

    [Theory]
    [InlineData("Retrieval:Sources:content:Weight", "-1")]
    [InlineData("Retrieval:Sources:content:Budget", "0")]
    [InlineData("Retrieval:SourceTimeout", "00:00:00")]
    [InlineData("Retrieval:Fallback:BudgetMultiplier", "0.5")]
    [InlineData("Retrieval:RecentSimilar:SeedItems", "0")]
    public void Invalid_options_fail_validation(string key, string value) =>
        Assert.Throws<OptionsValidationException>(() => Bind((key, value)));

    [Fact]
    public void Durations_bind_from_time_span_strings()
    {
        var options = Bind(
            ("Retrieval:SourceTimeout", "00:00:00.150"),
            ("Retrieval:Sources:trending:Timeout", "00:00:00.040"),
            ("Retrieval:Creator:RecencyHalfLife", "2.00:00:00"));

        Assert.Equal(TimeSpan.FromMilliseconds(150), options.SourceTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(40), options.Sources[SourceNames.Trending].Timeout);
        Assert.Null(options.Sources[SourceNames.Content].Timeout);
        Assert.Equal(TimeSpan.FromDays(2), options.Creator.RecencyHalfLife);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.FilterTimeout);
    }

    [Theory]
    [InlineData("Retrieval:SourceTimeout", "00:02:00", "SourceTimeout")]
    [InlineData("Retrieval:WarmupTimeout", "-00:00:01", "WarmupTimeout")]
    [InlineData("Retrieval:Sources:trending:Timeout", "00:00:00", "Retrieval:Sources:trending")]
    [InlineData("Retrieval:Creator:RecencyHalfLife", "00:00:01", "RecencyHalfLife")]
    [InlineData("Retrieval:Content:TopCategories", "0", "TopCategories")]
    public async Task A_bad_value_stops_the_host_at_start_and_names_the_setting(string key, string value, string named)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new KeyValuePair<string, string?>(key, value)]);
        builder.AddRetrieval();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(error.Failures, f => f.Contains(named, StringComparison.Ordinal));
    }
}
