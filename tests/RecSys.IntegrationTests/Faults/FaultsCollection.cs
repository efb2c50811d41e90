namespace RecSys.IntegrationTests.Faults;

/// <summary>
/// The fault tests get an AppHost of their own: they kill and freeze its processes, and the behaviour tests must not see a
/// system that is still recovering (a restarted Retrieval reloading its index, Ranking on its fallbacks).
/// </summary>
[CollectionDefinition(Name)]
public sealed class FaultsCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost faults";
}
