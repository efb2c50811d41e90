namespace RecSys.Core.Domain;

/// <summary>An item of the catalog, as upserted by <c>PUT /v1/items</c>. Items without a known creator have a null <see cref="CreatorId"/>.</summary>
public sealed record CatalogItem(
    string Id,
    string? CreatorId,
    IReadOnlyList<string> Categories,
    IReadOnlyList<string> Tags,
    DateTimeOffset CreatedAt,
    bool Available = true,
    string? Title = null);
