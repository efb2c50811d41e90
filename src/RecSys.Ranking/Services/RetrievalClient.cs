using RecSys.Core.Contracts;

namespace RecSys.Ranking.Services;

/// <summary>Typed client of the Retrieval service's <c>POST /v1/candidates</c>.</summary>
public sealed class RetrievalClient(HttpClient http)
{
    public async Task<CandidateResponse> GetCandidatesAsync(CandidateRequest request, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/v1/candidates", request, JsonDefaults.Options, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"Retrieval answered {(int)response.StatusCode}: {body}", null, response.StatusCode);
        }

        return await response.Content.ReadFromJsonAsync<CandidateResponse>(JsonDefaults.Options, cancellationToken)
            ?? throw new HttpRequestException("Retrieval answered an empty body.");
    }
}
