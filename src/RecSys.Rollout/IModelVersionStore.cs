using RecSys.Learning.Registry;

namespace RecSys.Rollout;

/// <summary>The engine's view of the model registry, so tests can stand in a fake and hosts can wrap another store.</summary>
public interface IModelVersionStore
{
    /// <summary>The version serving production for <paramref name="kind"/>, or null when none is active.</summary>
    string? ActiveVersion(string kind);

    /// <summary>Why <paramref name="version"/> may not be rolled out (missing, failed before, files changed), or null when it may.</summary>
    string? CandidateProblem(string kind, string version);

    /// <summary>Makes the version production (the previous one is kept for rollback).</summary>
    void Promote(string kind, string version);

    /// <summary>Marks the version failed with the reason; it is never rolled out again.</summary>
    void MarkFailed(string kind, string version, string reason);

    /// <summary>Removes old versions beyond the retention; returns the versions removed.</summary>
    IReadOnlyList<string> CleanUp(string kind);
}

/// <summary><see cref="IModelVersionStore"/> over the <see cref="ModelRegistry"/> of the learning library.</summary>
public sealed class ModelRegistryVersionStore : IModelVersionStore
{
    private readonly ModelRegistry _registry;
    private readonly int _retainVersions;

    public ModelRegistryVersionStore(ModelRegistry registry, int retainVersions)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentOutOfRangeException.ThrowIfLessThan(retainVersions, 1);
        _registry = registry;
        _retainVersions = retainVersions;
    }

    public string? ActiveVersion(string kind) => _registry.GetActive(kind)?.Version;

    public string? CandidateProblem(string kind, string version)
    {
        var entry = _registry.Get(kind, version);
        if (entry is null)
        {
            return $"{kind} version '{version}' is not registered";
        }

        switch (entry.State)
        {
            case ModelState.Failed:
                return $"{kind} version '{version}' failed before ({entry.Reason}); register a new version";
            case ModelState.Active:
                return $"{kind} version '{version}' is already active";
        }

        var problems = _registry.Verify(entry);
        return problems.Count == 0 ? null : $"{kind} version '{version}' does not match its registration: {string.Join("; ", problems)}";
    }

    public void Promote(string kind, string version) => _registry.Activate(kind, version);

    public void MarkFailed(string kind, string version, string reason) => _registry.MarkFailed(kind, version, reason);

    public IReadOnlyList<string> CleanUp(string kind) => _registry.Prune(kind, _retainVersions);
}
