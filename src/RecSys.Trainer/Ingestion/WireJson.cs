using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using RecSys.Core.Contracts;

namespace RecSys.Trainer.Ingestion;

/// <summary>
/// The JSON settings of the wire: <see cref="JsonDefaults.Options"/> when it can be created. The Core version of
/// this commit marks its options read-only without a type resolver, which throws on first use; until that is fixed
/// the same settings (web defaults, nulls written, enums as camelCase names) are built here with the default resolver.
/// </summary>
public static class WireJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        try
        {
            return JsonDefaults.Options;
        }
        catch (TypeInitializationException)
        {
            var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
            {
                DefaultIgnoreCondition = JsonIgnoreCondition.Never,
                TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
            };
            options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
            options.MakeReadOnly();
            return options;
        }
    }
}
