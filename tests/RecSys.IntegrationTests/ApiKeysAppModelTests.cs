using RecSys.Core.Domain;
using RecSys.ServiceDefaults.Security;

namespace RecSys.IntegrationTests;

/// <summary>How the AppHost hands out keys, read from the app model without starting anything.</summary>
public sealed class ApiKeysAppModelTests
{
    private const string Admin = "model-admin-key-0123456789";
    private const string Producer = "model-producer-key-0123456789";
    private const string Reader = "model-reader-key-0123456789";

    [Fact]
    public async Task Services_get_only_hashes_and_the_clients_get_the_keys_as_secret_parameters()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", $"RecSys:Keys:Admin={Admin}", $"RecSys:Keys:Producer={Producer}", $"RecSys:Keys:Reader={Reader}"]);

        var parameters = builder.Resources.OfType<ParameterResource>().Where(p => p.Name.StartsWith("api-key-", StringComparison.Ordinal)).ToDictionary(p => p.Name);
        Assert.Equal(["api-key-admin", "api-key-producer", "api-key-reader"], parameters.Keys.Order());
        Assert.All(parameters.Values, p => Assert.True(p.Secret));
        Assert.Equal(Admin, await parameters["api-key-admin"].GetValueAsync(CancellationToken.None));

        // The retraining job is a host too (its POST /run takes the admin policy), so it gets the hashes like the services.
        foreach (var service in new[] { ServiceNames.FeatureServer, ServiceNames.Retrieval, ServiceNames.Ranking, "retrain" })
        {
            var environment = await AppModelTests.EnvironmentOf(builder, service);
            Assert.Equal(ApiKeyHasher.Hash(Admin), environment["RecSys__Security__ApiKeys__admin__Hash"]);
            Assert.Equal(RecSysRoles.Admin, environment["RecSys__Security__ApiKeys__admin__Roles__0"]);
            Assert.Equal(ApiKeyHasher.Hash(Producer), environment["RecSys__Security__ApiKeys__producer__Hash"]);
            Assert.Equal(RecSysRoles.Producer, environment["RecSys__Security__ApiKeys__producer__Roles__0"]);
            Assert.Equal(ApiKeyHasher.Hash(Reader), environment["RecSys__Security__ApiKeys__reader__Hash"]);
            Assert.Equal(RecSysRoles.PublicRead, environment["RecSys__Security__ApiKeys__reader__Roles__0"]);
            Assert.DoesNotContain(environment.Values, v => v.Contains(Admin, StringComparison.Ordinal) || v.Contains(Reader, StringComparison.Ordinal));
        }

        Assert.Equal("{api-key-admin.value}", (await AppModelTests.EnvironmentOf(builder, "retrain"))["RECSYS_API_KEY"]);

        Assert.Equal("{api-key-reader.value}", (await AppModelTests.EnvironmentOf(builder, ServiceNames.Ranking))["Ranking__RetrievalApiKey"]);
        Assert.Equal("{api-key-admin.value}", (await AppModelTests.EnvironmentOf(builder, ServiceNames.Seed))["RECSYS_API_KEY"]);
    }

    [Fact]
    public async Task Without_configured_keys_new_random_ones_are_generated()
    {
        var first = await KeyOf(await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(["RecSys:Infrastructure=embedded"]));
        var second = await KeyOf(await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(["RecSys:Infrastructure=embedded"]));

        Assert.True(first.Length >= 43);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task A_configured_key_that_cannot_be_a_header_stops_the_apphost_with_a_clear_error()
    {
        var error = await Record.ExceptionAsync(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", "RecSys:Keys:Admin=short"]));

        Assert.NotNull(error);
        Assert.Contains("RecSys:Keys:Admin must be at least 16 printable ASCII characters", error.ToString(), StringComparison.Ordinal);
    }

    private static async Task<string> KeyOf(IDistributedApplicationTestingBuilder builder) =>
        (await builder.Resources.OfType<ParameterResource>().Single(p => p.Name == "api-key-admin").GetValueAsync(CancellationToken.None))!;
}
