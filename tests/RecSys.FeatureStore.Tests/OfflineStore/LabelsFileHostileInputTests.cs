using RecSys.FeatureStore.OfflineStore;

namespace RecSys.FeatureStore.Tests.OfflineStore;

/// <summary>
/// Regression tests for the uploaded labels file, written with the training-labels fuzz target (fuzz/RecSys.Fuzz; input
/// fuzz/corpus/training-labels/regression-overflow.csv): an event_time given as unix milliseconds beyond what a date can
/// hold escaped as an ArgumentOutOfRangeException (a 500) instead of the <see cref="FormatException"/> that the endpoint
/// turns into a 400.
/// </summary>
public sealed class LabelsFileHostileInputTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "recsys-labels-" + Guid.NewGuid().ToString("N") + ".csv");

    public void Dispose() => File.Delete(_path);

    private Task<List<TrainingLabel>> ReadAsync(string csv)
    {
        File.WriteAllText(_path, csv);
        return TrainingSetRequests.ReadFileAsync(_path, parquet: false, CancellationToken.None);
    }

    [Theory]
    [InlineData("17723232000000000")]
    [InlineData("-9223372036854775808")]
    [InlineData("253402300800000")]
    public async Task An_event_time_past_the_range_of_dates_is_a_format_error(string milliseconds)
    {
        var error = await Assert.ThrowsAsync<FormatException>(() => ReadAsync($"user_id,event_time,label\nu1,{milliseconds},1\n"));
        Assert.Contains(milliseconds, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Event_times_at_the_ends_of_the_range_are_read()
    {
        var labels = await ReadAsync("user_id,event_time,label\nu1,253402300799999,1\nu2,-62135596800000,0\nu3,1772323200000,1\n");
        Assert.Equal([DateTimeOffset.MaxValue.ToUnixTimeMilliseconds(), DateTimeOffset.MinValue.ToUnixTimeMilliseconds(), 1772323200000],
            labels.Select(l => l.EventTime!.Value.ToUnixTimeMilliseconds()));
    }
}
