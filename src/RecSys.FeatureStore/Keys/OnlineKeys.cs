namespace RecSys.FeatureStore.Keys;

/// <summary>
/// The key layout of the online store (Redis protocol). The FeatureServer's stream processor writes it;
/// the Retrieval sources and the Ranking service read it. Keeping it in one place is what keeps writers and readers in step.
/// </summary>
public static class OnlineKeys
{
    /// <summary>Hash of item attributes: <see cref="ItemFields"/>.</summary>
    public static string Item(string itemId) => "it:" + itemId;

    /// <summary>Set of every known item id.</summary>
    public const string AllItems = "items:all";

    /// <summary>Set of items that must not be recommended (unavailable, deleted).</summary>
    public const string UnavailableItems = "items:unavailable";

    /// <summary>Set of every known category name.</summary>
    public const string AllCategories = "cats:all";

    /// <summary>Sorted set: item → decayed popularity over all events (see <see cref="DecayedScore"/>).</summary>
    public const string Trending = "trending";

    /// <summary>String: the epoch (unix ms) that decayed popularity scores are relative to.</summary>
    public const string TrendingEpoch = "trending:epoch";

    /// <summary>Sorted set: item → decayed popularity among events on items of one category.</summary>
    public static string CategoryPopularity(string category) => "cat:" + category + ":pop";

    /// <summary>Sorted set: item → created time (unix ms) for the items of one creator.</summary>
    public static string CreatorItems(string creatorId) => "cr:" + creatorId + ":items";

    /// <summary>Sorted set: item → co-engagement weight with the given item (item-to-item similarity).</summary>
    public static string CoOccurrence(string itemId) => "co:" + itemId;

    /// <summary>Sorted set: item → last event time (unix ms) of the user's recent positive interactions, newest kept.</summary>
    public static string UserRecent(string userId) => "u:" + userId + ":recent";

    /// <summary>Set of items the user has consumed; never recommended again.</summary>
    public static string UserSeen(string userId) => "u:" + userId + ":seen";

    /// <summary>Set of creators the user follows.</summary>
    public static string UserFollows(string userId) => "u:" + userId + ":follows";

    /// <summary>Sorted set: creator → engagement weight of the user with that creator's items.</summary>
    public static string UserCreatorAffinity(string userId) => "u:" + userId + ":creators";

    /// <summary>Sorted set: category → engagement weight of the user with items of that category.</summary>
    public static string UserCategoryAffinity(string userId) => "u:" + userId + ":cats";

    /// <summary>String: the user's base embedding as little-endian float32 values (written by the Retrieval index API).</summary>
    public static string UserEmbedding(string userId) => "ue:" + userId;

    /// <summary>String: the item's embedding as little-endian float32 values (written by the Retrieval index API with the index).</summary>
    public static string ItemEmbedding(string itemId) => "ie:" + itemId;

    /// <summary>
    /// Hash: the user's embedding moved by every engagement since the base (the spec's incremental EMA update), fields
    /// <see cref="EmaEmbeddingFields"/>; written by the stream processor, removed when a new base embedding is stored.
    /// </summary>
    public static string UserEmbeddingEma(string userId) => "uema:" + userId;

    /// <summary>Hash of feature values for one entity: field <c>name</c> holds the value, <c>name@t</c> its event time (unix ms).</summary>
    public static string Features(string entityKind, string entityId) => "f:" + entityKind + ":" + entityId;

    /// <summary>Marker that an event id has been applied; written atomically with the event's effects.</summary>
    public static string AppliedEvent(string eventId) => "ev:" + eventId;

    /// <summary>
    /// Set of deleted user ids (the online copy of the durable tombstone list, <see cref="Deletion.DeletedUsers"/>): the
    /// stream processor's scripts and the embedding writes check it atomically, so no state of a deleted user is re-created.
    /// </summary>
    public const string DeletedUsers = "users:deleted";

    /// <summary>String: log position up to which the stream processor has applied events.</summary>
    public const string ProcessorPosition = "proc:position";

    /// <summary>How many recent items are kept per user.</summary>
    public const int RecentItemsKept = 50;

    /// <summary>How many co-engaged items are kept per item.</summary>
    public const int CoOccurrenceKept = 200;

    /// <summary>How many of a user's most recent items an event is paired with for co-occurrence.</summary>
    public const int CoOccurrenceWindow = 10;
}

/// <summary>
/// Versioned embeddings (the spec's race condition 1: "versioned embeddings with copy-on-write"). A publish writes a whole
/// version under its own namespace <c>emb:{version}:</c>, then moves the one pointer <see cref="ActivePointer"/> with a single
/// SET, so a reader that resolves the version once reads every vector of a request from one version. Until the first
/// activation there is no pointer and the unversioned keys (<see cref="OnlineKeys.UserEmbedding"/>, <see cref="OnlineKeys.ItemEmbedding"/>,
/// <see cref="OnlineKeys.UserEmbeddingEma"/>) are served as the implicit version <see cref="Unversioned"/>.
/// </summary>
public static class EmbeddingKeys
{
    /// <summary>The implicit version of stores written before versioning: the unversioned keys.</summary>
    public const string Unversioned = "";

    /// <summary>Most characters of a version name.</summary>
    public const int MaxVersionLength = 64;

    /// <summary>String: the name of the active version (absent: <see cref="Unversioned"/>).</summary>
    public const string ActivePointer = "emb:active";

