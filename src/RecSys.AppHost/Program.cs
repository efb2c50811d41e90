using RecSys.AppHost;
using RecSys.Core.Domain;

var builder = DistributedApplication.CreateBuilder(args);
var settings = RecSysSettings.From(builder);

IResource storeResource;
ReferenceExpression onlineStore;
ReferenceExpression? kafka = null, qdrant = null;
if (settings.Mode == InfrastructureMode.Embedded)
{
    (storeResource, onlineStore) = builder.AddEmbeddedOnlineStore(settings);
}
else
{
    (storeResource, onlineStore) = builder.AddRedisOnlineStore();
    (_, kafka) = builder.AddKafkaBroker();
    (_, qdrant) = builder.AddQdrant();
}

var store = builder.CreateResourceBuilder(storeResource);

var featureServer = builder.AddProject<Projects.RecSys_FeatureServer>(ServiceNames.FeatureServer)
    .WithConnectionString(ServiceNames.OnlineStore, onlineStore)
    .WithEnvironment("FeatureServer__DataDirectory", settings.DataFolder(ServiceNames.FeatureServer))
    .WithHttpHealthCheck("/health")
    .WaitFor(store);

var retrieval = builder.AddProject<Projects.RecSys_Retrieval>(ServiceNames.Retrieval)
    .WithConnectionString(ServiceNames.OnlineStore, onlineStore)
    .WithEnvironment("Retrieval__DataDirectory", settings.DataFolder(ServiceNames.Retrieval))
    .WithEnvironment("Retrieval__VectorIndex__Dimensions", settings.SeedDimensions.ToString(System.Globalization.CultureInfo.InvariantCulture))
    .WithHttpHealthCheck("/health")
    .WaitFor(store);

var ranking = builder.AddProject<Projects.RecSys_Ranking>(ServiceNames.Ranking)
    .WithConnectionString(ServiceNames.OnlineStore, onlineStore)
    .WithReference(retrieval)
    .WithReference(featureServer)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints()
    .WaitFor(retrieval);

if (kafka is not null)
{
    featureServer.WithConnectionString(ServiceNames.Kafka, kafka);
}

if (qdrant is not null)
{
    retrieval.WithConnectionString(ServiceNames.Qdrant, qdrant);
}

if (settings.SeedEnabled)
{
    // One-shot: loads a demo world when the store is empty, then exits.
    builder.AddProject<Projects.RecSys_Trainer>(ServiceNames.Trainer)
        .WithArgs([.. settings.SeedArguments])
        .WithReference(featureServer)
        .WithReference(retrieval)
        .WaitFor(featureServer)
        .WaitFor(retrieval);
}

builder.Build().Run();
