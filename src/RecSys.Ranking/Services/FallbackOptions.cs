using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Services;

/// <summary>
/// How Ranking answers when candidate generation fails (section <c>Ranking:Fallback</c>): the online store's trending
/// list first, then the last-known popular list kept in process.
/// </summary>
public sealed class FallbackOptions
{
    public const string SectionName = "Ranking:Fallback";

    /// <summary>
    /// Longest the trending fallback may wait for the online store. A frozen store never answers and the client's own
    /// timeout is 10 s, so without this bound a request would outlive any deadline.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:10")]
    public TimeSpan StoreTimeout { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// Longest the learned two stages may take (feature reads included); then the fused score ranks. Their reads go to the
    /// same store, so a hung store would otherwise hold every request for the client's timeout.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan ModelStageTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Items kept in the last-known popular list (the trending top).</summary>
    [Range(10, 10_000)]
    public int LastKnownSize { get; set; } = 1000;

    /// <summary>How often the last-known popular list is refreshed from the store while it answers.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan LastKnownRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Folder where the last-known popular list is saved after each change and read at start, so that a Ranking restarted
    /// while the store is away still has one; not saved when unset (the AppHost sets it under the data root).
    /// </summary>
    public string? DataDirectory { get; set; }
}

/// <summary>The data annotations of <see cref="FallbackOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class FallbackOptionsValidator : IValidateOptions<FallbackOptions>;
