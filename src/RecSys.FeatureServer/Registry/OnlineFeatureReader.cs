using System.Globalization;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Core.Storage;
using RecSys.FeatureServer.Streaming;
using StackExchange.Redis;

namespace RecSys.FeatureServer.Registry;

/// <summary>An entity of a feature request: <c>kind:id</c>.</summary>
public readonly record struct EntityRef(string Kind, string Id)
{
    public override string ToString() => Kind + ":" + Id;

    public static bool TryParse(string text, out EntityRef entity)
    {
        entity = default;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        var kind = text[..colon];
        var id = text[(colon + 1)..];
        if (kind is not (EntityKinds.User or EntityKinds.Item) || !EntityIds.IsValid(id))
        {
            return false;
        }

        entity = new EntityRef(kind, id);
        return true;
    }
}

/// <summary>A parsed, validated feature request.</summary>
public sealed record FeatureRequest(IReadOnlyList<EntityRef> Entities, IReadOnlyList<FeatureDefinition> Features);

/// <summary>Reads feature values of many entities from the online store in one pipelined round trip.</summary>
public sealed class OnlineFeatureReader(IConnectionMultiplexer redis, FeatureRegistry registry, TimeProvider time)
{
    public const int MaxEntities = 1_000;
    public const int MaxFeatures = 500;

