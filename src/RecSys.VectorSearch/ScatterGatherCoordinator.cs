using System.Diagnostics;

namespace RecSys.VectorSearch;

/// <summary>Settings of a <see cref="ScatterGatherCoordinator"/>.</summary>
public sealed record ScatterGatherOptions
{
    /// <summary>How long one shard may take before it is left out of the answer.</summary>
    public TimeSpan PerShardTimeout { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Ask each shard for fewer than k hits when items are spread by hash: of the global top-k, one shard holds about
    /// Binomial(k, 1/N), so k/N plus <see cref="LimitSigmas"/> standard deviations almost surely covers it (Qdrant does the
    /// same for large limits). Set false to ask every shard for the full k (exact merge, N times the work).
    /// </summary>
    public bool ProbabilisticShardLimit { get; init; } = true;

    /// <summary>Standard deviations of headroom used by <see cref="ProbabilisticShardLimit"/>.</summary>
    public double LimitSigmas { get; init; } = 4.0;

    /// <summary>
    /// Search in-process shards (<see cref="LocalVectorShard"/>) one after the other on the calling thread instead of one
    /// thread-pool work item each: a local search is CPU work that completes synchronously, so the hops only add thread
    /// switches (on a 2-core machine they cost more CPU than they save in latency). The deadline is then checked between
    /// shards: a shard not started before it passes is reported as timed out. Other shards (remote or decorated) are always
    /// searched in parallel, each under its deadline. Off by default: measured on 2 vCPUs at 50 req/s with ~2,900 hits per
    /// search, it saved no CPU that the noise of a shared machine could show (thread switches fell from ~4 % to ~1.6 % of
    /// the samples) and it serializes the shards' searches.
    /// </summary>
    public bool InlineLocalShards { get; init; }
}

/// <summary>A shard that did not contribute, and why.</summary>
public sealed record ShardFailure(int ShardId, string Reason, bool TimedOut);

/// <summary>Merged top-k with how much of the index answered.</summary>
public sealed record ScatterGatherResult(SearchHit[] Hits, int ShardsAnswered, int ShardsTotal, IReadOnlyList<ShardFailure> Failures, TimeSpan Elapsed)
{
    /// <summary>Where each hit's label lives (aligned with <see cref="Hits"/>; empty when no shard has labels).</summary>
    public HitLabel[] Labels { get; init; } = [];

    /// <summary>Shards whose answer came from an exact scan (<see cref="SearchPlan.ExactScan"/>) rather than a graph walk.</summary>
    public int ExactScans { get; init; }

    /// <summary>Fraction of shards that answered.</summary>
    public double Coverage => ShardsTotal == 0 ? 0 : ShardsAnswered / (double)ShardsTotal;

    /// <summary>True when at least one shard is missing from the answer.</summary>
    public bool Degraded => ShardsAnswered < ShardsTotal;
}

/// <summary>
/// Routes writes to shards by <see cref="ShardRouter"/> and fans searches out to every shard in parallel, each under its
/// own deadline. A shard that throws or misses its deadline is reported in the result (degraded, lower coverage) instead
/// of failing the query.
/// </summary>
public sealed class ScatterGatherCoordinator
{
    private readonly IVectorShard[] _shards;
    private readonly ScatterGatherOptions _options;

    public ScatterGatherCoordinator(IReadOnlyList<IVectorShard> shards, ScatterGatherOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Count == 0) throw new ArgumentException("At least one shard is needed.", nameof(shards));
        _shards = [.. shards];
        _options = options ?? new ScatterGatherOptions();
    }

    public IReadOnlyList<IVectorShard> Shards => _shards;

    /// <summary>Creates <paramref name="shardCount"/> empty local shards with the same options.</summary>
    public static ScatterGatherCoordinator CreateLocal(int shardCount, HnswOptions options, ScatterGatherOptions? scatter = null, ExactScanOptions? exactScan = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        var shards = new IVectorShard[shardCount];
        for (var i = 0; i < shardCount; i++) shards[i] = new LocalVectorShard(i, options, exactScan);
        return new ScatterGatherCoordinator(shards, scatter);
    }

    public int ShardOf(long id) => ShardRouter.ShardOf(id, _shards.Length);

    /// <summary>Hits requested from each shard for a global top-<paramref name="k"/> (see <see cref="ScatterGatherOptions.ProbabilisticShardLimit"/>).</summary>
    public int PerShardLimit(int k)
    {
        var n = _shards.Length;
        if (!_options.ProbabilisticShardLimit || n == 1 || k <= 0) return k;
        var p = 1.0 / n;
        var limit = (k * p) + (_options.LimitSigmas * Math.Sqrt(k * p * (1 - p))) + 5;
        return Math.Min(k, (int)Math.Ceiling(limit));
    }

