using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.FeatureStore.Validation;
using RecSys.Trainer.Generation;
using StackExchange.Redis;

namespace RecSys.Retrieval.Bench;

/// <summary>
/// The bench's world: the Trainer's generator (<see cref="SyntheticWorld"/>, the one <c>seed</c> sends to the demo), applied to
/// the store by the stream processor's own writer (<see cref="OnlineApplier"/>), and its latent vectors as the embedding
/// version the index is activated from (as <c>seed --latent-vectors</c> publishes them).
/// </summary>
internal static class BenchWorld
{
    /// <summary>The world's last event; requests are asked an hour later.</summary>
    public static readonly DateTimeOffset End = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly DateTimeOffset RequestTime = End.AddHours(1);

    public static WorldOptions Options(int items, int users, double eventsPerUser, int dimensions) => new()
    {
        Seed = 42,
        Items = items,
        Users = users,
        EventsPerUser = eventsPerUser,
        Dimensions = dimensions,
        End = End,
    };

    public static string EmbeddingVersion(int dimensions) => $"bench-d{dimensions}";

    /// <summary>Items, then events, in the generator's order, in batches of 512 as the processor applies them.</summary>
    public static async Task<(int Items, int Events)> ApplyAsync(IConnectionMultiplexer redis, SyntheticWorld world, TextWriter log)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var applier = new OnlineApplier(redis, new FeatureStoreTelemetry(services.GetRequiredService<IMeterFactory>(), new ProcessorState()));
        var position = await applier.InitializeAsync();
        var batch = new List<LogEntry>(512);
        long next = position;
        var items = 0;
        var events = 0;

        async Task FlushAsync()
        {
            if (batch.Count == 0)
            {
                return;
            }

            var result = await applier.ApplyAsync(batch, position, batch[^1].NextPosition);
            if (!result.Committed)
            {
                throw new InvalidOperationException($"The store refused the batch at position {position}.");
            }

            position = result.StoredPosition;
            batch.Clear();
        }

        async Task AddAsync(LogRecord record)
        {
            batch.Add(new LogEntry(next, next + 1, record));
            next++;
            if (batch.Count == 512)
            {
                await FlushAsync();
            }
        }

        foreach (var dto in world.Items())
        {
            if (BatchValidator.Validate(dto, out var item) is { } error)
            {
                throw new InvalidOperationException($"Item {dto.Id}: {error}");
            }

            await AddAsync(new ItemUpsertRecord(item!));
            items++;
        }

        var generator = new WorldEventGenerator(world);
        foreach (var dto in generator.GenerateDtos())
        {
            if (BatchValidator.Validate(dto, RequestTime, out var e) is { } error)
            {
                throw new InvalidOperationException($"Event {dto.EventId}: {error}");
            }

            await AddAsync(new EventRecord(e!));
            if (++events % 50_000 == 0)
            {
                log.WriteLine($"  {events:N0} events applied");
            }
        }

        await FlushAsync();
        return (items, events);
    }

    /// <summary>Stores the world's latent item and user vectors as a staged embedding version.</summary>
    public static async Task StoreEmbeddingsAsync(EmbeddingStore store, SyntheticWorld world, string version, CancellationToken cancellationToken)
    {
        var dim = world.Options.Dimensions;
        await store.CreateVersionAsync(version, dim, cancellationToken);
        for (var start = 0; start < world.Options.Items; start += 5_000)
        {
            var chunk = new List<(string, float[])>();
            for (var i = start; i < Math.Min(world.Options.Items, start + 5_000); i++)
            {
                chunk.Add((SyntheticWorld.ItemId(i), world.ItemVector(i).ToArray()));
            }

            await store.SetItemsAsync(version, chunk, cancellationToken);
        }

        var users = new List<(string, float[])>();
        for (var u = 0; u < world.Options.Users; u++)
        {
            users.Add((SyntheticWorld.UserId(u), world.UserVector(u).ToArray()));
        }

        await store.SetUsersAsync(version, users, cancellationToken);
    }
}
