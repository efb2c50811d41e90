using System.Globalization;

namespace RecSys.VectorSearch.Bench;

/// <summary>Command-line settings (<c>--name value</c> pairs; <c>--no-x</c> switches a part off).</summary>
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

    public string OutDir => Out ?? Path.Combine(Path.GetTempPath(), "recsys-vector-bench", $"{(BaseFile is null ? "synthetic" : Path.GetFileNameWithoutExtension(BaseFile))}-{N}x{Dim}");

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            int[] Ints() => [.. Next().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
            o = a switch
            {
                "--n" => o with { N = Int() },
                "--dim" => o with { Dim = Int() },
                "--queries" => o with { Queries = Int() },
                "--k" => o with { K = Int() },
                "--efs" => o with { Efs = Ints() },
                "--m" => o with { M = Int() },
                "--efc" => o with { EfConstruction = Int() },
                "--seed" => o with { Seed = Int() },
                "--rank" => o with { Rank = Int() },
                "--noise" => o with { Noise = float.Parse(Next(), CultureInfo.InvariantCulture) },
                "--threads" => o with { Threads = Int() },
                "--base" => o with { BaseFile = Next() },
                "--query" => o with { QueryFile = Next() },
                "--out" => o with { Out = Next() },
                "--pq-segments" => o with { PqSegments = Int() },
                "--reranks" => o with { Reranks = Ints() },
                "--shards" => o with { ShardCount = Int() },
                "--shard-k" => o with { ShardK = Int() },
                "--shard-ef" => o with { ShardEf = Int() },
                "--shard-queries" => o with { ShardQueries = Int() },
                "--no-peers" => o with { Peers = false },
                "--peers" => o with { PeerList = Next().Replace(',', ' ') },
                "--no-usearch" => o with { UsearchPeer = false },
                "--no-pq" => o with { Pq = false },
                "--no-shards" => o with { Shards = false },
                "--help" or "-h" => throw new ArgumentException(Usage),
                _ => throw new ArgumentException($"Unknown option {a}.\n{Usage}"),
            };
        }
        return o;
    }

    public const string Usage = """
        dotnet run -c Release --project bench/RecSys.VectorSearch.Bench -- [options]
          --n 100000 --dim 128 --queries 1000 --k 10 --efs 16,32,64,128,256 --m 16 --efc 200
          --rank 32 --noise 0.5 --seed 1          synthetic low-rank-plus-noise data (normalized)
          --base base.fvecs|.npy --query q.fvecs  real data instead (normalized on load)
          --threads N                             build threads (default: all cores)
          --pq-segments 32 --reranks 50,100,200   product quantization
          --shards 4 --shard-k 1000 --shard-ef 0 (0: ef = per-shard limit) --shard-queries 300
          --peers hnswlib,faiss                   which external peers run (bench/peers/run.sh)
          --no-peers --no-usearch --no-pq --no-shards --out DIR (default: $TMPDIR/recsys-vector-bench/...)
        """;
}
