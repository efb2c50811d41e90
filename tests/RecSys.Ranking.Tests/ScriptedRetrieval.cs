using System.Net;
using System.Net.Http.Json;
using RecSys.Core.Contracts;

namespace RecSys.Ranking.Tests;

/// <summary>Stands in for the Retrieval service at the HTTP boundary; each attempt is answered by a script.</summary>
public sealed class ScriptedRetrieval : HttpMessageHandler
{
    private int _attempts;

    /// <summary>Given the attempt number (1-based) and the request, the answer.</summary>
    public Func<int, CandidateRequest, CancellationToken, Task<HttpResponseMessage>> Script { get; set; } =
        (_, r, _) => Task.FromResult(Ok(new CandidateResponse(r.UserId!, [], [], [], 0)));

    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>The media types the last request accepted.</summary>
    public IReadOnlyList<System.Net.Http.Headers.MediaTypeWithQualityHeaderValue> LastAccept { get; private set; } = [];

    public static HttpResponseMessage Ok(CandidateResponse response) =>
        new(HttpStatusCode.OK) { Content = JsonContent.Create(response, options: JsonDefaults.Options) };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var attempt = Interlocked.Increment(ref _attempts);
        LastAccept = [.. request.Headers.Accept];
        // As bytes: a retry sends the same request again, and a JSON read would close the content's buffered stream.
        var bytes = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
        var body = System.Text.Json.JsonSerializer.Deserialize<CandidateRequest>(bytes, JsonDefaults.Options);
        return await Script(attempt, body!, cancellationToken);
    }
}
