using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;

namespace RecSys.Ranking.Feedback;

/// <summary>
/// Logs every served list as impression events (one per item, carrying the request id and the serving release) to the
/// FeatureServer's <c>POST /v1/events</c>: queued without waiting, sent in batches by a background loop. A full queue or
/// a failed send loses the impressions (counted in <c>recsys.ranking.impressions.dropped</c>): serving never blocks on it.
/// </summary>
public sealed partial class ImpressionLogger : BackgroundService
{
    public const string HttpClientName = "feedback";

    private readonly FeedbackOptions _options;
    private readonly IHttpClientFactory _http;
    private readonly TimeProvider _time;
    private readonly ILogger<ImpressionLogger> _logger;
    private readonly Channel<ServedList>? _queue;
    private readonly Meter _meter;
    private readonly Counter<long> _logged;
    private readonly Counter<long> _dropped;

    public ImpressionLogger(IOptions<FeedbackOptions> options, IHttpClientFactory http, TimeProvider time, ILogger<ImpressionLogger> logger, IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _http = http;
        _time = time;
        _logger = logger;
        if (_options.FeatureServerBaseAddress is not null)
        {
            _queue = Channel.CreateBounded<ServedList>(new BoundedChannelOptions(_options.QueueCapacity)
            {
                // Wait: TryWrite then answers false when full (with DropWrite it answers true and loses the item uncounted).
                FullMode = BoundedChannelFullMode.Wait,
                SingleReader = true,
            });
        }

        _meter = meters?.Create("RecSys.Ranking.Feedback") ?? new Meter("RecSys.Ranking.Feedback");
        _logged = _meter.CreateCounter<long>("recsys.ranking.impressions.logged", description: "Impression events accepted by the FeatureServer");
        _dropped = _meter.CreateCounter<long>("recsys.ranking.impressions.dropped", description: "Impression events lost: queue full, send failed or refused");
    }

    public bool Enabled => _queue is not null;

    /// <summary>Impression events lost so far (queue full or send failed).</summary>
    public long Dropped => Interlocked.Read(ref _droppedTotal);

    /// <summary>Impression events the FeatureServer accepted so far.</summary>
    public long Logged => Interlocked.Read(ref _loggedTotal);

    private long _droppedTotal;
    private long _loggedTotal;

    /// <summary>Queues the impressions of one served list; returns at once (drops and counts them when the queue is full).</summary>
    public void Log(string userId, string requestId, string modelVersion, IReadOnlyList<RankedItem> items)
    {
        if (_queue is null || items.Count == 0)
        {
            return;
        }

        if (!_queue.Writer.TryWrite(new ServedList(userId, requestId, modelVersion, items, _time.GetUtcNow())))
        {
            CountDropped(items.Count);
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _meter.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_queue is null)
        {
            return;
        }

        var batch = new List<EventDto>(_options.BatchSize);
        var reader = _queue.Reader;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
                {
                    return;
                }

                // Gather what arrives within the flush interval, up to a batch.
                using (var flush = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    flush.CancelAfter(_options.FlushInterval);
                    try
                    {
                        while (batch.Count < _options.BatchSize)
                        {
                            while (batch.Count < _options.BatchSize && reader.TryRead(out var list))
                            {
                                Append(batch, list);
                            }

                            if (batch.Count >= _options.BatchSize || !await reader.WaitToReadAsync(flush.Token).ConfigureAwait(false))
                            {
                                break;
                            }
                        }
                    }
                    catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                    {
                        // The flush interval is over: send what there is.
                    }
                }

                await SendAsync(batch, stoppingToken).ConfigureAwait(false);
                batch.Clear();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static void Append(List<EventDto> batch, ServedList list)
    {
        for (var i = 0; i < list.Items.Count; i++)
        {
            batch.Add(new EventDto(
                string.Create(CultureInfo.InvariantCulture, $"{list.RequestId}:{i}"), list.UserId, list.Items[i].ItemId, null,
                EventType.Impression.WireName(), null, list.ServedAt)
            {
                RequestId = list.RequestId,
                ModelVersion = list.ModelVersion,
            });
        }
    }

    private async Task SendAsync(List<EventDto> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            using var client = _http.CreateClient(HttpClientName);
            using var response = await client.PostAsJsonAsync(new Uri(_options.FeatureServerBaseAddress!, "/v1/events"),
                new EventBatchRequest(batch), JsonDefaults.Options, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                CountDropped(batch.Count);
                LogSendFailed(_logger, batch.Count, $"HTTP {(int)response.StatusCode}");
                return;
            }

            var body = await response.Content.ReadFromJsonAsync<EventBatchResponse>(JsonDefaults.Options, cancellationToken).ConfigureAwait(false);
            var accepted = body?.Accepted ?? batch.Count;
            _logged.Add(accepted);
            Interlocked.Add(ref _loggedTotal, accepted);
            if (accepted < batch.Count)
            {
                CountDropped(batch.Count - accepted);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Any failure drops the batch (counted): the resilience pipeline throws its own timeout and circuit exceptions, and
            // an exception escaping the background service would stop Ranking's host (found by the FeatureServer-kill fault test).
            CountDropped(batch.Count);
            LogSendFailed(_logger, batch.Count, ex.Message);
        }
    }

    private void CountDropped(int events)
    {
        _dropped.Add(events);
        Interlocked.Add(ref _droppedTotal, events);
    }

    [LoggerMessage(EventId = 7110, Level = LogLevel.Warning, Message = "{Count} impression events were not logged: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, int count, string reason);

    private sealed record ServedList(string UserId, string RequestId, string ModelVersion, IReadOnlyList<RankedItem> Items, DateTimeOffset ServedAt);
}
