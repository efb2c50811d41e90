using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Ingestion;

/// <summary>A backfill job as <c>/v1/offline/backfill</c> reports it (the fields the Trainer reads).</summary>
public sealed record BackfillState(string Id, string State, string? Error);

/// <summary>How often and how patiently requests are retried on 5xx, 408, 429, timeouts and refused connections.</summary>
public sealed record RetryOptions
{
    /// <summary>Attempts per request, the first included.</summary>
    public int MaxAttempts { get; init; } = 6;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Client of the FeatureServer's public ingestion API (<c>PUT /v1/items</c>, <c>POST /v1/events</c>, <c>GET /v1/status</c>).
/// A 400 is a per-record verdict (valid records of the batch were still accepted) and is never retried; transient
/// failures are retried with exponential backoff and jitter, which is safe because events are deduplicated by id
/// and item upserts are idempotent.
/// </summary>
public sealed class FeatureServerClient(HttpClient http, RetryOptions retry, TimeProvider time, Action<string>? onRetry = null)
{
    public Uri? BaseAddress => http.BaseAddress;

    public Task<BatchOutcome> PutItemsAsync(IReadOnlyList<ItemDto> items, CancellationToken cancellationToken) =>
        SendBatchAsync(HttpMethod.Put, "/v1/items", new ItemBatchRequest(items), items.Count, cancellationToken);

    public Task<BatchOutcome> PostEventsAsync(IReadOnlyList<EventDto> events, CancellationToken cancellationToken) =>
        SendBatchAsync(HttpMethod.Post, "/v1/events", new EventBatchRequest(events), events.Count, cancellationToken);

    /// <summary>
    /// Sends one JSON request with the same retry policy (used for other services' batch endpoints, such as the Retrieval
    /// index); any non-success answer is an error naming the endpoint.
    /// </summary>
    public async Task SendJsonAsync<TRequest>(HttpMethod method, string path, TRequest request, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, JsonDefaults.Options);
        using var response = await SendWithRetryAsync(
            () =>
            {
                var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                return new HttpRequestMessage(method, path) { Content = content };
            },
            cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await UnexpectedAsync(response, $"{method} {path}", cancellationToken);
        }
    }

    /// <summary>GETs one JSON document with the same retry policy; any non-success answer is an error naming the endpoint.</summary>
    public async Task<TResponse> GetJsonAsync<TResponse>(string path, CancellationToken cancellationToken)
    {
        using var response = await SendWithRetryAsync(() => new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await UnexpectedAsync(response, $"GET {path}", cancellationToken);
        }

        return await response.Content.ReadFromJsonAsync<TResponse>(JsonDefaults.Options, cancellationToken)
            ?? throw new CliException($"GET {path} returned an empty body.", ExitCodes.Rejected);
    }

    /// <summary>Reads the status, retrying transient failures like a batch.</summary>
    public async Task<FeatureServerStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        using var response = await SendWithRetryAsync(() => new HttpRequestMessage(HttpMethod.Get, "/v1/status"), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await UnexpectedAsync(response, "GET /v1/status", cancellationToken);
        }

