using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;

namespace RecSys.FeatureStore.Validation;

/// <summary>Rules for the ingestion endpoints; each returns null when the input is valid, else a message.</summary>
public static class BatchValidator
{
    public const int MaxBatchSize = 10_000;
    public const int MaxEventIdLength = 128;
    public const int MaxListEntries = 32;
    public const int MaxListEntryLength = 64;
    public const int MaxTitleLength = 1024;
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>Null when the batch size is acceptable, else the message.</summary>
    public static string? CheckBatchSize(int? count, string what) => count switch
    {
        null or 0 => $"The batch must contain 1 to {MaxBatchSize:N0} {what}.",
        > MaxBatchSize => $"The batch has {count:N0} {what}; at most {MaxBatchSize:N0} are accepted.",
        _ => null,
    };

    public static bool IsValidEventId(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxEventIdLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Validates one event against the clock; on success <paramref name="valid"/> holds the domain event.</summary>
    public static string? Validate(EventDto? dto, DateTimeOffset now, out InteractionEvent? valid)
    {
        valid = null;
        if (dto is null)
        {
            return "The event is null.";
        }

        if (!IsValidEventId(dto.EventId))
        {
            return $"eventId must be 1 to {MaxEventIdLength} characters without whitespace or control characters.";
        }

        if (!EntityIds.IsValid(dto.UserId))
        {
            return $"userId must be {EntityIds.Description}.";
        }

        if (!EventTypes.TryParse(dto.Type, out var type))
        {
            return $"type '{dto.Type}' is not one of: {string.Join(", ", Enum.GetValues<EventType>().Select(t => t.WireName()))}.";
        }

        if (type.TargetsCreator())
        {
            if (!EntityIds.IsValid(dto.CreatorId))
            {
                return $"creatorId is required for a follow and must be {EntityIds.Description}.";
            }

            if (dto.ItemId is not null && !EntityIds.IsValid(dto.ItemId))
            {
                return $"itemId must be {EntityIds.Description} when present.";
            }
        }
        else
        {
            if (!EntityIds.IsValid(dto.ItemId))
            {
                return $"itemId is required for a {type.WireName()} and must be {EntityIds.Description}.";
            }

            if (dto.CreatorId is not null && !EntityIds.IsValid(dto.CreatorId))
            {
                return $"creatorId must be {EntityIds.Description} when present.";
            }
        }

        if (dto.EventTime is not { } time)
        {
            return "eventTime is required.";
        }

        if (time > now + MaxClockSkew)
        {
            return $"eventTime {time:O} is more than {MaxClockSkew.TotalMinutes:F0} minutes in the future.";
        }

        if (dto.Value is { } v && !double.IsFinite(v))
        {
            return "value must be a finite number when present.";
        }

        if (dto.RequestId is not null && !IsValidEventId(dto.RequestId))
        {
            return $"requestId must be 1 to {MaxEventIdLength} characters without whitespace or control characters when present.";
        }

        if (dto.ModelVersion is not null && !IsValidEventId(dto.ModelVersion))
        {
            return $"modelVersion must be 1 to {MaxEventIdLength} characters without whitespace or control characters when present.";
        }

        valid = new InteractionEvent(dto.EventId!, dto.UserId!, dto.ItemId, dto.CreatorId, type, dto.Value, time)
        {
            RequestId = dto.RequestId,
            ModelVersion = dto.ModelVersion,
        };
        return null;
    }

    /// <summary>Validates one item; on success <paramref name="valid"/> holds the domain item (available defaults to true).</summary>
    public static string? Validate(ItemDto? dto, out CatalogItem? valid)
    {
        valid = null;
        if (dto is null)
        {
            return "The item is null.";
        }

        if (!EntityIds.IsValid(dto.Id))
        {
            return $"id must be {EntityIds.Description}.";
        }

        if (dto.CreatorId is not null && !EntityIds.IsValid(dto.CreatorId))
        {
            return $"creatorId must be {EntityIds.Description} when present.";
        }

        if (CheckList(dto.Categories, "categories") is { } catError)
        {
            return catError;
        }

        if (CheckList(dto.Tags, "tags") is { } tagError)
        {
            return tagError;
        }

        if (dto.CreatedAt is not { } createdAt)
        {
            return "createdAt is required.";
        }

        if (dto.Title is { Length: > MaxTitleLength })
        {
            return $"title must be at most {MaxTitleLength} characters.";
        }

        valid = new CatalogItem(
            dto.Id!,
            dto.CreatorId,
            dto.Categories?.Distinct(StringComparer.Ordinal).ToArray() ?? [],
            dto.Tags?.Distinct(StringComparer.Ordinal).ToArray() ?? [],
            createdAt,
            dto.Available ?? true,
            dto.Title);
        return null;
    }

    private static string? CheckList(IReadOnlyList<string>? values, string name)
    {
        if (values is null)
        {
            return null;
        }

        if (values.Count > MaxListEntries)
        {
            return $"{name} has {values.Count} entries; at most {MaxListEntries} are accepted.";
        }

        foreach (var value in values)
        {
            if (string.IsNullOrEmpty(value) || value.Length > MaxListEntryLength)
            {
                return $"each of {name} must be 1 to {MaxListEntryLength} characters.";
            }

            if (value.Contains(ItemFields.ListSeparator, StringComparison.Ordinal))
            {
                return $"{name} must not contain '{ItemFields.ListSeparator}'.";
            }
        }

        return null;
    }
}
