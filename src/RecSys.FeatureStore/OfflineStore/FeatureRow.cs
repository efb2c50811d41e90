namespace RecSys.FeatureStore.OfflineStore;

/// <summary>
/// One value of one feature of one entity, as the offline store keeps it: <paramref name="Value"/> for numbers,
/// <paramref name="Ids"/> (joined by <see cref="Keys.ItemFields.ListSeparator"/>) for id lists;
/// <paramref name="EventTimeMs"/> is the event time the value is as of, <paramref name="CreatedTimeMs"/> when it became
/// known (written). Both unix milliseconds, UTC.
/// </summary>
public readonly record struct FeatureRow(
    string EntityKind,
    string EntityId,
    string Feature,
    double? Value,
    string? Ids,
    long EventTimeMs,
    long CreatedTimeMs);