    /// <summary>Upserts rows, each to the shard that owns its id; shards are written in parallel.</summary>
    public async Task UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, CancellationToken cancellationToken = default)
    {
        var dim = _shards[0].Dimension;
        if (vectors.Length != (long)ids.Length * dim) ThrowHelper.DimensionMismatch(ids.Length * dim, vectors.Length);
        var parts = Partition(ids.Span);
        var tasks = new List<Task>(_shards.Length);
        for (var s = 0; s < _shards.Length; s++)
        {
            var rows = parts[s];
            if (rows.Count == 0) continue;
            var pid = new long[rows.Count];
            var pvec = new float[rows.Count * dim];
            for (var i = 0; i < rows.Count; i++)
            {
                pid[i] = ids.Span[rows[i]];
                vectors.Span.Slice(rows[i] * dim, dim).CopyTo(pvec.AsSpan(i * dim, dim));
            }
            var shard = _shards[s];
            tasks.Add(Task.Run(async () => await shard.UpsertAsync(pid, pvec, cancellationToken).ConfigureAwait(false), cancellationToken));
        }
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>Deletes ids from their owning shards; returns how many were present.</summary>
    public async Task<int> DeleteAsync(ReadOnlyMemory<long> ids, CancellationToken cancellationToken = default)
    {
        var parts = Partition(ids.Span);
        var total = 0;
        for (var s = 0; s < _shards.Length; s++)
        {
            if (parts[s].Count == 0) continue;
            var pid = parts[s].Select(r => ids.Span[r]).ToArray();
            total += await _shards[s].DeleteAsync(pid, cancellationToken).ConfigureAwait(false);
        }
        return total;
    }

    private List<int>[] Partition(ReadOnlySpan<long> ids)
    {
        var parts = new List<int>[_shards.Length];
        for (var s = 0; s < parts.Length; s++) parts[s] = [];
        for (var i = 0; i < ids.Length; i++) parts[ShardOf(ids[i])].Add(i);
        return parts;
    }

    /// <summary>
    /// Queries every shard for its top-<see cref="PerShardLimit"/> under <paramref name="perShardTimeout"/> (default from
    /// options) and merges: remote shards in parallel, local ones on this thread meanwhile (see
    /// <see cref="ScatterGatherOptions.InlineLocalShards"/>). Never throws for a shard's failure; throws only when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task<ScatterGatherResult> SearchAsync(ReadOnlyMemory<float> query, int k, int ef = 0, SearchFilter? filter = null,
        TimeSpan? perShardTimeout = null, CancellationToken cancellationToken = default)
    {
        var start = Stopwatch.GetTimestamp();
        var timeout = perShardTimeout ?? _options.PerShardTimeout;
        var request = new ShardSearchRequest(PerShardLimit(k), ef, filter);
        var tasks = new Task<ShardSearchResult>[_shards.Length];
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var anyInline = false;
        for (var i = 0; i < _shards.Length; i++)
        {
            var shard = _shards[i];
            if (_options.InlineLocalShards && shard is LocalVectorShard)
            {
                anyInline = true;
                continue;
            }

            var token = deadline.Token;
            tasks[i] = Task.Run(() => shard.SearchAsync(query, request, token).AsTask(), token);
        }

        // The queued (remote or decorated) shards run meanwhile; each local one answers synchronously, its outcome kept as
        // a completed task so that the merge below treats every shard alike.
        for (var i = 0; anyInline && i < _shards.Length; i++)
        {
            if (tasks[i] is null)
            {
                tasks[i] = SearchInline(_shards[i], query, request, deadline.Token);
            }
        }

        var agg = new TopKAggregator(k, request.K * _shards.Length);
        var failures = new List<ShardFailure>();
        var answered = 0;
        var exactScans = 0;
        for (var i = 0; i < tasks.Length; i++)
        {
            try
            {
                var r = await tasks[i].WaitAsync(deadline.Token).ConfigureAwait(false);
                agg.AddRange(r);
                answered++;
                if (r.Plan == SearchPlan.ExactScan) exactScans++;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add(new ShardFailure(_shards[i].ShardId, $"no answer within {timeout.TotalMilliseconds} ms", TimedOut: true));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failures.Add(new ShardFailure(_shards[i].ShardId, e.GetType().Name + ": " + e.Message, TimedOut: false));
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        var hits = agg.ToArray(out var labels);
        return new ScatterGatherResult(hits, answered, _shards.Length, failures, Stopwatch.GetElapsedTime(start))
        {
            Labels = labels,
            ExactScans = exactScans,
        };
    }

    private static Task<ShardSearchResult> SearchInline(IVectorShard shard, ReadOnlyMemory<float> query, ShardSearchRequest request, CancellationToken deadline)
    {
        try
        {
            // A shard not started before the deadline is reported as timed out, as a queued one would be.
            deadline.ThrowIfCancellationRequested();
            return shard.SearchAsync(query, request, deadline).AsTask();
        }
        catch (Exception e)
        {
            return Task.FromException<ShardSearchResult>(e);
        }
    }
}
