using RecSys.FeatureStore.Keys;
using System.Net;
using RecSys.FeatureStore.Serving;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.Serving;

/// <summary>
/// With no server behind the connection, every serving read and write fails with <see cref="OnlineStoreUnavailableException"/>
/// (the one type serving code catches) wrapping the client's failure, never with a StackExchange.Redis exception.
/// </summary>
public sealed class UnavailableStoreTests
{
    /// <summary>The reader calls, each on a connection to a port nobody listens on.</summary>
    public static TheoryData<string> Calls => [.. Operations.Keys];

    private static readonly Dictionary<string, Func<IConnectionMultiplexer, Task>> Operations = new()
    {
        ["trending"] = r => new CandidateSignalReader(r).ReadTrendingAsync(10, CancellationToken.None),
        ["user signals"] = r => new CandidateSignalReader(r).ReadUserSignalsAsync("u1", UserSignalsQuery.Default, CancellationToken.None),
        ["category popularity"] = r => new CandidateSignalReader(r).ReadCategoryPopularAsync([("news", 10)], CancellationToken.None),
        ["creator items"] = r => new CandidateSignalReader(r).ReadCreatorItemsAsync([("c1", 10)], CancellationToken.None),
        ["co-engaged"] = r => new CandidateSignalReader(r).ReadCoEngagedAsync([("i1", 10)], CancellationToken.None),
        ["eligibility"] = r => new EligibilityFilter(r).CheckAsync("u1", ["i1", "i2"], CancellationToken.None),
        ["item metadata"] = r => new ItemMetadataReader(r).ReadAsync(["i1", "i2"], CancellationToken.None),
        ["user embedding"] = r => new EmbeddingStore(r).GetAsync(EmbeddingKeys.Unversioned, "u1", 4, CancellationToken.None),
        ["base embedding writes"] = r => new EmbeddingStore(r).SetUsersAsync(EmbeddingKeys.Unversioned, [("u1", [1, 2, 3, 4])], CancellationToken.None),
        ["item embedding writes"] = r => new EmbeddingStore(r).SetItemsAsync(EmbeddingKeys.Unversioned, [("i1", [1, 2, 3, 4])], CancellationToken.None),
        ["item embedding deletes"] = r => new EmbeddingStore(r).DeleteItemsAsync(EmbeddingKeys.Unversioned, ["i1"], CancellationToken.None),
        ["active embedding version"] = r => new EmbeddingStore(r).GetActiveVersionAsync(CancellationToken.None),
        ["embedding version switch"] = r => new EmbeddingStore(r).ActivateAsync("v1", CancellationToken.None),
        ["embedding version staging"] = r => new EmbeddingStore(r).CreateVersionAsync("v1", 4, CancellationToken.None),
        ["versioned item embeddings"] = r => new EmbeddingStore(r).GetItemsAsync("v1", ["i1"], 4, CancellationToken.None),
    };

    private static async Task<ConnectionMultiplexer> DeadStoreAsync(BacklogPolicy backlog) =>
        await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { { IPAddress.Loopback, EmbeddedGarnet.FreeTcpPort() } },
            AbortOnConnectFail = false,
            ConnectTimeout = 200,
            AsyncTimeout = 300,
            SyncTimeout = 300,
            BacklogPolicy = backlog,
        });

    private static async Task AssertUnavailableAsync(Func<IConnectionMultiplexer, Task> call, BacklogPolicy backlog)
    {
        await using var redis = await DeadStoreAsync(backlog);

        var ex = await Assert.ThrowsAsync<OnlineStoreUnavailableException>(() => call(redis));

        Assert.True(OnlineStoreUnavailableException.IsStoreFailure(ex.InnerException!), ex.InnerException?.GetType().FullName);
    }

    /// <summary>The services' own setting: commands wait in the backlog for a reconnection, then time out.</summary>
    [Theory]
    [MemberData(nameof(Calls))]
    public Task Every_call_waiting_for_a_reconnection_fails_as_unavailable_when_it_times_out(string call) =>
        AssertUnavailableAsync(Operations[call], BacklogPolicy.Default);

    /// <summary>Commands that are refused at once (no backlog) fail as unavailable too.</summary>
    [Theory]
    [InlineData("trending")]
    [InlineData("user embedding")]
    [InlineData("item embedding deletes")]
    public Task A_call_refused_at_once_fails_as_unavailable(string call) =>
        AssertUnavailableAsync(Operations[call], BacklogPolicy.FailFast);

    /// <summary>
    /// With no backlog, sending a pipelined batch (<c>IBatch.Execute</c>) throws at once: the send must happen inside the
    /// guard that maps failures, or the client's exception escapes unmapped (it did before this test existed).
    /// </summary>
    [Theory]
    [InlineData("user signals")]
    [InlineData("category popularity")]
    [InlineData("creator items")]
    [InlineData("co-engaged")]
    [InlineData("eligibility")]
    [InlineData("item metadata")]
    [InlineData("base embedding writes")]
    [InlineData("item embedding writes")]
    public Task A_pipelined_call_refused_at_once_fails_as_unavailable(string call) =>
        AssertUnavailableAsync(Operations[call], BacklogPolicy.FailFast);
}
