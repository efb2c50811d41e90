using System.IO.Hashing;
using System.Text;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Learning.Content;
using RecSys.Learning.Evaluation;
using RecSys.Learning.Interactions;

namespace RecSys.Trainer.Training;

/// <summary>Which events become interactions.</summary>
public enum PositiveRule
{
    /// <summary>Every event that marks an item seen (all but impressions and follows): a low rating is still a consumption.</summary>
    Seen,

    /// <summary>Only events with an engagement weight above 0 (a rating below 3 is left out).</summary>
    Engaged,
}

/// <summary>How events turn into interaction strengths.</summary>
public sealed record InteractionOptions
{
    /// <summary>Age at which an event counts half; zero turns recency off.</summary>
    public TimeSpan HalfLife { get; init; } = TimeSpan.Zero;

    public PositiveRule Positives { get; init; } = PositiveRule.Seen;

    /// <summary>Strength every positive event has before its engagement weight is added (so a view or low rating still counts).</summary>
    public float BaseStrength { get; init; } = 1f;
}

/// <summary>What loading the events found, for the console and the manifest.</summary>
public sealed record TrainingDataStats(
    long EventsRead,
    long Duplicates,
    long Invalid,
    long NotPositive,
    long OutsideWindow,
    int Interactions,
    int Users,
    int Items,
    int CatalogueItems,
    DateTimeOffset? FirstEvent,
    DateTimeOffset? LastEvent);

/// <summary>
/// Interactions built from events (deduplicated by event id) with <see cref="ConfidenceFunction"/>: strength =
/// decay(age) * (base + engagement weight of type and value), the age measured from the latest event (not the wall clock, so
/// the same events always give the same strengths). Interactions are put in a canonical order (event time, then user and
/// item id) and ids numbered by their first appearance in it, so the same events give the same matrix, split and models in
/// whatever order the log holds them (concurrent writers interleave differently from run to run); the catalogue (item metadata, last upsert wins) is kept for content embeddings of cold items.
/// </summary>
public sealed class TrainingData
{
    private TrainingData(
        IdIndexMap<string> users,
        IdIndexMap<string> items,
        List<Interaction> interactions,
        List<EventDto>? events,
        Dictionary<string, ItemContent> catalogue,
        TrainingDataStats stats)
    {
        Users = users;
        Items = items;
        Interactions = interactions;
        Events = events;
        Catalogue = catalogue;
        Stats = stats;
    }

    public IdIndexMap<string> Users { get; }

    public IdIndexMap<string> Items { get; }

    /// <summary>One per positive event; <see cref="Interaction.Timestamp"/> in Unix seconds.</summary>
    public IReadOnlyList<Interaction> Interactions { get; }

    /// <summary>The positive events behind <see cref="Interactions"/> (same order), when asked for at load.</summary>
    public IReadOnlyList<EventDto>? Events { get; }

    /// <summary>Item metadata by id, for every item upserted (with or without interactions).</summary>
    public IReadOnlyDictionary<string, ItemContent> Catalogue { get; }

    public TrainingDataStats Stats { get; }

    public InteractionMatrix BuildMatrix()
    {
        var users = new int[Interactions.Count];
        var items = new int[Interactions.Count];
        var strengths = new float[Interactions.Count];
        for (var e = 0; e < Interactions.Count; e++)
        {
            users[e] = Interactions[e].User;
            items[e] = Interactions[e].Item;
            strengths[e] = Interactions[e].Strength;
        }

        return InteractionMatrix.Build(Users.Count, Items.Count, users, items, strengths);
    }

    /// <summary>Catalogue items that have no interaction (the cold items), in id order.</summary>
    public IReadOnlyList<string> ColdItems() =>
        Catalogue.Keys.Where(id => !Items.TryGetIndex(id, out _)).Order(StringComparer.Ordinal).ToList();

