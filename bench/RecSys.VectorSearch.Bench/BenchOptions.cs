using RecSys.Bench.Common;

namespace RecSys.VectorSearch.Bench;

/// <summary>Command-line settings (<c>--name value</c> pairs; <c>--no-x</c> switches a part off; <c>--help</c> lists them).</summary>
internal sealed record BenchOptions
{
    public int N { get; init; } = 100_000;
    public int Dim { get; init; } = 128;
    public int Queries { get; init; } = 1000;
    public int K { get; init; } = 10;
    public int[] Efs { get; init; } = [16, 32, 64, 128, 256];
    public int M { get; init; } = 16;
    public int EfConstruction { get; init; } = 200;
    public int Seed { get; init; } = 1;
    public int Rank { get; init; } = 32;
    public float Noise { get; init; } = 0.5f;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public string? BaseFile { get; init; }
    public string? QueryFile { get; init; }
    public string? Out { get; init; }
    public bool Peers { get; init; } = true;
    public string PeerList { get; init; } = "hnswlib faiss";
    public bool UsearchPeer { get; init; } = true;
    public bool Pq { get; init; } = true;
    public bool Shards { get; init; } = true;
    public int PqSegments { get; init; } = 32;
    public int[] Reranks { get; init; } = [50, 100, 200];
    public int ShardCount { get; init; } = 4;
    public int ShardK { get; init; } = 1000;
    public int ShardEf { get; init; }
    public int ShardQueries { get; init; } = 300;
    public bool PlanCrossover { get; init; }
    public int[] PlanNs { get; init; } = [2_000, 5_000, 10_000, 25_000];
    public int[] PlanKs { get; init; } = [10, 50, 100, 250, 500, 717, 1000, 1500];

    public string OutDir => Out ?? Path.Combine(Path.GetTempPath(), "recsys-vector-bench", $"{(BaseFile is null ? "synthetic" : Path.GetFileNameWithoutExtension(BaseFile))}-{N}x{Dim}");

    public static BenchCommandLine BenchCommandLine { get; } = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.VectorSearch.Bench -- [options]")
        .Option("--n", "N", "vectors (default 100000)")
        .Option("--dim", "D", "dimension of synthetic data (default 128)")
        .Option("--queries", "N", "queries (default 1000)")
        .Option("--k", "K", "neighbours per query (default 10)")
        .Option("--efs", "LIST", "search ef values (default 16,32,64,128,256)")
        .Option("--m", "M", "HNSW links per node (default 16)")
        .Option("--efc", "N", "HNSW ef at construction (default 200)")
        .Option("--seed", "N", "synthetic data seed (default 1)")
        .Option("--rank", "R", "rank of the synthetic low-rank-plus-noise data (default 32)")
        .Option("--noise", "X", "noise of the synthetic data (default 0.5)")
        .Option("--threads", "N", "build threads (default: all cores)")
        .Option("--base", "FILE", "real data, .fvecs or .npy, instead (normalized on load)")
        .Option("--query", "FILE", "real queries, .fvecs or .npy (default: the first rows of --base)")
        .Option("--out", "DIR", "where data and results go (default $TMPDIR/recsys-vector-bench/...)")
        .Option("--pq-segments", "N", "product quantization segments (default 32)")
        .Option("--reranks", "LIST", "PQ rerank depths (default 50,100,200)")
        .Option("--shards", "N", "shards of the k=1000 run (default 4)")
        .Option("--shard-k", "K", "k of the sharded run (default 1000)")
        .Option("--shard-ef", "N", "ef per shard (default 0: the per-shard limit)")
        .Option("--shard-queries", "N", "queries of the sharded run (default 300)")
        .Option("--peers", "LIST", "external peers run by bench/peers/run.sh (default hnswlib,faiss)")
        .Option("--plan-ns", "LIST", "shard sizes of --plan-crossover (default 2000,5000,10000,25000)")
        .Option("--plan-ks", "LIST", "k values of --plan-crossover (default 10,50,100,250,500,717,1000,1500)")
        .Flag("--plan-crossover", "only measure exact scan against the graph walk per shard size and k (uses --dim, --queries, --m, --efc)")
        .Flag("--no-peers", "skip the external peers")
        .Flag("--no-usearch", "skip the USearch peer")
        .Flag("--no-pq", "skip product quantization")
        .Flag("--no-shards", "skip the sharded run");

    public static BenchOptions Parse(ParsedArguments args)
    {
        var d = new BenchOptions();
        return new BenchOptions
        {
            N = args.GetInt("--n", d.N),
            Dim = args.GetInt("--dim", d.Dim),
            Queries = args.GetInt("--queries", d.Queries),
            K = args.GetInt("--k", d.K),
            Efs = args.GetIntList("--efs", d.Efs),
            M = args.GetInt("--m", d.M),
            EfConstruction = args.GetInt("--efc", d.EfConstruction),
            Seed = args.GetInt("--seed", d.Seed),
            Rank = args.GetInt("--rank", d.Rank),
            Noise = args.GetFloat("--noise", d.Noise),
            Threads = args.GetInt("--threads", d.Threads),
            BaseFile = args.GetStringOrNull("--base"),
            QueryFile = args.GetStringOrNull("--query"),
            Out = args.GetStringOrNull("--out"),
            PqSegments = args.GetInt("--pq-segments", d.PqSegments),
            Reranks = args.GetIntList("--reranks", d.Reranks),
            ShardCount = args.GetInt("--shards", d.ShardCount),
            ShardK = args.GetInt("--shard-k", d.ShardK),
            ShardEf = args.GetInt("--shard-ef", d.ShardEf),
            ShardQueries = args.GetInt("--shard-queries", d.ShardQueries),
            Peers = !args.Has("--no-peers"),
            PeerList = args.GetString("--peers", d.PeerList).Replace(',', ' '),
            UsearchPeer = !args.Has("--no-usearch"),
            Pq = !args.Has("--no-pq"),
            Shards = !args.Has("--no-shards"),
            PlanCrossover = args.Has("--plan-crossover"),
            PlanNs = args.GetIntList("--plan-ns", d.PlanNs),
            PlanKs = args.GetIntList("--plan-ks", d.PlanKs),
        };
    }
}
