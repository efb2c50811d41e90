namespace RecSys.Core.Domain;

/// <summary>Resource names shared by the AppHost and the services (connection strings, service discovery).</summary>
public static class ServiceNames
{
    public const string Ranking = "ranking";
    public const string Retrieval = "retrieval";
    public const string FeatureServer = "featureserver";
    /// <summary>The one-shot resource that seeds an empty system (the Trainer CLI's <c>seed</c> command).</summary>
    public const string Seed = "seed";
    public const string OnlineStore = "online-store";
    public const string Kafka = "kafka";
    public const string Qdrant = "qdrant";
}
