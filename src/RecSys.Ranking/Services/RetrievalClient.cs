using System.Buffers;
using System.Net.Http.Headers;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.Ranking.Features;

namespace RecSys.Ranking.Services;

/// <summary>
/// Typed client of the Retrieval service's <c>POST /v1/candidates</c>. It asks for the compact <see cref="CandidateWireFormat"/>
/// (JSON stays acceptable, at a lower quality, so that a Retrieval without it still answers).
/// </summary>
public sealed class RetrievalClient
{
    private static readonly MediaTypeWithQualityHeaderValue Compact = new(CandidateWireFormat.MediaType);
    private static readonly MediaTypeWithQualityHeaderValue Json = new("application/json", 0.5);

    /// <summary>Far above 10,000 candidates (the largest count) with 64-character ids: a bound on what is buffered.</summary>
    private const int MaxCompactBytes = 64 * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly Func<ItemFeatureSnapshot?> _itemTable;

    /// <param name="http">The client for Retrieval's address.</param>
    /// <param name="itemTable">The in-process item table, when the ranker has one: compact answers resolve their ids against it.</param>
    public RetrievalClient(HttpClient http, ItemFeatureTable? itemTable = null)
        : this(http, itemTable is null ? static () => null : () => itemTable.Current)
    {
    }

    /// <summary>With the item table's current snapshot given by <paramref name="itemTable"/> (tests).</summary>
    internal RetrievalClient(HttpClient http, Func<ItemFeatureSnapshot?> itemTable)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(itemTable);
        _http = http;
        _itemTable = itemTable;
    }

    public Task<CandidateResponse> GetCandidatesAsync(CandidateRequest request, CancellationToken cancellationToken) =>
        SendAsync(request, static bytes => CandidateWireFormat.Read(bytes), static json => json, cancellationToken);

    /// <summary>
    /// The candidates as the ranker takes them: a compact answer is decoded straight into <see cref="RankingCandidate"/>s
    /// (one object per candidate, where going through <see cref="CandidateDto"/> made two); a JSON answer is converted.
    /// </summary>
    public Task<RetrievedCandidates> GetRankingCandidatesAsync(CandidateRequest request, CancellationToken cancellationToken) =>
        SendAsync(
            request,
            bytes =>
            {
                // With an item table, ids are looked up there by their bytes while decoding: a known id takes the catalog's
                // string (none is made per candidate) and carries its number in that snapshot for the feature fetch.
                var decoded = _itemTable() is { } snapshot
                    ? CandidateWireFormat.Read(bytes, snapshot.ResolveUtf8, (id, number, score, sources) =>
                        new RankingCandidate(id, score, sources) { TableStamp = number >= 0 ? snapshot.Stamp : 0, TableNumber = number })
                    : CandidateWireFormat.Read(bytes, static (id, score, sources) => new RankingCandidate(id, score, sources));
                return new RetrievedCandidates(decoded.Candidates, decoded.Degraded, decoded.IndexCoverage);
            },
            static json => new RetrievedCandidates(RetrievedCandidates.From(json.Candidates), json.Degraded, json.IndexCoverage),
            cancellationToken);

    private async Task<T> SendAsync<T>(CandidateRequest request, CompactReader<T> fromCompact, Func<CandidateResponse, T> fromJson, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/candidates")
        {
            Content = JsonContent.Create(request, options: JsonDefaults.Options),
        };
        message.Headers.Accept.Add(Compact);
        message.Headers.Accept.Add(Json);
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"Retrieval answered {(int)response.StatusCode}: {body}", null, response.StatusCode);
        }

        if (string.Equals(response.Content.Headers.ContentType?.MediaType, CandidateWireFormat.MediaType, StringComparison.OrdinalIgnoreCase))
        {
            return await ReadCompactAsync(response.Content, fromCompact, cancellationToken);
        }

        return fromJson(await response.Content.ReadFromJsonAsync<CandidateResponse>(JsonDefaults.Options, cancellationToken)
            ?? throw new HttpRequestException("Retrieval answered an empty body."));
    }

    private delegate T CompactReader<out T>(ReadOnlySpan<byte> bytes);

    /// <summary>
    /// Reads the body into a pooled buffer: ~100 KB for 5,000 candidates, which as a fresh array per request would land on
    /// the large-object heap.
    /// </summary>
    private static async Task<T> ReadCompactAsync<T>(HttpContent content, CompactReader<T> decode, CancellationToken cancellationToken)
    {
        var length = content.Headers.ContentLength;
        var buffer = ArrayPool<byte>.Shared.Rent(length is > 0 and <= MaxCompactBytes ? (int)length.Value : 128 * 1024);
        try
        {
            await using var stream = await content.ReadAsStreamAsync(cancellationToken);
            var filled = 0;
            while (true)
            {
                if (filled == buffer.Length)
                {
                    if (buffer.Length >= MaxCompactBytes)
                    {
                        throw new HttpRequestException($"Retrieval's candidate response exceeds {MaxCompactBytes} bytes.");
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                filled += read;
            }

            return decode(buffer.AsSpan(0, filled));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Retrieval's answer as the ranker takes it: the candidates, the sources it degraded, the index's coverage.</summary>
public sealed record RetrievedCandidates(RankingCandidate[] Candidates, IReadOnlyList<string> Degraded, double? IndexCoverage)
{
    public static RankingCandidate[] From(IReadOnlyList<CandidateDto> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var converted = new RankingCandidate[candidates.Count];
        for (var i = 0; i < converted.Length; i++)
        {
            converted[i] = new RankingCandidate(candidates[i].ItemId, candidates[i].Score, candidates[i].Sources);
        }

        return converted;
    }
}
