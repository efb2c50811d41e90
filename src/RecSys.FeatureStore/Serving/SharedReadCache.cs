using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Configuration section <c>OnlineStore:ReadCache</c>: how long reads that do not depend on the user (trending, the popular
/// items of a category, a creator's newest items, an item's co-engaged items, the unavailable set) are kept in process.
/// Every request read them again before: thousands of entries per request for lists that change over seconds.
/// </summary>
public sealed class SharedReadCacheOptions
{
    public const string SectionName = "OnlineStore:ReadCache";

    /// <summary>How long a ranked list is served from memory; zero reads the store every time.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ListDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long the unavailable set is served from memory; zero checks the store per request. An item made unavailable is
    /// still proposed for at most this long (Ranking's post-processing checks availability again on what it serves).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan UnavailableDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Read a list missing from memory to a rounded-up depth (a power of two, at least 16, at most 256 more than asked), so
    /// that requests asking slightly different depths of the same list find it (see <see cref="CandidateSignalReader"/>).
    /// </summary>
    public bool RoundUpDepths { get; set; } = true;

    /// <summary>Lists kept at most (all are dropped when full: entries live seconds, so the cache refills at once).</summary>
    [Range(1, 10_000_000)]
    public int MaxLists { get; set; } = 50_000;
}

[OptionsValidator]
public sealed partial class SharedReadCacheOptionsValidator : IValidateOptions<SharedReadCacheOptions>;

/// <summary>
/// The in-process cache behind <see cref="SharedReadCacheOptions"/>. Lists are kept sorted by the store, so a list read to
/// depth d also answers any depth up to d (and any depth at all when the store had fewer than d entries).
/// </summary>
public sealed class SharedReadCache(IOptions<SharedReadCacheOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ListEntry> _lists = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _unavailableRefresh = new(1, 1);
    private volatile UnavailableEntry? _unavailable;
    private long _hits;
    private long _misses;

    public SharedReadCacheOptions Options => options.Value;

    /// <summary>List reads answered from memory so far.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>List reads that went to the store so far.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>The first <paramref name="depth"/> entries of the list under <paramref name="key"/> when memory holds them.</summary>
    public bool TryGetList(string key, int depth, out ScoredMember[] entries)
    {
        if (_lists.TryGetValue(key, out var entry) && entry.ExpiresAt > time.GetTimestamp()
            && (entry.Depth >= depth || entry.Entries.Length < entry.Depth))
        {
            Interlocked.Increment(ref _hits);
            entries = entry.Entries.Length <= depth ? entry.Entries : entry.Entries[..depth];
            return true;
        }

        Interlocked.Increment(ref _misses);
        entries = [];
        return false;
    }

    /// <summary>Keeps a list read to <paramref name="depth"/> (never shared with a caller that could change it: callers only read).</summary>
    public void SetList(string key, int depth, ScoredMember[] entries)
    {
        var duration = options.Value.ListDuration;
        if (duration <= TimeSpan.Zero)
        {
            return;
        }

        if (_lists.Count >= options.Value.MaxLists)
        {
            _lists.Clear();
        }

        var expires = time.GetTimestamp() + (long)(duration.TotalSeconds * time.TimestampFrequency);
        _lists.AddOrUpdate(
            key,
            static (_, n) => n,
            // A concurrent reader may have read deeper: keep the deeper one unless it is about to expire.
            static (_, old, n) => old.Depth > n.Depth && old.ExpiresAt >= n.ExpiresAt - 1 ? old : n,
            new ListEntry(entries, depth, expires));
    }

    /// <summary>
    /// The unavailable set, read whole with <c>SMEMBERS</c> at most once per <see cref="SharedReadCacheOptions.UnavailableDuration"/>
    /// (one reader at a time; the others wait for it); null when the duration is zero.
    /// </summary>
    public async Task<IReadOnlySet<string>?> GetUnavailableAsync(IConnectionMultiplexer redis, CancellationToken cancellationToken)
    {
        var duration = options.Value.UnavailableDuration;
        if (duration <= TimeSpan.Zero)
        {
            return null;
        }

        var current = _unavailable;
        if (current is not null && current.ExpiresAt > time.GetTimestamp())
        {
            return current.Items;
        }

        await _unavailableRefresh.WaitAsync(cancellationToken);
        try
        {
            current = _unavailable;
            if (current is not null && current.ExpiresAt > time.GetTimestamp())
            {
                return current.Items;
            }

            var members = await OnlineStoreUnavailableException.Guard(
                () => redis.GetDatabase().SetMembersAsync(OnlineKeys.UnavailableItems).WaitAsync(cancellationToken), "unavailable items");
            var items = new HashSet<string>(members.Length, StringComparer.Ordinal);
            foreach (var m in members)
            {
                items.Add(m!);
            }

            var expires = time.GetTimestamp() + (long)(duration.TotalSeconds * time.TimestampFrequency);
            _unavailable = new UnavailableEntry(items, expires);
            return items;
        }
        finally
        {
            _unavailableRefresh.Release();
        }
    }

    private sealed record ListEntry(ScoredMember[] Entries, int Depth, long ExpiresAt);

    private sealed record UnavailableEntry(HashSet<string> Items, long ExpiresAt);
}