        return await response.Content.ReadFromJsonAsync<FeatureServerStatus>(JsonDefaults.Options, cancellationToken)
            ?? throw new CliException("GET /v1/status returned an empty body.", ExitCodes.Rejected);
    }

    /// <summary>
    /// <c>POST /v1/training-sets</c> with the labels as CSV (<paramref name="labelsCsv"/>, columns
    /// <c>user_id,item_id,event_time,label,weight</c>) and the feature names; writes the Parquet answer to
    /// <paramref name="outputPath"/>. The build has no side effect, so it is retried like a read.
    /// </summary>
    public async Task PostTrainingSetAsync(byte[] labelsCsv, IReadOnlyList<string> features, string outputPath, CancellationToken cancellationToken)
    {
        var path = "/v1/training-sets?features=" + Uri.EscapeDataString(string.Join(',', features));
        using var response = await SendWithRetryAsync(
            () =>
            {
                var content = new ByteArrayContent(labelsCsv);
                content.Headers.ContentType = new MediaTypeHeaderValue("text/csv") { CharSet = "utf-8" };
                return new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
            },
            cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await UnexpectedAsync(response, "POST /v1/training-sets", cancellationToken);
        }

        await using var file = File.Create(outputPath);
        await response.Content.CopyToAsync(file, cancellationToken);
    }

    /// <summary>
    /// Starts a backfill of the offline store (<c>POST /v1/offline/backfill</c>; a running one is followed instead) and polls
    /// it every <paramref name="pollInterval"/> until it ends; a failed backfill is an error.
    /// </summary>
    public async Task<BackfillState> RunBackfillAsync(TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        string id;
        using (var started = await SendWithRetryAsync(() => new HttpRequestMessage(HttpMethod.Post, "/v1/offline/backfill"), cancellationToken))
        {
            if (started.StatusCode is HttpStatusCode.Accepted)
            {
                id = (await started.Content.ReadFromJsonAsync<BackfillState>(JsonDefaults.Options, cancellationToken))?.Id
                    ?? throw new CliException("POST /v1/offline/backfill returned an empty body.", ExitCodes.Rejected);
            }
            else if (started.StatusCode is HttpStatusCode.Conflict)
            {
                using var problem = JsonDocument.Parse(await started.Content.ReadAsStringAsync(cancellationToken));
                id = problem.RootElement.TryGetProperty("jobId", out var job) && job.GetString() is { } running
                    ? running
                    : throw new CliException("POST /v1/offline/backfill answered 409 without the running job's id.", ExitCodes.Rejected);
            }
            else
            {
                throw await UnexpectedAsync(started, "POST /v1/offline/backfill", cancellationToken);
            }
        }

        while (true)
        {
            var state = await GetJsonAsync<BackfillState>("/v1/offline/backfill/" + Uri.EscapeDataString(id), cancellationToken);
            if (state.State != "running")
            {
                return state.State == "succeeded"
                    ? state
                    : throw new CliException($"Backfill {id} ended {state.State}: {state.Error}", ExitCodes.Rejected);
            }

            await Task.Delay(pollInterval, time, cancellationToken);
        }
    }

    /// <summary>One attempt at the status: null when the server does not answer (yet).</summary>
    public async Task<FeatureServerStatus?> TryGetStatusAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await http.GetAsync(new Uri("/v1/status", UriKind.Relative), timeout.Token);
            return response.IsSuccessStatusCode
                ? await response.Content.ReadFromJsonAsync<FeatureServerStatus>(JsonDefaults.Options, timeout.Token)
                : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    private async Task<BatchOutcome> SendBatchAsync<TRequest>(HttpMethod method, string path, TRequest request, int count, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, JsonDefaults.Options);
        using var response = await SendWithRetryAsync(
            () =>
            {
                var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                return new HttpRequestMessage(method, path) { Content = content };
            },
            cancellationToken);

        if (response.IsSuccessStatusCode)
        {
            return await ReadSuccessAsync(response, count, cancellationToken);
        }

        if (response.StatusCode == HttpStatusCode.BadRequest)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            return ProblemParser.Parse(text, count, $"{method} {path}");
        }

        throw await UnexpectedAsync(response, $"{method} {path}", cancellationToken);
    }

    private static async Task<BatchOutcome> ReadSuccessAsync(HttpResponseMessage response, int count, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (string.IsNullOrWhiteSpace(text))
        {
            return BatchOutcome.AllAccepted(count);
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            var accepted = root.TryGetProperty("accepted", out var a) ? a.GetInt32()
                : root.TryGetProperty("upserted", out var u) ? u.GetInt32()
                : count;
            var rejected = root.TryGetProperty("rejected", out var r) ? r.GetInt32() : 0;
            var errors = rejected > 0 ? ProblemParser.ErrorsOf(root) : [];
            return new BatchOutcome(accepted, rejected, errors);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return BatchOutcome.AllAccepted(count);
        }
    }

    private async Task<HttpResponseMessage> SendWithRetryAsync(Func<HttpRequestMessage> createRequest, CancellationToken cancellationToken)
    {
        string? lastError = null;
        string? what = null;
        for (var attempt = 1; ; attempt++)
        {
            using var request = createRequest();
            what ??= $"{request.Method} {new Uri(http.BaseAddress!, request.RequestUri!)}";
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(retry.RequestTimeout);
            try
            {
                var response = await http.SendAsync(request, timeout.Token);
                if (!IsTransient(response.StatusCode))
                {
                    return response;
                }

                lastError = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
                response.Dispose();
            }
            catch (HttpRequestException ex)
            {
                lastError = ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal)
                    ? $"{ex.Message} ({inner.Message})"
                    : ex.Message;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                lastError = $"no answer within {retry.RequestTimeout.TotalSeconds:N0} s";
            }

            if (attempt >= retry.MaxAttempts)
            {
                throw new CliException($"{what} failed after {attempt} attempts: {lastError}", ExitCodes.Unreachable);
            }

            var backoff = Math.Min(retry.MaxDelay.TotalMilliseconds, retry.BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
            var delay = TimeSpan.FromMilliseconds(backoff * (0.5 + (Random.Shared.NextDouble() * 0.5)));
            onRetry?.Invoke($"{what}: {lastError}; retry {attempt}/{retry.MaxAttempts - 1} in {delay.TotalSeconds:N1} s");
            await Task.Delay(delay, time, cancellationToken);
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;

    private static async Task<CliException> UnexpectedAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (text.Length > 300)
        {
            text = text[..300] + "...";
        }

        var hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => $" (send a key with --api-key or ${TrainerEnvironment.ApiKeyVariable})",
            HttpStatusCode.Forbidden => " (the API key lacks the role this route needs)",
            _ => "",
        };
        return new CliException($"{what} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}{hint}: {text}", ExitCodes.Rejected);
    }
}
