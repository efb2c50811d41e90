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
    private readonly Action<IWebHostBuilder>? _configure;

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "recsys-fs-api-" + Guid.NewGuid().ToString("N"));

    private bool _disposed;

    /// <summary>Serves on a real Kestrel port: the test server does not enforce request body limits.</summary>
    public FeatureServerFactory()
        : this(null)
    {
    }

    private FeatureServerFactory(Action<IWebHostBuilder>? configure)
    {
        _configure = configure;
        UseKestrel(0);
    }

    /// <summary>A factory whose settings <paramref name="configure"/> changes after the defaults (the security tests turn keys on).</summary>
    public static FeatureServerFactory With(Action<IWebHostBuilder> configure) => new(configure);

    public EmbeddedGarnet Garnet { get; } = new();

    /// <summary>The wire settings (camelCase, enums as names) for the test client.</summary>
    public static readonly JsonSerializerOptions Json = CreateJson();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:online-store", Garnet.ConnectionString);
        builder.UseSetting("FeatureServer:DataDirectory", _dataDirectory);
        builder.UseSetting("FeatureServer:ApplyBatchSize", "256");

        // Keys are covered by SecurityTests; the API tests act as every role.
        builder.UseSetting("RecSys:Security:Mode", "Open");
        _configure?.Invoke(builder);
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
