namespace RecSys.Rollout.Tests;

/// <summary>An in-memory model registry that records what the engine asked of it.</summary>
internal sealed class FakeVersionStore : IModelVersionStore
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _registered = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);

    public FakeVersionStore(string? active, params string[] candidates)
    {
        Active = active;
        if (active is not null)
        {
            _registered.Add(active);
        }

        foreach (var candidate in candidates)
        {
            _registered.Add(candidate);
        }
    }

    public string? Active { get; private set; }
    public List<string> Promoted { get; } = [];
    public int CleanUps { get; private set; }
    public bool FailPromotion { get; set; }

    public IReadOnlyDictionary<string, string> Failed
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, string>(_failed);
            }
        }
    }

    public string? ActiveVersion(string kind) => Active;

    public string? CandidateProblem(string kind, string version)
    {
        lock (_lock)
        {
            return !_registered.Contains(version) ? $"{version} is not registered"
                : _failed.TryGetValue(version, out var reason) ? $"{version} failed before ({reason})"
                : null;
        }
    }

    public void Promote(string kind, string version)
    {
        if (FailPromotion)
        {
            throw new InvalidDataException($"{version}: model.onnx changed since registration");
        }

        Active = version;
        Promoted.Add(version);
    }

    public void MarkFailed(string kind, string version, string reason)
    {
        lock (_lock)
        {
            _failed[version] = reason;
        }
    }

    public IReadOnlyList<string> CleanUp(string kind)
    {
        CleanUps++;
        return [];
    }
}
