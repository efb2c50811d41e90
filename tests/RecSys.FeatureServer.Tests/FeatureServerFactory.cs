using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using RecSys.TestSupport;

namespace RecSys.FeatureServer.Tests;

/// <summary>The FeatureServer in-process against an embedded Garnet and a temporary event log.</summary>
public sealed class FeatureServerFactory : WebApplicationFactory<Program>
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "recsys-fs-api-" + Guid.NewGuid().ToString("N"));

    private bool _disposed;

    /// <summary>Serves on a real Kestrel port: the test server does not enforce request body limits.</summary>
    public FeatureServerFactory() => UseKestrel(0);

    public EmbeddedGarnet Garnet { get; } = new();

    /// <summary>The wire settings (camelCase, enums as names) for the test client.</summary>
    public static readonly JsonSerializerOptions Json = CreateJson();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:online-store", Garnet.ConnectionString);
        builder.UseSetting("FeatureServer:DataDirectory", _dataDirectory);
        builder.UseSetting("FeatureServer:ApplyBatchSize", "256");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && !_disposed)
        {
            _disposed = true;
            Garnet.Dispose();
            if (Directory.Exists(_dataDirectory))
            {
                Directory.Delete(_dataDirectory, recursive: true);
            }
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
