using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Registry;

namespace RecSys.Fuzz.Targets;

/// <summary>Shared by the two training-set targets: the default registry's offline plan and a valid feature list.</summary>
internal static class TrainingSetPlan
{
    public static readonly OfflineFeaturePlan Plan = new(new FeatureRegistry());

    /// <summary>Two offline features of different entity kinds, so that labels must name both ids.</summary>
    public static readonly IReadOnlyList<string> Features =
    [
        .. Plan.Registry.Definitions
            .Where(d => Plan.TryGet(d.Name, out _))
            .GroupBy(d => d.EntityKind, StringComparer.Ordinal)
            .Select(g => g.First().Name)
            .Take(2),
    ];

    public static void Validate(IReadOnlyList<string>? features, IReadOnlyList<TrainingLabel>? labels)
    {
        var errors = TrainingSetRequests.Validate(features, labels, Plan, out var query);
        if ((errors is null) == (query is null))
        {
            throw new InvalidOperationException("Validation must give either errors or a query.");
        }
    }
}

/// <summary>The JSON body of <c>POST /v1/training-sets</c>, read with the services' JSON settings and validated.</summary>
internal sealed class TrainingSetJsonTarget : IFuzzTarget
{
    public string Name => "training-set";

    public string Description => "TrainingSetRequest JSON body and TrainingSetRequests.Validate";

    public void Run(ReadOnlySpan<byte> input)
    {
        TrainingSetRequest? request;
        try
        {
            request = JsonSerializer.Deserialize<TrainingSetRequest>(input, JsonDefaults.Options);
        }
        catch (JsonException)
        {
            return; // 400 from the host.
        }

        if (request is not null)
        {
            TrainingSetPlan.Validate(request.Features, request.Labels);
        }
    }
}

/// <summary>
/// The uploaded CSV labels file of <c>POST /v1/training-sets</c>: read through DuckDB by
/// <see cref="TrainingSetRequests.ReadFileAsync"/> (a <see cref="FormatException"/> is its clear refusal), then
/// validated against two offline features.
/// </summary>
internal sealed class TrainingLabelsCsvTarget(Scratch scratch) : IFuzzTarget
{
    private readonly string _path = Path.Combine(scratch.Folder("labels"), "labels.csv");

    public string Name => "training-labels";

    public string Description => "TrainingSetRequests.ReadFileAsync over a CSV labels file";

    public void Run(ReadOnlySpan<byte> input)
    {
        Scratch.Put(_path, input);
        List<TrainingLabel> labels;
        try
        {
            labels = TrainingSetRequests.ReadFileAsync(_path, parquet: false, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (FormatException)
        {
            return;
        }

        TrainingSetPlan.Validate(TrainingSetPlan.Features, labels);
    }
}
