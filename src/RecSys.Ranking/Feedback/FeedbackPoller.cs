using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Ranking.Rollout;
using RecSys.Rollout;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Ranking.Feedback;

/// <summary>
/// While a rollout runs, reads the event log's new events (<c>GET /v1/export/events?after=&lt;position&gt;</c>) every
/// <see cref="FeedbackOptions.PollInterval"/> and feeds the rollout's recorder: impressions (with request id and release)
/// and clicks (with request id), joined by request id for the CTR gate. The log, not this replica's memory, is the source
/// of truth, so impressions served by every replica and clicks from every client count. The first read of a rollout asks
/// for the end position only (<c>after=end</c>): history before the rollout is never scanned.
/// </summary>
public sealed partial class FeedbackPoller(
    IOptions<FeedbackOptions> options,
    IHttpClientFactory http,
    RankingRollout rollout,
    TimeProvider time,
    ILogger<FeedbackPoller> logger) : BackgroundService
{
    public const string EndPositionHeader = "X-Log-End-Position";

    private string? _cursor;

    /// <summary>Impressions and clicks fed to the recorder so far.</summary>
    public (long Impressions, long Clicks) Fed => (Interlocked.Read(ref _impressions), Interlocked.Read(ref _clicks));

    private long _impressions;
    private long _clicks;

    /// <summary>One poll: reads the events logged since the last one (public so tests drive it without the timer).</summary>
    public async Task PollOnceAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (o.FeatureServerBaseAddress is null || string.IsNullOrEmpty(o.ExportApiKey) || rollout.Engine is not { } engine)
        {
            return;
        }

        if (engine.Status().State is not (RolloutState.Running or RolloutState.ReadyToPromote))
        {
            _cursor = null;
            return;
        }

        using var client = http.CreateClient(ImpressionLogger.HttpClientName);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(o.FeatureServerBaseAddress, "/v1/export/events?after=" + Uri.EscapeDataString(_cursor ?? "end")));
        request.Headers.Remove(ApiKeyAuthenticationHandler.HeaderName);
        request.Headers.Add(ApiKeyAuthenticationHandler.HeaderName, o.ExportApiKey);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        var end = response.Headers.TryGetValues(EndPositionHeader, out var values) ? values.FirstOrDefault() : null;
        if (_cursor is not null)
        {
            var shown = new Dictionary<string, (string Version, int Count)>(StringComparer.Ordinal);
            var clicks = new List<string>();
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0 || JsonSerializer.Deserialize<EventDto>(line, JsonDefaults.Options) is not { RequestId: { } requestId } e)
                {
                    continue;
                }

                if (EventTypes.TryParse(e.Type, out var type) && type == EventType.Impression && e.ModelVersion is { } version)
                {
                    shown[requestId] = shown.TryGetValue(requestId, out var seen) ? (seen.Version, seen.Count + 1) : (version, 1);
                }
                else if (type == EventType.Click)
                {
                    clicks.Add(requestId);
                }
            }

            // Impressions first: a click read in the same batch as its list joins it.
            foreach (var (requestId, (version, count)) in shown)
            {
                engine.Recorder.RecordImpressions(version, requestId, count);
            }

            foreach (var requestId in clicks)
            {
                engine.Recorder.RecordClick(requestId);
            }

            Interlocked.Add(ref _impressions, shown.Count);
            Interlocked.Add(ref _clicks, clicks.Count);
        }

        _cursor = end ?? _cursor;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.PollInterval, time, stoppingToken).ConfigureAwait(false);
                await PollOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Any failure (the HTTP client's resilience pipeline throws its own timeout and circuit exceptions) waits for
                // the next interval: an exception escaping a background service stops the whole host.
                LogPollFailed(logger, ex.Message);
            }
        }
    }

    [LoggerMessage(EventId = 7111, Level = LogLevel.Warning, Message = "Reading impressions and clicks from the event log failed; retrying at the next interval: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
