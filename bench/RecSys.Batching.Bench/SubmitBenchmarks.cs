using BenchmarkDotNet.Attributes;

namespace RecSys.Batching.Bench;

/// <summary>
/// Cost and allocation per request: <c>Concurrency</c> requests of <c>RowsPerRequest</c> candidates submitted together
/// and awaited, against the same requests scored one session call each.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class SubmitBenchmarks
{
    private EmulatedModel _model = null!;
    private DynamicBatcher<Candidate> _batcher = null!;
    private Candidate[][] _requests = null!;
    private float[][] _scores = null!;
    private ValueTask[] _pending = null!;

    [Params(16, 64)]
    public int Concurrency { get; set; }

    [Params(4)]
    public int RowsPerRequest { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = new EmulatedModel(10_000, 32, TimeSpan.FromMicroseconds(20), TimeSpan.FromMicroseconds(0.5));
        _batcher = new DynamicBatcher<Candidate>(
            new DynamicBatchingOptions { Name = "bench", FeatureWidth = _model.Width, AdaptationEnabled = false },
            _model.Assemble,
            _model.ScoreAsync);
        var random = new Random(3);
        _requests = Enumerable.Range(0, Concurrency)
            .Select(_ => Enumerable.Range(0, RowsPerRequest).Select(_ => new Candidate(random.Next(_model.Items))).ToArray())
            .ToArray();
        _scores = Enumerable.Range(0, Concurrency).Select(_ => new float[RowsPerRequest]).ToArray();
        _pending = new ValueTask[Concurrency];
    }

    [GlobalCleanup]
    public void Cleanup() => _batcher.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, Description = "direct: one call per request")]
    public float Direct()
    {
        for (var i = 0; i < _requests.Length; i++)
        {
            _model.ScoreDirect(_requests[i], _scores[i]);
        }

        return _scores[^1][0];
    }

    [Benchmark(Description = "batched: submit all, await all")]
    public async Task<float> Batched()
    {
        for (var i = 0; i < _requests.Length; i++)
        {
            _pending[i] = _batcher.ScoreAsync(_requests[i], _scores[i]);
        }

        for (var i = 0; i < _pending.Length; i++)
        {
            await _pending[i];
        }

        return _scores[^1][0];
    }
}
