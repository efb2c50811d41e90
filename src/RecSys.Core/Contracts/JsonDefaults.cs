using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace RecSys.Core.Contracts;

/// <summary>The JSON settings every service and client uses: web defaults (camelCase), enums as names.</summary>
public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = Create();

    /// <summary>Gives options that start from the web defaults (an ASP.NET Core host's) what ours add: enums as names.</summary>
    public static void Apply(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
    }

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        };
        Apply(options);
        options.TypeInfoResolver = new DefaultJsonTypeInfoResolver();
        options.MakeReadOnly();
        return options;
    }
}
