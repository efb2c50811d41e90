using BenchmarkDotNet.Attributes;
using RecSys.Candidates;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Benchmarks;

/// <summary>
/// The retriever's fusion and eligibility decision for one request of ~5,000 candidates, by id string against by index key
/// (<see cref="IndexedItems.KeyOf"/>), in one process. Lists as the serving path has them: the collaborative source's
/// 2,500 hits come from the index with their keys and with the index's own id strings; the four store sources' lists are
/// fresh strings (as parsed from Redis), so their keys are worked out per request. The seen set (100 ids) is keyed per request,
/// the unavailable set (2,000 ids) once (it is cached). Both cases must select the same entries (checked in <see cref="Setup"/>).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class FusionKeyBenchmarks
{
    private const int Catalog = 100_000;

    private readonly FusionAccumulator _fusion = new(8_000);
    private (string Name, double Weight, ScoredItem[] Items, long[]? Keys)[] _lists = [];
    private HashSet<string> _seen = [];
    private HashSet<string> _unavailable = [];
    private HashSet<long> _unavailableKeys = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        var ids = Enumerable.Range(0, Catalog).Select(i => "item-" + i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        ScoredItem[] Draw(int count, bool fresh) =>
        [
            .. Enumerable.Range(0, count * 2).Select(_ => { var u = random.NextDouble(); return (int)(u * u * Catalog); }).Distinct().Take(count)
                .Select(i => new ScoredItem(fresh ? new string(ids[i].AsSpan()) : ids[i], random.NextDouble()))
                .OrderByDescending(item => item.Score),
        ];
        var collaborative = Draw(2_500, fresh: false);
        _lists =
        [
            ("collaborative", 1.0, collaborative, collaborative.Select(i => IndexedItems.KeyOf(i.ItemId)).ToArray()),
            ("content", 0.9, Draw(1_000, fresh: true), null),
            ("recent_similar", 0.85, Draw(750, fresh: true), null),
            ("creator", 0.8, Draw(500, fresh: true), null),
            ("trending", 0.7, Draw(1_250, fresh: true), null),
        ];
        _seen = [.. Enumerable.Range(0, 100).Select(_ => ids[random.Next(Catalog / 4)])];
        _unavailable = [.. Enumerable.Range(0, 2_000).Select(_ => ids[random.Next(Catalog)])];
        _unavailableKeys = [.. _unavailable.Select(IndexedItems.KeyOf)];
        var byId = ById();
        var byKey = ByKey();
        if (byId != byKey)
        {
            throw new InvalidOperationException($"By id {byId} selectable, by key {byKey}: the cases are not comparable.");
        }

        Console.WriteLine($"// {_lists.Sum(l => l.Items.Length)} proposals, {_fusion.Count} distinct items, {byId} selectable");
    }

    [Benchmark(Baseline = true)]
    public int ById()
    {
        _fusion.Reset(8_000);
        foreach (var (name, weight, items, _) in _lists)
        {
            _fusion.Add(_fusion.AddSource(name, weight), items, items.Length);
        }

        var selectable = 0;
        for (var e = 0; e < _fusion.Count; e++)
        {
            var id = _fusion.ItemIdAt(e);
            selectable += !_seen.Contains(id) && !_unavailable.Contains(id) ? 1 : 0;
        }

        return selectable;
    }

    [Benchmark]
    public int ByKey()
    {
        _fusion.Reset(8_000);
        foreach (var (name, weight, items, given) in _lists)
        {
            var keys = given ?? KeysOf(items);
            _fusion.Add(_fusion.AddSource(name, weight), items, items.Length, keys);
        }

        var seenKeys = new HashSet<long>(_seen.Count);
        foreach (var id in _seen)
        {
            seenKeys.Add(IndexedItems.KeyOf(id));
        }

        var selectable = 0;
        for (var e = 0; e < _fusion.Count; e++)
        {
            var key = _fusion.KeyAt(e);
            var id = _fusion.ItemIdAt(e);
            var seen = seenKeys.Contains(key) && _seen.Contains(id);
            var unavailable = _unavailableKeys.Contains(key) && _unavailable.Contains(id);
            selectable += !seen && !unavailable ? 1 : 0;
        }

        return selectable;
    }

    private static long[] KeysOf(ScoredItem[] items)
    {
        var keys = new long[items.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = IndexedItems.KeyOf(items[i].ItemId);
        }

        return keys;
    }
}
