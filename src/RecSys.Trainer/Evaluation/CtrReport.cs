using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Rollout.Statistics;

namespace RecSys.Trainer.Evaluation;

/// <summary>One model version's served traffic and clicks, joined by request id.</summary>
public sealed record VersionCtr(
    string Version,
    long Requests,
    long Impressions,
    long Clicks,
    long ClickedRequests,
    double Ctr,
    double CtrLower,
    double CtrUpper,
    double RequestCtr,
    DateTimeOffset? FirstServed,
    DateTimeOffset? LastServed);

/// <summary>
/// The whole report: per version, plus what could not be attributed (clicks whose request id no impression carries, and
/// impressions without a version).
/// </summary>
public sealed record CtrReportResult(
    IReadOnlyList<VersionCtr> Versions,
    long UnattributedClicks,
    long ClicksWithoutRequestId,
    long ImpressionsWithoutVersion,
    long EventsRead);

/// <summary>
/// CTR per model version measured from the event log, the way the rollout gates count it: Ranking logs every served list as
/// impressions carrying the request id and the release that ranked it; a client that echoes the request id on a click lets
/// the click be joined to that list. A click counts once per (request, item) and only for an item the request showed, so
/// double-sent clicks and clicks on items the list did not contain do not inflate a version's CTR. The join happens after
/// the whole window is read, because the log may hold a click before the impressions that led to it (impressions are sent
/// asynchronously, in batches).
/// </summary>
public sealed class CtrReport
{
    /// <summary>z of the two-sided 95 % Wilson interval.</summary>
    public const double Z95 = 1.959963984540054;

    private readonly Dictionary<string, ServedList> _served = new(StringComparer.Ordinal);
    private readonly List<(string RequestId, string? ItemId)> _clicks = [];
    private long _clicksWithoutRequestId;
    private long _impressionsWithoutVersion;
    private long _events;

    public void Add(EventDto e)
    {
        ArgumentNullException.ThrowIfNull(e);
        _events++;
        if (!EventTypes.TryParse(e.Type, out var type))
        {
            return;
        }

        if (type == EventType.Impression)
        {
            if (string.IsNullOrEmpty(e.RequestId) || string.IsNullOrEmpty(e.ModelVersion))
            {
                _impressionsWithoutVersion++;
                return;
            }

            if (!_served.TryGetValue(e.RequestId, out var list))
            {
                list = new ServedList(e.ModelVersion);
                _served[e.RequestId] = list;
            }

            if (e.ItemId is { } item)
            {
                list.Items.Add(item);
            }

            if (e.EventTime is { } at)
            {
                list.At = list.At is { } seen && seen < at ? seen : at;
            }
        }
        else if (type == EventType.Click)
        {
            if (string.IsNullOrEmpty(e.RequestId))
            {
                _clicksWithoutRequestId++;
                return;
            }

            _clicks.Add((e.RequestId, e.ItemId));
        }
    }

    public CtrReportResult Build()
    {
        var clicked = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        long unattributed = 0;
        foreach (var (requestId, itemId) in _clicks)
        {
            if (!_served.TryGetValue(requestId, out var list) || itemId is null || !list.Items.Contains(itemId))
            {
                unattributed++;
                continue;
            }

            if (!clicked.TryGetValue(requestId, out var items))
            {
                items = new HashSet<string>(StringComparer.Ordinal);
                clicked[requestId] = items;
            }

            items.Add(itemId);
        }

        var versions = new List<VersionCtr>();
        foreach (var group in _served.GroupBy(p => p.Value.Version, StringComparer.Ordinal))
        {
            long requests = 0, impressions = 0, clicks = 0, clickedRequests = 0;
            DateTimeOffset? first = null, last = null;
            foreach (var (requestId, list) in group)
            {
                requests++;
                impressions += list.Items.Count;
                if (clicked.TryGetValue(requestId, out var items))
                {
                    clicks += items.Count;
                    clickedRequests++;
                }

                if (list.At is { } at)
                {
                    first = first is { } f && f < at ? f : at;
                    last = last is { } l && l > at ? l : at;
                }
            }

            var (lower, upper) = Wilson.Interval(clicks, impressions, Z95);
            versions.Add(new VersionCtr(
                group.Key, requests, impressions, clicks, clickedRequests,
                impressions == 0 ? 0 : (double)clicks / impressions, lower, upper,
                requests == 0 ? 0 : (double)clickedRequests / requests, first, last));
        }

        versions.Sort((a, b) => b.Impressions != a.Impressions ? b.Impressions.CompareTo(a.Impressions) : string.CompareOrdinal(a.Version, b.Version));
        return new CtrReportResult(versions, unattributed, _clicksWithoutRequestId, _impressionsWithoutVersion, _events);
    }

    private sealed class ServedList(string version)
    {
        public string Version { get; } = version;

        public HashSet<string> Items { get; } = new(StringComparer.Ordinal);

        public DateTimeOffset? At { get; set; }
    }
}
