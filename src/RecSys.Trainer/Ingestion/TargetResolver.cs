using RecSys.Core.Domain;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Ingestion;

/// <summary>
/// Finds the FeatureServer: <c>--target</c>, else the address Aspire's service discovery injects
/// (<c>services__featureserver__http__0</c>, then <c>https</c>), else <see cref="DefaultTarget"/>.
/// </summary>
public static class TargetResolver
{
    public const string DefaultTarget = "http://localhost:5300";

    public static readonly string HttpVariable = $"services__{ServiceNames.FeatureServer}__http__0";
    public static readonly string HttpsVariable = $"services__{ServiceNames.FeatureServer}__https__0";

    public static Uri Resolve(string? option, Func<string, string?> environment)
    {
        var value = !string.IsNullOrWhiteSpace(option) ? option
            : environment(HttpVariable) is { Length: > 0 } http ? http
            : environment(HttpsVariable) is { Length: > 0 } https ? https
            : DefaultTarget;
        return Parse(value);
    }

    public static Uri Parse(string value)
    {
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new CliException($"'{value}' is not an http(s) URL (expected e.g. {DefaultTarget}).");
        }

        return uri;
    }
}
