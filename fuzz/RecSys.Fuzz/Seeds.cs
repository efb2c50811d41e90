using RecSys.Fuzz.Targets;
using RecSys.VectorSearch;

namespace RecSys.Fuzz;

/// <summary>
/// Seeds that our own code generates: snapshots of small indexes written by <see cref="HnswSnapshot.Save"/>, and
/// training-set requests naming features of the built-in registry.
/// </summary>
internal static class Seeds
{
    public static void Write(string corpusRoot)
    {
        WriteSnapshots(corpusRoot);
        WriteTrainingSets(corpusRoot);
    }

    private static void WriteTrainingSets(string corpusRoot)
    {
        var features = TrainingSetPlan.Features;
        var json = Path.Combine(corpusRoot, "training-set");
        Directory.CreateDirectory(json);
        var names = string.Join(",", features.Select(f => $"\"{f}\""));
        File.WriteAllText(Path.Combine(json, "request.json"),
            $$"""{"features":[{{names}}],"labels":[{"userId":"u1","itemId":"i1","creatorId":"c1","eventTime":"2026-03-01T00:00:00Z","label":1},{"userId":"u2","itemId":"i2","eventTime":"2026-03-02T00:00:00+01:00","label":0}]}""");
        File.WriteAllText(Path.Combine(json, "unknown-feature.json"), """{"features":["nope",null],"labels":[null,{"label":1e400}]}""");
        var csv = Path.Combine(corpusRoot, "training-labels");
        Directory.CreateDirectory(csv);
        File.WriteAllText(Path.Combine(csv, "labels.csv"),
            "user_id,item_id,creator_id,event_time,label\nu1,i1,c1,2026-03-01T00:00:00Z,1\nu2,i2,,1772323200000,0\n");
        File.WriteAllText(Path.Combine(csv, "quoted.csv"), "event_time,label,user_id\n\"2026-03-01 10:00:00\",0.5,\"u 3\"\n,,\n");
    }

    private static void WriteSnapshots(string corpusRoot)
    {
        var folder = Path.Combine(corpusRoot, "snapshot");
        Directory.CreateDirectory(folder);
        var scratch = Path.Combine(Path.GetTempPath(), $"recsys-fuzz-seed-{Environment.ProcessId}");
        Directory.CreateDirectory(scratch);
        try
        {
            foreach (var (name, metric, count, deleted) in new[] { ("cosine-6", Metric.Cosine, 6, 1), ("dot-3", Metric.InnerProduct, 3, 0), ("empty", Metric.Cosine, 0, 0) })
            {
                var index = new HnswIndex(new HnswOptions { Dimension = 2, M = 2, EfConstruction = 4, EfSearch = 4, Metric = metric, InitialCapacity = 8, Seed = 7 });
                for (var i = 0; i < count; i++)
                {
                    index.Add(100 + i, [MathF.Cos(i), MathF.Sin(i)]);
                }

                for (var i = 0; i < deleted; i++)
                {
                    index.Delete(100 + i);
                }

                var path = Path.Combine(scratch, name + ".rsvs");
                HnswSnapshot.Save(index, path);
                var bytes = File.ReadAllBytes(path);
                File.WriteAllBytes(Path.Combine(folder, $"raw-{name}"), [0, .. bytes]);
                File.WriteAllBytes(Path.Combine(folder, $"sections-{name}"), SnapshotTarget.Encode(SnapshotTarget.Sections(bytes)));
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }
}
