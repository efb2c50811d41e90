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
/// The uploaded labels file of <c>POST /v1/training-sets</c>, from the fields on: the column check
/// (<see cref="TrainingSetRequests.CheckFileColumns"/>), each row's conversion (<see cref="TrainingSetRequests.LabelFromFileRow"/>:
/// event times as ISO 8601 or unix milliseconds, labels and weights as numbers), then validation against two offline features into the
/// query the builder runs. The input is split into lines and comma-separated fields here: the reading of the file itself
/// is DuckDB's <c>read_csv</c> in the service, native code that is not ours and that cost a new database per input (43
/// executions per second); a <see cref="FormatException"/> is the endpoint's 400.
/// </summary>
internal sealed class TrainingLabelsCsvTarget : IFuzzTarget
{
    public string Name => "training-labels";

    public string Description => "labels file columns, row conversion and validation (TrainingSetRequests)";

    public void Run(ReadOnlySpan<byte> input)
    {
        var lines = System.Text.Encoding.UTF8.GetString(input).Split('\n');
        var header = lines[0].TrimEnd('\r').Split(',');
        List<TrainingLabel> labels = [];
        try
        {
            TrainingSetRequests.CheckFileColumns(header);
            int At(string column) => Array.IndexOf(header, column);
            var (user, item, creator, time, label, weight) = (At("user_id"), At("item_id"), At("creator_id"), At("event_time"), At("label"), At("weight"));
            for (var i = 1; i < lines.Length; i++)
            {
                var fields = lines[i].TrimEnd('\r').Split(',');
                string? Field(int index) => index >= 0 && index < fields.Length && fields[index].Length > 0 ? fields[index] : null;
                labels.Add(TrainingSetRequests.LabelFromFileRow(Field(user), Field(item), Field(creator), Field(time), Field(label), Field(weight)));
            }
        }
        catch (FormatException)
        {
            return;
        }

        TrainingSetPlan.Validate(TrainingSetPlan.Features, labels);
    }
}
