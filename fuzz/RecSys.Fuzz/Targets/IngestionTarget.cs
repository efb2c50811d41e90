using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Validation;

namespace RecSys.Fuzz.Targets;

/// <summary>
/// The ingestion bodies of <c>POST /v1/events</c> and <c>PUT /v1/items</c>: the input is read with the services' JSON
/// settings as both an event batch and an item batch, and every record goes through <see cref="BatchValidator"/>.
/// A <see cref="JsonException"/> is what the host turns into a 400; anything else would be a 500.
/// </summary>
internal sealed class IngestionTarget : IFuzzTarget
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public string Name => "events";

    public string Description => "POST /v1/events and PUT /v1/items JSON bodies, BatchValidator";

    public void Run(ReadOnlySpan<byte> input)
    {
        try
        {
            var events = JsonSerializer.Deserialize<EventBatchRequest>(input, JsonDefaults.Options);
            if (events is not null && BatchValidator.CheckBatchSize(events.Events?.Count, "events") is null)
            {
                foreach (var e in events.Events!)
                {
                    if (BatchValidator.Validate(e, Now, out var valid) is null && valid is null)
                    {
                        throw new InvalidOperationException("An event passed validation without a domain event.");
                    }
                }
            }
        }
        catch (JsonException)
        {
            // 400 from the host.
        }

        try
        {
            var items = JsonSerializer.Deserialize<ItemBatchRequest>(input, JsonDefaults.Options);
            if (items is not null && BatchValidator.CheckBatchSize(items.Items?.Count, "items") is null)
            {
                foreach (var item in items.Items!)
                {
                    if (BatchValidator.Validate(item, out var valid) is null && valid is null)
                    {
                        throw new InvalidOperationException("An item passed validation without a domain item.");
                    }
                }
            }
        }
        catch (JsonException)
        {
            // 400 from the host.
        }
    }
}
