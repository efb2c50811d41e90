using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Ranking.Feedback;

namespace RecSys.Ranking.Tests.Rollout.Simulation;

/// <summary>
/// The FeatureServer's event log as Ranking's feedback loop sees it, in memory: <c>POST /v1/events</c> appends (Ranking's
/// impressions), <see cref="Append"/> adds what clients send (the simulated users' clicks), and
/// <c>GET /v1/export/events?after=&lt;position&gt;</c> answers the NDJSON lines after a position with the end position in
/// <see cref="FeedbackPoller.EndPositionHeader"/> (<c>after=end</c>: the end position only), as the real export does. It
/// stands in for the FeatureServer only; durability, partitions and keys are the FeatureServer's own tests' business.
/// </summary>
public sealed class SimulatedEventLog : HttpMessageHandler
{
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private long _impressions;

    /// <summary>Impression events Ranking has posted so far.</summary>
    public long Impressions => Interlocked.Read(ref _impressions);

    public void Append(EventDto e)
    {
        var line = JsonSerializer.Serialize(e, JsonDefaults.Options);
        lock (_gate)
        {
            _lines.Add(line);
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (request.Method == HttpMethod.Post && path == "/v1/events")
        {
            var bytes = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            var batch = JsonSerializer.Deserialize<EventBatchRequest>(bytes, JsonDefaults.Options);
            var events = batch?.Events?.Where(e => e is not null).ToList() ?? [];
            long end;
            lock (_gate)
            {
                foreach (var e in events)
                {
                    _lines.Add(JsonSerializer.Serialize(e, JsonDefaults.Options));
                }

                end = _lines.Count;
            }

            Interlocked.Add(ref _impressions, events.Count);
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = JsonContent.Create(new EventBatchResponse(events.Count, 0, [], end), options: JsonDefaults.Options),
            };
        }

        if (request.Method == HttpMethod.Get && path == "/v1/export/events")
        {
            var after = System.Web.HttpUtility.ParseQueryString(request.RequestUri.Query)["after"] ?? "end";
            var body = new StringBuilder();
            int endPosition;
            lock (_gate)
            {
                endPosition = _lines.Count;
                if (after != "end")
                {
                    var from = Math.Clamp(int.Parse(after, System.Globalization.CultureInfo.InvariantCulture), 0, endPosition);
                    for (var i = from; i < endPosition; i++)
                    {
                        body.Append(_lines[i]).Append('\n');
                    }
                }
            }

            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body.ToString(), Encoding.UTF8, "application/x-ndjson") };
            response.Headers.Add(FeedbackPoller.EndPositionHeader, endPosition.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return response;
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }
}
