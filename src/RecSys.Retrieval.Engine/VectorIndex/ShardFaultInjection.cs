using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Test-only fault injection for the embedded index: stalls every search of one shard, so that fault tests can watch the
/// scatter-gather deadline leave it out (a partial answer) through the whole service. Off unless
/// <c>Retrieval:FaultInjection:Enabled</c> is true; when on, the admin route <c>PUT /v1/fault-injection/shard-stall</c>
/// (and nothing else) switches the stall, and the service logs a warning at start. Production configuration never sets it.
/// </summary>
public sealed class ShardFaultInjection
{
    public const string EnabledKey = "Retrieval:FaultInjection:Enabled";

    private StallState? _stall;

    /// <summary>The stalled shard and for how long its searches wait, or null.</summary>
    public (int Shard, TimeSpan Delay)? Stall => Volatile.Read(ref _stall) is { } s ? (s.Shard, s.Delay) : null;

    /// <summary>Stalls searches of <paramref name="shard"/> by <paramref name="delay"/>; null clears the stall.</summary>
    public void Set(int? shard, TimeSpan delay) =>
        Volatile.Write(ref _stall, shard is { } id ? new StallState(id, delay) : null);

    internal IVectorShard Decorate(LocalVectorShard shard) => new StallableShard(shard, this);

    private sealed record StallState(int Shard, TimeSpan Delay);

    /// <summary>Delegates everything; a search of the stalled shard waits first (cancelled with the search).</summary>
    private sealed class StallableShard(IVectorShard inner, ShardFaultInjection faults) : IVectorShard
    {
        public int ShardId => inner.ShardId;

        public long Version => inner.Version;

        public int Dimension => inner.Dimension;

        public ValueTask UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, CancellationToken cancellationToken = default) =>
            inner.UpsertAsync(ids, vectors, cancellationToken);

        public ValueTask<int> DeleteAsync(ReadOnlyMemory<long> ids, CancellationToken cancellationToken = default) =>
            inner.DeleteAsync(ids, cancellationToken);

        public async ValueTask<ShardSearchResult> SearchAsync(ReadOnlyMemory<float> query, ShardSearchRequest request, CancellationToken cancellationToken = default)
        {
            if (Volatile.Read(ref faults._stall) is { } stall && stall.Shard == inner.ShardId)
            {
                await Task.Delay(stall.Delay, cancellationToken);
            }

            return await inner.SearchAsync(query, request, cancellationToken);
        }

        public ValueTask<long> CountAsync(CancellationToken cancellationToken = default) => inner.CountAsync(cancellationToken);
    }
}
