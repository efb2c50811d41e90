using System.Numerics;
using System.Runtime.CompilerServices;

namespace RecSys.VectorSearch;

/// <summary>How similarity is measured. Cosine normalizes vectors at insert and query and then uses the inner product.</summary>
public enum Metric
{
    InnerProduct = 0,
    Cosine = 1,
}

/// <summary>One search result: the caller's item id and its similarity (inner product; higher is better).</summary>
public readonly record struct SearchHit(long Id, float Score);

/// <summary>Settings of an <see cref="HnswIndex"/>.</summary>
public sealed record HnswOptions
{
    /// <summary>Vector dimension.</summary>
    public int Dimension { get; init; } = 256;

    public Metric Metric { get; init; } = Metric.Cosine;

    /// <summary>Links per node on upper layers; layer 0 keeps 2*M.</summary>
    public int M { get; init; } = 16;

    public int EfConstruction { get; init; } = 200;

    /// <summary>Default beam width of a query; each query can override it.</summary>
    public int EfSearch { get; init; } = 100;

    /// <summary>Seed of the level generator (levels are a pure function of seed and internal id).</summary>
    public int Seed { get; init; } = 42;

    public int InitialCapacity { get; init; } = 1024;

    /// <summary>Threads used by batch inserts; -1 means all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Widest vector an index accepts (a snapshot claiming more is refused before anything is allocated).</summary>
    public const int MaxDimension = 65_536;

    /// <summary>Largest beam width: search buffers are sized by it.</summary>
    public const int MaxEf = 1 << 20;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Dimension, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Dimension, MaxDimension);
        ArgumentOutOfRangeException.ThrowIfLessThan(M, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(M, 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(EfConstruction, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(EfConstruction, MaxEf);
        ArgumentOutOfRangeException.ThrowIfLessThan(EfSearch, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(EfSearch, MaxEf);
        if (!Enum.IsDefined(Metric))
        {
            throw new ArgumentOutOfRangeException(nameof(Metric), Metric, "Unknown metric.");
        }
    }
}

/// <summary>
/// A filter on external ids. Filtered-out nodes are still traversed, never returned.
/// Either a predicate, or a set of allowed ids (a Qdrant adapter can map the latter to a HasId condition), or a set of
/// excluded ids (<see cref="Excluding"/>: a predicate to every consumer, checked cheaply in process).
/// </summary>
public sealed class SearchFilter
{
    /// <summary>Bits per excluded id in <see cref="_excludedBits"/>: ~3 % of the allowed ids reach the set lookup.</summary>
    private const int BitsPerExcludedId = 32;

    private readonly IReadOnlySet<long>? _excluded;

    /// <summary>
    /// A one-hash Bloom filter of <see cref="_excluded"/>: a graph walk asks about thousands of nodes per search and almost
    /// all are allowed, so most answers come from one bit instead of a delegate call and a hash-set lookup.
    /// </summary>
    private readonly ulong[]? _excludedBits;

    private readonly int _excludedShift;

    private SearchFilter(Func<long, bool>? predicate, IReadOnlySet<long>? allowed)
    {
        Predicate = predicate;
        AllowedIds = allowed;
    }

    private SearchFilter(IReadOnlySet<long> excluded)
    {
        _excluded = excluded;
        Predicate = id => !excluded.Contains(id);
        var bits = (int)Math.Min(1 << 24, BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, excluded.Count * BitsPerExcludedId)));
        _excludedShift = 64 - BitOperations.Log2((uint)bits);
        _excludedBits = new ulong[bits >> 6];
        foreach (var id in excluded)
        {
            var h = BloomHash(id);
            _excludedBits[h >> 6] |= 1UL << (int)(h & 63);
        }
    }

    public Func<long, bool>? Predicate { get; }

    public IReadOnlySet<long>? AllowedIds { get; }

    public static SearchFilter FromPredicate(Func<long, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        return new SearchFilter(predicate, null);
    }

    public static SearchFilter FromAllowedIds(IReadOnlySet<long> allowedIds)
    {
        ArgumentNullException.ThrowIfNull(allowedIds);
        return new SearchFilter(null, allowedIds);
    }

    /// <summary>
    /// Every id but <paramref name="excludedIds"/> (the set is read, not copied: it must not change while searches use the
    /// filter). Answers as <c>FromPredicate(id =&gt; !excludedIds.Contains(id))</c>, which is also its <see cref="Predicate"/>.
    /// </summary>
    public static SearchFilter Excluding(IReadOnlySet<long> excludedIds)
    {
        ArgumentNullException.ThrowIfNull(excludedIds);
        return new SearchFilter(excludedIds);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Allows(long id)
    {
        if (_excludedBits is { } bits)
        {
            var h = BloomHash(id);
            return (bits[h >> 6] & (1UL << (int)(h & 63))) == 0 || !_excluded!.Contains(id);
        }

        return AllowedIds is { } set ? set.Contains(id) : Predicate!(id);
    }

    /// <summary>Fibonacci hashing: the top bits of the product are well mixed even for small sequential ids.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong BloomHash(long id) => ((ulong)id * 0x9E3779B97F4A7C15UL) >> _excludedShift;
}

/// <summary>A bitset over the internal ids of one index (see <see cref="HnswIndex.CreateBitset"/>); the cheapest filter.</summary>
public sealed class FilterBitset
{
    internal readonly ulong[] Words;

    internal FilterBitset(int capacity) => Words = new ulong[(capacity + 63) >> 6];

    internal int Capacity => Words.Length << 6;

    internal void Set(int i) => Words[i >> 6] |= 1UL << (i & 63);

    internal bool Get(int i) => (uint)(i >> 6) < (uint)Words.Length && (Words[i >> 6] & (1UL << (i & 63))) != 0;
}
