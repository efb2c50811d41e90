using System.Globalization;
using Qdrant.Client;
using Qdrant.Client.Grpc;

namespace RecSys.VectorSearch.Qdrant;

/// <summary>A point read back from a shard: our id, its stored vector and its item id payload.</summary>
public sealed record StoredPoint(long Id, float[] Vector, string? ItemId);

/// <summary>
/// The shards of one index as Qdrant collections behind aliases: shard n is searched and written through the alias
/// <c>{prefix}-shard-{n}</c>, which points at the versioned collection <c>{prefix}-shard-{n}-g{generation}</c>. A rebuild
/// fills a new generation of every shard off the query path, then switches every alias in one alias update (Qdrant applies
/// the operations of one request atomically), then drops the old collections.
/// </summary>
public sealed class QdrantShardCollections
{
    private const uint PageSize = 256;
    private readonly QdrantClient _client;
    private readonly QdrantShardOptions _options;
    private readonly QdrantVectorShard[] _shards;

    public QdrantShardCollections(QdrantClient client, QdrantShardOptions options, int shardCount)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        _client = client;
        _options = options;
        _shards = [.. Enumerable.Range(0, shardCount).Select(i => new QdrantVectorShard(client, i, options))];
    }

    /// <summary>One shard per alias; what the scatter-gather coordinator fans out to.</summary>
    public IReadOnlyList<QdrantVectorShard> Shards => _shards;

    /// <summary>Creates generation 1 of every shard whose alias is missing, then their aliases in one alias update.</summary>
    public async Task EnsureAsync(CancellationToken cancellationToken = default)
    {
        var current = await CurrentCollectionsAsync(cancellationToken).ConfigureAwait(false);
        var switches = new List<AliasSwitch>();
        foreach (var shard in _shards)
        {
            if (current.ContainsKey(shard.CollectionName))
            {
                continue;
            }

            var first = VersionedName(shard.CollectionName, 1);
            if (!await _client.CollectionExistsAsync(first, cancellationToken).ConfigureAwait(false))
            {
                await QdrantVectorShard.CreateCollectionAsync(_client, first, _options, cancellationToken).ConfigureAwait(false);
            }

            switches.Add(new AliasSwitch(shard.CollectionName, null, first));
        }

        if (switches.Count > 0)
        {
            await _client.UpdateAliasesAsync(AliasOperationsFor(switches), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Every point of a shard with its vector and item id, page by page.</summary>
    public async IAsyncEnumerable<StoredPoint> ReadAllAsync(int shardId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var point in ScrollAsync(_shards[shardId].CollectionName, cancellationToken).ConfigureAwait(false))
        {
            yield return StoredPointOf(point);
        }
    }

    /// <summary>
    /// Builds the next generation of every shard from the current one (payloads replaced by <paramref name="payloadOf"/> where
    /// it knows the point), switches all aliases at once, then drops the previous generation. On failure before the switch,
    /// the new collections are dropped and searches never saw them. <paramref name="switched"/> runs once per shard switched.
    /// </summary>
    public async Task RebuildAsync(Func<long, ItemPayload?> payloadOf, Action<int>? switched = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payloadOf);
        var current = await CurrentCollectionsAsync(cancellationToken).ConfigureAwait(false);
        var switches = new List<AliasSwitch>();
        try
        {
            foreach (var shard in _shards)
            {
                var old = current.GetValueOrDefault(shard.CollectionName)
                    ?? throw new InvalidOperationException($"Alias {shard.CollectionName} does not exist: run EnsureAsync first.");
                var next = VersionedName(shard.CollectionName, (GenerationOf(shard.CollectionName, old) ?? 0) + 1);
                switches.Add(new AliasSwitch(shard.CollectionName, old, next));
                await QdrantVectorShard.CreateCollectionAsync(_client, next, _options, cancellationToken).ConfigureAwait(false);
                await CopyAsync(old, next, payloadOf, cancellationToken).ConfigureAwait(false);
            }

            await _client.UpdateAliasesAsync(AliasOperationsFor(switches), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            foreach (var s in switches)
            {
                await _client.DeleteCollectionAsync(s.Next, cancellationToken: CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }

        foreach (var s in switches)
        {
            switched?.Invoke(_shards.First(x => x.CollectionName == s.Alias).ShardId);
            await _client.DeleteCollectionAsync(s.Previous!, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Drops every alias and collection of this index (tests).</summary>
    public async Task DropAsync(CancellationToken cancellationToken = default)
    {
        var current = await CurrentCollectionsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (alias, collection) in current)
        {
            await _client.DeleteAliasAsync(alias, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _client.DeleteCollectionAsync(collection, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Versioned collection name of generation <paramref name="generation"/> behind <paramref name="alias"/>.</summary>
    public static string VersionedName(string alias, long generation) =>
        alias + "-g" + generation.ToString(CultureInfo.InvariantCulture);

    /// <summary>The generation of <paramref name="collection"/> if it is a versioned collection of <paramref name="alias"/>.</summary>
    public static long? GenerationOf(string alias, string collection) =>
        collection.StartsWith(alias + "-g", StringComparison.Ordinal)
        && long.TryParse(collection.AsSpan(alias.Length + 2), NumberStyles.None, CultureInfo.InvariantCulture, out var g)
            ? g
            : null;

    /// <summary>One alias move: from <paramref name="Previous"/> (null: the alias is new) to <paramref name="Next"/>.</summary>
    public sealed record AliasSwitch(string Alias, string? Previous, string Next);

    /// <summary>
    /// The operations of one alias update: for each moved alias a delete then a create, so that every alias switches in the
    /// same request.
    /// </summary>
    internal static List<AliasOperations> AliasOperationsFor(IEnumerable<AliasSwitch> switches)
    {
        var operations = new List<AliasOperations>();
        foreach (var s in switches)
        {
            if (s.Previous is not null)
            {
                operations.Add(new AliasOperations { DeleteAlias = new DeleteAlias { AliasName = s.Alias } });
            }

            operations.Add(new AliasOperations { CreateAlias = new CreateAlias { AliasName = s.Alias, CollectionName = s.Next } });
        }

        return operations;
    }

    internal static StoredPoint StoredPointOf(RetrievedPoint point)
    {
        var vector = point.Vectors?.Vector is { } v ? (v.Dense?.Data.Count > 0 ? [.. v.Dense.Data] : DataOf(v)) : [];
        var itemId = point.Payload.TryGetValue(QdrantVectorShard.ItemIdField, out var id) && id.KindCase == Value.KindOneofCase.StringValue
            ? id.StringValue
            : null;
        return new StoredPoint(unchecked((long)point.Id.Num), vector, itemId);
    }

    /// <summary>Servers before the dense field answer with the deprecated flat data.</summary>
    private static float[] DataOf(VectorOutput v)
    {
#pragma warning disable CS0612
        return [.. v.Data];
#pragma warning restore CS0612
    }

    /// <summary>Alias name to the collection it points at, for this index's aliases.</summary>
    private async Task<Dictionary<string, string>> CurrentCollectionsAsync(CancellationToken cancellationToken)
    {
        var names = _shards.Select(s => s.CollectionName).ToHashSet(StringComparer.Ordinal);
        var aliases = await _client.ListAliasesAsync(cancellationToken).ConfigureAwait(false);
        return aliases.Where(a => names.Contains(a.AliasName)).ToDictionary(a => a.AliasName, a => a.CollectionName, StringComparer.Ordinal);
    }

    private async Task CopyAsync(string from, string to, Func<long, ItemPayload?> payloadOf, CancellationToken cancellationToken)
    {
        var batch = new List<PointStruct>((int)PageSize);
        await foreach (var point in ScrollAsync(from, cancellationToken).ConfigureAwait(false))
        {
            var stored = StoredPointOf(point);
            var fresh = QdrantVectorShard.PointOf(stored.Id, stored.Vector, payloadOf(stored.Id));
            if (fresh.Payload.Count == 0)
            {
                fresh.Payload.Add(point.Payload);
            }

            batch.Add(fresh);
            if (batch.Count == PageSize)
            {
                await _client.UpsertAsync(to, batch, wait: true, cancellationToken: cancellationToken).ConfigureAwait(false);
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            await _client.UpsertAsync(to, batch, wait: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private async IAsyncEnumerable<RetrievedPoint> ScrollAsync(string collection, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        PointId? offset = null;
        do
        {
            var page = await _client.ScrollAsync(collection, limit: PageSize, offset: offset, payloadSelector: true, vectorsSelector: true,
                cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var point in page.Result)
            {
                yield return point;
            }

            offset = page.NextPageOffset;
        }
        while (offset is not null);
    }
}
