namespace RecSys.ServiceDefaults.Security;

/// <summary>
/// The authorization policies every route names: <see cref="PublicRead"/> (recommendations, candidates),
/// <see cref="Producer"/> (events, items) and <see cref="Admin"/> (index, rebuild, backfill, reconcile, models, rollouts,
/// deletion). A stronger role satisfies a weaker policy: admin ⊇ producer ⊇ public-read.
/// </summary>
public static class RecSysPolicies
{
    public const string PublicRead = "public-read";
    public const string Producer = "producer";
    public const string Admin = "admin";

    /// <summary>Rate-limiter policy of public routes: a token bucket per client.</summary>
    public const string PublicRateLimit = "public-per-client";

    internal static readonly IReadOnlyDictionary<string, string[]> RolesFor = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        [PublicRead] = [RecSysRoles.PublicRead, RecSysRoles.Producer, RecSysRoles.Admin],
        [Producer] = [RecSysRoles.Producer, RecSysRoles.Admin],
        [Admin] = [RecSysRoles.Admin],
    };
}
