using System.Collections.Concurrent;
using System.Net;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Tests;

/// <summary>Every request to a RecSys service carries <c>--api-key</c>, else <c>$RECSYS_API_KEY</c>.</summary>
public sealed class ApiKeyTests
{
    private static readonly string[] Generate = ["generate", "--target", "http://featureserver.test", "--users", "10", "--items", "20", "--days", "1"];

    private readonly ConcurrentBag<string?> _keys = [];

    private FakeHandler Recording(HttpStatusCode status = HttpStatusCode.OK) => new((request, _, _) =>
    {
        _keys.Add(request.Headers.TryGetValues(TrainerEnvironment.ApiKeyHeader, out var values) ? string.Join("|", values) : null);
        return FakeHandler.Json(status, status == HttpStatusCode.OK ? "{}" : """{"status":401,"title":"Authentication required."}""", "application/problem+json");
    });

    [Fact]
    public async Task The_option_is_sent_on_every_request_and_wins_over_the_environment()
    {
        var cli = new CliHarness(Recording(), new() { [TrainerEnvironment.ApiKeyVariable] = "from-environment" });

        Assert.Equal(0, await cli.RunAsync([.. Generate, "--api-key", "from-option"]));

        Assert.NotEmpty(_keys);
        Assert.All(_keys, key => Assert.Equal("from-option", key));
    }

    [Fact]
    public async Task The_environment_variable_is_used_without_the_option()
    {
        var cli = new CliHarness(Recording(), new() { [TrainerEnvironment.ApiKeyVariable] = " from-environment \n" });

        Assert.Equal(0, await cli.RunAsync(Generate));

        Assert.NotEmpty(_keys);
        Assert.All(_keys, key => Assert.Equal("from-environment", key));
    }

    [Fact]
    public async Task Without_a_key_no_header_is_sent()
    {
        var cli = new CliHarness(Recording());

        Assert.Equal(0, await cli.RunAsync(Generate));

        Assert.NotEmpty(_keys);
        Assert.All(_keys, Assert.Null);
    }

    [Fact]
    public async Task A_key_that_cannot_be_a_header_is_a_clear_error()
    {
        var cli = new CliHarness(Recording());

        Assert.Equal(ExitCodes.InputError, await cli.RunAsync([.. Generate, "--api-key", "two words"]));

        Assert.Contains("--api-key: an API key is printable ASCII without spaces", cli.Output, StringComparison.Ordinal);
        Assert.Empty(_keys);
    }

    [Fact]
    public async Task A_401_says_how_to_send_a_key_and_is_not_retried()
    {
        var cli = new CliHarness(Recording(HttpStatusCode.Unauthorized));

        Assert.Equal(ExitCodes.Rejected, await cli.RunAsync(Generate));

        Assert.Contains("401", cli.Output, StringComparison.Ordinal);
        Assert.Contains("--api-key or $RECSYS_API_KEY", cli.Output, StringComparison.Ordinal);
        Assert.Single(_keys);
    }
}
