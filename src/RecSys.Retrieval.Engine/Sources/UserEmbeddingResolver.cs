using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.VectorIndex;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.Sources;

/// <summary>A resolved user embedding and the recent items it was built from (not worth proposing back).</summary>
public sealed record UserEmbedding(float[] Vector, bool HasBase, IReadOnlyList<string> SessionItems);

/// <summary>
/// The two-level user embedding of the design (Bottleneck 3): the base embedding (<see cref="EmbeddingStore"/>:
/// the daily one as moved by every engagement since, the spec's incremental update, when the stream processor has moved it)
/// blended <c>BaseWeight : 1 - BaseWeight</c> (0.7 : 0.3) with a session embedding, the recency-weighted average of the
/// indexed vectors of the user's newest recent items (<see cref="UserSignals.Recent"/>) (an item's weight halves every
/// <see cref="CollaborativeOptions.SessionHalfLife"/> it is older than the newest one). No base: the session embedding alone;
/// neither: null (a cold start). Under cosine both parts are normalized before blending. Results are cached briefly, per
/// embedding version. Everything is read under the request's <see cref="IndexSnapshot"/>: the base embedding under its
/// embedding version, the session items' vectors from its shards, so the embedding matches the index it will search.
/// </summary>
public sealed class UserEmbeddingResolver(
    CandidateSignalReader signalReader,
    EmbeddingStore baseEmbeddings,
    IVectorIndexReader index,
    IOptions<VectorIndexOptions> options,
    TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (UserEmbedding? Embedding, string Version, long ExpiresAt)> _cache = new(StringComparer.Ordinal);

    /// <summary>How many recent items the session embedding reads.</summary>
    public UserSignalsQuery SignalsNeeded => new(options.Value.Collaborative.SessionItems, 0, 0);

    /// <summary>
    /// The user's embedding; <paramref name="signals"/> is the request's read of the user's signals (null: read them here).
    /// </summary>
    public Task<UserEmbedding?> ResolveAsync(string userId, Task<UserSignals>? signals, CancellationToken cancellationToken) =>
        ResolveAsync(userId, index.Snapshot(), signals, cancellationToken);

    /// <summary>The user's embedding as of <paramref name="snapshot"/> (the one the request will search).</summary>
    public async Task<UserEmbedding?> ResolveAsync(string userId, IndexSnapshot snapshot, Task<UserSignals>? signals, CancellationToken cancellationToken)
    {
        var o = options.Value.Collaborative;
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(userId, out var cached) && cached.ExpiresAt > now && cached.Version == snapshot.EmbeddingVersion)
        {
            return cached.Embedding;
        }

        var embedding = await ComputeAsync(userId, snapshot, signals ?? signalReader.ReadUserSignalsAsync(userId, SignalsNeeded, cancellationToken), o, cancellationToken);
        if (o.CacheDuration > TimeSpan.Zero && o.CacheSize > 0)
        {
            if (_cache.Count >= o.CacheSize)
            {
                // Bounded by dropping everything: entries live a few seconds, so the cache refills at once.
                _cache.Clear();
            }

            _cache[userId] = (embedding, snapshot.EmbeddingVersion, now + (long)(o.CacheDuration.TotalSeconds * time.TimestampFrequency));
        }

        return embedding;
    }

    private async Task<UserEmbedding?> ComputeAsync(string userId, IndexSnapshot snapshot, Task<UserSignals> signals, CollaborativeOptions o, CancellationToken cancellationToken)
    {
        var dim = snapshot.Dimension;
        var baseVector = await baseEmbeddings.GetAsync(snapshot.EmbeddingVersion, userId, dim, cancellationToken);
        var all = (await signals.WaitAsync(cancellationToken)).Recent;
        var recent = all.Count <= o.SessionItems ? all : all.Take(o.SessionItems).ToArray();

        var session = new float[dim];
        var vector = new float[dim];
        var items = new List<string>(recent.Count);
        var total = 0.0;
        var newest = recent.Count > 0 ? recent[0].Score : 0;
        var halfLifeMs = o.SessionHalfLife.TotalMilliseconds;
        foreach (var entry in recent)
        {
            var item = entry.Member;
            if (!snapshot.TryGetVector(item, vector))
            {
                continue;
            }

            var weight = Math.Pow(2, -Math.Max(0, newest - entry.Score) / halfLifeMs);
            if (!(weight > 0))
            {
                continue;
            }

            items.Add(item);
            total += weight;
            for (var d = 0; d < dim; d++)
            {
                session[d] += (float)(weight * vector[d]);
            }
        }

        var hasSession = total > 0;
        if (hasSession)
        {
            var inv = (float)(1 / total);
            for (var d = 0; d < dim; d++)
            {
                session[d] *= inv;
            }
        }

        var cosine = snapshot.Metric == Metric.Cosine;
        if (baseVector is not null && cosine)
        {
            Normalize(baseVector);
        }

        if (hasSession && cosine)
        {
            Normalize(session);
        }

        if (baseVector is null)
        {
            return hasSession ? new UserEmbedding(session, HasBase: false, items) : null;
        }

        if (!hasSession)
        {
            return new UserEmbedding(baseVector, HasBase: true, items);
        }

        var wb = (float)o.BaseWeight;
        var ws = 1 - wb;
        for (var d = 0; d < dim; d++)
        {
            baseVector[d] = (wb * baseVector[d]) + (ws * session[d]);
        }

        return new UserEmbedding(baseVector, HasBase: true, items);
    }

    private static void Normalize(float[] v)
    {
        var sum = 0.0;
        foreach (var x in v)
        {
            sum += x * (double)x;
        }

        if (sum > 0)
        {
            var inv = (float)(1 / Math.Sqrt(sum));
            for (var i = 0; i < v.Length; i++)
            {
                v[i] *= inv;
            }
        }
    }
}
