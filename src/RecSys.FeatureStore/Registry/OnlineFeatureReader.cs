using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.Registry;

/// <summary>
/// Online feature serving for many entities: validates a request against the registry and reads it
/// through the <see cref="IOnlineFeatureStore"/> (defaults for missing values, freshness checked there).
/// </summary>
public sealed class OnlineFeatureReader(IOnlineFeatureStore store, FeatureRegistry registry)
{
    public const int MaxEntities = 1_000;
    public const int MaxFeatures = 500;

    private const string KindsText = "user, item, creator or user_item (id userId:itemId)";

    /// <summary>Parses <c>kind:id</c> (<c>user_item:userId:itemId</c> for cross features).</summary>
    public static bool TryParseEntity(string text, out EntityRef entity)
    {
        entity = default;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        var kind = text[..colon];
        var id = text[(colon + 1)..];
        var valid = kind switch
        {
            EntityKinds.User or EntityKinds.Item or EntityKinds.Creator => EntityIds.IsValid(id),
            EntityKinds.UserItem => id.IndexOf(':', StringComparison.Ordinal) is var c and > 0
                && EntityIds.IsValid(id[..c]) && EntityIds.IsValid(id[(c + 1)..]),
            _ => false,
        };
        if (valid)
        {
            entity = new EntityRef(kind, id);
        }

        return valid;
    }

    /// <summary>Parses <c>entities=user:u1,item:i9</c> and <c>features=a,b</c>; on failure returns the validation errors.</summary>
    public Dictionary<string, string[]>? ParseRequest(string? entities, string? features, out OnlineFeatureQuery? request)
    {
        request = null;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var entityTexts = Split(entities);
        var featureNames = Split(features);

        if (entityTexts.Length == 0 || entityTexts.Length > MaxEntities)
        {
            errors["entities"] = [$"Give 1 to {MaxEntities:N0} entities as kind:id separated by commas (kind {KindsText}); got {entityTexts.Length:N0}."];
        }

        if (featureNames.Length == 0 || featureNames.Length > MaxFeatures)
        {
            errors["features"] = [$"Give 1 to {MaxFeatures} feature names separated by commas; got {featureNames.Length:N0}."];
        }

        if (errors.Count > 0)
        {
            return errors;
        }

        var parsed = new List<EntityRef>(entityTexts.Length);
        var bad = new List<string>();
        foreach (var text in entityTexts.Distinct(StringComparer.Ordinal))
        {
            if (TryParseEntity(text, out var entity))
            {
                parsed.Add(entity);
            }
            else
            {
                bad.Add($"'{text}' is not kind:id with kind {KindsText} and ids of {EntityIds.Description}.");
            }
        }

        if (bad.Count > 0)
        {
            errors["entities"] = [.. bad];
        }

        var definitions = new List<FeatureDefinition>(featureNames.Length);
        var badFeatures = new List<string>();
        foreach (var name in featureNames.Distinct(StringComparer.Ordinal))
        {
            if (!registry.TryGet(name, out var definition))
            {
                badFeatures.Add($"Unknown feature '{name}'; GET /v1/registry lists the known ones.");
            }
            else if (!parsed.Any(e => e.Kind == definition.EntityKind))
            {
                badFeatures.Add($"Feature '{name}' is defined for {definition.EntityKind} entities and none was requested.");
            }
            else
            {
                definitions.Add(definition);
            }
        }

        if (badFeatures.Count > 0)
        {
            errors["features"] = [.. badFeatures];
        }

        if (errors.Count > 0)
        {
            return errors;
        }

        request = new OnlineFeatureQuery(parsed, definitions);
        return null;
    }

    /// <summary>Reads every requested feature of every entity (features of another entity kind are not served for it).</summary>
    public async Task<OnlineFeaturesResponse> ReadAsync(OnlineFeatureQuery request, CancellationToken cancellationToken = default)
    {
        var results = await store.GetAsync(request, cancellationToken);
        var entities = new List<EntityFeatures>(results.Count);
        foreach (var result in results)
        {
            var values = new Dictionary<string, FeatureValueDto>(result.Values.Length, StringComparer.Ordinal);
            for (var i = 0; i < result.Values.Length; i++)
            {
                var v = result.Values[i];
                values[result.Features[i].Name] = new FeatureValueDto(v.Number, v.Ids, v.Vector, v.EventTime, v.IsDefault, v.IsStale);
            }

            entities.Add(new EntityFeatures(result.Entity.ToString(), values));
        }

        return new OnlineFeaturesResponse(entities);
    }

    private static string[] Split(string? csv) =>
        string.IsNullOrWhiteSpace(csv) ? [] : csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
