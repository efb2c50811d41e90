using Microsoft.Extensions.Options;

namespace RecSys.ServiceDefaults.Security;

/// <summary>How a service authenticates callers (section <c>RecSys:Security</c>).</summary>
public sealed class SecurityOptions
{
    public const string SectionName = "RecSys:Security";

    /// <summary>
    /// <see cref="SecurityMode.Required"/> (the default): every route needs a key or a token with the route's role.
    /// <see cref="SecurityMode.Open"/> lets every caller act with every role; for isolated tests only, and logged as a warning.
    /// </summary>
    public SecurityMode Mode { get; set; } = SecurityMode.Required;

    /// <summary>API keys by client name; only their SHA-256 is stored (see <see cref="ApiKeyHasher"/>).</summary>
    public Dictionary<string, ApiKeyOptions> ApiKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>JWT bearer validation; off unless an authority or a signing key is given.</summary>
    public JwtOptions Jwt { get; set; } = new();
}

public enum SecurityMode
{
    Required,
    Open,
}

/// <summary>One client's key: its hash (<c>sha256:</c> and 64 hex digits) and the roles it holds.</summary>
public sealed class ApiKeyOptions
{
    public string Hash { get; set; } = "";

    /// <summary>Any of public-read, producer, admin.</summary>
    public string[] Roles { get; set; } = [];
}

/// <summary>JWT bearer settings: an OpenID authority (keys discovered) or a shared symmetric signing key.</summary>
public sealed class JwtOptions
{
    public Uri? Authority { get; set; }

    public string? Audience { get; set; }

    public string? Issuer { get; set; }

    /// <summary>Base64 HMAC-SHA256 key of at least 32 bytes, for installations without an identity provider.</summary>
    public string? SigningKey { get; set; }

    public bool Enabled => Authority is not null || !string.IsNullOrEmpty(SigningKey);
}

/// <summary>Checks every key's hash and roles and the JWT key at start, naming the setting that is wrong.</summary>
public sealed partial class SecurityOptionsValidator : IValidateOptions<SecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, SecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        foreach (var (client, key) in options.ApiKeys)
        {
            if (key is null || !HashPattern().IsMatch(key.Hash ?? ""))
            {
                errors.Add($"{SecurityOptions.SectionName}:ApiKeys:{client}:Hash must be sha256:<64 hex digits> (the SHA-256 of the key; see README).");
            }

            if (key?.Roles is not { Length: > 0 } roles || roles.Any(r => !RecSysRoles.All.Contains(r)))
            {
                errors.Add($"{SecurityOptions.SectionName}:ApiKeys:{client}:Roles must list one or more of {string.Join(", ", RecSysRoles.All)}.");
            }
        }

        if (!string.IsNullOrEmpty(options.Jwt.SigningKey))
        {
            var bytes = new byte[options.Jwt.SigningKey.Length];
            if (!Convert.TryFromBase64String(options.Jwt.SigningKey, bytes, out var length) || length < 32)
            {
                errors.Add($"{SecurityOptions.SectionName}:Jwt:SigningKey must be base64 of at least 32 bytes.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    [System.Text.RegularExpressions.GeneratedRegex("^sha256:[0-9a-fA-F]{64}$")]
    private static partial System.Text.RegularExpressions.Regex HashPattern();
}

/// <summary>Roles in keys and tokens, and what they may do.</summary>
public static class RecSysRoles
{
    public const string PublicRead = "public-read";
    public const string Producer = "producer";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [PublicRead, Producer, Admin];
}
