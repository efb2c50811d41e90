using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;

// One AppHost at a time: two of them starting together on a 2-core machine miss the fault tests' deadlines.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace RecSys.IntegrationTests;

/// <summary>
/// Starts the whole AppHost once for the test run, in embedded mode, with its state in a temporary data root and a small
/// seeded world, the way a newcomer's <c>dotnet run</c> does.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    /// <summary>Generous: on a shared 2-core machine at load average 40, starting the processes alone took 3.5 minutes.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(8);

    /// <summary>The keys given to the AppHost (RecSys:Keys:*), so that the test clients can send them.</summary>
    public const string AdminKey = "it-admin-key-3b9f1e7c5a2d4f6e8c0b";
    public const string ProducerKey = "it-producer-key-7d1a3c5e9b2f4a6c8e0d";
    public const string ReaderKey = "it-reader-key-0f2e4d6c8b1a3f5e7d9c";

    private readonly string _dataRoot = Path.Combine(Path.GetTempPath(), "recsys-it-" + Guid.NewGuid().ToString("N")[..8]);

    private readonly int _onlineStorePort = FreeTcpPort();

    private FileLoggerProvider? _log;

    public DistributedApplication App { get; private set; } = null!;

    public HttpClient Ranking { get; private set; } = null!;

    public HttpClient Retrieval { get; private set; } = null!;

    public HttpClient FeatureServer { get; private set; } = null!;

    /// <summary>The AppHost's data root (each resource's state in a folder named after it).</summary>
    public string DataRoot => _dataRoot;

    /// <summary>The embedded online store's RESP port (fixed, not proxied).</summary>
    public int OnlineStorePort => _onlineStorePort;

    /// <summary>The last lines the AppHost and its resources logged.</summary>
    public string LogTail(int lines) => _log?.Tail(lines) ?? "";

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            [
                "RecSys:Infrastructure=embedded",
                $"RecSys:DataRoot={_dataRoot}",
                $"RecSys:OnlineStorePort={_onlineStorePort}",
                "RecSys:Seed:Users=150",
                "RecSys:Seed:Items=600",
                "RecSys:Seed:Seed=7",
                $"RecSys:Keys:Admin={AdminKey}",
                $"RecSys:Keys:Producer={ProducerKey}",
                $"RecSys:Keys:Reader={ReaderKey}",
            ],
            cts.Token);
        // The fault tests stall an index shard through Retrieval's test-only switch (a route that exists only when it is on).
        builder.CreateResourceBuilder(builder.Resources.OfType<ProjectResource>().Single(r => r.Name == ServiceNames.Retrieval))
            .WithEnvironment("Retrieval__FaultInjection__Enabled", "true");
        // The fault tests need Ranking's last-known popular list read soon after the seed, not at the default 30 s.
        builder.CreateResourceBuilder(builder.Resources.OfType<ProjectResource>().Single(r => r.Name == ServiceNames.Ranking))
            .WithEnvironment("Ranking__Fallback__LastKnownRefreshInterval", "00:00:03")
            // The model-serving test activates a release and waits for Ranking to look again (default every 30 s).
            .WithEnvironment("Ranking__Models__ReloadInterval", "00:00:02");
        Directory.CreateDirectory(_dataRoot);
        _log = new FileLoggerProvider(Path.Combine(_dataRoot, "apphost.log"));
        builder.Services.AddLogging(logging => logging.AddProvider(_log));
        App = await builder.BuildAsync(cts.Token);

        var waitingFor = "start";
        try
        {
            await App.StartAsync(cts.Token);
            foreach (var resource in new[] { "garnet", ServiceNames.FeatureServer, ServiceNames.Retrieval, ServiceNames.Ranking })
            {
                waitingFor = resource;
                await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
            }
        }
        catch (OperationCanceledException ex)
        {
            var tail = _log.Tail(150);
            await DisposeAsync();
            throw new TimeoutException($"The AppHost did not become healthy within {StartTimeout} (waiting for {waitingFor}). Last log lines:\n{tail}", ex);
        }

        // Ranking is called as a public reader; the other two serve admin routes the tests use (status, index).
        Ranking = CreateClient(ServiceNames.Ranking, ReaderKey);
        Retrieval = CreateClient(ServiceNames.Retrieval, AdminKey);
        FeatureServer = CreateClient(ServiceNames.FeatureServer, AdminKey);
    }

    /// <summary>A client of <paramref name="service"/> that sends <paramref name="apiKey"/>, or no key when null.</summary>
    public HttpClient CreateClient(string service, string? apiKey)
    {
        var client = App.CreateHttpClient(service);
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        return client;
    }

    public async Task DisposeAsync()
    {
        if (App is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await App.StopAsync(cts.Token);
            await App.DisposeAsync();
            App = null!;
        }

        _log?.Dispose();

        try
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a stopping process: the temp folder is cleaned by the OS later.
        }
    }

    /// <summary>Waits until the FeatureServer's stream processor has applied everything in the event log.</summary>
    public async Task WaitForProcessorAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var status = await FeatureServer.GetFromJsonAsync<FeatureServerStatus>("/v1/status", JsonDefaults.Options, cts.Token);
            if (status is not null && status.ProcessedPosition >= status.LogTail)
            {
                return;
            }

            await Task.Delay(200, cts.Token);
        }
    }

    private static int FreeTcpPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}
