using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;
using RecSys.ServiceDefaults.Telemetry;

namespace RecSys.ServiceDefaults.Tests;

public sealed class TraceBudgetSamplerTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void A_burst_keeps_one_seconds_budget_then_one_trace_per_refilled_token()
    {
        var sampler = new TraceBudgetSampler(5, _time);

        Assert.Equal(5, Decide(sampler, 20).Count(d => d == SamplingDecision.RecordAndSample));

        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal([SamplingDecision.RecordAndSample, SamplingDecision.Drop], Decide(sampler, 2));
    }

    [Fact]
    public void Idle_time_never_saves_more_than_one_seconds_budget()
    {
        var sampler = new TraceBudgetSampler(5, _time);
        Decide(sampler, 5);

        _time.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(5, Decide(sampler, 50).Count(d => d == SamplingDecision.RecordAndSample));
    }

    [Fact]
    public void A_budget_below_one_per_second_still_keeps_a_trace_now_and_then()
    {
        var sampler = new TraceBudgetSampler(0.5, _time);
        Assert.Equal([SamplingDecision.RecordAndSample, SamplingDecision.Drop], Decide(sampler, 2));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([SamplingDecision.Drop], Decide(sampler, 1));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([SamplingDecision.RecordAndSample], Decide(sampler, 1));
    }

    [Fact]
    public void A_budget_of_zero_begins_no_trace()
    {
        Assert.All(Decide(new TraceBudgetSampler(0, _time), 10), d => Assert.Equal(SamplingDecision.Drop, d));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_budget_that_is_not_a_rate_is_refused(double perSecond)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TraceBudgetSampler(perSecond, _time));
    }

    [Fact]
    public void Spans_under_a_sampled_parent_are_kept_after_the_budget_is_spent()
    {
        using var source = new ActivitySource("RecSys.Tests.Budget");
        using var provider = Sdk.CreateTracerProviderBuilder()
            .SetSampler(new ParentBasedSampler(new TraceBudgetSampler(1, _time)))
            .AddSource(source.Name)
            .Build();

        // One after the other: a span started while another is current would be its child.
        using (var first = source.StartActivity("first"))
        {
            Assert.True(first!.Recorded);
        }

        using (var second = source.StartActivity("second"))
        {
            Assert.False(second?.Recorded ?? false);
        }

        var sampledParent = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        using var child = source.StartActivity("child", ActivityKind.Server, sampledParent);
        Assert.True(child!.Recorded);

        var unsampledParent = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None, isRemote: true);
        _time.Advance(TimeSpan.FromSeconds(5));
        using var dropped = source.StartActivity("dropped", ActivityKind.Server, unsampledParent);
        Assert.False(dropped?.Recorded ?? false);
    }

    [Fact]
    public async Task Service_defaults_sample_by_the_configured_budget_even_when_the_environment_asks_always_on()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OTEL_TRACES_SAMPLER"] = "always_on",
            ["RecSys:Telemetry:TracesPerSecond"] = "3",
        });
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.AddServiceDefaults();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            _ = host.Services.GetRequiredService<TracerProvider>();
            using var source = new ActivitySource("RecSys.Tests.Defaults");
            var recorded = 0;
            for (var i = 0; i < 20; i++)
            {
                using var activity = source.StartActivity("root", ActivityKind.Server, parentContext: default);
                recorded += activity?.Recorded == true ? 1 : 0;
            }

            Assert.Equal(3, recorded);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_negative_budget_stops_the_service_at_start()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["RecSys:Telemetry:TracesPerSecond"] = "-2" });
        builder.AddServiceDefaults();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("TracesPerSecond", error.Message, StringComparison.Ordinal);
    }

    private static List<SamplingDecision> Decide(Sampler sampler, int count)
    {
        var decisions = new List<SamplingDecision>(count);
        for (var i = 0; i < count; i++)
        {
            var parameters = new SamplingParameters(default, ActivityTraceId.CreateRandom(), "root", ActivityKind.Server);
            decisions.Add(sampler.ShouldSample(parameters).Decision);
        }

        return decisions;
    }
}
