using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Hosting;
using RecSys.FeatureServer.Apis;
using RecSys.FeatureServer.Extensions;
using RecSys.FeatureStore.OfflineStore;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;

namespace RecSys.FeatureServer.Tests.OfflineStore;

/// <summary>
/// The FeatureServer host as Program.cs builds it plus <see cref="OfflineStoreExtensions.AddOfflineStore"/> and
/// <see cref="OfflineStoreApi.MapOfflineStoreApi"/>, on a test server, an embedded Garnet and a temporary data folder.
/// </summary>
public sealed class OfflineApiHost : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "recsys-offline-api-" + Guid.NewGuid().ToString("N"));
    private WebApplication? _app;

    public static readonly JsonSerializerOptions Json = CreateJson();

    public EmbeddedGarnet Garnet { get; } = new();

    public HttpClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    /// <summary>Most labels accepted by this host (kept small to test the limit).</summary>
    public const int MaxLabels = 50;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        builder.WebHost.UseTestServer();
        builder.Configuration["ConnectionStrings:online-store"] = Garnet.ConnectionString;
        builder.Configuration["FeatureServer:DataDirectory"] = _data;
        builder.Configuration["FeatureServer:Consistency:Enabled"] = "false";

        // The embedded log serves one reader at a time and its processor holds the read while it waits for records:
        // with the processor running, a backfill would read only as new records arrive (see the report to integrate).
        builder.Configuration["FeatureServer:RunProcessor"] = "false";
        builder.Configuration["FeatureServer:OfflineStore:MaxLabels"] = MaxLabels.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Configuration["RecSys:Security:Mode"] = "Open";
        builder.AddServiceDefaults();
        builder.AddRecSysSecurity();
        builder.AddFeatureServer();
        builder.AddOfflineStore();
        _app = builder.Build();
        _app.UseProblemDetailsForErrors();
        _app.UseRecSysSecurity();
        _app.MapOfflineStoreApi();
        await _app.StartAsync();
        Client = _app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Garnet.Dispose();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        options.MakeReadOnly();
        return options;
    }
}
