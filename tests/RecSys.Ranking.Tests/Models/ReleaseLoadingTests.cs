using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Tests.Models;

public sealed class ReleaseLoadingTests : IDisposable
{
    private readonly TestReleases _releases = new();

    public void Dispose() => _releases.Dispose();

    [Fact]
    public async Task The_newest_release_loads_with_digits_compared_as_numbers()
    {
        _releases.Write("v9");
        _releases.Write("v10", seed: 2);
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());

        Assert.True(serving.Manager.Refresh());

        var info = serving.Manager.Current!;
        Assert.Equal("v10", info.Release);
        Assert.Equal("v10-pre", info.PreRankerVersion);
        Assert.Equal(ModelKinds.MainRanker, info.MainStage);
        Assert.Equal("v10-main", info.MainVersion);
        Assert.Equal(ExecutionProviderSelector.Cpu, info.Provider);
        Assert.False(serving.Manager.Refresh());
    }

    [Fact]
    public async Task No_folder_or_no_release_leaves_nothing_loaded()
    {
        await using var missing = new Serving(Path.Combine(_releases.Root, "absent"), new HashFeatureProvider());
        await using var empty = new Serving(_releases.Root, new HashFeatureProvider());

        Assert.False(missing.Manager.Refresh());
        Assert.False(empty.Manager.Refresh());
        Assert.Null(missing.Manager.Current);
        Assert.Null(empty.Manager.Current);
        Assert.False(empty.Manager.TryAcquire(out _));
    }

    [Fact]
    public async Task A_release_whose_file_does_not_match_its_hash_is_refused_and_the_previous_one_keeps_serving()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        serving.Manager.Refresh();
        _releases.Write("v2", seed: 2);
        var onnx = Path.Combine(_releases.PathOf("v2", ModelKinds.MainRanker), ModelPackage.OnnxFile);
        var bytes = File.ReadAllBytes(onnx);
        bytes[^1] ^= 0x5A;
        File.WriteAllBytes(onnx, bytes);

        Assert.False(serving.Manager.Refresh());

        Assert.Equal("v1", serving.Manager.Current!.Release);
        Assert.Contains("SHA-256", serving.Manager.LastError, StringComparison.Ordinal);
        Assert.StartsWith("v2:", serving.Manager.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_newest_valid_release_loads_when_the_newest_is_broken()
    {
        _releases.Write("v1");
        _releases.Write("v2", seed: 2);
        Directory.Delete(_releases.PathOf("v2", ModelKinds.PreRanker), recursive: true);
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());

        Assert.True(serving.Manager.Refresh());

        Assert.Equal("v1", serving.Manager.Current!.Release);
        Assert.Contains("no pre-ranker/ folder", serving.Manager.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_needing_a_feature_the_provider_does_not_support_fails_to_load_and_names_it()
    {
        _releases.Write("v1", mainFeatures: ["ctr", "emb0", "user_x_item_7"]);
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());

        Assert.False(serving.Manager.Refresh());

        Assert.Null(serving.Manager.Current);
        Assert.Contains("does not support user_x_item_7", serving.Manager.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_feature_provider_nothing_loads()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, provider: null);

        Assert.False(serving.Manager.Refresh());

        Assert.Contains("no IRankingFeatureProvider", serving.Manager.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_graph_that_does_not_fit_its_manifest_fails_at_load_and_the_previous_release_keeps_serving()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        serving.Manager.Refresh();
        _releases.Write("v2", seed: 2);
        // The pre-ranker's tree graph (3 inputs, output "score") under the main ranker's manifest (4 features, output "logit"), hashes re-recorded.
        var trees = File.ReadAllBytes(Path.Combine(_releases.PathOf("v2", ModelKinds.PreRanker), ModelPackage.OnnxFile));
        TestReleases.ReplaceModel(_releases.PathOf("v2", ModelKinds.MainRanker), trees);

        Assert.False(serving.Manager.Refresh());

        Assert.Equal("v1", serving.Manager.Current!.Release);
        Assert.Contains("the graph has no 2-D input 'features' 4 features wide", serving.Manager.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_file_that_onnx_runtime_cannot_parse_fails_at_load_and_the_previous_release_keeps_serving()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        serving.Manager.Refresh();
        _releases.Write("v2", seed: 2);
        var stage = _releases.PathOf("v2", ModelKinds.MainRanker);
        var whole = File.ReadAllBytes(Path.Combine(stage, ModelPackage.OnnxFile));
        TestReleases.ReplaceModel(stage, whole[..(whole.Length / 2)]);

        Assert.False(serving.Manager.Refresh());

        Assert.Equal("v1", serving.Manager.Current!.Release);
        Assert.Contains("ONNX Runtime cannot load", serving.Manager.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_release_is_tried_again_once_it_is_rewritten()
    {
        _releases.Write("v1", mainFeatures: ["ctr", "unknown"]);
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        Assert.False(serving.Manager.Refresh());

        Directory.Delete(_releases.PathOf("v1"), recursive: true);
        _releases.Write("v1");

        Assert.True(serving.Manager.Refresh());
        Assert.Equal("v1", serving.Manager.Current!.Release);
    }

    [Fact]
    public async Task The_main_stage_setting_switches_to_the_student_of_the_same_release()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        serving.Manager.Refresh();

        serving.Options.CurrentValue.MainStage = ModelKinds.Student;

        Assert.True(serving.Manager.Refresh());
        Assert.Equal(ModelKinds.Student, serving.Manager.Current!.MainStage);
        Assert.Equal("v1-student", serving.Manager.Current!.MainVersion);
    }

    [Fact]
    public async Task A_request_holding_a_swapped_release_finishes_on_it_and_later_requests_get_the_new_one()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        serving.Manager.Refresh();
        Assert.True(serving.Manager.TryAcquire(out var held));

        _releases.Write("v2", seed: 2);
        Assert.True(serving.Manager.Refresh());

        using (held)
        {
            var scores = new float[1];
            held.Release.PreRanker.Score(new float[held.Release.PreRanker.Width], scores);
            Assert.Equal("v1", held.Release.Version);
        }

        Assert.True(serving.Manager.TryAcquire(out var next));
        using (next)
        {
            Assert.Equal("v2", next.Release.Version);
        }

        // The old release closes (its batcher drains first) once its last holder lets go.
        await Until(() =>
        {
            try
            {
                held.Release.PreRanker.Score(new float[held.Release.PreRanker.Width], new float[1]);
                return false;
            }
            catch (ObjectDisposedException)
            {
                return true;
            }
        });
    }

    [Fact]
    public async Task The_watcher_picks_up_a_new_release_after_the_reload_interval_on_the_injected_clock()
    {
        _releases.Write("v1");
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider(), o => o.ReloadInterval = TimeSpan.FromSeconds(30), time);
        using var watcher = new RankerReleaseWatcher(serving.Manager, serving.Options, time, NullLogger<RankerReleaseWatcher>.Instance);
        await watcher.StartAsync(CancellationToken.None);
        await Until(() => serving.Manager.Current?.Release == "v1");

        _releases.Write("v2", seed: 2);
        Assert.Equal("v1", serving.Manager.Current?.Release);

        // Only the fake clock moves the watcher (the interval is 30 s of it); advance until its next check has run.
        await Until(() =>
        {
            time.Advance(TimeSpan.FromSeconds(30));
            return serving.Manager.Current?.Release == "v2";
        });
        await watcher.StopAsync(CancellationToken.None);
    }

    private static async Task Until(Func<bool> condition)
    {
        // Waits for the background loop; a generous bound only so a defect fails instead of hanging.
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, limit.Token);
        }
    }
}