    public static async Task<TrainingData> LoadAsync(
        IAsyncEnumerable<EventDto> events,
        IAsyncEnumerable<ItemDto>? items,
        InteractionOptions options,
        ExportWindowFilter window,
        bool keepEvents,
        Action<long>? onEvents,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(options);
        var catalogue = new Dictionary<string, ItemContent>(StringComparer.Ordinal);
        if (items is not null)
        {
            await foreach (var item in items.WithCancellation(cancellationToken))
            {
                if (!string.IsNullOrWhiteSpace(item.Id))
                {
                    catalogue[item.Id] = new ItemContent(item.Categories ?? [], item.Tags ?? [], item.Title);
                }
            }
        }

        var users = new IdIndexMap<string>();
        var itemIds = new IdIndexMap<string>();
        var seenIds = new HashSet<ulong>();
        var rows = new List<(int User, int Item, float Weight, long TimeMs)>();
        var kept = keepEvents ? new List<EventDto>() : null;
        long read = 0, duplicates = 0, invalid = 0, notPositive = 0, outside = 0;
        DateTimeOffset? first = null, last = null;
        await foreach (var e in events.WithCancellation(cancellationToken))
        {
            if (++read % 100_000 == 0)
            {
                onEvents?.Invoke(100_000);
            }

            if (string.IsNullOrWhiteSpace(e.UserId) || e.EventTime is not { } time || !EventTypes.TryParse(e.Type, out var type))
            {
                invalid++;
                continue;
            }

            if (e.EventId is { Length: > 0 } id && !seenIds.Add(XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(id))))
            {
                duplicates++;
                continue;
            }

            if (!window.Contains(time))
            {
                outside++;
                continue;
            }

            var weight = (float)EventTypes.EngagementWeight(type, e.Value);
            var positive = options.Positives == PositiveRule.Seen ? EventTypes.MarksSeen(type) : weight > 0;
            if (!positive || string.IsNullOrWhiteSpace(e.ItemId))
            {
                notPositive++;
                continue;
            }

            rows.Add((users.GetOrAdd(e.UserId), itemIds.GetOrAdd(e.ItemId), options.BaseStrength + weight, time.ToUnixTimeMilliseconds()));
            kept?.Add(e);
            first = first is null || time < first ? time : first;
            last = last is null || time > last ? time : last;
        }

        onEvents?.Invoke(read % 100_000);

        // Decay is measured from the latest event: reproducible, and the freshest data counts fully.
        var confidence = new ConfidenceFunction(new ConfidenceOptions { HalfLife = options.HalfLife }, last ?? DateTimeOffset.UnixEpoch);
        var order = new int[rows.Count];
        for (var r = 0; r < order.Length; r++)
        {
            order[r] = r;
        }

        Array.Sort(order, (a, b) =>
        {
            var (x, y) = (rows[a], rows[b]);
            var c = x.TimeMs.CompareTo(y.TimeMs);
            c = c != 0 ? c : string.CompareOrdinal(users.IdAt(x.User), users.IdAt(y.User));
            c = c != 0 ? c : string.CompareOrdinal(itemIds.IdAt(x.Item), itemIds.IdAt(y.Item));
            c = c != 0 ? c : x.Weight.CompareTo(y.Weight);
            return c != 0 ? c : a.CompareTo(b);
        });
        var canonicalUsers = new IdIndexMap<string>(users.Count);
        var canonicalItems = new IdIndexMap<string>(itemIds.Count);
        var interactions = new List<Interaction>(rows.Count);
        var ordered = kept is null ? null : new List<EventDto>(kept.Count);
        foreach (var r in order)
        {
            var (user, item, weight, ms) = rows[r];
            var seconds = DateTimeOffset.FromUnixTimeMilliseconds(ms).ToUnixTimeSeconds();
            interactions.Add(new Interaction(canonicalUsers.GetOrAdd(users.IdAt(user)), canonicalItems.GetOrAdd(itemIds.IdAt(item)),
                weight * confidence.Decay(DateTimeOffset.FromUnixTimeSeconds(seconds)), seconds));
            ordered?.Add(kept![r]);
        }

        var stats = new TrainingDataStats(read, duplicates, invalid, notPositive, outside, interactions.Count, canonicalUsers.Count, canonicalItems.Count, catalogue.Count, first, last);
        return new TrainingData(canonicalUsers, canonicalItems, interactions, ordered, catalogue, stats);
    }
}

/// <summary>The <c>--from</c>/<c>--until</c> event-time window (from inclusive, until exclusive), applied to files as the export applies it.</summary>
public sealed record ExportWindowFilter(DateTimeOffset? From, DateTimeOffset? Until)
{
    public static readonly ExportWindowFilter All = new(null, null);

    public bool Contains(DateTimeOffset time) =>
        (From is not { } from || time >= from) && (Until is not { } until || time < until);

    /// <summary>The query string of the export endpoint for this window ("" when open).</summary>
    public string ToQuery()
    {
        var parts = new List<string>();
        if (From is { } from)
        {
            parts.Add("from=" + Uri.EscapeDataString(from.ToString("O")));
        }

        if (Until is { } until)
        {
            parts.Add("until=" + Uri.EscapeDataString(until.ToString("O")));
        }

        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}
