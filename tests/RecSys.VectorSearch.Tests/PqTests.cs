namespace RecSys.VectorSearch.Tests;

public class PqTests
{
    private const int Dim = 64;

    [Fact]
    public void Pq_recall_after_rerank_is_above_floor_in_both_modes()
    {
        var data = TestData.Embeddings(4000, Dim, seed: 11);
        var queries = TestData.Embeddings(50, Dim, seed: 12);
        var pq = ProductQuantizer.Train(data, Dim, new PqOptions { Segments = 16, SampleSize = 4000, Iterations = 6 });
        var ids = Enumerable.Range(0, 4000).Select(i => (long)i).ToArray();
        var flat = PqIndex.BuildFlat(pq, ids, data, Metric.InnerProduct, new ArrayVectorStore(data, Dim));
        var graph = PqIndex.BuildOnGraph(pq, TestData.Build(data, Dim));
        Assert.Equal(PqSearchMode.FlatScan, flat.Mode);
        Assert.Equal(PqSearchMode.Graph, graph.Mode);
        double rFlat = 0, rFlatRaw = 0, rGraph = 0;
        for (var q = 0; q < 50; q++)
        {
            var query = queries.AsSpan(q * Dim, Dim);
            var truth = TestData.ExactTopK(data, Dim, query, 10);
            rFlat += TestData.Recall(truth, flat.Search(query, 10, rerank: 100));
            rFlatRaw += TestData.Recall(truth, flat.Search(query, 10));
            rGraph += TestData.Recall(truth, graph.Search(query, 10, rerank: 100, ef: 150));
        }
        Assert.True(rFlat / 50 >= 0.95, $"flat {rFlat / 50}");
        Assert.True(rGraph / 50 >= 0.93, $"graph {rGraph / 50}");
        Assert.True(rFlatRaw < rFlat, "re-rank should improve recall");
        Assert.Equal(16, flat.CodeBytesPerVector);
    }

    [Fact]
    public void Training_is_deterministic_by_seed_and_tables_match_decoded_dot()
    {
        var data = TestData.Embeddings(1000, 32, seed: 13);
        var a = ProductQuantizer.Train(data, 32, new PqOptions { Segments = 8, Iterations = 3, MaxDegreeOfParallelism = 2 });
        var b = ProductQuantizer.Train(data, 32, new PqOptions { Segments = 8, Iterations = 3, MaxDegreeOfParallelism = 1 });
        Assert.True(a.Codebooks.SequenceEqual(b.Codebooks));
        var code = new byte[8];
        a.Encode(data.AsSpan(0, 32), code);
        var decoded = new float[32];
        a.Decode(code, decoded);
        var table = new float[8 * 256];
        var q = data.AsSpan(32, 32);
        a.ComputeInnerProductTable(q, table);
        var viaTable = 0f;
        for (var s = 0; s < 8; s++) viaTable += table[(s * 256) + code[s]];
        Assert.Equal(VectorKernels.Dot(q, decoded), viaTable, 4);
    }

    [Fact]
    public void Rerank_can_read_a_memory_mapped_vector_file()
    {
        var data = TestData.Embeddings(1500, 32, seed: 14);
        var path = Path.Combine(Path.GetTempPath(), $"rsvs-vec-{Guid.NewGuid():N}.rsvs");
        try
        {
            MappedVectorFile.Write(path, data, 32);
            using var mapped = MappedVectorFile.Open(path);
            Assert.Equal(1500, mapped.Count);
            Assert.True(mapped.Get(7).SequenceEqual(data.AsSpan(7 * 32, 32)));
            var pq = ProductQuantizer.Train(data, 32, new PqOptions { Segments = 8, Iterations = 4 });
            var ids = Enumerable.Range(0, 1500).Select(i => (long)i + 100).ToArray();
            var index = PqIndex.BuildFlat(pq, ids, data, Metric.InnerProduct, mapped);
            var hits = index.Search(data.AsSpan(5 * 32, 32), 5, rerank: 50);
            Assert.Equal(105, hits[0].Id);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
