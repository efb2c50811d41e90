using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;

namespace RecSys.Ranking.Models;

/// <summary>
/// A loaded release: the pre-ranker, the main stage (main ranker or student), the union of their features in the order
/// they are fetched, each model's columns within that union, and the main stage's batcher. Reference-counted: the store
/// holds one reference, each request another, and the sessions close when the last one is let go after a swap.
/// </summary>
public sealed class RankerRelease
{
    private readonly Action<Exception> _onDisposeFailure;
    private int _references = 1;

    internal RankerRelease(string version, RankerModel preRanker, RankerModel mainStage, MainStageBatcher batcher, Action<Exception> onDisposeFailure,
        int maxFetchedFeatures = FeaturePlan.DefaultMaxFetched)
    {
        Version = version;
        PreRanker = preRanker;
        MainStage = mainStage;
        Batcher = batcher;
        _onDisposeFailure = onDisposeFailure;
        Plan = FeaturePlan.Create(preRanker.Manifest.Features, mainStage.Manifest.Features, maxFetchedFeatures);
        Columns = Plan.Columns;
        PreRankerColumns = Plan.PreRanker;
        MainStageColumns = Plan.MainStage;
        _preRankerDefaults = FeaturePlan.Defaults(preRanker.Manifest.Features);
        _mainStageDefaults = FeaturePlan.Defaults(mainStage.Manifest.Features);
    }

    private readonly float[] _preRankerDefaults;
    private readonly float[] _mainStageDefaults;

    /// <summary>What is fetched and where each input reads it (at most the configured number of features, by importance).</summary>
    public FeaturePlan Plan { get; }

    /// <summary>How many leading <see cref="Columns"/> the pre-ranker reads: the ones every candidate needs.</summary>
    public int EagerColumns => Plan.EagerColumns;

    /// <summary>The release folder's name.</summary>
    public string Version { get; }

    public RankerModel PreRanker { get; }

    public RankerModel MainStage { get; }

    /// <summary>Features fetched per request: the pre-ranker's, then the main stage's that the pre-ranker lacks (pruned to the cap).</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>For each pre-ranker input, its column in <see cref="Columns"/> (-1: pruned, fed its default).</summary>
    public int[] PreRankerColumns { get; }

    /// <summary>For each main-stage input, its column in <see cref="Columns"/> (-1: pruned, fed its default).</summary>
    public int[] MainStageColumns { get; }

    /// <summary>The main stage's calibration file when the release has one (read by post-processing, not applied here).</summary>
    public string? CalibrationPath =>
        MainStage.Manifest.Files.Any(f => f.Path == ModelPackage.CalibrationFile) ? Path.Combine(MainStage.Directory, ModelPackage.CalibrationFile) : null;

    internal MainStageBatcher Batcher { get; }

    /// <summary>Copies the columns <paramref name="columns"/> of one row of the union matrix into a model's input row.</summary>
    public static void Project(ReadOnlySpan<float> unionRow, ReadOnlySpan<int> columns, Span<float> modelRow) => Project(unionRow, columns, default, modelRow);

    /// <summary>The pre-ranker's input row from a row of the fetched matrix (pruned inputs get their default).</summary>
    public void ProjectPreRanker(ReadOnlySpan<float> unionRow, Span<float> modelRow) => Project(unionRow, PreRankerColumns, _preRankerDefaults, modelRow);

    /// <summary>The main stage's input row from a row of the fetched matrix (pruned inputs get their default).</summary>
    public void ProjectMainStage(ReadOnlySpan<float> unionRow, Span<float> modelRow) => Project(unionRow, MainStageColumns, _mainStageDefaults, modelRow);

    private static void Project(ReadOnlySpan<float> unionRow, ReadOnlySpan<int> columns, ReadOnlySpan<float> defaults, Span<float> modelRow)
    {
        for (var k = 0; k < columns.Length; k++)
        {
            var c = columns[k];
            modelRow[k] = c >= 0 ? unionRow[c] : defaults[k];
        }
    }

    /// <summary>Checks that <paramref name="matrix"/> holds <see cref="Columns"/> in order.</summary>
    public void CheckMatrix(FeatureMatrix matrix, int rows)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.Rows != rows || matrix.Width != Columns.Count)
        {
            throw new InvalidOperationException($"The feature provider returned {matrix.Rows} x {matrix.Width} features for {rows} candidates x {Columns.Count} columns.");
        }
    }

    internal bool TryAcquire()
    {
        var current = Volatile.Read(ref _references);
        while (current > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            _ = CloseAsync();
        }
    }

    /// <summary>Closes a release that was never published (its one reference is the loader's).</summary>
    internal ValueTask CloseUnpublishedAsync()
    {
        Interlocked.Exchange(ref _references, 0);
        return new ValueTask(CloseAsync());
    }

    private async Task CloseAsync()
    {
        try
        {
            await Batcher.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _onDisposeFailure(ex);
        }
        finally
        {
            MainStage.Dispose();
            PreRanker.Dispose();
        }
    }
}

/// <summary>A request's hold on a release; disposing it lets go.</summary>
public readonly struct ReleaseLease : IDisposable
{
    internal ReleaseLease(RankerRelease release) => Release = release;

    public RankerRelease Release { get; }

    public void Dispose() => Release?.Release();
}
