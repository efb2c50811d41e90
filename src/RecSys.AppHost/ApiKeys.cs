using Microsoft.Extensions.Configuration;
using RecSys.Core.Domain;
using RecSys.ServiceDefaults.Security;

namespace RecSys.AppHost;

/// <summary>
/// The three API keys of a local run (admin, producer, reader): from <c>RecSys:Keys:Admin|Producer|Reader</c> when given,
/// else new random ones at every start. They are secret parameters, so the dashboard shows them (Parameters); the
/// services get only their hashes, the clients the keys themselves.
/// </summary>
internal sealed class ApiKeys
{
    public const string ConfigurationSection = "RecSys:Keys";

    /// <summary>What the Trainer reads its key from (TrainerEnvironment.ApiKeyVariable).</summary>
    public const string TrainerApiKeyVariable = "RECSYS_API_KEY";

    private readonly IReadOnlyList<(string Client, string Role, string Key)> _clients;

    private ApiKeys(IDistributedApplicationBuilder builder, string admin, string producer, string reader)
    {
        _clients = [("admin", RecSysRoles.Admin, admin), ("producer", RecSysRoles.Producer, producer), ("reader", RecSysRoles.PublicRead, reader)];
        Admin = Parameter(builder, "admin", admin, "Every route, admin ones included (index, rebuild, backfill, export, training sets). The seed and the retraining job use it.");
        Producer = Parameter(builder, "producer", producer, "Ingestion: POST /v1/events and PUT /v1/items on the FeatureServer.");
        Reader = Parameter(builder, "reader", reader, "Public reads: GET /v1/recommendations on Ranking, POST /v1/candidates on Retrieval. Ranking uses it to call Retrieval.");
    }

    public IResourceBuilder<ParameterResource> Admin { get; }

    public IResourceBuilder<ParameterResource> Producer { get; }

    public IResourceBuilder<ParameterResource> Reader { get; }

    public static ApiKeys Add(IDistributedApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(ConfigurationSection);
        return new ApiKeys(builder, Read(section, "Admin"), Read(section, "Producer"), Read(section, "Reader"));
    }

    /// <summary>
    /// Once every resource is added: the three services get the hashes, Ranking the reader key for Retrieval, the seed
    /// and the retraining job the admin key (in <c>RECSYS_API_KEY</c>); the retraining job also the hashes, for its own POST /run.
    /// </summary>
    public void Wire(IDistributedApplicationBuilder builder)
    {
        foreach (var project in builder.Resources.OfType<ProjectResource>().ToList())
        {
            var resource = builder.CreateResourceBuilder(project);
            switch (project.Name)
            {
                case ServiceNames.FeatureServer or ServiceNames.Retrieval:
                    Authorize(resource);
                    break;
                case ServiceNames.Ranking:
                    // Producer to log impressions; admin to read clicks back from the event export (an admin-only route).
                    Authorize(resource).WithEnvironment("Ranking__RetrievalApiKey", Reader)
                        .WithEnvironment("Ranking__Feedback__ApiKey", Producer)
                        .WithEnvironment("Ranking__Feedback__ExportApiKey", Admin);
                    break;
                case ServiceNames.Seed:
                    resource.WithEnvironment(TrainerApiKeyVariable, Admin);
                    break;
                case RetrainingResource.Name:
                    // A client of the services (admin key) and a host itself: its POST /run takes the same keys.
                    Authorize(resource).WithEnvironment(TrainerApiKeyVariable, Admin);
                    break;
            }
        }
    }

    /// <summary>Gives a service the hash and role of each key (never a key itself).</summary>
    private IResourceBuilder<ProjectResource> Authorize(IResourceBuilder<ProjectResource> service)
    {
        foreach (var (client, role, key) in _clients)
        {
            service.WithEnvironment($"RecSys__Security__ApiKeys__{client}__Hash", ApiKeyHasher.Hash(key))
                .WithEnvironment($"RecSys__Security__ApiKeys__{client}__Roles__0", role);
        }

        return service;
    }

    private static string Read(IConfigurationSection section, string name)
    {
        var key = section[name];
        if (string.IsNullOrWhiteSpace(key))
        {
            return ApiKeyHasher.NewKey();
        }

        key = key.Trim();
        if (key.Length < 16 || key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c > '\u007e'))
        {
            throw new InvalidOperationException($"{ConfigurationSection}:{name} must be at least 16 printable ASCII characters without spaces (or unset: a random key is generated).");
        }

        return key;
    }

    private static IResourceBuilder<ParameterResource> Parameter(IDistributedApplicationBuilder builder, string client, string key, string description) =>
        builder.AddParameter($"api-key-{client}", key, secret: true).WithDescription($"API key '{client}' (header X-Api-Key). {description}");
}
