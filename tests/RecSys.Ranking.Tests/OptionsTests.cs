using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Tests;

public sealed class OptionsTests
{
    private static WebApplicationFactory<Program> App(string key, string value) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            // Nothing connects before the options are validated; the address only has to be well-formed.
            web.UseSetting("ConnectionStrings:online-store", "127.0.0.1:1,abortConnect=false");
            web.UseSetting(key, value);
        });

    [Fact]
    public void Settings_bind_from_the_Ranking_section()
    {
        using var app = App("Ranking:RetrievalTimeout", "00:00:00.500");

        var options = app.Services.GetRequiredService<IOptions<RankingOptions>>().Value;

        Assert.Equal(TimeSpan.FromMilliseconds(500), options.RetrievalTimeout);
    }

    [Theory]
    [InlineData("Ranking:RetrievalTimeout", "00:05:00", "RetrievalTimeout")]
    [InlineData("Ranking:MaxCount", "0", "MaxCount")]
    [InlineData("Ranking:Models:MainStage", "teacher", "MainStage")]
    [InlineData("Ranking:Models:PreRankKeep", "0", "PreRankKeep")]
    [InlineData("Ranking:Models:Batching:QueueCapacityRows", "100", "QueueCapacityRows")]
    public void A_bad_value_stops_the_service_at_start_and_names_the_setting(string key, string value, string named)
    {
        using var app = App(key, value);

        var error = Assert.Throws<OptionsValidationException>(() => app.Services);

        Assert.Contains(error.Failures, f => f.Contains(named, StringComparison.Ordinal));
    }
}
