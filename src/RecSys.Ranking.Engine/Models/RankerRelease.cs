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

    internal RankerRelease(string version, RankerModel preRanker, RankerModel mainStage, MainStageBatcher batcher, Action<Exception> onDisposeFailure)
    {
        Version = version;
        PreRanker = preRanker;
        MainStage = mainStage;
        Batcher = batcher;
        _onDisposeFailure = onDisposeFailure;
        Columns = [.. preRanker.Features.Concat(mainStage.Features).Distinct(StringComparer.Ordinal)];
        var position = Columns.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        PreRankerColumns = [.. preRanker.Features.Select(f => position[f])];
        MainStageColumns = [.. mainStage.Features.Select(f => position[f])];
    }

    /// <summary>The release folder's name.</summary>
    public string Version { get; }

    public RankerModel PreRanker { get; }

    public RankerModel MainStage { get; }

    /// <summary>Features fetched per request: the pre-ranker's, then the main stage's that the pre-ranker lacks.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>For each pre-ranker input, its column in <see cref="Columns"/>.</summary>
    public int[] PreRankerColumns { get; }

    /// <summary>For each main-stage input, its column in <see cref="Columns"/>.</summary>
    public int[] MainStageColumns { get; }

    /// <summary>The main stage's calibration file when the release has one (read by post-processing, not applied here).</summary>
    public string? CalibrationPath =>
        MainStage.Manifest.Files.Any(f => f.Path == ModelPackage.CalibrationFile) ? Path.Combine(MainStage.Directory, ModelPackage.CalibrationFile) : null;

    internal MainStageBatcher Batcher { get; }

    /// <summary>Copies the columns <paramref name="columns"/> of one row of the union matrix into a model's input row.</summary>
    public static void Project(ReadOnlySpan<float> unionRow, ReadOnlySpan<int> columns, Span<float> modelRow)
    {
        for (var k = 0; k < columns.Length; k++)
        {
            modelRow[k] = unionRow[columns[k]];
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
