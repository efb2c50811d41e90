using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>Copies the stored vector of a key (normalized under cosine); false when absent.</summary>
internal delegate bool VectorLookup(long key, Span<float> destination);

/// <summary>
/// What one request searches: the shards as one unit and the embedding version their vectors come from. A shard set
/// replaces its generation with one reference write, so a request that holds a generation reads every shard, every
/// item vector and (through <see cref="EmbeddingVersion"/>) the user's embedding from one version.
/// </summary>
internal sealed record IndexGeneration(ScatterGatherCoordinator Reader, string EmbeddingVersion, VectorLookup TryGetVector);