    /// <summary>Parses <c>entities=user:u1,item:i9</c> and <c>features=a,b</c>; on failure returns the validation errors.</summary>
    public Dictionary<string, string[]>? ParseRequest(string? entities, string? features, out FeatureRequest? request)
    {
        request = null;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var entityTexts = Split(entities);
        var featureNames = Split(features);

        if (entityTexts.Length == 0 || entityTexts.Length > MaxEntities)
        {
            errors["entities"] = [$"Give 1 to {MaxEntities:N0} entities as kind:id separated by commas (kind user or item); got {entityTexts.Length:N0}."];
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
            if (EntityRef.TryParse(text, out var entity))
            {
                parsed.Add(entity);
            }
            else
            {
                bad.Add($"'{text}' is not kind:id with kind user or item and an id of {EntityIds.Description}.");
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

        request = new FeatureRequest(parsed, definitions);
        return null;
    }

    /// <summary>Reads every requested feature of every entity (features of another entity kind are not served for it).</summary>
    public async Task<OnlineFeaturesResponse> ReadAsync(FeatureRequest request)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var hashFields = new Dictionary<string, RedisValue[]>(StringComparer.Ordinal);
        foreach (var kind in request.Features.Select(f => f.EntityKind).Distinct(StringComparer.Ordinal))
        {
            hashFields[kind] = [.. request.Features.Where(f => f.EntityKind == kind).SelectMany(f => HashFields(f.Source)).Distinct().Select(f => (RedisValue)f)];
        }

        Task<RedisValue>? epochTask = request.Features.Any(f => f.Source is DecayedPopularitySource)
            ? batch.StringGetAsync(OnlineKeys.TrendingEpoch)
            : null;
        var pending = new List<(EntityRef Entity, Task<RedisValue[]>? Hash, List<(FeatureDefinition Feature, Task Task)> Reads)>(request.Entities.Count);
        foreach (var entity in request.Entities)
        {
            Task<RedisValue[]>? hash = null;
            if (hashFields.TryGetValue(entity.Kind, out var fields) && fields.Length > 0)
            {
                hash = batch.HashGetAsync(OnlineKeys.Features(entity.Kind, entity.Id), fields);
            }

            var reads = new List<(FeatureDefinition, Task)>();
            foreach (var feature in request.Features)
            {
                if (feature.EntityKind != entity.Kind)
                {
                    continue;
                }

                Task? task = feature.Source switch
                {
                    DecayedPopularitySource => batch.SortedSetScoreAsync(OnlineKeys.Trending, entity.Id),
                    TopMembersSource top => batch.SortedSetRangeByRankWithScoresAsync(top.Key(entity.Id), 0, top.Count - 1, Order.Descending),
                    SetMembersSource set => batch.SetMembersAsync(set.Key(entity.Id)),
                    ItemListFieldSource field => batch.HashGetAsync(OnlineKeys.Item(entity.Id), field.Field),
                    _ => null,
                };
                if (task is not null)
                {
                    reads.Add((feature, task));
                }
            }

            pending.Add((entity, hash, reads));
        }

        batch.Execute();
        await Task.WhenAll(pending.SelectMany(p => p.Reads.Select(r => r.Task)).Concat(pending.Where(p => p.Hash is not null).Select(p => (Task)p.Hash!)));
        var epoch = epochTask is null ? RedisValue.Null : await epochTask;
        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();

        var result = new List<EntityFeatures>(pending.Count);
        foreach (var (entity, hashTask, reads) in pending)
        {
            var values = new Dictionary<string, FeatureValueDto>(StringComparer.Ordinal);
            Dictionary<string, RedisValue>? hash = null;
            if (hashTask is not null)
            {
                var fields = hashFields[entity.Kind];
                var got = hashTask.Result;
                hash = new Dictionary<string, RedisValue>(fields.Length, StringComparer.Ordinal);
                for (var i = 0; i < fields.Length; i++)
                {
                    hash[fields[i]!] = got[i];
                }
            }

            foreach (var feature in request.Features)
            {
                if (feature.EntityKind != entity.Kind)
                {
                    continue;
                }

                values[feature.Name] = feature.Source switch
                {
                    CounterSource c => Counter(feature, hash!, c.Field),
                    RatioSource r => Ratio(feature, hash!, r),
                    _ => FromRead(feature, reads.First(x => x.Feature == feature).Task, epoch, nowMs),
                };
            }

            result.Add(new EntityFeatures(entity.ToString(), values));
        }

        return new OnlineFeaturesResponse(result);
    }

    private static IEnumerable<string> HashFields(FeatureSource source) => source switch
    {
        CounterSource c => [c.Field, c.Field + FeatureFields.TimeSuffix],
        RatioSource r => [r.Numerator, r.Denominator, r.Numerator + FeatureFields.TimeSuffix, r.Denominator + FeatureFields.TimeSuffix],
        _ => [],
    };

    private static FeatureValueDto Default(FeatureDefinition feature) => new(feature.DefaultNumber, feature.DefaultIds, null, true);

    private static FeatureValueDto Counter(FeatureDefinition feature, Dictionary<string, RedisValue> hash, string field)
    {
        var value = hash[field];
        return TryNumber(value, out var number)
            ? new FeatureValueDto(number, null, Time(hash[field + FeatureFields.TimeSuffix]), false)
            : Default(feature);
    }

    private static FeatureValueDto Ratio(FeatureDefinition feature, Dictionary<string, RedisValue> hash, RatioSource ratio)
    {
        if (!TryNumber(hash[ratio.Denominator], out var denominator) || denominator <= 0)
        {
            return Default(feature);
        }

        TryNumber(hash[ratio.Numerator], out var numerator);
        var t1 = Time(hash[ratio.Numerator + FeatureFields.TimeSuffix]);
        var t2 = Time(hash[ratio.Denominator + FeatureFields.TimeSuffix]);
        var latest = t1 is null ? t2 : t2 is null ? t1 : (t1 > t2 ? t1 : t2);
        return new FeatureValueDto(numerator / denominator, null, latest, false);
    }

    private static FeatureValueDto FromRead(FeatureDefinition feature, Task task, RedisValue epoch, long nowMs)
    {
        switch (feature.Source, task)
        {
            case (DecayedPopularitySource, Task<double?> score):
                if (score.Result is not { } s || epoch.IsNull)
                {
                    return Default(feature);
                }

                return new FeatureValueDto(s * Math.Pow(2, -DecayedScore.Exponent(nowMs, (long)epoch)), null, null, false);
            case (TopMembersSource top, Task<SortedSetEntry[]> entries):
                if (entries.Result.Length == 0)
                {
                    return Default(feature);
                }

                var ids = entries.Result.Select(e => e.Element.ToString()).ToArray();
                DateTimeOffset? latest = top.ScoreIsTime ? DateTimeOffset.FromUnixTimeMilliseconds((long)entries.Result[0].Score) : null;
                return new FeatureValueDto(null, ids, latest, false);
            case (SetMembersSource, Task<RedisValue[]> members):
                return members.Result.Length == 0
                    ? Default(feature)
                    : new FeatureValueDto(null, [.. members.Result.Select(m => m.ToString()).Order(StringComparer.Ordinal)], null, false);
            case (ItemListFieldSource, Task<RedisValue> field):
                return field.Result.IsNull
                    ? Default(feature)
                    : new FeatureValueDto(null, field.Result.ToString().Split(ItemFields.ListSeparator, StringSplitOptions.RemoveEmptyEntries), null, false);
            default:
                return Default(feature);
        }
    }

    private static bool TryNumber(RedisValue value, out double number)
    {
        number = 0;
        return !value.IsNull && double.TryParse(value.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }

    private static DateTimeOffset? Time(RedisValue value) =>
        !value.IsNull && long.TryParse(value.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;

    private static string[] Split(string? csv) =>
        string.IsNullOrWhiteSpace(csv) ? [] : csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