    /// <summary>Sorted set: version name to its creation time (unix ms), for listing and retention.</summary>
    public const string Versions = "emb:versions";

    /// <summary>What a version name may hold: letters, digits, '.', '_', '-' (no glob or key separator characters).</summary>
    public const string VersionDescription = "1 to 64 characters among letters, digits, '.', '_' and '-'";

    public static bool IsValidVersion(string? version)
    {
        if (string.IsNullOrEmpty(version) || version.Length > MaxVersionLength)
        {
            return false;
        }

        foreach (var c in version)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Prefix of every key of a (named) version; retention deletes by it.</summary>
    public static string Prefix(string version) => "emb:" + version + ":";

    /// <summary>Hash: <see cref="EmbeddingVersionFields"/> of a named version.</summary>
    public static string Meta(string version) => Prefix(version) + "meta";

    /// <summary>Set: ids of the items with a vector in a named version (read back in batches by the index rebuild).</summary>
    public static string ItemIds(string version) => Prefix(version) + "items";

    /// <summary>Set: ids of the users with a base vector in a named version.</summary>
    public static string UserIds(string version) => Prefix(version) + "users";

    /// <summary>String: a user's base embedding under <paramref name="version"/> (<see cref="EmbeddingBytes"/>).</summary>
    public static string User(string version, string userId) =>
        version.Length == 0 ? OnlineKeys.UserEmbedding(userId) : Prefix(version) + "ue:" + userId;

    /// <summary>String: an item's embedding under <paramref name="version"/>.</summary>
    public static string Item(string version, string itemId) =>
        version.Length == 0 ? OnlineKeys.ItemEmbedding(itemId) : Prefix(version) + "ie:" + itemId;

    /// <summary>Hash (<see cref="EmaEmbeddingFields"/>): a user's embedding moved since the base of <paramref name="version"/>.</summary>
    public static string UserEma(string version, string userId) =>
        version.Length == 0 ? OnlineKeys.UserEmbeddingEma(userId) : Prefix(version) + "uema:" + userId;
}

/// <summary>Fields of <see cref="EmbeddingKeys.Meta"/>.</summary>
public static class EmbeddingVersionFields
{
    public const string Dimension = "dim";
    public const string CreatedMs = "created";

    /// <summary>staged, active, rejected or retired (<see cref="Serving.EmbeddingVersionState"/>).</summary>
    public const string State = "state";

    /// <summary>Why the version was rejected (or the last activation's outcome).</summary>
    public const string Reason = "reason";

    /// <summary>When the state last changed (unix ms).</summary>
    public const string ChangedMs = "changed";
}

/// <summary>Field names of the item hash <see cref="OnlineKeys.Item"/>.</summary>
public static class ItemFields
{
    public const string Creator = "creator";
    public const string Categories = "cats";
    public const string Tags = "tags";
    public const string CreatedMs = "created";
    public const string Available = "avail";
    public const string Title = "title";

    /// <summary>Separator of list-valued fields (categories, tags); ids and names never contain it.</summary>
    public const char ListSeparator = '|';
}

/// <summary>
/// Exponentially time-decayed popularity without rewriting every score as time passes: an event adds
/// <c>w * 2^((t - epoch) / halfLife)</c>, so that the ratio of two scores is the ratio of their decayed sums at any instant.
/// Ranking by score is therefore ranking by decayed popularity "now", whatever "now" is. When the exponent grows large the
/// writer rebases: every score is multiplied by <c>2^(-(newEpoch - epoch) / halfLife)</c> and the epoch moves.
/// </summary>
public static class DecayedScore
{
    public static readonly TimeSpan HalfLife = TimeSpan.FromDays(3);

    /// <summary>Exponent beyond which the writer rebases (2^600 is far from double overflow at 2^1024).</summary>
    public const double RebaseExponent = 600;

    public static double Exponent(long eventTimeMs, long epochMs) => (eventTimeMs - epochMs) / HalfLife.TotalMilliseconds;

    public static double Weight(double engagement, long eventTimeMs, long epochMs) =>
        engagement * Math.Pow(2, Exponent(eventTimeMs, epochMs));
}

/// <summary>Fields of <see cref="OnlineKeys.UserEmbeddingEma"/>.</summary>
public static class EmaEmbeddingFields
{
    /// <summary>The vector, little-endian float32 values (<see cref="EmbeddingBytes"/>).</summary>
    public const string Vector = "v";

    /// <summary>Event time (unix ms) of the latest event folded in.</summary>
    public const string EventTimeMs = "t";

    /// <summary>Id of the latest event folded in (breaks ties of equal event times).</summary>
    public const string EventId = "e";
}

/// <summary>The stored form of embeddings: float32 values, little-endian, back to back.</summary>
public static class EmbeddingBytes
{
    public static byte[] ToBytes(ReadOnlySpan<float> vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        }

        return bytes;
    }

    /// <summary>The vector, or null when the bytes are not whole floats (or <paramref name="dimension"/> is given and differs).</summary>
    public static float[]? FromBytes(ReadOnlySpan<byte> bytes, int? dimension = null)
    {
        if (bytes.IsEmpty || bytes.Length % sizeof(float) != 0 || (dimension is { } d && bytes.Length != d * sizeof(float)))
        {
            return null;
        }

        var vector = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * sizeof(float))..]);
        }

        return vector;
    }
}
