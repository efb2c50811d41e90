using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RecSys.ServiceDefaults.Security;

/// <summary>
/// Authenticates <c>X-Api-Key: &lt;key&gt;</c> against the hashed keys of <see cref="SecurityOptions"/>; the principal is
/// named after the key's client and holds its roles. No header: no result (another scheme or the challenge answers).
/// In <see cref="SecurityMode.Open"/>, every request is a caller with every role.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    IOptionsMonitor<SecurityOptions> security,
    ILoggerFactory logger,
    UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";
    public const string OpenModeClient = "open-mode";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var settings = security.CurrentValue;
        if (settings.Mode == SecurityMode.Open)
        {
            return Task.FromResult(Success(OpenModeClient, RecSysRoles.All));
        }

        if (!Request.Headers.TryGetValue(HeaderName, out var values) || values.Count == 0 || string.IsNullOrEmpty(values[0]))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var hash = ApiKeyHasher.HashBytes(values[0]!);
        foreach (var (client, key) in settings.ApiKeys)
        {
            if (ApiKeyHasher.Matches(hash, key.Hash))
            {
                return Task.FromResult(Success(client, key.Roles));
            }
        }

        return Task.FromResult(AuthenticateResult.Fail("The API key is not valid."));
    }

    private AuthenticateResult Success(string client, IEnumerable<string> roles)
    {
        var identity = new ClaimsIdentity(SchemeName, ClaimTypes.Name, ClaimTypes.Role);
        identity.AddClaim(new Claim(ClaimTypes.Name, client));
        foreach (var role in roles)
        {
            identity.AddClaim(new Claim(ClaimTypes.Role, role));
        }

        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }
}
