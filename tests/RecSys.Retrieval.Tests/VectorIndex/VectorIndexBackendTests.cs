using Microsoft.Extensions.Configuration;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Tests.VectorIndex;

/// <summary>Which backend the configuration chooses, and how the Qdrant connection string is read.</summary>
public sealed class VectorIndexBackendTests
{
    private static IConfiguration Config(string? backend, string? qdrant) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Retrieval:VectorIndex:Backend"] = backend,
            ["ConnectionStrings:qdrant"] = qdrant,
        })
        .Build();

    [Theory]
    [InlineData(null, null, VectorIndexBackend.Embedded)]
    [InlineData(null, "Endpoint=http://localhost:6334", VectorIndexBackend.Qdrant)]
    [InlineData("embedded", "Endpoint=http://localhost:6334", VectorIndexBackend.Embedded)]
    [InlineData("Qdrant", "http://localhost:6334", VectorIndexBackend.Qdrant)]
    public void The_backend_follows_the_setting_else_the_qdrant_connection_string(string? backend, string? qdrant, VectorIndexBackend expected) =>
        Assert.Equal(expected, VectorIndexExtensions.ResolveBackend(Config(backend, qdrant)));

    [Theory]
    [InlineData("qdrant", null, "ConnectionStrings:qdrant")]
    [InlineData("faiss", null, "'faiss'")]
    public void A_backend_that_cannot_run_is_a_clear_error(string backend, string? qdrant, string expected)
    {
        var error = Assert.Throws<InvalidOperationException>(() => VectorIndexExtensions.ResolveBackend(Config(backend, qdrant)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Endpoint=http://qdrant:6334", "http://qdrant:6334/", null)]
    [InlineData("Endpoint=https://q.example:6334;Key=secret", "https://q.example:6334/", "secret")]
    [InlineData("http://localhost:6334", "http://localhost:6334/", null)]
    public void Connection_strings_give_the_grpc_endpoint_and_key(string connectionString, string endpoint, string? key)
    {
        var (uri, apiKey) = QdrantClientExtensions.ParseConnectionString(connectionString);

        Assert.Equal(endpoint, uri.ToString());
        Assert.Equal(key, apiKey);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Host=qdrant")]
    [InlineData("Endpoint=qdrant:6334")]
    public void A_connection_string_without_an_endpoint_is_a_clear_error(string connectionString)
    {
        var error = Assert.Throws<ArgumentException>(() => QdrantClientExtensions.ParseConnectionString(connectionString));

        Assert.Contains("ConnectionStrings:qdrant", error.Message, StringComparison.Ordinal);
    }
}
