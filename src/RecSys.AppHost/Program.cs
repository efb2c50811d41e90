using RecSys.AppHost;
using RecSys.Core.Domain;

var builder = DistributedApplication.CreateBuilder(args);
var settings = RecSysSettings.From(builder);
var keys = ApiKeys.Add(builder);

IResource storeResource;
ReferenceExpression onlineStore;
KafkaResources? kafka = null;
(IResourceBuilder<ContainerResource> Resource, ReferenceExpression ConnectionString)? qdrant = null;
if (settings.Mode == InfrastructureMode.Embedded)
{
    (storeResource, onlineStore) = builder.AddEmbeddedOnlineStore(settings);
}
else
{
    (storeResource, onlineStore) = builder.AddRedisOnlineStore();
    kafka = builder.AddKafkaBroker(settings);
    qdrant = builder.AddQdrant();
}

var store = builder.CreateResourceBuilder(storeResource);

var featureServer = builder.AddProject<Projects.RecSys_FeatureServer>(ServiceNames.FeatureServer)
    .WithConfiguredPort(builder.Configuration)
    .WithDirectHttpEndpoint(settings.DirectEndpoints)
    .WithConnectionString(ServiceNames.OnlineStore, onlineStore)
    .WithEnvironment("FeatureServer__DataDirectory", settings.DataFolder(ServiceNames.FeatureServer))
    .WithHttpHealthCheck("/health")
    .WaitFor(store);

var retrieval = builder.AddProject<Projects.RecSys_Retrieval>(ServiceNames.Retrieval)
    .WithConfiguredPort(builder.Configuration)
    .WithDirectHttpEndpoint(settings.DirectEndpoints)
    .WithConnectionString(ServiceNames.OnlineStore, onlineStore)
    .WithEnvironment("Retrieval__DataDirectory", settings.DataFolder(ServiceNames.Retrieval))
    .WithEnvironment("Retrieval__VectorIndex__Dimensions", settings.SeedDimensions.ToString(System.Globalization.CultureInfo.InvariantCulture))
    .WithHttpHealthCheck("/health")
    .WaitFor(store);

var ranking = builder.AddProject<Projects.RecSys_Ranking>(ServiceNames.Ranking)
    .WithConfiguredPort(builder.Configuration)
    .WithDirectHttpEndpoint(settings.DirectEndpoints)
    .WithConnectionString(ServiceNames.OnlineStore, onlineStore)
    .WithEnvironment("Ranking__Models__Path", Path.Combine(settings.ModelRegistry, "rankers"))
    .WithEnvironment("Ranking__Fallback__DataDirectory", settings.DataFolder(ServiceNames.Ranking))
    .WithReference(retrieval)
    .WithReference(featureServer)
    // The feedback loop: served lists go to the event log as impressions; clicks are read back for the rollout's CTR gate.
    .WithEnvironment("Ranking__Feedback__FeatureServerBaseAddress", "http://" + ServiceNames.FeatureServer)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints()
    .WaitFor(retrieval);

// The ranker rollout as a resource: state, gates and per-version metrics, with start / promote / roll back commands.
builder.AddRollout(ranking, keys.Admin);

// Containers mode only: the optional containers are waited for only when they exist (embedded mode has none).
if (kafka is not null)
{
    featureServer.WithConnectionString(ServiceNames.Kafka, kafka.BootstrapServers)
        .WithEnvironment("FeatureServer__Kafka__Topic", settings.KafkaTopic)
        .WaitFor(kafka.Broker)
        .WaitForCompletion(kafka.TopicInit);
}

if (qdrant is { } q)
{
    retrieval.WithConnectionString(ServiceNames.Qdrant, q.ConnectionString)
        .WaitFor(q.Resource);
}

IResourceBuilder<ProjectResource>? seed = null;
if (settings.SeedEnabled)
{
    // One-shot: loads a demo world when the store is empty, then exits.
    seed = builder.AddProject<Projects.RecSys_Trainer>(ServiceNames.Seed)
        .WithArgs([.. settings.SeedArguments])
        .WithReference(featureServer)
        .WithReference(retrieval)
        .WaitFor(featureServer)
        .WaitFor(retrieval);
}

if (settings.Retraining.Enabled)
{
    // Long-running: train --publish on a schedule (first at the next slot) and on the dashboard's "Train now".
    var retrain = builder.AddRetraining(settings.Retraining, keys.Admin)
        .WithReference(featureServer)
        .WithReference(retrieval)
        .WaitFor(featureServer)
        .WaitFor(retrieval);
    if (seed is not null)
    {
        // The seed has just trained and published: the schedule starts after it.
        retrain.WaitForCompletion(seed);
    }
}

keys.Wire(builder);
builder.WithMetricExportInterval(settings.MetricExportInterval);
builder.Build().Run();
